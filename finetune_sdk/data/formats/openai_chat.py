"""``openai_chat``: OpenAI-style chat records, ``{"messages": [{"role": "system"|"user"|"assistant",
"content": ...}]}``.

The system prompt is a ``system`` message before the conversation (several are joined). ``content`` is a
string or a list of ``{"type": "text", "text"}`` and ``{"type": "image_url", "image_url": {"url"}}``
parts. A record without a system message is also a valid ``bedrock_messages`` record.

Examples:
    >>> from finetune_sdk.data.formats import openai_chat
    >>> record, _ = openai_chat.parse({"messages": [{"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]})
    >>> record.system, record.reference
    ('Be brief.', '4')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finetune_sdk.data.formats._base import (
    Facts,
    PartDict,
    Problem,
    build_conversation,
    detect_format,
    extra_metadata,
    is_blank,
    media_part,
    order_problems,
    parse_with,
    problem,
    text_part,
    text_record_loss,
    unknown_keys,
)
from finetune_sdk.data.records import Record, TextPart, TextRecord
from finetune_sdk.data.report import Issue

NAME = "openai_chat"
DESCRIPTION = '{"messages": [{"role": "system"|"user"|"assistant", "content"}]}: OpenAI chat'
SUPPORTS_MEDIA = True
_KNOWN = frozenset({"messages"})


def detect(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` looks like an OpenAI chat record (a system message or typed content parts)."""
    return detect_format(obj) == NAME


def _image_format(url: str) -> str:
    tail = url.rsplit("?", 1)[0].rsplit(".", 1)
    ext = tail[1].lower() if len(tail) == 2 else ""
    return "jpeg" if ext == "jpg" else (ext or "unknown")


def _content(
    content: Any,
    path: str,
    role: str,
    problems: list[Problem],
    texts: list[tuple[str, str, str]],
    media: list[tuple[str, str, str, str, str]],
) -> bool:
    """Check one message's content; returns whether it is structurally sound."""
    if type(content) is str:
        if is_blank(content):
            problems.append(
                problem(path, "content.empty", "empty content", "fill in the text or drop the turn")
            )
        texts.append((path, role, content))
        return True
    if type(content) is not list:
        problems.append(
            problem(
                path,
                "schema.type",
                f"content must be a string or a list, got {type(content).__name__}",
                "write the text as a JSON string",
            )
        )
        return False
    if not content:
        problems.append(
            problem(path, "content.empty", "empty content list", "add a text part or drop the turn")
        )
    sound = True
    for j, part in enumerate(content):
        ppath = f"{path}[{j}]"
        kind = part.get("type") if type(part) is dict else None
        if kind == "text" and type(part.get("text")) is str:
            if is_blank(part["text"]):
                problems.append(
                    problem(f"{ppath}.text", "content.empty", "empty text part", "fill it in or drop it")
                )
            texts.append((f"{ppath}.text", role, part["text"]))
        elif (
            kind == "image_url"
            and type(part.get("image_url")) is dict
            and type(part["image_url"].get("url")) is str
        ):
            url = part["image_url"]["url"]
            media.append((f"{ppath}.image_url.url", role, "image", _image_format(url), url))
        else:
            problems.append(
                problem(
                    ppath,
                    "content.block",
                    f"content part {j} is not a text or image_url part",
                    'use {"type": "text", "text": ...} or {"type": "image_url", ...}',
                )
            )
            sound = False
    return sound


