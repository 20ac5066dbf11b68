"""``text``: ``{"input": "..."}``, unlabelled text for continued pre-training (Titan Text).

Examples:
    >>> from finetune_sdk.data.formats import text
    >>> record, issues = text.parse({"input": "AWS stands for Amazon Web Services"})
    >>> record.text, issues
    ('AWS stands for Amazon Web Services', [])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finetune_sdk.data.formats._base import (
    Facts,
    Problem,
    detect_format,
    extra_metadata,
    is_blank,
    parse_with,
    problem,
    unknown_keys,
)
from finetune_sdk.data.records import Record, TextRecord, _trusted_text_record, record_text
from finetune_sdk.data.report import Issue

NAME = "text"
DESCRIPTION = '{"input": str}: continued pre-training (Titan Text)'
SUPPORTS_MEDIA = False
_KNOWN = frozenset({"input"})


def detect(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` looks like a continued pre-training record."""
    return detect_format(obj) == NAME


def check(obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]:
    """Structural checks; :class:`Facts` when the record can be built."""
    extra = unknown_keys(obj, _KNOWN, "", NAME) if len(obj) > 1 else []
    value = obj.get("input")
    if value is None:
        null = "input" in obj
        return None, [
            problem(
                "input",
                "schema.type" if null else "schema.missing",
                "'input' is null" if null else "'input' is missing",
                'each line needs {"input": "..."} with a string value',
            ),
            *extra,
        ]
    if type(value) is not str:
        return None, [
            problem(
                "input",
                "schema.type",
                f"'input' must be a string, got {type(value).__name__}",
                "write the text as a JSON string",
            ),
            *extra,
        ]
    problems: list[Problem] = extra
    if is_blank(value):
        problems.append(problem("input", "content.empty", "'input' is empty", "drop the record"))
    return Facts([("input", "text", value)]), problems


def build(obj: Mapping[str, Any]) -> Record:
    """The canonical record of a checked line."""
    return _trusted_text_record(obj["input"], extra_metadata(obj, _KNOWN))


def parse(obj: Mapping[str, Any], line: int | None = None) -> tuple[Record | None, list[Issue]]:
    """Check and build: ``(record or None, issues)``."""
    return parse_with(check, build, obj, line)


def render(record: Record) -> tuple[dict[str, Any] | None, list[str]]:
    """The wire dict; a conversation is flattened to its text (loss ``conversation_flattened_to_text``)."""
    if isinstance(record, TextRecord):
        return {"input": record.text}, []
    losses = ["conversation_flattened_to_text"]
    if any(t.media for t in record.turns):
        losses.append("media_dropped")
    return {"input": record_text(record)}, losses
