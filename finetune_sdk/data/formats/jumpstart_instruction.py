"""``jumpstart_instruction``: ``{"instruction", "context", "response"}`` records for SageMaker JumpStart
instruction tuning (e.g. Llama 3.x 8B), written beside a ``template.json`` that tells JumpStart how to
build the prompt from the fields (see :data:`TEMPLATE`).

``context`` is optional. In canonical form the user turn holds the instruction and, when present, the
context as a second text part, so a round trip keeps them apart.

Examples:
    >>> from finetune_sdk.data.formats import jumpstart_instruction as js
    >>> record, _ = js.parse({"instruction": "Summarise.", "context": "A long text.", "response": "Short."})
    >>> js.render(record)
    ({'instruction': 'Summarise.', 'context': 'A long text.', 'response': 'Short.'}, [])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finetune_sdk.data.formats._base import (
    Facts,
    Problem,
    build_conversation,
    detect_format,
    extra_metadata,
    flatten_prompt,
    is_blank,
    parse_with,
    problem,
    text_part,
    text_record_loss,
    unknown_keys,
)
from finetune_sdk.data.records import Record, TextPart, TextRecord
from finetune_sdk.data.report import Issue

NAME = "jumpstart_instruction"
DESCRIPTION = '{"instruction": str, "context": str, "response": str} + template.json: SageMaker JumpStart'
SUPPORTS_MEDIA = False
_KNOWN = frozenset({"instruction", "context", "response"})

#: The ``template.json`` written beside the JSONL (JumpStart's instruction-tuning template).
TEMPLATE: dict[str, str] = {
    "prompt": (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n"
    ),
    "completion": " {response}",
}


def detect(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` looks like a JumpStart instruction record."""
    return detect_format(obj) == NAME


def check(obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]:
    """Structural checks; :class:`Facts` when the record can be built."""
    problems: list[Problem] = unknown_keys(obj, _KNOWN, "", NAME) if len(obj) > 2 else []
    texts: list[tuple[str, str, str]] = []
    sound = True
    for key, role, required in (
        ("instruction", "user", True),
        ("context", "user", False),
        ("response", "assistant", True),
    ):
        value = obj.get(key)
        if value is None:
            if required:
                problems.append(
                    problem(
                        key,
                        "schema.missing",
                        f"{key!r} is missing",
                        'each line needs {"instruction": ..., "context": ..., "response": ...}',
                    )
                )
                sound = False
        elif type(value) is not str:
            problems.append(
                problem(
                    key,
                    "schema.type",
                    f"{key!r} must be a string, got {type(value).__name__}",
                    "write the text as a JSON string",
                )
            )
            sound = False
        elif required and is_blank(value):
            problems.append(
                problem(key, "content.empty", f"{key!r} is empty", "drop the record or fill it in")
            )
            texts.append((key, role, value))
        elif value:
            texts.append((key, role, value))
    if not sound:
        return None, problems
    return Facts(texts, output_from=len(texts) - 1, turns=2), problems


def build(obj: Mapping[str, Any]) -> Record:
    """The canonical record of a checked line."""
    user = [text_part(obj["instruction"])]
    if obj.get("context"):
        user.append(text_part(obj["context"]))
    return build_conversation(
        None, (("user", user), ("assistant", [text_part(obj["response"])])), extra_metadata(obj, _KNOWN)
    )


def parse(obj: Mapping[str, Any], line: int | None = None) -> tuple[Record | None, list[Issue]]:
    """Check and build: ``(record or None, issues)``."""
    return parse_with(check, build, obj, line)


def render(record: Record) -> tuple[dict[str, Any] | None, list[str]]:
    """The wire dict and the loss kinds (system merged, turns flattened, media dropped...)."""
    losses: list[str] = []
    if isinstance(record, TextRecord):
        return text_record_loss(losses)
    prompt_turns = record.prompt_turns
    if len(prompt_turns) == 1 and not record.system:
        parts = [p.text for p in prompt_turns[0].content if isinstance(p, TextPart)]
        response = record.reference
        if response is None:
            losses.append("no_assistant_turn")
        if any(t.media for t in record.turns):
            losses.append("media_dropped")
        instruction = parts[0] if parts else ""
        context = "\n".join(parts[1:])
        return {"instruction": instruction, "context": context, "response": response or ""}, losses
    instruction, response_text = flatten_prompt(record, losses)
    return {"instruction": instruction, "context": "", "response": response_text}, losses
