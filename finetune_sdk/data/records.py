"""The canonical in-memory records every wire format converts to and from.

A record is either a :class:`Conversation` (optional system prompt plus alternating user/assistant turns,
each turn a list of text and media parts) or a :class:`TextRecord` (raw text for continued pre-training).
Wire formats (``finetune_sdk.data.formats``) parse into these and render from them; the rest of the SDK
(validation rules that are not format-specific, the local trainer, the Evaluator, the Distiller) only
ever sees these types.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> c = Conversation.from_pairs("What is 2+2?", "4", system="Be brief.")
    >>> c.prompt_text, c.reference
    ('What is 2+2?', '4')
    >>> c.with_response("5").reference
    '5'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ContentPart",
    "Conversation",
    "MediaPart",
    "Record",
    "Role",
    "TextPart",
    "TextRecord",
    "Turn",
]

Role = Literal["user", "assistant"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextPart(_Value):
    """A piece of text inside a turn."""

    type: Literal["text"] = "text"
    text: str


class MediaPart(_Value):
    """An image or video referenced by URI (``s3://...`` for Bedrock; a path or URL elsewhere)."""

    type: Literal["image", "video"]
    format: str
    uri: str
    bucket_owner: str | None = None


ContentPart = Annotated[Union[TextPart, MediaPart], Field(discriminator="type")]  # noqa: UP007


class Turn(_Value):
    """One message of a conversation."""

    role: Role
    content: tuple[ContentPart, ...]

    @classmethod
    def of(cls, role: Role, text: str) -> Turn:
        """A turn holding a single text part."""
        return cls.model_construct(role=role, content=(TextPart.model_construct(type="text", text=text),))

    @property
    def text(self) -> str:
        """All text parts joined with newlines (media parts are skipped)."""
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def media(self) -> tuple[MediaPart, ...]:
        """The image and video parts of the turn."""
        return tuple(p for p in self.content if isinstance(p, MediaPart))


class Conversation(_Value):
    """A training or evaluation example made of turns.

    ``metadata`` carries fields that are not part of the conversation but matter to the user: a gold
    answer (``metadata["answer"]``), a label for stratified splits, a group id, the source line number.
    """

    kind: Literal["conversation"] = "conversation"
    system: str | None = None
    turns: tuple[Turn, ...]
    metadata: Mapping[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_pairs(
        cls,
        *exchanges: str,
        system: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Conversation:
        """Build from alternating user/assistant strings: ``from_pairs(user1, assistant1, user2, ...)``."""
        turns = tuple(Turn.of("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(exchanges))
        return cls.model_construct(kind="conversation", system=system, turns=turns, metadata=dict(metadata or {}))

    @property
    def prompt_turns(self) -> tuple[Turn, ...]:
        """Every turn before the final assistant turn (the whole conversation if it ends with the user)."""
        if self.turns and self.turns[-1].role == "assistant":
            return self.turns[:-1]
        return self.turns

    @property
    def prompt_text(self) -> str:
        """The text of the last user turn: the question a single-turn evaluation asks."""
        for turn in reversed(self.prompt_turns):
            if turn.role == "user":
                return turn.text
        return ""

    @property
    def reference(self) -> str | None:
        """The text of the final assistant turn (the gold response), or ``None`` when there is none."""
        if self.turns and self.turns[-1].role == "assistant":
            return self.turns[-1].text
        return None

    def with_response(self, text: str) -> Conversation:
        """A copy whose final assistant turn is ``text`` (replacing or appending it)."""
        turns = (*self.prompt_turns, Turn.of("assistant", text))
        return self.model_copy(update={"turns": turns})

    def with_metadata(self, **values: Any) -> Conversation:
        """A copy with ``values`` merged into ``metadata``."""
        return self.model_copy(update={"metadata": {**self.metadata, **values}})

    def to_messages(self) -> list[dict[str, str]]:
        """OpenAI-style ``[{"role", "content"}]`` list including the system prompt (text only)."""
        out: list[dict[str, str]] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        out.extend({"role": t.role, "content": t.text} for t in self.turns)
        return out


class TextRecord(_Value):
    """Unlabelled text for continued pre-training."""

    kind: Literal["text"] = "text"
    text: str
    metadata: Mapping[str, Any] = Field(default_factory=dict)

    def with_metadata(self, **values: Any) -> TextRecord:
        """A copy with ``values`` merged into ``metadata``."""
        return self.model_copy(update={"metadata": {**self.metadata, **values}})


Record = Union[Conversation, TextRecord]  # noqa: UP007


# --- trusted construction -----------------------------------------------------------------------------------
# The wire-format modules build records from rows their ``check`` has already proved well formed (types,
# roles, non-empty turns). Re-validating every nested model in pydantic then costs more than the rest of
# reading the row, so these helpers fill in the model's slots directly, exactly as ``model_validate`` would
# (same ``__dict__``, same fields-set), without checking anything. They are private: user input and
# ``Dataset.from_records`` of arbitrary dicts keep full validation.
#
# Each class shares one fields-set object between its trusted instances: the models are frozen, so pydantic
# never adds to it in place (``model_copy`` copies it before updating), and one shared set instead of one per
# instance is one object fewer per turn and part for the cyclic garbage collector to scan.

_new = object.__new__
_set = object.__setattr__
_TEXT_PART_SET = {"type", "text"}
_MEDIA_PART_SET = {"type", "format", "uri", "bucket_owner"}
_TURN_SET = {"role", "content"}
_CONVERSATION_SET = {"system", "turns", "metadata"}
_TEXT_RECORD_SET = {"text", "metadata"}


def _trusted_text_part(text: str) -> TextPart:
    """``TextPart(text=text)`` without validation (``text`` must be a ``str``)."""
    part = _new(TextPart)
    _set(part, "__dict__", {"type": "text", "text": text})
    _set(part, "__pydantic_fields_set__", _TEXT_PART_SET)
    _set(part, "__pydantic_extra__", None)
    _set(part, "__pydantic_private__", None)
    return part


def _trusted_media_part(kind: str, fmt: str, uri: str, bucket_owner: str | None = None) -> MediaPart:
    """``MediaPart(...)`` without validation (``kind`` must be ``"image"`` or ``"video"``, the rest strings)."""
    part = _new(MediaPart)
    _set(part, "__dict__", {"type": kind, "format": fmt, "uri": uri, "bucket_owner": bucket_owner})
    _set(part, "__pydantic_fields_set__", _MEDIA_PART_SET)
    _set(part, "__pydantic_extra__", None)
    _set(part, "__pydantic_private__", None)
    return part


def _trusted_turn(role: str, content: tuple[TextPart | MediaPart, ...]) -> Turn:
    """``Turn(role=role, content=content)`` without validation (``role`` must be ``"user"``/``"assistant"``)."""
    turn = _new(Turn)
    _set(turn, "__dict__", {"role": role, "content": content})
    _set(turn, "__pydantic_fields_set__", _TURN_SET)
    _set(turn, "__pydantic_extra__", None)
    _set(turn, "__pydantic_private__", None)
    return turn


def _trusted_conversation(system: str | None, turns: tuple[Turn, ...], metadata: dict[str, Any]) -> Conversation:
    """``Conversation(system=..., turns=..., metadata=...)`` without validation; ``metadata`` is kept, not
    copied (pass a dict the record may own)."""
    conv = _new(Conversation)
    _set(conv, "__dict__", {"kind": "conversation", "system": system, "turns": turns, "metadata": metadata})
    _set(conv, "__pydantic_fields_set__", _CONVERSATION_SET)
    _set(conv, "__pydantic_extra__", None)
    _set(conv, "__pydantic_private__", None)
    return conv


def _trusted_text_record(text: str, metadata: dict[str, Any]) -> TextRecord:
    """``TextRecord(text=..., metadata=...)`` without validation; ``metadata`` is kept, not copied."""
    rec = _new(TextRecord)
    _set(rec, "__dict__", {"kind": "text", "text": text, "metadata": metadata})
    _set(rec, "__pydantic_fields_set__", _TEXT_RECORD_SET)
    _set(rec, "__pydantic_extra__", None)
    _set(rec, "__pydantic_private__", None)
    return rec


def record_text(record: Record) -> str:
    """All text of a record in reading order (system, then turns), for hashing, dedupe and token counts."""
    if isinstance(record, TextRecord):
        return record.text
    parts: list[str] = [record.system] if record.system else []
    parts.extend(t.text for t in record.turns)
    return "\n".join(parts)


def coerce_messages(messages: Sequence[Mapping[str, Any]] | str) -> tuple[str | None, tuple[Turn, ...]]:
    """Turn user input for ``chat()`` (a string or OpenAI-style messages) into a system prompt and turns."""
    if isinstance(messages, str):
        return None, (Turn.of("user", messages),)
    system: str | None = None
    turns: list[Turn] = []
    for m in messages:
        role = str(m.get("role", ""))
        content = m.get("content", "")
        text = (
            content
            if isinstance(content, str)
            else "\n".join(str(c.get("text", "")) for c in content if isinstance(c, Mapping))
        )
        if role == "system":
            system = text if system is None else f"{system}\n{text}"
        elif role in ("user", "assistant"):
            turns.append(Turn.of(role, text))  # type: ignore[arg-type]
        else:
            raise ValueError(f"message role must be 'system', 'user' or 'assistant', got {role!r}")
    return system, tuple(turns)
