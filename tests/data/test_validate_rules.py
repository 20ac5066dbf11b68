"""Every validation rule, at its exact physical line: the broken corpus and one small case per other rule."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk import catalog
from finetune_sdk.catalog import BaseModelInfo
from finetune_sdk.cli.main import main
from finetune_sdk.data import Dataset, ValidationReport
from finetune_sdk.data.report import RULES

FIXTURE = Path(__file__).parent / "fixtures" / "broken.jsonl"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0:200k"
NOVA_LITE = "amazon.nova-lite-v1:0:300k"
NOVA_MICRO = "amazon.nova-micro-v1:0:128k"
LLAMA32 = "meta.llama3-2-1b-instruct-v1:0:128k"
LLAMA31 = "meta.llama3-1-8b-instruct-v1:0:128k"
COHERE = "cohere.command-text-v14:7:4k"
TITAN = "amazon.titan-text-express-v1:0:8k"

# The broken corpus, line by line: what the Claude 3 Haiku validation must report, and nothing else.
BROKEN_LINES: dict[int, list[str]] = {
    1: ["encoding.bom"],
    3: ["line.blank"],
    4: ["json.malformed"],
    5: ["encoding.invalid_utf8"],
    6: ["json.duplicate_key"],
    7: ["json.not_object"],
    8: ["roles.first_user"],
    9: ["roles.last_assistant"],
    10: ["roles.alternation"],
    11: ["content.empty"],
    12: ["reserved_string"],
    13: ["messages.too_few"],
    14: ["format.mismatch"],  # an openai_chat record (system role message)
    15: ["schema.missing"],
    16: ["schema.type"],
    17: ["format.mismatch"],  # a prompt_completion record
    18: ["schema.unknown_key"],
    21: ["json.malformed"],  # NaN
    22: ["roles.invalid"],
    23: ["line.blank"],  # whitespace only
    24: ["json.duplicate_key"],  # hidden behind a \u003a escape
}
BROKEN_FILE_LEVEL = ["format.wrong_for_model", "mixed_formats"]


def _pairs(report: ValidationReport) -> list[tuple[int | None, str]]:
    return sorted(((i.line, i.rule) for i in report.issues), key=lambda p: (p[0] or 0, p[1]))


def _msgs(*pairs: tuple[str, str], system: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system} if system else {}
    out["messages"] = [{"role": r, "content": c} for r, c in pairs]
    return out


def _qa(i: int = 0) -> dict[str, Any]:
    return _msgs(("user", f"Question {i}?"), ("assistant", f"Answer {i}."))


def _conv(
    *turns: tuple[str, list[dict[str, Any]]], system: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"schemaVersion": "bedrock-conversation-2024"}
    if system is not None:
        out["system"] = system
    out["messages"] = [{"role": r, "content": c} for r, c in turns]
    return out


def _text_qa(i: int = 0) -> dict[str, Any]:
    return _conv(("user", [{"text": f"Q{i}"}]), ("assistant", [{"text": f"A{i}"}]))


def _img(
    uri: str = "s3://bucket/img/a.png", fmt: str = "png", kind: str = "image", **loc: str
) -> dict[str, Any]:
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": uri, **loc}}}}


def _write(tmp_path: Path, lines: Sequence[Any], name: str = "d.jsonl") -> Path:
    path = tmp_path / name
    with open(path, "wb") as fh:
        for line in lines:
            fh.write((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n")
    return path


def _limits(model_id: str, **changes: Any) -> BaseModelInfo:
    m = catalog.get(model_id)
    return m.model_copy(update={"limits": m.limits.model_copy(update=changes)})


# -- the broken corpus --------------------------------------------------------------------------------------


def test_broken_corpus_reports_each_line_at_its_physical_line() -> None:
    report = Dataset.from_jsonl(FIXTURE).validate(for_model=CLAUDE)
    got: dict[int, list[str]] = {}
    for i in report.issues:
        if i.line is not None:
            got.setdefault(i.line, []).append(i.rule)
    assert got == BROKEN_LINES
    assert sorted(i.rule for i in report.issues if i.line is None) == BROKEN_FILE_LEVEL
    total = sum(1 for _ in open(FIXTURE, "rb"))
    assert report.total_lines == total == 40
    assert report.blank_lines == 2
    assert report.valid_records + report.invalid_records + report.blank_lines == report.total_lines
    # warnings do not make a record invalid: lines 1 and 18 only have warnings
    assert report.invalid_records == len(
        [ln for ln, rules in BROKEN_LINES.items() if any(RULES[r][0] == "error" for r in rules)]
    )
    assert report.format_counts == {"bedrock_messages": 30, "openai_chat": 1, "prompt_completion": 1}
    assert not report.ok


def test_broken_corpus_cli_prints_the_same_lines(capsys: pytest.CaptureFixture[str]) -> None:
    report = Dataset.from_jsonl(str(FIXTURE)).validate(for_model=CLAUDE)
    code = main(["data", "validate", str(FIXTURE), "--model", CLAUDE])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    expected = report.issue_lines()
    assert out[: len(expected)] == expected
    for line, rules in BROKEN_LINES.items():
        for rule in rules:
            assert any(o.startswith(f"{FIXTURE}:{line}: ") and f" {rule}: " in o for o in out), (line, rule)
    assert out[-1].startswith("FAILED: ")


def test_broken_corpus_without_a_model_checks_the_format_only() -> None:
    report = Dataset.from_jsonl(FIXTURE).validate()
    rules = report.counts_by_rule()
    assert "reserved_string" not in rules and "records.min_train" not in rules
    assert "format.wrong_for_model" not in rules
    # without a model the majority format is the reference: the other two lines are pointed at
    assert report.lines_with("format.mismatch") == [14, 17]
    assert report.lines_with("roles.first_user") == [8]
    assert report.format == "bedrock_messages"


# -- one case per remaining rule ----------------------------------------------------------------------------

Case = tuple[str, Callable[[Path], ValidationReport], list[tuple[int | None, str]]]


def _file(lines: Sequence[Any], **kwargs: Any) -> Callable[[Path], ValidationReport]:
    def run(tmp_path: Path) -> ValidationReport:
        fmt = kwargs.pop("format", None)
        validation = kwargs.pop("validation", None)
        val = (
            Dataset.from_jsonl(_write(tmp_path, validation, "val.jsonl")) if validation is not None else None
        )
        return Dataset.from_jsonl(_write(tmp_path, lines), format=fmt).validate(validation=val, **kwargs)

    return run


def _records(records: Sequence[Any], **kwargs: Any) -> Callable[[Path], ValidationReport]:
    return lambda _tmp: Dataset(records).validate(**kwargs)


def _pad(n: int, make: Callable[[int], Any] = _qa) -> list[Any]:
    return [make(i) for i in range(n)]


CASES: list[Case] = [
    ("format.unknown", _file([{"foo": 1}, _qa()]), [(1, "format.unknown")]),
    (
        "format.mismatch (forced format)",
        _file([{"prompt": "a", "completion": "b"}, _qa()], format="prompt_completion"),
        [(None, "mixed_formats"), (2, "format.mismatch")],
    ),
    (
        "format.wrong_for_model (whole file)",
        _file(_pad(40, lambda i: {"prompt": f"q{i}", "completion": "a"}), for_model=CLAUDE),
        [(None, "format.wrong_for_model")],
    ),
    (
        "format.wrong_for_model (forced format)",
        _file(
            _pad(40, lambda i: {"prompt": f"q{i}", "completion": "a"}),
            for_model=CLAUDE,
            format="prompt_completion",
        ),
        [(None, "format.wrong_for_model")],
    ),
    (
        "format.conversion_loss",
        _records(
            [__import__("finetune_sdk").data.records.Conversation.from_pairs("a", "b", "c", "d")],
            for_model=TITAN,
        ),
        [(None, "format.conversion_loss")],
    ),
    (
        "mixed_formats",
        _file([_qa(1), {"prompt": "p", "completion": "c"}, _qa(2)]),
        [(None, "mixed_formats"), (2, "format.mismatch")],
    ),
    (
        "schema.version",
        _file([{"messages": _text_qa()["messages"], "system": [{"text": "s"}]}]),
        [(1, "schema.version")],
    ),
    (
        "roles.system_position",
        _file(
            [
                {
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "system", "content": "s"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            ],
            format="openai_chat",
        ),
        [(1, "roles.system_position")],
    ),
    (
        "content.block",
        _file([_conv(("user", [{"document": {"name": "x"}}]), ("assistant", [{"text": "a"}]))]),
        [(1, "content.block")],
    ),
    (
        "system.multiple_blocks",
        _file(
            [
                _conv(
                    ("user", [{"text": "q"}]),
                    ("assistant", [{"text": "a"}]),
                    system=[{"text": "a"}, {"text": "b"}],
                ),
                *_pad(100, _text_qa),
            ],
            for_model=LLAMA32,
        ),
        [(1, "system.multiple_blocks")],
    ),
    (
        "turns.multi_turn",
        _file(
            [
                _conv(
                    ("user", [{"text": "q"}]),
                    ("assistant", [{"text": "a"}]),
                    ("user", [{"text": "q"}]),
                    ("assistant", [{"text": "a"}]),
                ),
                *_pad(8, _text_qa),
            ],
            for_model=_limits(NOVA_LITE, multi_turn=False),
        ),
        [(1, "turns.multi_turn")],
    ),
    (
        "reserved_string (Nova)",
        _file(
            [
                _conv(("user", [{"text": "User: hi"}]), ("assistant", [{"text": "ok [EOS]"}])),
                *_pad(8, _text_qa),
            ],
            for_model=NOVA_LITE,
        ),
        [(1, "reserved_string"), (1, "reserved_string")],
    ),
    (
        "media.not_in_user_turn",
        _file([_conv(("user", [{"text": "q"}]), ("assistant", [_img()]))]),
        [(1, "media.not_in_user_turn")],
    ),
    (
        "media.unsupported",
        _file(
            [_conv(("user", [{"text": "q"}, _img()]), ("assistant", [{"text": "a"}])), *_pad(8, _text_qa)],
            for_model=NOVA_MICRO,
        ),
        [(1, "media.unsupported")],
    ),
    (
        "media.mixed_types",
        _file(
            [
                _conv(("user", [_img()]), ("assistant", [{"text": "a"}])),
                _conv(("user", [_img("s3://bucket/v.mp4", "mp4", "video")]), ("assistant", [{"text": "a"}])),
                *_pad(8, _text_qa),
            ],
            for_model=NOVA_LITE,
        ),
        [(None, "media.mixed_types")],
    ),
    (
        "media.too_many_images",
        _file(
            [
                _conv(
                    ("user", [_img(f"s3://bucket/i{k}.png") for k in range(11)]),
                    ("assistant", [{"text": "a"}]),
                ),
                *_pad(8, _text_qa),
            ],
            for_model=NOVA_LITE,
        ),
        [(1, "media.too_many_images")],
    ),
    (
        "media.too_many_videos",
        _file(
            [
                _conv(
                    ("user", [_img(f"s3://bucket/v{k}.mp4", "mp4", "video") for k in range(2)]),
                    ("assistant", [{"text": "a"}]),
                ),
                *_pad(8, _text_qa),
            ],
            for_model=NOVA_LITE,
        ),
        [(1, "media.too_many_videos")],
    ),
    (
        "media.format",
        _file([_conv(("user", [_img(fmt="jpg")]), ("assistant", [{"text": "a"}]))]),
        [(1, "media.format")],
    ),
    (
        "media.uri",
        _file(
            [
                _conv(("user", [_img("https://example.com/a b.png")]), ("assistant", [{"text": "a"}])),
                _conv(("user", [_img(bucketOwner="12")]), ("assistant", [{"text": "a"}])),
            ]
        ),
        [(1, "media.uri"), (2, "media.uri")],
    ),
    (
        "tokens.max_per_record (Claude, 3 chars/token)",
        _file([_msgs(("user", "x " * 48_001), ("assistant", "y")), *_pad(32)], for_model=CLAUDE),
        [(1, "tokens.max_per_record")],
    ),
    (
        "tokens.max_input (Cohere)",
        _file([{"prompt": "p" * 25_000, "completion": "c"}], for_model=COHERE),
        [(1, "tokens.max_input")],
    ),
    (
        "tokens.max_output (Cohere)",
        _file([{"prompt": "p", "completion": "c" * 13_000}], for_model=COHERE),
        [(1, "tokens.max_output")],
    ),
    (
        "tokens (Llama 3.1: input and sum)",
        _file(
            [
                {"prompt": "p" * 70_000, "completion": "c"},
                *_pad(100, lambda i: {"prompt": f"{i}", "completion": "c"}),
            ],
            for_model=LLAMA31,
        ),
        [(1, "tokens.max_input"), (1, "tokens.max_per_record")],
    ),
    ("records.empty", _file([]), [(None, "records.empty")]),
    ("records.min_train", _file([_qa()], for_model=CLAUDE), [(None, "records.min_train")]),
    (
        "records.max_train",
        _file(_pad(5), for_model=_limits(CLAUDE, min_train_records=1, max_train_records=4)),
        [(None, "records.max_train")],
    ),
    (
        "records.min_validation",
        _file(_pad(40), for_model=CLAUDE, validation=_pad(3)),
        [(None, "records.min_validation")],
    ),
    (
        "records.max_validation",
        _file(
            _pad(3),
            for_model=_limits(
                CLAUDE, min_train_records=1, min_validation_records=1, max_validation_records=2
            ),
            validation=_pad(3),
        ),
        [(None, "records.max_validation")],
    ),
    (
        "records.max_total",
        _file(
            _pad(3),
            for_model=_limits(CLAUDE, min_train_records=1, min_validation_records=1, max_total_records=5),
            validation=_pad(3),
        ),
        [(None, "records.max_total")],
    ),
    (
        "file.size",
        _file(_pad(3), for_model=_limits(CLAUDE, min_train_records=1, max_train_file_bytes=100)),
        [(None, "file.size")],
    ),
    (
        "encoding.lone_surrogate",
        _file([b'{"messages": [{"role": "user", "content": "a \\ud83d b"}, '
               b'{"role": "assistant", "content": "c"}]}', _qa()]),
        [(1, "encoding.lone_surrogate")],
    ),
    (
        "json.array_file",
        _file([b"[", b'  {"prompt": "a", "completion": "b"},', b'  {"prompt": "c", "completion": "d"}', b"]"],
              for_model=LLAMA31),
        [(1, "json.array_file")],
    ),
    (
        "distillation.messages",
        _file(
            [
                _conv(("user", [{"text": "q"}]), ("assistant", [{"text": "a"}]), ("user", [{"text": "q2"}])),
                *_pad(100, lambda i: _conv(("user", [{"text": f"q{i}"}]))),
            ],
            purpose="distillation",
        ),
        [(1, "distillation.messages")],
    ),
    (
        "distillation.content",
        _file(
            [
                _conv(("user", [{"text": "q"}, {"text": "more"}])),
                _conv(("user", [{"text": "q"}, _img()])),
                *_pad(100, lambda i: _conv(("user", [{"text": f"q{i}"}]))),
            ],
            purpose="distillation",
        ),
        [(1, "distillation.content"), (2, "distillation.content")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule(case: Case, tmp_path: Path) -> None:
    _, run, expected = case
    report = run(tmp_path)
    assert _pairs(report) == sorted(expected, key=lambda p: (p[0] or 0, p[1])), report.to_text()
    assert report.valid_records + report.invalid_records + report.blank_lines == report.total_lines


def test_media_bucket_is_checked_against_the_dataset_bucket() -> None:
    """Media must sit in the dataset's bucket, known when the data comes from S3 (see also test_dataset's
    moto test of from_s3, which runs the same rule on a streamed object)."""
    lines = [
        _conv(("user", [{"text": "q"}, _img("s3://data-bucket/a.png")]), ("assistant", [{"text": "a"}])),
        _conv(("user", [{"text": "q"}, _img("s3://other-bucket/b.png")]), ("assistant", [{"text": "a"}])),
    ]
    report = Dataset.from_records(lines, source="s3://data-bucket/train.jsonl").validate()
    assert _pairs(report) == [(2, "media.bucket")]
    assert report.issues[0].source == "s3://data-bucket/train.jsonl"
    assert "other-bucket" in report.issues[0].message
    assert Dataset.from_records(lines).validate().ok  # bucket unknown: not checked


def test_schema_version_is_an_error_for_llama(tmp_path: Path) -> None:
    lines = [{"messages": _text_qa()["messages"]}, *_pad(100, _text_qa)]
    report = Dataset.from_jsonl(_write(tmp_path, lines)).validate(for_model=LLAMA32)
    assert [(i.line, i.rule, i.severity) for i in report.issues] == [(1, "schema.version", "error")]
    nova = Dataset.from_jsonl(_write(tmp_path, lines)).validate(for_model=NOVA_LITE)
    assert [(i.line, i.rule, i.severity) for i in nova.issues] == [(1, "schema.version", "warning")]
    assert nova.ok


def test_every_rule_is_covered() -> None:
    covered = {r for rules in BROKEN_LINES.values() for r in rules} | set(BROKEN_FILE_LEVEL)
    covered |= {rule for _, _, expected in CASES for _, rule in expected}
    covered |= {"media.bucket"}  # test_media_bucket_is_checked_against_the_dataset_bucket
    covered |= {"json.too_deep", "line.too_long"}  # tests/hostile/test_hostile_files.py
    assert covered == set(RULES)


def test_validation_issues_carry_their_file(tmp_path: Path) -> None:
    train = _write(tmp_path, _pad(40), "train.jsonl")
    val = _write(tmp_path, [_qa(1), b"{bad", *_pad(31)], "val.jsonl")
    report = Dataset.from_jsonl(train).validate(for_model=CLAUDE, validation=val)
    assert [(i.source, i.line, i.rule) for i in report.issues] == [(str(val), 2, "json.malformed")]
    assert report.validation is not None and report.validation.total_lines == 33
    assert report.total_lines == 40 and not report.ok
    assert report.issue_lines() == [
        f"{val}:2: error json.malformed: invalid JSON: Expecting property name "
        "enclosed in double quotes at column 2 (fix the JSON syntax; each line must "
        "be one complete JSON object)"
    ]


def test_mixed_file_without_a_model_points_at_minority_lines_as_warnings(tmp_path: Path) -> None:
    report = Dataset.from_jsonl(
        _write(tmp_path, [_qa(1), {"prompt": "p", "completion": "c"}, _qa(2)])
    ).validate()
    assert [(i.line, i.rule, i.severity) for i in report.issues] == [
        (None, "mixed_formats", "error"),
        (2, "format.mismatch", "warning"),
    ]
    assert (report.valid_records, report.invalid_records) == (3, 0) and not report.ok
