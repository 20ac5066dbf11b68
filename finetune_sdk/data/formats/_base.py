"""Shared pieces of the wire formats: the checked-record summary, problem tuples, detection and helpers.

A format module checks a raw ``dict`` with hand-written code (no pydantic per record: validation streams
millions of lines) and returns :class:`Facts`, the few things model-level rules need (texts with their
JSON paths and roles, media), plus problems. Records are built only when a dataset is materialised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from finetune_sdk.data.records import (
    Conversation,
    MediaPart,
    Record,
    TextPart,
    _trusted_conversation,
    _trusted_media_part,
    _trusted_text_part,
    _trusted_turn,
)
from finetune_sdk.data.report import RULES, Issue, Severity

__all__ = [
    "CONVERT_HINT",
    "Facts",
    "FastRules",
    "Problem",
    "ReservedGroups",
    "WireFormat",
    "build_conversation",
    "detect_format",
    "extra_metadata",
    "find_reserved",
    "flatten_prompt",
    "is_blank",
    "media_part",
    "parse_with",
    "problem",
    "reserved_groups",
    "scan_text",
    "text_part",
    "to_issue",
    "unknown_keys",
    "unknown_message_keys",
]

#: (path, rule, message, hint, severity or None for the rule's default)
Problem = tuple[str, str, str, str, "Severity | None"]

TextRole = Literal["system", "user", "assistant", "text"]

CONVERT_HINT = "convert with Dataset.convert({fmt!r}) or `finetune data convert PATH --to {fmt} -o OUT`"


def problem(path: str, rule: str, message: str, hint: str = "", severity: Severity | None = None) -> Problem:
    """A problem tuple (cheap to build; becomes an :class:`Issue` once the line number is known)."""
    return (path, rule, message, hint, severity)


def unknown_message_keys(message: Mapping[str, Any], index: int) -> list[Problem]:
    """``schema.unknown_key`` problems for the keys of message ``index`` other than ``role`` and ``content``."""
    return [
        problem(
            f"messages[{index}].{key}",
            "schema.unknown_key",
            f"message {index} has a key {key!r} the format does not define",
            "remove it; Bedrock reads only role and content",
        )
        for key in message
        if key != "role" and key != "content"
    ]


def unknown_keys(
    obj: Mapping[str, Any], known: frozenset[str], where: str, fmt: str, severity: Severity | None = None
) -> list[Problem]:
    """``schema.unknown_key`` problems for the keys of ``obj`` (at JSON path ``where``, ``""`` for the top
    level) that format ``fmt`` does not define; the hint lists the keys it does define."""
    if obj.keys() <= known:
        return []
    defined = ", ".join(sorted(known))
    prefix = f"{where}." if where else ""
    return [
        problem(
            f"{prefix}{key}",
            "schema.unknown_key",
            f"{where or 'the record'} has a key {key!r} that {fmt} does not define",
            f"{fmt} defines only {defined} here; remove it (the SDK keeps such keys as record metadata)",
            severity,
        )
        for key in obj
        if key not in known
    ]


def null_or_missing(obj: Mapping[str, Any], key: str, where: str) -> str:
    """``"is null"`` when ``obj`` holds ``key`` as JSON ``null``, else ``"is missing"`` (for messages)."""
    return f"{where} is null" if key in obj else f"{where} is missing"


def to_issue(line: int | None, p: Problem, source: str | None = None) -> Issue:
    """The :class:`Issue` for problem ``p`` at ``line``."""
    path, rule, message, hint, severity = p
    return Issue.model_construct(
        line=line,
        path=path,
        rule=rule,
        severity=severity or RULES[rule][0],
        message=message,
        hint=hint,
        source=source,
    )


class Facts:
    """What the model-level rules need to know about one structurally sound record.

    ``texts`` are ``(json_path, role, text)`` in reading order; ``output_from`` is the index in ``texts``
    where the final assistant response starts (``len(texts)`` when there is none); ``media`` are
    ``(json_path, role, kind, format, uri)``.
    """

    __slots__ = ("media", "output_from", "system_blocks", "texts", "turns")

    def __init__(
        self,
        texts: list[tuple[str, str, str]],
        *,
        output_from: int | None = None,
        media: list[tuple[str, str, str, str, str]] | None = None,
        system_blocks: int = 0,
        turns: int = 0,
    ) -> None:
        self.texts = texts
        self.output_from = len(texts) if output_from is None else output_from
        self.media = media or []
        self.system_blocks = system_blocks
        self.turns = turns


ReservedGroups = tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # (guard, ((word, guard offset), ...))

# How common a character is in ordinary text (lower = rarer): the guard of a reserved word is its rarest.
_COMMON = {"\n": 2.5, ":": 2.0, ".": 2.6, ",": 2.6, "'": 2.4, '"': 2.4, "-": 2.3}


def _rank(ch: str) -> float:
    if ch.isalnum() or (ch.isspace() and ch != "\n"):
        return 3.0
    return _COMMON.get(ch, 1.0)


def reserved_groups(words: Sequence[str]) -> ReservedGroups:
    """Reserved strings grouped under a guard: the rarest character each contains (``"["`` in ``"[EOS]"``,
    ``":"`` in ``"User:"``), with its offset in the word.

    A substring search costs 1-2 ns per character, a one-character ``in`` a fraction of that, so hot
    loops look for the words only in texts that hold the guard (see :func:`find_reserved`).
    """
    groups: dict[str, list[tuple[str, int]]] = {}
    for w in words:
        if not w:
            continue
        guard = min(w, key=_rank)
        groups.setdefault(guard, []).append((w, w.index(guard)))
    return tuple((g, tuple(ws)) for g, ws in groups.items())


def find_reserved(text: str, groups: ReservedGroups) -> list[str]:
    """The reserved strings of ``groups`` that occur in ``text``, each once."""
    found: list[str] = []
    for guard, words in groups:
        if guard in text:
            found.extend(w for w, _ in words if w in text)
    return found


class FastRules:
    """The model rules a format's optional ``fast_validator`` must enforce, flattened for a hot loop.

    A format's ``fast_validator(rules)`` returns a function of the raw record that returns the number
    of colons in the record (one per key, plus those inside every string) when the record has no
    problem at all (format or model rules), and ``-1`` otherwise: then the full check runs, so it may be
    conservative. The colon count lets the caller prove the raw line had no duplicate key without
    re-serialising it (see :func:`finetune_sdk.data.io.parse_line`).
    """

    __slots__ = (
        "chars_per_token",
        "colon_words",
        "max_input",
        "max_output",
        "max_tokens",
        "multi_turn",
        "other_groups",
        "reserved",
        "reserved_groups",
        "single_system_block",
    )

    def __init__(
        self,
        *,
        reserved: tuple[str, ...],
        chars_per_token: float | None,
        max_tokens: int | None,
        max_input: int | None,
        max_output: int | None,
        multi_turn: bool,
        single_system_block: bool = False,
    ) -> None:
        self.reserved = reserved
        self.reserved_groups = reserved_groups(reserved)
        # Words guarded by ":" are looked for where a colon count (needed anyway) is non-zero.
        self.colon_words = tuple(w for g, ws in self.reserved_groups if g == ":" for w, _ in ws)
        self.other_groups = tuple((g, tuple(w for w, _ in ws)) for g, ws in self.reserved_groups if g != ":")
        self.chars_per_token = chars_per_token
        self.max_tokens = max_tokens
        self.max_input = max_input
        self.max_output = max_output
        self.multi_turn = multi_turn
        self.single_system_block = single_system_block

    def tokens_ok(self, in_chars: int, out_chars: int) -> bool:
        """Whether the heuristic token counts of a record with these character counts are within limits
        (the same arithmetic as the full check)."""
        cpt = self.chars_per_token
        if cpt is None:
            return self.max_tokens is None and self.max_input is None and self.max_output is None
        tin = math.ceil(in_chars / cpt)
        tout = math.ceil(out_chars / cpt)
        return not (
            (self.max_tokens is not None and tin + tout > self.max_tokens)
            or (self.max_input is not None and tin > self.max_input)
            or (self.max_output is not None and tout > self.max_output)
        )


def scan_text(text: str, rules: FastRules) -> int:
    """For fast validators: the colons in ``text``, or ``-1`` when it is blank or holds a reserved word."""
    if not text or text.isspace():
        return -1
    k = text.count(":")
    if k:
        for w in rules.colon_words:
            if w in text:
                return -1
    for guard, words in rules.other_groups:
        if guard in text and any(w in text for w in words):
            return -1
    return k


class WireFormat(Protocol):
    """What every format module provides (modules satisfy this protocol)."""

    NAME: str
    DESCRIPTION: str
    SUPPORTS_MEDIA: bool

    def detect(self, obj: Mapping[str, Any]) -> bool: ...

    def check(self, obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]: ...

    def build(self, obj: Mapping[str, Any]) -> Record: ...

    def parse(self, obj: Mapping[str, Any], line: int | None = None) -> tuple[Record | None, list[Issue]]: ...

    def render(self, record: Record) -> tuple[dict[str, Any] | None, list[str]]: ...


def parse_with(
    check: Callable[[Mapping[str, Any]], tuple[Facts | None, list[Problem]]],
    build: Callable[[Mapping[str, Any]], Record],
    obj: Mapping[str, Any],
    line: int | None,
) -> tuple[Record | None, list[Issue]]:
    """``check`` then ``build`` when the structure is sound: the body of every format's ``parse``."""
    facts, problems = check(obj)
    issues = [to_issue(line, p) for p in problems]
    return (build(obj) if facts is not None else None), issues


