"""``bedrock_conversation``: the ``bedrock-conversation-2024`` (Converse) format of Nova, Llama 3.2/3.3
and distillation input on Bedrock.

``{"schemaVersion": "bedrock-conversation-2024", "system": [{"text": ...}], "messages": [{"role": "user",
"content": [{"text": ...}, {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://...",
"bucketOwner": "111122223333"}}}}]}, ...]}``. Format-level rules: roles ``user``/``assistant``, first user,
last assistant, alternating; non-empty text; images and videos only in user turns, in the formats Bedrock
takes, at ``s3://`` URIs of alphanumerics, ``_``, ``-``, ``/`` and ``.``. Model-level rules (media support,
counts, one system block for Llama) live in :mod:`finetune_sdk.data.validate`.

Examples:
    >>> from finetune_sdk.data.formats import bedrock_conversation as bc
    >>> from finetune_sdk.data.records import Conversation
    >>> bc.render(Conversation.from_pairs("Hi", "Hello!", system="Be kind."))[0]["system"]
    [{'text': 'Be kind.'}]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from finetune_sdk.data.formats._base import (
    Facts,
    FastRules,
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
    unknown_message_keys,
)
from finetune_sdk.data.records import MediaPart, Record, TextPart, TextRecord
from finetune_sdk.data.report import Issue

NAME = "bedrock_conversation"
DESCRIPTION = '{"schemaVersion": "bedrock-conversation-2024", "system", "messages"}: Nova, Llama 3.2+'
SUPPORTS_MEDIA = True
SCHEMA_VERSION = "bedrock-conversation-2024"
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
VIDEO_FORMATS = frozenset({"mov", "mkv", "mp4", "webm"})
_KNOWN = frozenset({"schemaVersion", "system", "messages"})
# Bucket name rules, then the key charset of the Nova validator (`^[\w\-/\.]+$`), ASCII only.
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[A-Za-z0-9_\-/.]+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_MEDIA_KEYS = frozenset({"format", "source"})
_SOURCE_KEYS = frozenset({"s3Location"})
_LOCATION_KEYS = frozenset({"uri", "bucketOwner"})
_TEXT_KEYS = frozenset({"text"})


def detect(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` looks like a ``bedrock-conversation-2024`` record."""
    return detect_format(obj) == NAME


def _media(
    kind: str,
    value: Any,
    path: str,
    role: str,
    problems: list[Problem],
    media: list[tuple[str, str, str, str, str]],
) -> bool:
    if type(value) is not dict:
        problems.append(
            problem(
                path,
                "schema.type",
                f"{kind} must be an object",
                f'write {{"{kind}": {{"format": ..., "source": {{"s3Location": {{"uri": ...}}}}}}}}',
            )
        )
        return False
    problems.extend(unknown_keys(value, _MEDIA_KEYS, path, NAME))
    fmt = value.get("format")
    source = value.get("source")
    if type(source) is dict:
        problems.extend(unknown_keys(source, _SOURCE_KEYS, f"{path}.source", NAME))
    loc = source.get("s3Location") if type(source) is dict else None
    if type(loc) is dict:
        problems.extend(unknown_keys(loc, _LOCATION_KEYS, f"{path}.source.s3Location", NAME))
    uri = loc.get("uri") if type(loc) is dict else None
    if type(fmt) is not str or type(uri) is not str:
        missing = "format" if type(fmt) is not str else "source.s3Location.uri"
        problems.append(
            problem(
                f"{path}.{missing}",
                "schema.missing",
                f"{kind} has no {missing} string",
                f'a {kind} needs "format" and "source": {{"s3Location": {{"uri": "s3://..."}}}}',
            )
        )
        return False
    if role != "user":
        problems.append(
            problem(
                path,
                "media.not_in_user_turn",
                f"a {kind} in an {role!r} turn",
                "move images and videos into user turns",
            )
        )
    allowed = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
    if fmt not in allowed:
        fix = " (write 'jpeg')" if fmt.lower() in ("jpg", "jpeg") and fmt != "jpeg" else ""
        problems.append(
            problem(
                f"{path}.format",
                "media.format",
                f"{kind} format {fmt!r} is not one of {', '.join(sorted(allowed))}{fix}",
                f"convert the {kind} to a supported format",
            )
        )
    if not S3_URI.match(uri):
        problems.append(
            problem(
                f"{path}.source.s3Location.uri",
                "media.uri",
                f"{uri!r} is not s3://BUCKET/KEY with a valid bucket name and a key of letters, digits, "
                "'_', '-', '/' and '.'",
                "use a bucket name of 3-63 lowercase letters, digits, '.', '-' and a key of those characters",
            )
        )
    owner = loc.get("bucketOwner") if type(loc) is dict else None
    if owner is not None and (type(owner) is not str or not _ACCOUNT.match(owner)):
        problems.append(
            problem(
                f"{path}.source.s3Location.bucketOwner",
                "media.uri",
                f"bucketOwner {owner!r} is not a 12-digit AWS account id",
                "use the account id that owns the bucket, or omit bucketOwner",
            )
        )
    media.append((path, role, kind, fmt, uri))
    return True


