"""The prompt rules of Bedrock model distillation, used by ``validate(..., purpose="distillation")``.

A distillation prompt file is ``bedrock-conversation-2024`` JSONL with stricter rules than fine-tuning data
(AWS's distillation prompt schema and dataset validator): ``schemaVersion`` is required, no key the schema does
not define is allowed (at any level), ``system`` holds at most one block, ``messages`` holds a user message and
optionally the assistant's desired answer (at most 2 messages), each message holds exactly one text block (the
job is text-to-text), and a file holds 100 to 15,000 prompts in under 1 GiB.

Examples:
    >>> from finetune_sdk.data import Dataset
    >>> prompt = {"schemaVersion": "bedrock-conversation-2024",
    ...           "messages": [{"role": "user", "content": [{"text": "Summarise this."}]}]}
    >>> report = Dataset.from_records([prompt] * 100).validate(purpose="distillation")
    >>> report.ok
    True
    >>> bad = {"messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]}
    >>> report = Dataset.from_records([bad] * 100).validate(purpose="distillation")
    >>> sorted(report.counts_by_rule())
    ['distillation.content', 'schema.version']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from finetune_sdk.data.formats._base import Problem, problem

__all__ = [
    "MAX_PROMPTS",
    "MAX_PROMPT_FILE_BYTES",
    "MIN_PROMPTS",
    "PURPOSES",
    "Purpose",
    "prompt_problems",
]

Purpose = Literal["fine_tuning", "distillation"]
#: The values ``purpose=`` takes.
PURPOSES: tuple[str, ...] = ("fine_tuning", "distillation")
#: Bedrock distillation: at least 100 prompts (AWS's validator and docs), at most 15,000, under 1 GiB.
MIN_PROMPTS = 100
MAX_PROMPTS = 15_000
MAX_PROMPT_FILE_BYTES = 1 << 30

_STRICT = frozenset({"schema.unknown_key", "schema.version"})


def prompt_problems(obj: Mapping[str, Any], base: list[Problem]) -> list[Problem]:
    """The problems of one distillation prompt: ``base`` (the ``bedrock_conversation`` check of ``obj``)
    adapted to prompts (a lone user message is complete; unknown keys and a missing ``schemaVersion`` are
    errors) plus the prompt-only rules."""
    msgs = obj.get("messages")
    lone_user = type(msgs) is list and len(msgs) == 1 and type(msgs[0]) is dict and msgs[0].get("role") == "user"
    out: list[Problem] = []
    for p in base:
        path, rule, message, hint, _severity = p
        if rule == "roles.last_assistant" or (lone_user and rule == "messages.too_few"):
            continue  # a prompt without the answer is what distillation expects
        if rule in _STRICT:
            hint = (
                "remove it; a distillation prompt holds only schemaVersion, system ([{text}]) and messages "
                "(role, content [{text}])"
                if rule == "schema.unknown_key"
                else 'set "schemaVersion": "bedrock-conversation-2024"; Bedrock distillation requires it'
            )
            out.append((path, rule, message, hint, "error"))
        else:
            out.append(p)
    if type(msgs) is list:
        if len(msgs) > 2:
            out.append(
                problem(
                    "messages",
                    "distillation.messages",
                    f"{len(msgs)} messages; a distillation prompt is single-turn: a user message and at most "
                    "the assistant's desired answer",
                    "keep the last user message (and its answer) per prompt; split longer conversations",
                )
            )
        for i, m in enumerate(msgs):
            content = m.get("content") if type(m) is dict else None
            if type(content) is not list:
                continue  # reported by the format check
            kinds = [next(iter(b), "?") if type(b) is dict and len(b) == 1 else "invalid block" for b in content]
            if kinds != ["text"]:
                media = [k for k in kinds if k in ("image", "video")]
                message = (
                    f"message {i} holds {', '.join(media)} content; distillation is text-to-text"
                    if media
                    else f"message {i} holds {len(content)} content blocks; a distillation prompt message "
                    "holds exactly one text block"
                )
                out.append(
                    problem(
                        f"messages[{i}].content",
                        "distillation.content",
                        message,
                        'write each message as "content": [{"text": "..."}] (join several texts into one)',
                    )
                )
    system = obj.get("system")
    if type(system) is list and len(system) > 1:
        out.append(
            problem(
                "system",
                "system.multiple_blocks",
                f"{len(system)} system blocks; a distillation prompt takes one",
                "join the system blocks into one",
            )
        )
    return out