def is_blank(text: str) -> bool:
    """Empty or whitespace only (without copying the string as ``strip()`` would)."""
    return not text or text.isspace()


def detect_format(obj: Mapping[str, Any]) -> str | None:
    """The wire format a raw record looks like, from its keys and shapes; ``None`` when none fits.

    Cheap (a few dict lookups). The order settles overlaps: a ``messages`` record is
    ``bedrock_conversation`` when it has ``schemaVersion``, a list ``system`` or list content without
    ``type`` keys; ``openai_chat`` when it has a ``system`` role message or typed content parts;
    otherwise ``bedrock_messages`` (whose records without a top-level ``system`` are also valid
    ``openai_chat``).
    """
    msgs = obj.get("messages")
    if msgs is not None:
        if "schemaVersion" in obj or type(obj.get("system")) is list:
            return "bedrock_conversation"
        if type(msgs) is list and msgs:
            first = msgs[0]
            if type(first) is dict:
                content = first.get("content")
                if type(content) is list:
                    block = content[0] if content else None
                    if type(block) is dict and "type" in block:
                        return "openai_chat"
                    return "bedrock_conversation"
            for m in msgs:
                if type(m) is dict and m.get("role") == "system":
                    return "openai_chat"
        return "bedrock_messages"
    if "schemaVersion" in obj:
        return "bedrock_conversation"
    if "instruction" in obj:
        return "jumpstart_instruction"
    if "prompt" in obj or "completion" in obj:
        return "prompt_completion"
    if "input" in obj:
        return "text"
    return None


