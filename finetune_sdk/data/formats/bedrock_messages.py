"""``bedrock_messages``: the Claude 3 Haiku fine-tuning format on Bedrock.

``{"system": "...", "messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}]}``:
``system`` is an optional string, ``content`` a plain string, roles only ``user``/``assistant``, first
``user``, last ``assistant``, strictly alternating, at least two messages.

Examples:
    >>> from finetune_sdk.data.formats import bedrock_messages as bm
    >>> record, issues = bm.parse({"messages": [{"role": "user", "content": "hi"}]}, line=7)
    >>> [(i.line, i.rule) for i in issues]
    [(7, 'messages.too_few')]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from finetune_sdk.data.formats._base import (
    Facts,
    FastRules,
    Problem,
    detect_format,
    extra_metadata,
    order_problems,
    parse_with,
    problem,
    text_part,
    text_record_loss,
    unknown_keys,
    unknown_message_keys,
)
from finetune_sdk.data.records import Record, TextRecord, _trusted_conversation, _trusted_turn
from finetune_sdk.data.report import Issue

NAME = "bedrock_messages"
DESCRIPTION = '{"system": str, "messages": [{"role", "content": str}]}: Claude 3 Haiku'
SUPPORTS_MEDIA = False
_KNOWN = frozenset({"system", "messages"})
_ROLES = ("user", "assistant")


def detect(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` looks like a Claude messages record."""
    return detect_format(obj) == NAME


def _path(i: int) -> str:
    return f"messages[{i}].role"


def check(obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]:
    """Structural and turn-order checks; :class:`Facts` when the record can be built."""
    # Fast path for the common, well-formed record; anything unusual takes the full check below.
    msgs = obj.get("messages")
    system = obj.get("system")
    if (
        type(msgs) is list
        and len(msgs) > 1
        and (system is None or type(system) is str)
        and len(obj) == (2 if "system" in obj else 1)
    ):
        texts: list[tuple[str, str, str]] = [("system", "system", system)] if system else []
        expect = "user"
        for i, m in enumerate(msgs):
            if type(m) is not dict or len(m) != 2:
                break
            c = m.get("content")
            if m.get("role") != expect or type(c) is not str or not c or c.isspace():
                break
            texts.append((f"messages[{i}].content", expect, c))
            expect = "assistant" if expect == "user" else "user"
        else:
            if expect == "user":  # the last message was the assistant's
                return Facts(texts, output_from=len(texts) - 1, turns=len(msgs)), []
    return _check_full(obj)


