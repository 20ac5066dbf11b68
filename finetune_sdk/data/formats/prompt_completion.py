"""``prompt_completion``: ``{"prompt": "...", "completion": "..."}``, one exchange per line.

Used by Titan Text, Cohere Command and Llama 3.1 fine-tuning on Bedrock. Both fields are required,
non-empty strings; other keys are reported (warning ``schema.unknown_key``) and kept as record metadata.

Examples:
    >>> from finetune_sdk.data.formats import prompt_completion
    >>> record, issues = prompt_completion.parse({"prompt": "2+2?", "completion": "4", "topic": "math"})
    >>> record.prompt_text, record.reference, dict(record.metadata), [i.rule for i in issues]
    ('2+2?', '4', {'topic': 'math'}, ['schema.unknown_key'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from finetune_sdk.data.formats._base import (
    Facts,
    FastRules,
    Problem,
    build_conversation,
    detect_format,
    extra_metadata,
    flatten_prompt,
    is_blank,
    parse_with,
    problem,
    scan_text,
    text_part,
    text_record_loss,
    unknown_keys,
)
from finetune_sdk.data.records import Record, TextRecord
from finetune_sdk.data.report import Issue

NAME = "prompt_completion"
DESCRIPTION = '{"prompt": str, "completion": str}: Titan Text, Cohere Command, Llama 3.1'
SUPPORTS_MEDIA = False
_KNOWN = frozenset({"prompt", "completion"})


def detect(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` looks like a prompt/completion record."""
    return detect_format(obj) == NAME


def check(obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]:
    """Structural checks; :class:`Facts` when the record can be built."""
    problems: list[Problem] = unknown_keys(obj, _KNOWN, "", NAME) if len(obj) > 2 else []
    texts: list[tuple[str, str, str]] = []
    sound = True
    for key, role in (("prompt", "user"), ("completion", "assistant")):
        value = obj.get(key)
        if value is None:
            null = key in obj
            problems.append(
                problem(
                    key,
                    "schema.type" if null else "schema.missing",
                    f"{key!r} is null" if null else f"{key!r} is missing",
                    'each line needs {"prompt": "...", "completion": "..."} with string values',
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
        else:
            if is_blank(value):
                problems.append(
                    problem(key, "content.empty", f"{key!r} is empty", "drop the record or fill in the text")
                )
            texts.append((key, role, value))
    if not sound:
        return None, problems
    return Facts(texts, output_from=1, turns=2), problems


def fast_validator(rules: FastRules) -> Callable[[Mapping[str, Any]], int]:
    """A check for the validation hot loop: the record's colon count when it breaks no rule, else ``-1``
    (see :class:`~finetune_sdk.data.formats._base.FastRules`)."""

    def fast(obj: Mapping[str, Any]) -> int:
        if len(obj) != 2:
            return -1
        prompt = obj.get("prompt")
        completion = obj.get("completion")
        if type(prompt) is not str or type(completion) is not str:
            return -1
        a = scan_text(prompt, rules)
        b = scan_text(completion, rules)
        if a < 0 or b < 0 or not rules.tokens_ok(len(prompt), len(completion)):
            return -1
        return 2 + a + b

    return fast


def key_validator(rules: FastRules) -> Callable[[Mapping[str, Any]], int]:
    """The hot-loop check of a cleared raw line (see ``bedrock_messages.key_validator``): 2 when the record
    holds a non-blank prompt and completion, else ``-1``."""

    def keys(obj: Mapping[str, Any]) -> int:
        prompt = obj.get("prompt")
        completion = obj.get("completion")
        if type(prompt) is not str or type(completion) is not str:
            return -1
        if not prompt or prompt.isspace() or not completion or completion.isspace():
            return -1
        return 2

    return keys


def build(obj: Mapping[str, Any]) -> Record:
    """The canonical record of a checked line."""
    return build_conversation(
        None,
        (("user", (text_part(obj["prompt"]),)), ("assistant", (text_part(obj["completion"]),))),
        extra_metadata(obj, _KNOWN),
    )


def parse(obj: Mapping[str, Any], line: int | None = None) -> tuple[Record | None, list[Issue]]:
    """Check and build: ``(record or None, issues)``."""
    return parse_with(check, build, obj, line)


def render(record: Record) -> tuple[dict[str, Any] | None, list[str]]:
    """The wire dict and the loss kinds (system merged, turns flattened, media dropped...)."""
    losses: list[str] = []
    if isinstance(record, TextRecord):
        return text_record_loss(losses)
    prompt, completion = flatten_prompt(record, losses)
    return {"prompt": prompt, "completion": completion}, losses