def extra_metadata(obj: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """Top-level keys a format does not define, kept as record metadata."""
    if obj.keys() <= known:
        return {}
    return {k: v for k, v in obj.items() if k not in known}


#: A content part a format's ``build`` makes with :func:`text_part` or :func:`media_part`.
PartDict = TextPart | MediaPart


def build_conversation(
    system: str | None,
    turns: Sequence[tuple[str, Sequence[PartDict]]],
    metadata: Mapping[str, Any],
) -> Conversation:
    """A :class:`Conversation` from pieces a format's ``check`` has already proved well formed: roles
    ``"user"``/``"assistant"``, parts from :func:`text_part`/:func:`media_part`, string texts.

    Nothing is validated again: the models are filled in directly (the trusted path of
    :mod:`finetune_sdk.data.records`), which gives records equal to ``Conversation.model_validate`` of
    the same pieces at a fraction of the cost. Only call it after ``check`` returned facts."""
    return _trusted_conversation(
        system,
        tuple([_trusted_turn(role, tuple(parts)) for role, parts in turns]),
        dict(metadata),
    )


def text_part(text: str) -> PartDict:
    """The text part of a checked string (see :func:`build_conversation`)."""
    return _trusted_text_part(text)


def media_part(kind: str, fmt: str, uri: str, bucket_owner: str | None = None) -> PartDict:
    """The image or video part of checked strings (see :func:`build_conversation`)."""
    return _trusted_media_part(kind, fmt, uri, bucket_owner)


def flatten_prompt(record: Conversation, losses: list[str]) -> tuple[str, str]:
    """``(prompt, response)`` text for single-field formats, noting each loss kind in ``losses``.

    Earlier turns are flattened into the prompt as ``User: ...`` / ``Assistant: ...`` blocks, the system
    prompt is put first, media parts are dropped.
    """
    turns = record.turns
    response = ""
    if turns and turns[-1].role == "assistant":
        response = turns[-1].text
        turns = turns[:-1]
    else:
        losses.append("no_assistant_turn")
    if any(t.media for t in record.turns):
        losses.append("media_dropped")
    if len(turns) > 1:
        losses.append("multi_turn_flattened")
        prompt = "\n\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.text}" for t in turns)
    else:
        prompt = turns[0].text if turns else ""
    if record.system:
        losses.append("system_merged_into_prompt")
        prompt = f"{record.system}\n\n{prompt}" if prompt else record.system
    return prompt, response


def order_problems(roles: Sequence[str], path_of: Callable[[int], str]) -> list[Problem]:
    """Turn-order rules shared by the conversational formats: at least two turns, first ``user``, last
    ``assistant``, strict alternation (reported once, at the first repeat). ``roles`` must hold only
    ``user``/``assistant``; ``path_of(i)`` gives the JSON path of turn ``i``."""
    n = len(roles)
    if n < 2:
        return [
            problem(
                "messages",
                "messages.too_few",
                f"{n} message{'s' if n != 1 else ''}; a record needs a user message and an assistant reply",
                "add the missing turn or drop the record",
            )
        ]
    out: list[Problem] = []
    if roles[0] != "user":
        out.append(
            problem(
                path_of(0),
                "roles.first_user",
                f"the first message is from {roles[0]!r}, not 'user'",
                "start each conversation with a user message",
            )
        )
    if roles[-1] != "assistant":
        out.append(
            problem(
                path_of(n - 1),
                "roles.last_assistant",
                f"the last message is from {roles[-1]!r}, not 'assistant'",
                "end each conversation with the assistant reply to learn",
            )
        )
    for i in range(1, n):
        if roles[i] == roles[i - 1]:
            out.append(
                problem(
                    path_of(i),
                    "roles.alternation",
                    f"two {roles[i]!r} messages in a row (messages {i - 1} and {i})",
                    "merge consecutive messages of one role, or add the missing turn",
                )
            )
            break
    return out


def text_record_loss(losses: list[str]) -> tuple[None, list[str]]:
    """The render result for a :class:`TextRecord` in a conversational format: it cannot be written."""
    losses.append("text_record_not_conversational")
    return None, losses