def _check_full(obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]:
    problems: list[Problem] = unknown_keys(obj, _KNOWN, "", NAME)
    texts: list[tuple[str, str, str]] = []
    sound = True
    system = obj.get("system")
    if system is not None:
        if type(system) is not str:
            hint = (
                "write the system prompt as one string: join the text of the blocks"
                if type(system) is list
                else "write the system prompt as a JSON string"
            )
            problems.append(
                problem(
                    "system",
                    "schema.type",
                    f"'system' must be a string, got {_json_type(system)}",
                    f"{hint} (Claude 3 Haiku fine-tuning takes one system string)",
                )
            )
            sound = False
        elif system:
            texts.append(("system", "system", system))
    msgs = obj.get("messages")
    if msgs is None:
        problems.append(
            problem(
                "messages",
                "schema.missing",
                "'messages' is missing",
                'each line needs {"messages": [{"role": "user", "content": "..."}, ...]}',
            )
        )
        return None, problems
    if type(msgs) is not list:
        problems.append(
            problem(
                "messages",
                "schema.type",
                f"'messages' must be a list, got {type(msgs).__name__}",
                "write the conversation as a JSON list of messages",
            )
        )
        return None, problems
    roles: list[str] = []
    last_user = 0
    for i, m in enumerate(msgs):
        if type(m) is not dict:
            problems.append(
                problem(
                    f"messages[{i}]",
                    "schema.type",
                    f"message {i} is not an object",
                    'write each message as {"role": ..., "content": ...}',
                )
            )
            sound = False
            continue
        role = m.get("role")
        content = m.get("content")
        if role != "user" and role != "assistant":
            if role is None:
                problems.append(
                    problem(
                        f"messages[{i}].role" if "role" in m else f"messages[{i}]",
                        "schema.type" if "role" in m else "schema.missing",
                        f"message {i} has a null 'role'" if "role" in m else f"message {i} has no 'role'",
                        "set role to 'user' or 'assistant'",
                    )
                )
            else:
                hint = (
                    "put the system prompt in the top-level 'system' string"
                    if role == "system"
                    else "bedrock_messages allows only 'user' and 'assistant'"
                )
                problems.append(
                    problem(
                        f"messages[{i}].role",
                        "roles.invalid",
                        f"role {role!r} is not 'user' or 'assistant'",
                        hint,
                    )
                )
            sound = False
        else:
            roles.append(role)
        if content is None:
            null = "content" in m
            problems.append(
                problem(
                    f"messages[{i}].content" if null else f"messages[{i}]",
                    "schema.type" if null else "schema.missing",
                    f"message {i} has null 'content'" if null else f"message {i} has no 'content'",
                    "write the message text as a string in 'content'",
                )
            )
            sound = False
        elif type(content) is not str:
            problems.append(_content_problem(content, i))
            sound = False
        else:
            if not content or content.isspace():
                problems.append(
                    problem(
                        f"messages[{i}].content",
                        "content.empty",
                        f"message {i} has empty content",
                        "fill in the text or drop the turn",
                    )
                )
            texts.append((f"messages[{i}].content", role, content))  # type: ignore[arg-type]
            if role == "user":
                last_user = len(texts)
        if len(m) > 2:
            problems.extend(unknown_message_keys(m, i))
    if len(roles) == len(msgs):
        problems.extend(order_problems(roles, _path))
    if not sound:
        return None, problems
    return Facts(
        texts, output_from=last_user if roles and roles[-1] == "assistant" else len(texts), turns=len(msgs)
    ), problems


_MEDIA_KEYS = frozenset({"image", "image_url", "video", "document", "source"})