def check(obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]:
    """Structural and turn-order checks; :class:`Facts` when the record can be built."""
    problems: list[Problem] = (
        unknown_keys({k: v for k, v in obj.items() if k != "system"}, _KNOWN, "", NAME) if len(obj) > 1 else []
    )
    texts: list[tuple[str, str, str]] = []
    media: list[tuple[str, str, str, str, str]] = []
    msgs = obj.get("messages")
    if msgs is None:
        return None, [
            problem(
                "messages", "schema.missing", "'messages' is missing", 'each line needs {"messages": [...]}'
            )
        ]
    if type(msgs) is not list:
        return None, [
            problem(
                "messages",
                "schema.type",
                f"'messages' must be a list, got {type(msgs).__name__}",
                "write the conversation as a JSON list of messages",
            )
        ]
    sound = True
    if "system" in obj:
        problems.append(
            problem(
                "system",
                "format.mismatch",
                "a top-level 'system' is bedrock_messages; openai_chat "
                "holds the system prompt in a system message",
                "move it into a system message",
            )
        )
    roles: list[str] = []
    turn_index: list[int] = []
    system_blocks = 0
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
        if role == "system":
            if roles:
                problems.append(
                    problem(
                        f"messages[{i}].role",
                        "roles.system_position",
                        f"system message {i} comes after the conversation started",
                        "move system messages to the start",
                    )
                )
                sound = False
            system_blocks += 1
        elif role == "user" or role == "assistant":
            roles.append(role)
            turn_index.append(i)
        else:
            problems.append(
                problem(
                    f"messages[{i}].role",
                    "roles.invalid",
                    f"role {role!r} is not 'system', 'user' or 'assistant'",
                    "tool and function messages cannot be used for fine-tuning",
                )
            )
            sound = False
            continue
        if "content" not in m:
            problems.append(
                problem(
                    f"messages[{i}]",
                    "schema.missing",
                    f"message {i} has no 'content'",
                    "add the message text as 'content'",
                )
            )
            sound = False
            continue
        sound = _content(m["content"], f"messages[{i}].content", role, problems, texts, media) and sound
        if role == "user":
            last_user = len(texts)
    if len(roles) + system_blocks == len(msgs):
        problems.extend(order_problems(roles, lambda k: f"messages[{turn_index[k]}].role"))
    if not sound:
        return None, problems
    return Facts(
        texts,
        output_from=last_user if roles and roles[-1] == "assistant" else len(texts),
        media=media,
        system_blocks=system_blocks,
        turns=len(roles),
    ), problems


def _parts(content: Any) -> list[PartDict]:
    if type(content) is str:
        return [text_part(content)]
    return [
        text_part(part["text"])
        if part["type"] == "text"
        else media_part("image", _image_format(part["image_url"]["url"]), part["image_url"]["url"])
        for part in content
    ]


def build(obj: Mapping[str, Any]) -> Record:
    """The canonical record of a checked line (system messages joined into the system prompt)."""
    systems: list[str] = []
    turns = []
    for m in obj["messages"]:
        if m["role"] == "system":
            systems.append("\n".join(p.text for p in _parts(m["content"]) if isinstance(p, TextPart)))
        else:
            turns.append((m["role"], _parts(m["content"])))
    return build_conversation("\n".join(systems) if systems else None, turns, extra_metadata(obj, _KNOWN))


def parse(obj: Mapping[str, Any], line: int | None = None) -> tuple[Record | None, list[Issue]]:
    """Check and build: ``(record or None, issues)``."""
    return parse_with(check, build, obj, line)


def render(record: Record) -> tuple[dict[str, Any] | None, list[str]]:
    """The wire dict; images become ``image_url`` parts, videos are dropped (loss ``media_dropped``)."""
    losses: list[str] = []
    if isinstance(record, TextRecord):
        return text_record_loss(losses)
    messages: list[dict[str, Any]] = []
    if record.system:
        messages.append({"role": "system", "content": record.system})
    for t in record.turns:
        if not t.media:
            messages.append({"role": t.role, "content": t.text})
            continue
        parts: list[dict[str, Any]] = []
        for p in t.content:
            if isinstance(p, TextPart):
                parts.append({"type": "text", "text": p.text})
            elif p.type == "image":
                parts.append({"type": "image_url", "image_url": {"url": p.uri}})
            elif "media_dropped" not in losses:
                losses.append("media_dropped")
        messages.append({"role": t.role, "content": parts})
    return {"messages": messages}, losses
