"""Property tests: any bytes, any JSON: the validator returns a report (or a documented FinetuneError), every
line is accounted for, and the fast path agrees with the full checks."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finetune_sdk import catalog
from finetune_sdk.data import Dataset
from finetune_sdk.data import io as data_io
from finetune_sdk.data.io import iter_jsonl
from finetune_sdk.data.report import ValidationReport
from finetune_sdk.data.validate import StreamValidator, resolve_model, validate_jsonl, validate_objects
from finetune_sdk.errors import DatasetValidationError, FinetuneError

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0:200k"
MODELS = [None, CLAUDE, "amazon.nova-lite-v1:0:300k", "meta.llama3-1-8b-instruct-v1:0:128k"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BYTES_SETTINGS = settings(max_examples=150, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
texts = st.sampled_from(["", "  ", "hi", "a:b", "\nHuman: x", "User: y", "[EOS]", "é:ü", "x" * 50]) | st.text(
    max_size=30
)
roles = st.sampled_from(["user", "assistant", "system", "robot", None])
messages = st.lists(st.fixed_dictionaries({"role": roles, "content": texts | json_values}), max_size=5)
claude_like = st.fixed_dictionaries(
    {"messages": messages}, optional={"system": texts | json_values, "extra": json_values}
)
prompt_like = st.fixed_dictionaries(
    {}, optional={"prompt": texts | json_values, "completion": texts | json_values, "k": json_values}
)
blocks = st.lists(
    st.fixed_dictionaries({"text": texts})
    | st.just({"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/a.png"}}}})
    | json_values,
    max_size=3,
)
conv_like = st.fixed_dictionaries(
    {"messages": st.lists(st.fixed_dictionaries({"role": roles, "content": blocks}), max_size=4)},
    optional={
        "schemaVersion": st.sampled_from(["bedrock-conversation-2024", "x"]),
        "system": st.lists(st.fixed_dictionaries({"text": texts}), max_size=2) | json_values,
    },
)
records = claude_like | prompt_like | conv_like | json_values


def _limits(model_id: str, **changes: Any) -> Any:
    m = catalog.get(model_id)
    return m.model_copy(update={"limits": m.limits.model_copy(update=changes)})


def _physical_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _check(report: ValidationReport, lines: int) -> None:
    assert isinstance(report, ValidationReport)
    assert report.total_lines == lines
    assert report.valid_records + report.invalid_records + report.blank_lines == report.total_lines
    assert sum(report.counts_by_rule().values()) >= len(report.issues)
    assert all(i.line is None or 1 <= i.line <= lines for i in report.issues)


@BYTES_SETTINGS
@given(
    data=st.binary(max_size=300),
    model=st.sampled_from(MODELS),
    fmt=st.sampled_from([None, "bedrock_messages", "bedrock_conversation", "text"]),
)
def test_any_bytes(data: bytes, model: str | None, fmt: str | None) -> None:
    try:
        report = validate_jsonl(io.BytesIO(data), model=model, format=fmt)
    except FinetuneError:  # documented errors only; none is expected for a readable stream
        pytest.fail("validate_jsonl raised on bytes")
    _check(report, _physical_lines(data))
    assert sum(1 for _ in iter_jsonl(io.BytesIO(data))) == report.total_lines


@SETTINGS
@given(
    values=st.lists(records, max_size=6), model=st.sampled_from(MODELS), sep=st.sampled_from([b"\n", b"\r\n"])
)
def test_any_json_lines(values: list[Any], model: str | None, sep: bytes) -> None:
    data = b"".join(json.dumps(v).encode() + sep for v in values)
    report = validate_jsonl(io.BytesIO(data), model=model)
    _check(report, len(values))
    if "json.array_file" in report.counts_by_rule():
        # a file that is one JSON array of objects is reported once, as a whole: only a lone array line
        assert len(values) == 1 and isinstance(values[0], list) and any(isinstance(v, dict) for v in values[0])
        assert [(i.line, i.rule) for i in report.issues] == [(1, "json.array_file")]
        return
    in_memory = validate_objects(values, model=model)
    _check(in_memory, len(values))
    # the same lines in memory and in a file give the same verdicts, except for what only a file has
    file_only = {"file.size"}
    assert {(i.line, i.rule) for i in in_memory.issues if i.rule not in file_only} == {
        (i.line, i.rule) for i in report.issues if i.rule not in file_only
    }


@SETTINGS
@given(
    values=st.lists(claude_like | prompt_like | conv_like, min_size=1, max_size=8),
    model=st.sampled_from(
        [
            CLAUDE,
            "meta.llama3-1-8b-instruct-v1:0:128k",
            "cohere.command-text-v14:7:4k",
            "amazon.nova-lite-v1:0:300k",
            "meta.llama3-2-1b-instruct-v1:0:128k",
            _limits("amazon.nova-micro-v1:0:128k", multi_turn=False),
        ]
    ),
    dup=st.booleans(),
)
def test_fast_path_agrees_with_the_full_checks(values: list[Any], model: Any, dup: bool) -> None:
    lines = [json.dumps(v).encode() for v in values]
    if dup:  # a duplicate key the parsed object hides
        lines[0] = lines[0][:-1] + b', "messages": []}' if lines[0] != b"{}" else b'{"a": 1, "a": 2}'
    data = b"x\n" + b"\n".join(lines) + b"\n"  # line 1 is never on the fast path
    info = resolve_model(model)

    def run(fast: bool, orjson: bool) -> ValidationReport:
        v = StreamValidator(model=info, source="f")
        if not fast:
            v._fast = None
        saved = data_io._fast_loads, data_io._fast_dumps
        if not orjson:
            data_io._fast_loads = data_io._fast_dumps = None
        try:
            v.feed_binary(io.BytesIO(data))
        finally:
            data_io._fast_loads, data_io._fast_dumps = saved
        return v.finish()

    reference = run(fast=False, orjson=False)
    for fast, orjson in ((True, True), (False, True)):
        report = run(fast=fast, orjson=orjson)
        assert report.issues == reference.issues
        assert (report.valid_records, report.invalid_records, report.format_counts) == (
            reference.valid_records,
            reference.invalid_records,
            reference.format_counts,
        )


@SETTINGS
@given(values=st.lists(json_values, max_size=5))
def test_from_records_returns_a_report_or_a_documented_error(values: list[Any]) -> None:
    try:
        ds = Dataset.from_records(values)
    except FinetuneError:
        assert any(not isinstance(v, dict) for v in values)
        return
    _check(ds.validate(), len(values))


@SETTINGS
@given(values=st.lists(records.filter(lambda v: isinstance(v, dict)), max_size=6))
def test_materialising_builds_records_or_raises_the_report(values: list[dict[str, Any]]) -> None:
    """Whatever the checks pass, the records build (no pydantic error escapes); what they reject raises
    DatasetValidationError with the lines."""
    ds = Dataset.from_records(values)
    report = ds.validate()
    try:
        built = ds.records
    except DatasetValidationError as exc:
        assert exc.report is not None and exc.report.issues
        return
    assert len(built) == len(values)
    assert report.counts_by_rule().get("format.unknown", 0) == 0


@pytest.mark.parametrize(
    ("model", "record"),
    [
        (
            CLAUDE,
            {
                "system": "s: x",
                "messages": [{"role": "user", "content": "a:b"}, {"role": "assistant", "content": "c"}],
            },
        ),
        ("cohere.command-text-v14:7:4k", {"prompt": "p: 1", "completion": "c"}),
        (
            "meta.llama3-2-1b-instruct-v1:0:128k",
            {
                "schemaVersion": "bedrock-conversation-2024",
                "system": [{"text": "s:"}],
                "messages": [
                    {"role": "user", "content": [{"text": "q"}, {"text": "r:"}]},
                    {"role": "assistant", "content": [{"text": "a"}]},
                ],
            },
        ),
    ],
)
def test_fast_validators_accept_clean_records_and_count_their_colons(
    model: str, record: dict[str, Any]
) -> None:
    v = StreamValidator(model=resolve_model(model))
    assert v._fast is not None
    assert v._fast(record) == json.dumps(record).count(":")
    broken = json.loads(
        json.dumps(record).replace('"a"', '" "').replace('"c"', '" "').replace('"p: 1"', '""')
    )
    assert v._fast(broken) == -1
