"""Prompt templates: how a record becomes the request a model sees.

A :class:`PromptTemplate` is explicit and recorded in every report, so a base model and a tuned model are
compared on the same prompts (or on deliberately different ones, per model). The default template sends
each record's own system prompt and prompt turns unchanged.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> t = PromptTemplate(system="Answer with a letter.", instruction="Question: {prompt}\\nAnswer:")
    >>> system, turns = t.render(Conversation.from_pairs("2+2? A) 3 B) 4", "B"))
    >>> system, turns[-1].text
    ('Answer with a letter.', 'Question: 2+2? A) 3 B) 4\\nAnswer:')
    >>> PromptTemplate().render(Conversation.from_pairs("Hi", "Hello", system="Be brief."))[0]
    'Be brief.'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.data.records import Conversation, Record, TextPart, TextRecord, Turn

__all__ = ["PromptTemplate"]


class PromptTemplate(BaseModel):
    """Turns a record into ``(system, turns)`` for a model.

    Attributes:
        system: the system prompt for every request; ``None`` keeps each record's own system prompt and
            ``""`` sends none.
        instruction: text added to the last user turn. With a ``{prompt}`` placeholder the user text is
            put there; without one the instruction goes before the user text, separated by a blank line.
        few_shot: example conversations sent before the record (their prompt turns plus their reference
            answer as an assistant turn).
        name, version: recorded in the report so a run can be traced to the exact prompt.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "default"
    version: str = "1"
    system: str | None = None
    instruction: str | None = None
    few_shot: tuple[Conversation, ...] = Field(default=())

    def render(self, record: Record) -> tuple[str | None, tuple[Turn, ...]]:
        """The system prompt and turns to send for ``record`` (the final assistant turn is never sent)."""
        if isinstance(record, TextRecord):
            record_system: str | None = None
            prompt_turns: tuple[Turn, ...] = (Turn.of("user", record.text),)
        else:
            record_system = record.system
            prompt_turns = record.prompt_turns
        system = record_system if self.system is None else (self.system or None)
        turns: list[Turn] = []
        for example in self.few_shot:
            turns.extend(self._apply_instruction(example.prompt_turns))
            if example.reference is not None:
                turns.append(Turn.of("assistant", example.reference))
        turns.extend(self._apply_instruction(prompt_turns))
        return system, tuple(turns)

    def _apply_instruction(self, turns: Sequence[Turn]) -> list[Turn]:
        out = list(turns)
        if not self.instruction:
            return out
        for i in range(len(out) - 1, -1, -1):
            turn = out[i]
            if turn.role != "user":
                continue
            media = turn.media
            if "{prompt}" in self.instruction:
                text = self.instruction.replace("{prompt}", turn.text)
            else:
                text = f"{self.instruction}\n\n{turn.text}" if turn.text else self.instruction
            out[i] = Turn.model_construct(role="user", content=(TextPart(text=text), *media))
            break
        return out

    @property
    def fingerprint(self) -> str:
        """sha256 of the template's canonical JSON: two runs with equal fingerprints sent the same prompts."""
        payload = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.fingerprint[:12]})"
