"""The Dataset API: constructors, lazy reading, steps and their history, delegation to the data modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.data import Dataset, DatasetSplits, StepReport, ValidationReport
from finetune_sdk.data.records import Conversation, TextRecord
from finetune_sdk.errors import CatalogError, ConfigurationError, DataError, DatasetValidationError

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def _qa(i: int) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"A{i}"}]
    }


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_import_is_light() -> None:
    code = (
        "import sys; from finetune_sdk.data import Dataset; "
        "heavy = ('pandas', 'boto3', 'botocore', 'datasets', 'datasketch', 'moto'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_from_jsonl_is_lazy_and_streams(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", [_qa(i) for i in range(5)])
    ds = Dataset.from_jsonl(path)
    assert ds.is_lazy and ds.source == str(path)
    assert "not read yet" in repr(ds) and "not read yet" in ds._repr_html_()
    assert ds.format == "bedrock_messages"  # from the first record; nothing materialised
    assert [r.reference for r in ds] == ["A0", "A1", "A2", "A3", "A4"] and ds.is_lazy
    head = ds.head(2)
    assert len(head) == 2 and ds.is_lazy and isinstance(head.last_report, StepReport)
    assert len(ds) == 5 and not ds.is_lazy
    assert isinstance(ds[1], Conversation) and ds[1].prompt_text == "Question 1?"
    part = ds[1:3]
    assert (
        isinstance(part, Dataset) and [r.reference for r in part] == ["A1", "A2"] and part.format == ds.format
    )
    assert "<ol>" in ds._repr_html_()


def test_from_jsonl_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        Dataset.from_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="directory"):
        Dataset.from_jsonl(tmp_path)
    with pytest.raises(ConfigurationError, match="unknown dataset format"):
        Dataset.from_jsonl(tmp_path / "x.jsonl", format="yaml")
    with pytest.raises(CatalogError):
        Dataset([Conversation.from_pairs("q", "a")]).validate(for_model="no-such-model")


def test_from_records_dicts_records_and_mixtures() -> None:
    dicts = Dataset.from_records([_qa(0), _qa(1)])
    assert dicts.format == "bedrock_messages" and len(dicts) == 2
    recs = Dataset.from_records([Conversation.from_pairs("q", "a")])
    assert recs.format is None and recs.validate().format == "bedrock_conversation"
    mixed = Dataset.from_records([Conversation.from_pairs("q", "a"), _qa(1)])
    assert [r.reference for r in mixed] == ["a", "A1"]
    with pytest.raises(DataError, match="item 1 is a int"):
        Dataset.from_records([_qa(0), 3])  # type: ignore[list-item]
    with pytest.raises(DataError, match=r"Dataset\.from_records for dicts"):
        Dataset([_qa(0)])  # type: ignore[list-item]


def test_in_memory_validation_uses_record_numbers() -> None:
    report = Dataset.from_records([_qa(0), {"messages": []}, {"prompt": "p"}]).validate()
    assert [(i.line, i.rule) for i in report.issues] == [
        (None, "mixed_formats"),
        (2, "messages.too_few"),
        (3, "schema.missing"),
        (3, "format.mismatch"),
    ]
    assert report.total_lines == 3 and report.valid_records == 1


def test_from_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"prompt": ["a", "b"], "completion": ["x", None]})
    ds = Dataset.from_pandas(df)
    assert ds.format == "prompt_completion"
    report = ds.validate()
    assert [(i.line, i.rule) for i in report.issues] == [(2, "schema.missing")]
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'finetune-sdk\[pandas\]'"):
        Dataset.from_pandas(df)


def test_from_hf_duck_typed() -> None:
    class FakeHF(list):  # a datasets.Dataset iterates rows as dicts
        builder_name = "fake"

    rows = FakeHF([{"prompt": "a", "completion": "b"}])
    ds = Dataset.from_hf(rows)
    assert ds.source == "hf:fake" and ds[0].reference == "b"
    splits = {"train": rows, "test": FakeHF()}
    assert len(Dataset.from_hf(splits, split="train")) == 1
    with pytest.raises(DataError, match="pass split="):
        Dataset.from_hf(splits)
    with pytest.raises(DataError, match="split 'dev' is not in the dataset"):
        Dataset.from_hf(splits, split="dev")


def test_from_csv_maps_columns_and_keeps_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text('question,answer,notes\n"multi\nline q",yes,x\nsecond,,y\n', encoding="utf-8")
    ds = Dataset.from_csv(path)
    assert ds[0].prompt_text == "multi\nline q"
    report = ds.validate()
    assert [(i.line, i.rule) for i in report.issues] == [(4, "content.empty")]  # header 1, row 1 spans 2-3
    chat = Dataset.from_csv(path, columns={"user": "question", "assistant": "notes"})
    assert chat.format == "bedrock_messages" and chat[1].reference == "y"
    with pytest.raises(DataError, match="not in the header"):
        Dataset.from_csv(path, columns={"prompt": "q", "completion": "answer"})
    with pytest.raises(DataError, match="columns maps fields"):
        Dataset.from_csv(path, columns={"prompt": "question"})


def test_from_s3_streams_with_moto() -> None:
    moto = pytest.importorskip("moto")
    import boto3

    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        image = {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://elsewhere/a.png"}}}}
        conv = {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                {"role": "user", "content": [image]},
                {"role": "assistant", "content": [{"text": "a"}]},
            ],
        }
        body = b"".join(json.dumps(x).encode() + b"\n" for x in [conv, conv, conv]) + b"oops\n"
        s3.put_object(Bucket="data", Key="t.jsonl", Body=body)
        ds = Dataset.from_jsonl("s3://data/t.jsonl")
        report = ds.validate()
        assert [(i.source, i.line, i.rule) for i in report.issues] == [
            ("s3://data/t.jsonl", 1, "media.bucket"),
            ("s3://data/t.jsonl", 2, "media.bucket"),
            ("s3://data/t.jsonl", 3, "media.bucket"),
            ("s3://data/t.jsonl", 4, "json.malformed"),
        ]
        assert report.file_bytes == len(body)
        assert len(Dataset.from_s3("s3://data/t.jsonl", on_error="skip")) == 3
    with pytest.raises(DataError, match="expected s3://BUCKET/KEY"):
        Dataset.from_s3("s3://bucket-only")


def test_map_filter_and_history() -> None:
    ds = Dataset.from_records([_qa(i) for i in range(4)])
    tagged = ds.map(lambda r: r.with_metadata(tag="x"))
    small = tagged.filter(lambda r: r.reference != "A0")
    assert len(small) == 3 and all(r.metadata["tag"] == "x" for r in small)
    assert [type(h) for h in small.history] == [StepReport, StepReport]
    assert str(small.last_report) == "filter: 4 -> 3 records; 1 removed"
    assert small.format == "bedrock_messages"
    with pytest.raises(DataError, match="map function returned str"):
        ds.map(lambda r: "oops")  # type: ignore[arg-type,return-value]


def test_validate_with_a_validation_set(tmp_path: Path) -> None:
    train = Dataset.from_records([_qa(i) for i in range(40)])
    val_path = _write(tmp_path / "val.jsonl", [_qa(i) for i in range(10)])
    report = train.validate(for_model=CLAUDE, validation=val_path)
    assert [(i.source, i.rule) for i in report.issues] == [(str(val_path), "records.min_validation")]
    assert report.validation is not None and report.validation.total_lines == 10
    assert "validation" in report.summary()
    with pytest.raises(DatasetValidationError) as exc:
        report.raise_for_errors()
    assert exc.value.report is report and "records.min_validation" in str(exc.value)


def test_to_jsonl_streams_a_lazy_file_and_keeps_extra_keys_as_metadata(tmp_path: Path) -> None:
    src = _write(tmp_path / "pc.jsonl", [{"prompt": "a", "completion": "b", "topic": "t"}])
    ds = Dataset.from_jsonl(src)
    assert ds[0].metadata == {"topic": "t"}
    out = tmp_path / "out.jsonl"
    report = Dataset.from_jsonl(src).to_jsonl(out, format="bedrock_conversation")
    assert report.lossless and report.records_out == 1
    assert Dataset.from_jsonl(out).validate(for_model="amazon.nova-micro-v1:0:128k").counts_by_rule() == {
        "records.min_train": 1
    }


def test_report_renderings_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", [_qa(0), {"messages": [{"role": "user", "content": "<q|>"}]}])
    report = Dataset.from_jsonl(path).validate(for_model=CLAUDE)
    assert ValidationReport.from_json(report.to_json()) == report
    md = report.to_markdown()
    assert md.startswith("**FAILED**") and "| 2 | error | `messages.too_few` |" in md and "<q\\|>" not in md
    assert "<table>" in report._repr_html_() and "FAILED" in report._repr_html_()
    assert str(report) == report.to_text()
    assert report.errors and not report.warnings and report.error_count == 2


def test_issue_cap_keeps_exact_counts() -> None:
    bad = [{"messages": [{"role": "user", "content": "q"}]}] * 1_200
    report = Dataset.from_records(bad).validate()
    assert report.counts_by_rule() == {"messages.too_few": 1_200}
    assert len(report.issues) == 1_000 and report.truncated and report.error_count == 1_200
    assert "200 more messages.too_few issues not shown" in report.to_text()


# -- steps delegated to clean / dedupe / split / stats / upload ----------------------------------------------


def test_clean_and_dedupe_keep_their_reports() -> None:
    pytest.importorskip("finetune_sdk.data.clean")
    ds = Dataset.from_records(
        [
            _qa(1),
            _qa(1),
            {
                "messages": [
                    {"role": "user", "content": "  Q\u00a0 2 "},
                    {"role": "assistant", "content": "A2"},
                ]
            },
        ]
    )
    cleaned = ds.clean()
    assert cleaned.last_report is cleaned.history[-1] and type(cleaned.last_report).__name__ == "CleanReport"
    deduped = cleaned.dedupe()
    assert len(deduped) == 2 and type(deduped.last_report).__name__ == "DedupeReport"
    assert len(deduped.history) == 2


def test_split_returns_named_datasets() -> None:
    pytest.importorskip("finetune_sdk.data.split")
    ds = Dataset.from_records([_qa(i) for i in range(20)])
    parts = ds.split({"train": 0.8, "test": 0.2}, seed=1, stratify_by=lambda r: len(r.prompt_text) % 2)
    assert isinstance(parts, DatasetSplits) and sorted(parts) == ["test", "train"]
    assert len(parts.train) + len(parts.test) == 20 and parts.train.format == "bedrock_messages"
    with pytest.raises(AttributeError, match="no split named 'validation'"):
        parts.validation
    assert parts.leakage().ok
    by_key = Dataset([Conversation.from_pairs(f"q{i}", "a", metadata={"g": i % 4}) for i in range(20)])
    groups = by_key.split({"train": 0.5, "test": 0.5}, group_by="g")
    train_groups = {r.metadata["g"] for r in groups.train}
    assert train_groups.isdisjoint({r.metadata["g"] for r in groups.test})


def test_stats_delegates() -> None:
    pytest.importorskip("finetune_sdk.data.stats")
    stats = Dataset.from_records([_qa(i) for i in range(3)]).stats(for_model=CLAUDE)
    assert stats.records == 3


def test_upload_writes_and_uploads(tmp_path: Path) -> None:
    pytest.importorskip("finetune_sdk.data.upload")
    moto = pytest.importorskip("moto")
    import boto3

    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="train-bucket")
        uri = Dataset([Conversation.from_pairs("q", "a")]).upload(
            "s3://train-bucket/data/", format="bedrock_messages"
        )
        assert uri.startswith("s3://train-bucket/data/")
        back = Dataset.from_jsonl(uri)
        assert back.format == "bedrock_messages" and back[0].reference == "a"


def test_text_records_validate_as_text() -> None:
    report = Dataset([TextRecord(text="some text")]).validate(for_model="amazon.titan-text-lite-v1:0:4k")
    assert report.ok and report.format == "text"
    claude = Dataset([TextRecord(text="some text")]).validate(for_model=CLAUDE)
    assert [(i.line, i.rule) for i in claude.issues] == [(None, "records.min_train"), (1, "format.mismatch")]
