"""Streamed JSONL reading: every physical line accounted for, with and without orjson."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from finetune_sdk.data import io as data_io
from finetune_sdk.data.io import iter_jsonl, parse_line, write_jsonl
from finetune_sdk.data.validate import validate_jsonl
from finetune_sdk.errors import DataError


@pytest.fixture(params=["orjson", "json"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with orjson and with the standard library only."""
    if request.param == "json":
        monkeypatch.setattr(data_io, "_fast_loads", None)
        monkeypatch.setattr(data_io, "_fast_dumps", None)
    elif data_io._fast_loads is None:
        pytest.skip("orjson is not installed")
    return str(request.param)


def _kinds(data: bytes) -> list[tuple[int, str, list[str]]]:
    return [(ln.number, ln.kind, [i.rule for i in ln.issues]) for ln in iter_jsonl(io.BytesIO(data))]


def test_each_problem_at_its_line(codec: str) -> None:
    data = (
        b'\xef\xbb\xbf{"a": 1}\r\n'  # BOM then a record, CRLF
        b"\n"  # blank
        b'{"a": "caf\xe9"}\n'  # latin-1 byte
        b'{"a": 1,}\n'  # malformed
        b'{"a": 1, "a": 2}\n'  # duplicate key
        b'{"o": {"k": 1, "k": 2}}\n'  # duplicate key in a nested object
        b'"just a string"\n'
        b"42\n"
        b"null\n"
        b'{"x": Infinity}\n'
        b'{"ok": "a:b"}   \t\n'  # trailing whitespace, a colon inside a string
        b'{"big": 123456789012345678901234567890}\n'  # beyond 64 bits: valid JSON
        b'{"last": true}'  # no final newline
    )
    assert _kinds(data) == [
        (1, "record", ["encoding.bom"]),
        (2, "blank", ["line.blank"]),
        (3, "invalid", ["encoding.invalid_utf8"]),
        (4, "invalid", ["json.malformed"]),
        (5, "invalid", ["json.duplicate_key"]),
        (6, "invalid", ["json.duplicate_key"]),
        (7, "invalid", ["json.not_object"]),
        (8, "invalid", ["json.not_object"]),
        (9, "invalid", ["json.not_object"]),
        (10, "invalid", ["json.malformed"]),
        (11, "record", []),
        (12, "record", []),
        (13, "record", []),
    ]


def test_messages_name_the_position(codec: str) -> None:
    bad = parse_line(b'{"a": 1,}', 4).issues[0]
    assert bad.message == "invalid JSON: Expecting property name enclosed in double quotes at column 9"
    enc = parse_line(b'{"a": "caf\xe9"}', 2).issues[0]
    assert "0xe9 at byte column 11" in enc.message
    dup = parse_line(b'{"role": "user", "role": "assistant"}', 7).issues[0]
    assert dup.message == "key 'role' appears twice in one object" and dup.line == 7


def test_escaped_colons_cannot_hide_a_duplicate(codec: str) -> None:
    # \u003a decodes to ":", which would balance the colon of a dropped duplicate key
    assert parse_line(b'{"a": "x\\u003ay", "a": 1}', 1).kind == "invalid"
    assert parse_line(b'{"a": "x\\u003ay"}', 1).value == {"a": "x:y"}


def test_bom_only_on_the_first_line(codec: str) -> None:
    assert parse_line(b'\xef\xbb\xbf{"a": 1}', 2).kind == "invalid"


def test_deep_nesting_is_reported_not_raised(codec: str) -> None:
    line = parse_line(b"[" * 5_000 + b"]" * 5_000, 1)
    assert line.kind == "invalid" and line.issues[0].rule in ("json.malformed", "json.not_object", "json.too_deep")


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert list(iter_jsonl(empty)) == []
    report = validate_jsonl(empty)
    assert report.total_lines == 0 and report.counts_by_rule() == {"records.empty": 1}
    with pytest.raises(DataError, match="does not exist"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match="directory"):
        list(iter_jsonl(tmp_path))


def _peak(path: Path) -> tuple[int, object]:
    tracemalloc.start()
    try:
        report = validate_jsonl(path, max_issues_per_rule=50)
        return tracemalloc.get_traced_memory()[1], report
    finally:
        tracemalloc.stop()


def test_validation_streams_in_flat_memory(tmp_path: Path) -> None:
    """Peak memory does not grow with the file (a bad line every 3rd, issues capped at 50 per rule)."""
    good = json.dumps({"prompt": "x" * 400, "completion": "y" * 100}).encode()
    sizes = {}
    for n in (900, 3_600):
        path = tmp_path / f"big{n}.jsonl"
        with open(path, "wb") as fh:
            for i in range(n):
                fh.write((b"{bad json" if i % 3 == 0 else good) + b"\n")
        sizes[n] = path.stat().st_size
        peak, report = _peak(path)
        assert report.total_lines == n  # type: ignore[attr-defined]
        assert report.counts_by_rule()["json.malformed"] == n // 3  # type: ignore[attr-defined]
        assert len(report.issues) == 50  # type: ignore[attr-defined]
        sizes[-n] = peak
    assert sizes[-3_600] < sizes[-900] * 1.25 + 20_000, sizes  # 4x the lines, (about) the same peak
    assert sizes[-3_600] < sizes[3_600] / 4, sizes
    assert "1150 more json.malformed issues not shown" in report.to_text()  # type: ignore[attr-defined]


def test_write_jsonl_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.jsonl"
    assert write_jsonl(out, [{"a": "é"}, {"b": 1}]) == len('{"a":"é"}\n'.encode()) + len(b'{"b":1}\n')
    assert out.read_text(encoding="utf-8") == '{"a":"é"}\n{"b":1}\n'

    def broken():  # type: ignore[no-untyped-def]
        yield {"c": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(out, broken())
    assert out.read_text(encoding="utf-8") == '{"a":"é"}\n{"b":1}\n'
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]


def test_dumps_line_handles_lone_surrogates() -> None:
    line = data_io.dumps_line({"a": "\ud800"})
    assert json.loads(line) == {"a": "\ud800"}
