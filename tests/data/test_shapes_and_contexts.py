"""Issue 14's data-shape behaviours: JSON-array files, raw AQuA/TAT-QA import, grouped and stratified splits,
shared contexts in leakage and near-duplicate search, number-aware near duplicates, short error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_sdk.cli.main import main
from finetune_sdk.data import Dataset
from finetune_sdk.data.dedupe import check_leakage, dedupe_records
from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import ConfigurationError, DatasetValidationError

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def _tatqa(shared_datasets: Path) -> Path:
    return shared_datasets / "tatqa" / "tatqa_dataset_dev.json"


# -- JSON-array files -------------------------------------------------------------------------------------


def test_a_json_array_file_is_one_issue_at_line_1(shared_datasets: Path) -> None:
    report = Dataset.from_jsonl(_tatqa(shared_datasets)).validate(for_model=CLAUDE)
    assert [(i.line, i.rule) for i in report.issues] == [(1, "json.array_file")]
    assert "records.max_train" not in report.counts_by_rule()  # lines are not counted as records
    assert "Dataset.from_json" in report.issues[0].hint and "finetune data import" in report.issues[0].hint
    with pytest.raises(DatasetValidationError, match="JSON array"):
        len(Dataset.from_jsonl(_tatqa(shared_datasets)))


def test_from_json_reads_arrays_and_falls_back_to_jsonl(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(3)]
    pretty, flat, lines = tmp_path / "p.json", tmp_path / "f.json", tmp_path / "l.jsonl"
    pretty.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    flat.write_text(json.dumps(rows), encoding="utf-8")
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for path in (pretty, flat, lines):
        ds = Dataset.from_json(path)
        assert [r.reference for r in ds] == ["a0", "a1", "a2"] and ds.validate().ok
    # a single-line array is a JSON file too, for the validator
    assert [i.rule for i in Dataset.from_jsonl(flat).validate().issues] == ["json.array_file"]
    # a JSONL file whose first line is an array of numbers is JSON Lines with a bad line
    bad = tmp_path / "b.jsonl"
    bad.write_text("[1, 2]\n" + json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert [(i.line, i.rule) for i in Dataset.from_jsonl(bad).validate().issues] == [(1, "json.not_object")]


def test_cli_convert_reads_a_json_array(tmp_path: Path) -> None:
    src, out = tmp_path / "d.json", tmp_path / "d.jsonl"
    src.write_text(json.dumps([{"prompt": "q", "completion": "a"}], indent=1), encoding="utf-8")
    assert main(["data", "convert", str(src), "--to", "bedrock_conversation", "-o", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["schemaVersion"] == "bedrock-conversation-2024"


# -- import and split -------------------------------------------------------------------------------------


def test_cli_imports_raw_aqua_and_tatqa(shared_datasets: Path, tmp_path: Path) -> None:
    aqua = tmp_path / "aqua.jsonl"
    assert main(["data", "import", "aqua", str(shared_datasets / "aqua" / "dev.json"), "-o", str(aqua)]) == 0
    assert Dataset.from_jsonl(aqua).validate(for_model="amazon.nova-lite-v1:0:300k").valid_records == 254
    tatqa = tmp_path / "tatqa.jsonl"
    code = main(["data", "import", "tatqa", str(_tatqa(shared_datasets)), "-o", str(tatqa), "--model", CLAUDE])
    assert code == 0
    report = Dataset.from_jsonl(tatqa).validate(for_model=CLAUDE)
    assert report.format == "bedrock_messages" and report.valid_records == 1668
    assert main(["data", "import", "aqua", str(_tatqa(shared_datasets)), "-o", str(tmp_path / "x.jsonl")]) == 1


def test_split_by_context_keeps_every_table_in_one_split(
    shared_datasets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tatqa = tmp_path / "tatqa.jsonl"
    assert main(["data", "import", "tatqa", str(_tatqa(shared_datasets)), "-o", str(tatqa)]) == 0
    ratios = "train=0.9,test=0.1"
    assert main(["data", "split", str(tatqa), "--ratios", ratios, "-o", str(tmp_path / "plain")]) == 0
    err = capsys.readouterr().err
    assert "shared contexts" in err and "--group-by @context" in err
    args = ["data", "split", str(tatqa), "--ratios", ratios, "--group-by", "@context", "-o", str(tmp_path / "g")]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["leakage"]["ok"] and out["splits"]["test"]["records"] > 100
    ds = Dataset.from_tatqa(_tatqa(shared_datasets))
    plain = ds.split({"train": 0.9, "test": 0.1})
    leak = plain.leakage()
    assert not leak.ok and leak.overlaps[0].shared_contexts > 50
    by_table = ds.split({"train": 0.9, "test": 0.1}, group_by="table_uid")
    assert by_table.leakage().ok
    assert {r.metadata["table_uid"] for r in by_table.train}.isdisjoint(r.metadata["table_uid"] for r in by_table.test)


def test_a_missing_stratify_or_group_key_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = Dataset([Conversation.from_pairs(f"q{i}", "a", metadata={"label": i % 2}) for i in range(10)])
    assert len(ds.split({"train": 0.5, "test": 0.5}, stratify_by="label").test) == 5
    with pytest.raises(ConfigurationError, match="no metadata key 'topic'"):
        ds.split({"train": 0.5, "test": 0.5}, stratify_by="topic")
    with pytest.raises(ConfigurationError, match="@context"):
        ds.split({"train": 0.5, "test": 0.5}, group_by="doc")
    path = tmp_path / "d.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": f"q{i}", "completion": "a", "cat": i % 2}) + "\n" for i in range(10)),
        encoding="utf-8",
    )
    assert (
        main(
            [
                "data",
                "split",
                str(path),
                "--ratios",
                "train=0.5,test=0.5",
                "--stratify-by",
                "cat",
                "-o",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert main(["data", "split", str(path), "--ratios", "train=0.5,test=0.5", "--stratify-by", "nope"]) == 2
    assert "no metadata key 'nope'" in capsys.readouterr().err


# -- near duplicates ----------------------------------------------------------------------------------------


def test_near_duplicates_are_number_aware() -> None:
    text = "Please cancel my order #{} and refund the full amount to the card I paid with last week, thanks."
    records = [Conversation.from_pairs(text.format(n), "Done.") for n in (6, 66, 6)]
    kept, report = dedupe_records([records[0], records[1]], near=True)
    assert len(kept) == 2 and report.near_duplicates == 0
    kept, report = dedupe_records([records[0], records[1]], near=True, number_aware=False)
    assert len(kept) == 1
    typo = Conversation.from_pairs(text.format(6).replace("refund", "refnud"), "Done.")
    assert dedupe_records([records[0], typo], near=True)[1].near_duplicates == 1


def test_tatqa_questions_sharing_a_table_are_not_near_duplicates(shared_datasets: Path) -> None:
    ds = Dataset.from_tatqa(_tatqa(shared_datasets))
    deduped = ds.dedupe(near=True)
    assert deduped.last_report.output_records >= 0.99 * len(ds)  # it was 20% before contexts were known
    # the same holds for the JSONL a user writes (no metadata): contexts come from the text
    assert Dataset(ds.records[:200]).dedupe(near=True).last_report.near_duplicates <= 2


def test_near_leakage_ignores_the_shared_table_but_reports_it() -> None:
    table = "Table:\n" + "\n".join(f"segment {k} | {k * 1000} | {k * 1100}" for k in range(12))
    train = [Conversation.from_pairs(f"{table}\n\nQuestion: What was segment 3 revenue?", "3000")]
    test = [Conversation.from_pairs(f"{table}\n\nQuestion: Which segment grew most?", "segment 11")]
    report = check_leakage({"train": train, "test": test}, near=True)
    (overlap,) = report.overlaps
    assert overlap.near_pairs == 0 and overlap.exact_pairs == 0 and overlap.shared_contexts == 1
    assert not report.ok and "shared contexts" in str(report)
    assert check_leakage({"train": train, "test": test}, contexts=False).ok


# -- messages and reprs --------------------------------------------------------------------------------


def test_dataset_validation_error_shows_the_first_issues_with_hints() -> None:
    rows = [{"messages": [{"role": "user", "content": "q"}]} for _ in range(50)]
    with pytest.raises(DatasetValidationError) as info:
        Dataset.from_records(rows).validate(for_model=CLAUDE).raise_for_errors()
    text = str(info.value)
    assert "first 5 of 50 errors" in text and "<records>:1: error messages.too_few" in text
    assert "(add the missing turn or drop the record)" in text and "and 45 more" in text
    assert len(text) < 2000 and info.value.report is not None and info.value.report.error_count == 50


def test_reports_have_short_reprs() -> None:
    rows = [{"messages": [{"role": "user", "content": "q" * 500}]} for _ in range(3000)]
    report = Dataset.from_records(rows).validate(for_model=CLAUDE)
    assert len(repr(report)) < 400 and "errors=3000" in repr(report)
    records = [Conversation.from_pairs(f"q{i % 50}", "a") for i in range(3000)]
    _, dedupe = dedupe_records(records)
    assert len(repr(dedupe)) < 300
    leak = check_leakage({"a": records[:1500], "b": records[1500:]})
    assert len(repr(leak)) < 300


def test_data_stats_summarises_unreadable_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"prompt": "q", "completion": "a"}) + "\n" + "{bad\n" * 500, encoding="utf-8")
    assert main(["data", "stats", str(path)]) == 1
    captured = capsys.readouterr()
    assert "| records | 1 |" in captured.out
    assert captured.err.count("\n") == 1 and "500 line(s) could not be read" in captured.err
    assert "json.malformed: 500" in captured.err