def _json_type(value: Any) -> str:
    return {list: "a list", dict: "an object", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _content_problem(content: Any, i: int) -> Problem:
    """The problem of a non-string ``content``: judged as a Claude 3 Haiku record, never as another format."""
    path = f"messages[{i}].content"
    if type(content) is list:
        for j, block in enumerate(content):
            if type(block) is dict and (block.get("type") in _MEDIA_KEYS or block.keys() & {"image", "video"}):
                kind = block.get("type") if block.get("type") in _MEDIA_KEYS else next(
                    iter(block.keys() & {"image", "video"})
                )
                return problem(
                    f"{path}[{j}]",
                    "media.unsupported",
                    f"message {i} holds an {kind} block; Claude 3 Haiku fine-tuning trains on text only",
                    "drop the media blocks and write the message text as one string",
                )
        return problem(
            path,
            "schema.type",
            f"content must be a string, got a list of {len(content)} block{'s' if len(content) != 1 else ''}",
            "write the message text as one string (join the text blocks); Claude 3 Haiku fine-tuning takes "
            "plain-text content",
        )
    return problem(
        path,
        "schema.type",
        f"content must be a string, got {_json_type(content)}",
        "write the message text as a JSON string",
    )


def fast_validator(rules: FastRules) -> Callable[[Mapping[str, Any]], int]:
    """A check for the validation hot loop (see :class:`~finetune_sdk.data.formats._base.FastRules`).

    Returns the number of colons the record holds (one per key plus those inside its strings) when it
    breaks no format or model rule, else ``-1`` (the full check then runs). Records with keys the
    format does not define return ``-1`` too, so the count covers every key and string of the record.
    """
    colon_words = rules.colon_words
    other_groups = rules.other_groups
    multi_turn = rules.multi_turn
    tokens_ok = rules.tokens_ok

    def fast(obj: Mapping[str, Any]) -> int:
        msgs = obj.get("messages")
        if type(msgs) is not list or len(msgs) < 2:
            return -1
        n = len(msgs)
        if not multi_turn and n > 2:
            return -1
        colons = 2 * n + 1
        in_chars = 0
        system = obj.get("system")
        if len(obj) != 1:
            if len(obj) != 2 or type(system) is not str:
                return -1
            colons += 1
            if system:
                k = system.count(":")
                if k:
                    colons += k
                    for w in colon_words:
                        if w in system:
                            return -1
                for guard, words in other_groups:
                    if guard in system and any(w in system for w in words):
                        return -1
                in_chars = len(system) + 1
        expect = "user"
        last = ""
        for m in msgs:
            if type(m) is not dict or len(m) != 2:
                return -1
            c = m.get("content")
            if m.get("role") != expect or type(c) is not str or not c or c.isspace():
                return -1
            k = c.count(":")
            if k:
                colons += k
                for w in colon_words:
                    if w in c:
                        return -1
            for guard, words in other_groups:
                if guard in c and any(w in c for w in words):
                    return -1
            in_chars += len(c) + 1
            last = c
            expect = "assistant" if expect == "user" else "user"
        if expect != "user" or not tokens_ok(in_chars - len(last) - 2, len(last)):
            return -1
        return colons

    return fast


def key_validator(rules: FastRules) -> Callable[[Mapping[str, Any]], int]:
    """The hot-loop check of a raw line the validator has already cleared of escapes, reserved words and
    token-limit risk (see :meth:`~finetune_sdk.data.validate.StreamValidator.feed_binary`): the number of keys
    the record must hold when it is a clean record of this format, else ``-1``. The caller compares it with
    the ``":`` pairs of the raw line, which proves there is no extra or duplicate key, so keys are not
    counted here and strings are not scanned."""
    multi_turn = rules.multi_turn

    def keys(obj: Mapping[str, Any]) -> int:
        msgs = obj.get("messages")
        if type(msgs) is not list:
            return -1
        n = len(msgs)
        if n < 2 or (not multi_turn and n > 2):
            return -1
        system = obj.get("system")
        k = 1 + 2 * n
        if system is not None:
            if type(system) is not str:
                return -1
            k += 1
        expect = "user"
        for m in msgs:
            if type(m) is not dict:
                return -1
            c = m.get("content")
            if m.get("role") != expect or type(c) is not str or not c or c.isspace():
                return -1
            expect = "assistant" if expect == "user" else "user"
        return k if expect == "user" else -1

    return keys


def build(obj: Mapping[str, Any]) -> Record:
    """The canonical record of a checked line (trusted: see
    :func:`~finetune_sdk.data.formats._base.build_conversation`; one text part per turn, built directly)."""
    return _trusted_conversation(
        obj.get("system") or None,
        tuple([_trusted_turn(m["role"], (text_part(m["content"]),)) for m in obj["messages"]]),
        extra_metadata(obj, _KNOWN),
    )


def parse(obj: Mapping[str, Any], line: int | None = None) -> tuple[Record | None, list[Issue]]:
    """Check and build: ``(record or None, issues)``."""
    return parse_with(check, build, obj, line)


def render(record: Record) -> tuple[dict[str, Any] | None, list[str]]:
    """The wire dict; media parts are dropped (loss ``media_dropped``)."""
    losses: list[str] = []
    if isinstance(record, TextRecord):
        return text_record_loss(losses)
    out: dict[str, Any] = {}
    if record.system:
        out["system"] = record.system
    out["messages"] = [{"role": t.role, "content": t.text} for t in record.turns]
    if any(t.media for t in record.turns):
        losses.append("media_dropped")
    return out, losses
