"""Dataset.validate(purpose="reinforcement"): Bedrock RFT data rules, on real AQuA-RAT prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_sdk.data import Dataset
from finetune_sdk.data.records import Conversation


def _prompt(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"p{i}",
        "messages": [
            {"role": "system", "content": "Answer with the option letter."},
            {"role": "user", "content": f"Question {i}? A) 1 B) 2"},
        ],
        "reference_answer": "AB"[i % 2],
        **extra,
    }


def aqua_rft_lines(path: Path, n: int) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n]]
    return [
        {
            "id": f"aqua-{i}",
            "messages": [
                {"role": "system", "content": "Solve the problem and answer with the option letter."},
                {"role": "user", "content": row["question"] + "\n" + "\n".join(row["options"])},
            ],
            "reference_answer": row["correct"],
            "options": row["options"],
        }
        for i, row in enumerate(rows)
    ]


def test_real_aqua_prompts_pass_from_a_file(shared_datasets: Path, tmp_path: Path) -> None:
    lines = aqua_rft_lines(shared_datasets / "aqua" / "dev.json", 150)
    path = tmp_path / "rft.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = Dataset.from_jsonl(path).validate(purpose="reinforcement")
    assert report.ok and report.warning_count == 0, report.to_text()
    assert report.valid_records == 150 and report.format == "openai_chat" and report.file_bytes == path.stat().st_size
    # the same lines fail the fine-tuning rules (no assistant answer): the purpose matters
    assert not Dataset.from_jsonl(path).validate().ok


def test_each_rule_names_line_and_path(tmp_path: Path) -> None:
    rows: list[object] = [_prompt(i) for i in range(100)]
    rows[3] = {**_prompt(3), "messages": [*_prompt(3)["messages"], {"role": "assistant", "content": "A"}]}  # type: ignore[list-item]
    rows[4] = {**_prompt(4), "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    rows[5] = {
        **_prompt(5),
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "s3://b/x.png"}}]}],
    }
    rows[6] = {**_prompt(6), "messages": [{"role": "user", "content": [{"text": "bedrock block"}]}]}
    rows[7] = {**_prompt(7), "messages": [{"role": "user", "content": "  "}]}
    rows[8] = ["not", "an", "object"]
    rows[9] = {"messages": [{"role": "user", "content": "q"}], "metadata": {"reference_answer": "A"}}  # fine
    rows[10] = {"messages": [{"role": "user", "content": "q"}]}  # no reference: warning
    rows[11] = {**_prompt(11), "schemaVersion": "bedrock-conversation-2024", "id": "p0"}
    rows[12] = {**_prompt(12), "id": 12}
    rows[13] = {"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "late"}]}
    path = tmp_path / "rft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = Dataset.from_jsonl(path).validate(purpose="reinforcement")
    by_rule = {(i.rule, i.line) for i in report.issues}
    expected = {
        ("rft.assistant_turn", 4),
        ("rft.single_turn", 5),
        ("rft.media", 6),
        ("rft.content", 7),
        ("rft.empty", 8),
        ("json.not_object", 9),
        ("rft.reference_missing", 11),
        ("rft.schema_version", 12),
        ("rft.id_duplicate", 12),
        ("rft.id", 13),
        ("rft.single_turn", 14),
    }
    assert expected <= by_rule, sorted(by_rule - expected)
    assert not any(line == 10 for _, line in by_rule)
    assert report.invalid_records == 8
    media = next(i for i in report.issues if i.rule == "rft.media")
    assert media.path == "messages[0].content[0]" and "text only" in media.message
    block = next(i for i in report.issues if i.rule == "rft.content")
    assert "OpenAI chat" in block.hint


def test_prompt_count_limits_and_validation_set() -> None:
    few = Dataset.from_records([_prompt(i) for i in range(99)]).validate(purpose="reinforcement")
    assert few.counts_by_rule() == {"rft.min_prompts": 1}
    assert "at least 100" in few.errors[0].message
    many = Dataset.from_records([_prompt(i) for i in range(20_001)]).validate(purpose="reinforcement")
    assert many.counts_by_rule().get("rft.max_prompts") == 1 and "20,000" in many.errors[0].message
    val = Dataset.from_records([_prompt(i) for i in range(5)])
    report = Dataset.from_records([_prompt(i) for i in range(100)]).validate(purpose="reinforcement", validation=val)
    assert report.ok and report.validation is not None and report.validation.valid_records == 5


def test_canonical_records_and_malformed_file_lines(tmp_path: Path) -> None:
    recs = [Conversation.from_pairs(f"q{i}", metadata={"reference_answer": "A"}) for i in range(100)]
    assert Dataset(recs).validate(purpose="reinforcement").ok
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(_prompt(i)) + "\n" for i in range(100)) + "{not json\n\n", encoding="utf-8")
    report = Dataset.from_jsonl(path).validate(purpose="reinforcement")
    assert report.lines_with("json.malformed") == [101]
    assert report.invalid_records == 1 and report.blank_lines == 1 and report.valid_records == 100


@pytest.mark.parametrize("bad", [{"messages": []}, {"messages": "x"}, {"reference_answer": "A"}])
def test_missing_or_bad_messages(bad: dict[str, object]) -> None:
    report = Dataset.from_records([bad] * 100).validate(purpose="reinforcement")
    assert report.counts_by_rule().get("rft.messages") == 100
