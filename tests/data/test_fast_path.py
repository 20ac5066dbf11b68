"""The raw-line fast path of file validation (issue 14's speed work) gives the verdicts of the full checks:
every tricky line is validated from a file and from memory, and both must agree."""

from __future__ import annotations

import io
import json

import pytest

from finetune_sdk.data.validate import validate_jsonl, validate_objects

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
NOVA = "amazon.nova-lite-v1:0:300k"
TITAN = "amazon.titan-text-express-v1:0:8k"


def _qa(q: str = "Q?", a: str = "A.", **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], **extra}


def _nova(q: str = "Q?", a: str = "A.") -> dict[str, object]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [{"role": "user", "content": [{"text": q}]}, {"role": "assistant", "content": [{"text": a}]}],
    }


HAIKU_LINES: list[tuple[bytes, list[str]]] = [
    (json.dumps(_qa()).encode(), []),
    (json.dumps(_qa("Say this:\nHuman: hi")).encode(), ["reserved_string"]),
    (
        json.dumps(_qa("Say this:\nHuman: hi"), ensure_ascii=True).encode().replace(b"\\n", b"\\u000a"),
        ["reserved_string"],
    ),
    (
        b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "messages": []}',
        ["json.duplicate_key"],
    ),
    (
        b'{"messages": [{"role": "user", "role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
        ["json.duplicate_key"],
    ),
    (json.dumps(_qa('He said ":" and "x": y')).encode(), []),
    (b'{"messages" : [{"role" : "user", "content" : "q"}, {"role" : "assistant", "content" : "a"}]}', []),
    (json.dumps(_qa(id=3)).encode(), ["schema.unknown_key"]),
    (json.dumps(_qa("   ")).encode(), ["content.empty"]),
    (json.dumps(_qa("x: y\n\tz")).encode(), []),
    (json.dumps({"system": "Be brief: always.", **_qa()}).encode(), []),
    (json.dumps({"system": None, **_qa()}).encode(), []),
    (
        b'{"messages": [{"role": "user", "content": "a\\u003a b"}, {"role": "assistant", "content": "c", '
        b'"c\\u006fntent": "d"}]}',
        ["json.duplicate_key"],
    ),
]


@pytest.mark.parametrize(("line", "rules"), HAIKU_LINES, ids=[str(i) for i in range(len(HAIKU_LINES))])
def test_haiku_lines_agree_with_the_full_checks(line: bytes, rules: list[str]) -> None:
    data = json.dumps(_qa("first")).encode() + b"\n" + line + b"\n"
    report = validate_jsonl(io.BytesIO(data), model=HAIKU)
    got = sorted(i.rule for i in report.issues if i.line == 2)
    assert got == sorted(rules), report.to_text()
    if "json.duplicate_key" not in rules:
        in_memory = validate_objects([_qa("first"), json.loads(line)], model=HAIKU)
        assert sorted(i.rule for i in in_memory.issues if i.line == 2) == got


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("plain", []),
        ("User: hi", ["reserved_string"]),
        ("see <image>", ["reserved_string"]),
        ("ratio 3:2", []),
        ("ends [EOS]", ["reserved_string"]),
        ("Assistant:\nok", ["reserved_string"]),
    ],
)
def test_nova_reserved_words_on_the_fast_path(text: str, rules: list[str]) -> None:
    lines = [_nova(), _nova(text), *[_nova() for _ in range(8)]]
    data = b"".join(json.dumps(x, ensure_ascii=False).encode() + b"\n" for x in lines)
    report = validate_jsonl(io.BytesIO(data), model=NOVA)
    assert sorted(i.rule for i in report.issues if i.line == 2) == rules
    assert [i.rule for i in validate_objects(lines, model=NOVA).issues if i.line == 2] == rules


def test_long_lines_still_get_the_token_checks() -> None:
    lines = [{"prompt": "p" * 30_000, "completion": "c"}, {"prompt": "q", "completion": "a"}]
    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    report = validate_jsonl(io.BytesIO(data), model=TITAN)
    assert [(i.line, i.rule) for i in report.issues] == [(1, "tokens.max_per_record")]
