"""The wire formats: one module per JSONL dialect, each with ``detect``, ``check``, ``parse``, ``build``
and ``render`` (see :class:`~finetune_sdk.data.formats._base.WireFormat`).

========================  ===============================================================
``prompt_completion``     ``{"prompt", "completion"}``: Titan Text, Cohere Command, Llama 3.1
``bedrock_messages``      ``{"system": str, "messages": [{"role", "content": str}]}``: Claude 3 Haiku
``bedrock_conversation``  ``bedrock-conversation-2024``: Nova, Llama 3.2/3.3, distillation
``openai_chat``           ``{"messages": [{"role": "system"|"user"|"assistant", ...}]}``
``text``                  ``{"input"}``: continued pre-training
``jumpstart_instruction`` ``{"instruction", "context", "response"}`` + ``template.json``
========================  ===============================================================

Examples:
    >>> from finetune_sdk.data import formats
    >>> formats.detect_format({"prompt": "a", "completion": "b"})
    'prompt_completion'
    >>> formats.get("bedrock_messages").NAME
    'bedrock_messages'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finetune_sdk.data.formats import (
    bedrock_conversation,
    bedrock_messages,
    jumpstart_instruction,
    openai_chat,
    prompt_completion,
    text,
)
from finetune_sdk.data.formats._base import CONVERT_HINT, Facts, Problem, WireFormat, detect_format
from finetune_sdk.data.records import Conversation, Record
from finetune_sdk.data.report import ConversionReport
from finetune_sdk.errors import ConfigurationError

__all__ = [
    "CONVERT_HINT",
    "DROP_KINDS",
    "FORMATS",
    "Converter",
    "Facts",
    "Problem",
    "WireFormat",
    "accepts",
    "detect_format",
    "get",
    "natural_format",
]

_MODULES: dict[str, WireFormat] = {
    m.NAME: m
    for m in (
        prompt_completion,
        bedrock_messages,
        bedrock_conversation,
        openai_chat,
        text,
        jumpstart_instruction,
    )
}

#: Names of every wire format, in documentation order.
FORMATS: tuple[str, ...] = tuple(_MODULES)

_EXAMPLES = 3

#: Loss kinds that mean the record could not be written at all.
DROP_KINDS = frozenset({"text_record_not_conversational"})


def get(name: str) -> WireFormat:
    """The format module called ``name``.

    Raises:
        ConfigurationError: no format has that name; the message lists the names.
    """
    try:
        return _MODULES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown dataset format {name!r}; known formats: {', '.join(FORMATS)}"
        ) from None


def accepts(target: str, detected: str | None, obj: Mapping[str, Any]) -> bool:
    """Whether a record detected as ``detected`` is to be checked as ``target``: same format, not
    recognisable (so ``target``'s rules say what is missing), or a ``bedrock_messages`` record without a
    top-level ``system``, which is also a valid ``openai_chat`` record."""
    if detected is None or detected == target:
        return True
    return target == "openai_chat" and detected == "bedrock_messages" and "system" not in obj


def natural_format(record: Record) -> str:
    """The format that holds ``record`` without loss: ``bedrock_conversation`` or ``text``."""
    return "bedrock_conversation" if isinstance(record, Conversation) else "text"


class Converter:
    """Renders records into one format while counting what each record lost; ``report()`` summarises.

    Examples:
        >>> from finetune_sdk.data.records import Conversation
        >>> conv = Converter("prompt_completion")
        >>> conv.render(Conversation.from_pairs("q", "a", system="s"))
        {'prompt': 's\\n\\nq', 'completion': 'a'}
        >>> conv.report().losses
        {'system_merged_into_prompt': 1}
    """

    def __init__(self, target: str, *, source_format: str | None = None) -> None:
        self.format = get(target)
        self.target = target
        self.source_format = source_format
        self.records_in = 0
        self.records_out = 0
        self.dropped = 0
        self.losses: dict[str, int] = {}
        self.examples: dict[str, list[int]] = {}

    def render(self, record: Record, number: int | None = None) -> dict[str, Any] | None:
        """The wire dict of ``record`` (``None`` when it cannot be written; counted as dropped).
        ``number`` is the record's line or position, kept as an example of each loss kind."""
        self.records_in += 1
        out, losses = self.format.render(record)
        where = self.records_in if number is None else number
        for kind in losses:
            self.losses[kind] = self.losses.get(kind, 0) + 1
            ex = self.examples.setdefault(kind, [])
            if len(ex) < _EXAMPLES:
                ex.append(where)
        if out is None:
            self.dropped += 1
        else:
            self.records_out += 1
        return out

    def report(self, *, path: str | None = None) -> ConversionReport:
        """The :class:`~finetune_sdk.data.report.ConversionReport` so far."""
        return ConversionReport(
            source_format=self.source_format,
            target_format=self.target,
            records_in=self.records_in,
            records_out=self.records_out,
            dropped=self.dropped,
            losses=dict(self.losses),
            examples={k: tuple(v) for k, v in self.examples.items()},
            path=path,
        )