def check(obj: Mapping[str, Any]) -> tuple[Facts | None, list[Problem]]:
    """Structural, turn-order and media-placement checks; :class:`Facts` when the record can be built."""
    problems: list[Problem] = unknown_keys(obj, _KNOWN, "", NAME)
    texts: list[tuple[str, str, str]] = []
    media: list[tuple[str, str, str, str, str]] = []
    sound = True
    version = obj.get("schemaVersion")
    if version != SCHEMA_VERSION:
        problems.append(
            problem(
                "schemaVersion",
                "schema.version",
                "schemaVersion is missing"
                if version is None
                else f"schemaVersion is {version!r}, not {SCHEMA_VERSION!r}",
                f'set "schemaVersion": "{SCHEMA_VERSION}" (Llama models require it)',
            )
        )
    system = obj.get("system")
    system_blocks = 0
    if system is not None:
        if type(system) is not list:
            problems.append(
                problem(
                    "system",
                    "schema.type",
                    f"'system' must be a list of {{\"text\": ...}} blocks, got {type(system).__name__}",
                    'write "system": [{"text": "..."}]',
                )
            )
            sound = False
        else:
            for j, block in enumerate(system):
                text = block.get("text") if type(block) is dict else None
                if type(text) is not str:
                    problems.append(
                        problem(
                            f"system[{j}]",
                            "schema.type",
                            f'system block {j} is not {{"text": str}}',
                            'write "system": [{"text": "..."}]',
                        )
                    )
                    sound = False
                    continue
                system_blocks += 1
                if len(block) > 1:
                    problems.extend(unknown_keys(block, _TEXT_KEYS, f"system[{j}]", NAME))
                if is_blank(text):
                    problems.append(
                        problem(
                            f"system[{j}].text",
                            "content.empty",
                            "empty system text",
                            "remove the block or fill it in",
                        )
                    )
                texts.append((f"system[{j}].text", "system", text))
    msgs = obj.get("messages")
    if msgs is None:
        problems.append(
            problem(
                "messages",
                "schema.missing",
                "'messages' is missing",
                'each line needs "messages": [{"role": "user", "content": [{"text": ...}]}, ...]',
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
    last_user = len(texts)
    for i, m in enumerate(msgs):
        if type(m) is not dict:
            problems.append(
                problem(
                    f"messages[{i}]",
                    "schema.type",
                    f"message {i} is not an object",
                    'write each message as {"role": ..., "content": [...]}',
                )
            )
            sound = False
            continue
        role = m.get("role")
        if role == "user" or role == "assistant":
            roles.append(role)
        else:
            problems.append(
                problem(
                    f"messages[{i}].role",
                    "roles.invalid",
                    f"role {role!r} is not 'user' or 'assistant'",
                    "put system prompts in the top-level 'system' list",
                )
            )
            sound = False
            role = "user" if role is None else str(role)
        content = m.get("content")
        if type(content) is not list:
            rule = "schema.missing" if "content" not in m else "schema.type"
            what = (
                "has no 'content'"
                if "content" not in m
                else "has null 'content'"
                if content is None
                else f"content is a {type(content).__name__}, not a list of blocks"
            )
            problems.append(
                problem(
                    f"messages[{i}].content",
                    rule,
                    f"message {i} {what}",
                    'write "content": [{"text": "..."}]',
                )
            )
            sound = False
            continue
        if not content:
            problems.append(
                problem(
                    f"messages[{i}].content",
                    "content.empty",
                    f"message {i} has no content blocks",
                    'add a {"text": ...} block or drop the turn',
                )
            )
        for j, block in enumerate(content):
            path = f"messages[{i}].content[{j}]"
            if type(block) is dict and len(block) == 1:
                if "text" in block:
                    text = block["text"]
                    if type(text) is not str:
                        problems.append(
                            problem(
                                f"{path}.text",
                                "schema.type",
                                "text must be a string",
                                "write the text as a JSON string",
                            )
                        )
                        sound = False
                    else:
                        if not text or text.isspace():
                            problems.append(
                                problem(
                                    f"{path}.text",
                                    "content.empty",
                                    "empty text block",
                                    "fill it in or drop the block",
                                )
                            )
                        texts.append((f"{path}.text", role, text))
                    continue
                if "image" in block:
                    sound = _media("image", block["image"], f"{path}.image", role, problems, media) and sound
                    continue
                if "video" in block:
                    sound = _media("video", block["video"], f"{path}.video", role, problems, media) and sound
                    continue
            keys = ", ".join(map(repr, block)) if type(block) is dict else type(block).__name__
            problems.append(
                problem(
                    path,
                    "content.block",
                    f"content block {j} ({keys}) is not exactly one of text, image or video",
                    'use {"text": ...}, {"image": ...} or {"video": ...}',
                )
            )
            sound = False
        if role == "user":
            last_user = len(texts)
        if len(m) > 2:
            problems.extend(unknown_message_keys(m, i))
    if len(roles) == len(msgs):
        problems.extend(order_problems(roles, lambda k: f"messages[{k}].role"))
    if not sound:
        return None, problems
    return Facts(
        texts,
        output_from=last_user if roles and roles[-1] == "assistant" else len(texts),
        media=media,
        system_blocks=system_blocks,
        turns=len(msgs),
    ), problems


def fast_validator(rules: FastRules) -> Callable[[Mapping[str, Any]], int]:
    """A check for the validation hot loop: the record's colon count (one per key plus those inside its
    strings) when it is a text-only record that breaks no format or model rule, else ``-1`` (see
    :class:`~finetune_sdk.data.formats._base.FastRules`). Records with media always take the full check."""
    colon_words = rules.colon_words
    other_groups = rules.other_groups
    multi_turn = rules.multi_turn
    single_system = rules.single_system_block
    tokens_ok = rules.tokens_ok

    def scan(text: Any) -> int:
        if type(text) is not str or not text or text.isspace():
            return -1
        k = text.count(":")
        if k:
            for w in colon_words:
                if w in text:
                    return -1
        for guard, words in other_groups:
            if guard in text and any(w in text for w in words):
                return -1
        return k

    def fast(obj: Mapping[str, Any]) -> int:
        if obj.get("schemaVersion") != SCHEMA_VERSION:
            return -1
        msgs = obj.get("messages")
        if type(msgs) is not list or len(msgs) < 2 or (not multi_turn and len(msgs) > 2):
            return -1
        colons = len(obj)
        chars = 0  # characters of every text, each plus a separator
        text: Any
        system = obj.get("system")
        if system is not None:
            if type(system) is not list or len(obj) != 3 or (single_system and len(system) > 1):
                return -1
            for block in system:
                if type(block) is not dict or len(block) != 1:
                    return -1
                text = block.get("text")
                k = scan(text)
                if k < 0:
                    return -1
                colons += 1 + k
                chars += len(text) + 1
        elif len(obj) != 2:
            return -1
        expect = "user"
        out_chars = 0
        for m in msgs:
            if type(m) is not dict or len(m) != 2 or m.get("role") != expect:
                return -1
            content = m.get("content")
            if type(content) is not list or not content:
                return -1
            colons += 2
            out_chars = 0
            for block in content:
                if type(block) is not dict or len(block) != 1:
                    return -1
                text = block.get("text")
                k = scan(text)
                if k < 0:
                    return -1
                colons += 1 + k
                out_chars += len(text) + 1
            chars += out_chars
            expect = "assistant" if expect == "user" else "user"
        if expect != "user":
            return -1
        # the newline-joined input and output texts, as the full check measures them
        if not tokens_ok(chars - out_chars - 1, out_chars - 1):
            return -1
        return colons

    return fast


def _part(block: Mapping[str, Any]) -> PartDict:
    if "text" in block:
        return text_part(block["text"])
    kind = "image" if "image" in block else "video"
    value = block[kind]
    loc = value["source"]["s3Location"]
    return media_part(kind, value["format"], loc["uri"], loc.get("bucketOwner"))


def build(obj: Mapping[str, Any]) -> Record:
    """The canonical record of a checked line (several system blocks are joined with newlines)."""
    system = obj.get("system") or []
    return build_conversation(
        "\n".join(b["text"] for b in system) if system else None,
        [(m["role"], tuple(_part(b) for b in m["content"])) for m in obj["messages"]],
        extra_metadata(obj, _KNOWN),
    )


def parse(obj: Mapping[str, Any], line: int | None = None) -> tuple[Record | None, list[Issue]]:
    """Check and build: ``(record or None, issues)``."""
    return parse_with(check, build, obj, line)


def _render_part(p: TextPart | MediaPart) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return {"text": p.text}
    loc: dict[str, str] = {"uri": p.uri}
    if p.bucket_owner:
        loc["bucketOwner"] = p.bucket_owner
    return {p.type: {"format": p.format, "source": {"s3Location": loc}}}


def render(record: Record) -> tuple[dict[str, Any] | None, list[str]]:
    """The wire dict. Lossless for conversations; a text record cannot be written."""
    losses: list[str] = []
    if isinstance(record, TextRecord):
        return text_record_loss(losses)
    out: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION}
    if record.system:
        out["system"] = [{"text": record.system}]
    out["messages"] = [
        {"role": t.role, "content": [_render_part(p) for p in t.content]} for t in record.turns
    ]
    return out, losses
