"""AQuA-RAT and TAT-QA (../shared/datasets) convert into every applicable format and validate clean."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from finetune_sdk import catalog
from finetune_sdk.data import FORMATS, Dataset
from finetune_sdk.data.records import Conversation

# Every fine-tunable catalog model, by the wire format it trains on.
MODELS_BY_FORMAT: dict[str, list[str]] = {}
for _m in catalog.all_models(customization="FINE_TUNING"):
    if _m.data_support == "built":  # image-caption models: their format is not built (refused with the reason)
        MODELS_BY_FORMAT.setdefault(_m.format, []).append(_m.id)


@functools.cache
def _load(kind: str, path: Path) -> Dataset:
    ds = Dataset.from_aqua(path) if kind == "aqua" else Dataset.from_tatqa(path)
    ds.records
    return ds


@pytest.fixture
def aqua(shared_datasets: Path) -> Dataset:
    return _load("aqua", shared_datasets / "aqua" / "test.json")


@pytest.fixture
def tatqa(shared_datasets: Path) -> Dataset:
    return _load("tatqa", shared_datasets / "tatqa" / "tatqa_dataset_dev.json")


def test_aqua_records(shared_datasets: Path) -> None:
    ds = Dataset.from_aqua(shared_datasets / "aqua" / "dev.json")
    assert len(ds) == 254 and ds.source is not None and ds.source.startswith("aqua:")
    for r in ds:
        assert isinstance(r, Conversation) and len(r.turns) == 2
        letter = r.metadata["answer"]
        assert letter in "ABCDE" and r.reference is not None and r.reference.endswith(f"\nAnswer: {letter}")
        assert "\nOptions:\nA)" in r.prompt_text
    # the many spellings of the final answer line are replaced, not repeated
    assert not any(re.search(r"\nAnswer ?: ?[A-E]\nAnswer: [A-E]$", r.reference or "") for r in ds)


def test_tatqa_records(shared_datasets: Path) -> None:
    ds = Dataset.from_tatqa(shared_datasets / "tatqa" / "tatqa_dataset_dev.json")
    assert len(ds) == 1668
    first = ds[0]
    assert first.prompt_text.startswith("Table:\n") and "\n\nParagraphs:\n" in first.prompt_text
    assert first.prompt_text.endswith("\n\nQuestion: What is the company paid on a cost-plus type contract?")
    by_uid = {r.metadata["uid"]: r for r in ds}
    multi = by_uid["593c4388-5209-4462-8b83-b429c8612c25"]
    assert multi.reference == "fixed-price type, cost-plus type, time-and-material type"
    scaled = by_uid["05b670d3-5b19-438c-873f-9bf6de29c69e"]
    assert scaled.reference == "-22.22 percent"
    assert dict(scaled.metadata) == {
        "answer": -22.22,
        "answer_type": "arithmetic",
        "scale": "percent",
        "uid": "05b670d3-5b19-438c-873f-9bf6de29c69e",
        "table_uid": scaled.metadata["table_uid"],
    }
    assert isinstance(scaled.metadata["table_uid"], str) and len({r.metadata["table_uid"] for r in ds}) == 278
    no_table = Dataset.from_tatqa(shared_datasets / "tatqa" / "tatqa_dataset_dev.json", include_table=False)
    assert "Table:" not in no_table[0].prompt_text and no_table[0].reference == first.reference


@pytest.mark.parametrize("fmt", sorted(MODELS_BY_FORMAT))
@pytest.mark.parametrize("which", ["aqua", "tatqa"])
def test_converted_data_validates_clean_for_each_model(
    which: str, fmt: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ds: Dataset = request.getfixturevalue(which)
    converted = ds.convert(fmt)
    assert converted.last_report.lossless, converted.last_report
    path = tmp_path / f"{which}.{fmt}.jsonl"
    assert converted.to_jsonl(path).records_out == len(ds)
    streamed = Dataset.from_jsonl(path)
    models = MODELS_BY_FORMAT[fmt]
    # every model on the written file; the in-memory dicts (same checks, see the property tests) for one
    for candidate, model in [(streamed, m) for m in models] + [(converted, models[0])]:
        report = candidate.validate(for_model=model)
        assert report.ok and not report.issues, f"{model}: {report.to_text()}"
        assert report.valid_records == len(ds) == report.total_lines


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in MODELS_BY_FORMAT])
def test_other_formats_convert_clean(fmt: str, aqua: Dataset, tatqa: Dataset) -> None:
    for ds in (aqua, tatqa):
        converted = ds.convert(fmt)
        report = converted.validate()
        assert report.ok and not report.issues, report.to_text()
        expected = {"text": {"conversation_flattened_to_text": len(ds)}}.get(fmt, {})
        assert converted.last_report.losses == expected


def test_canonical_records_validate_for_their_models(aqua: Dataset) -> None:
    for model in (
        "anthropic.claude-3-haiku-20240307-v1:0:200k",
        "amazon.nova-lite-v1:0:300k",
        "meta.llama3-1-8b-instruct-v1:0:128k",
    ):
        report = aqua.validate(for_model=model)  # rendered in the model's format on the fly
        assert report.ok and not report.issues, report.to_text()
