"""LLM-as-judge: the visible prompt, robust parsing, and judging inside the Evaluator (checkpointed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.evaluation import Evaluator, JudgeMetric
from finetune_sdk.evaluation.metrics import Sample


@pytest.mark.parametrize(
    ("reply", "value", "reason"),
    [
        ("Score: 4\nReason: mostly right", 0.75, "mostly right"),
        ("score: 5\nreason: exact", 1.0, "exact"),
        ("**Score:** 1\n**Reason:** wrong figure", 0.0, "wrong figure"),
        ("Score: 3/5 Reason: half of it", 0.5, "half of it"),
        ("Rating = 2. Explanation: misses the 2018 value", 0.25, "misses the 2018 value"),
        ("I would give this 8/10 since it is close", 0.8, None),  # 1-5 scale: 1 + 0.8 * 4 = 4.2 -> 0.8
        ("4", 0.75, None),
    ],
)
def test_parse_variants(reply: str, value: float, reason: str | None) -> None:
    judge = JudgeMetric(lambda p: reply)
    result = judge.parse(reply)
    assert result.value == pytest.approx(value)
    if reason is not None:
        assert result.detail == reason


def test_unparseable_and_out_of_range_replies_score_none_with_a_reason() -> None:
    judge = JudgeMetric(lambda p: "")
    assert judge.parse("I refuse to grade this").value is None
    assert "unparseable" in (judge.parse("I refuse to grade this").detail or "")
    assert judge.parse("Score: 9\nReason: great").value is None


def test_prompt_is_visible_versioned_and_holds_question_reference_answer() -> None:
    judge = JudgeMetric(lambda p: "Score: 5", rubric="Be strict.", scale=(1, 10))
    assert judge.version == "judge-v1"
    prompt = judge.prompt(Sample(prediction="41", record=Conversation.from_pairs("6*7?", "42")))
    assert (
        "6*7?" in prompt
        and "42" in prompt
        and "41" in prompt
        and "Be strict." in prompt
        and "1 to 10" in prompt
    )
    assert judge.info().params["prompt_template"] == judge.prompt_template
    assert judge.info().params["prompt_version"] == "judge-v1"
    with pytest.raises(ConfigurationError):
        JudgeMetric(lambda p: "", scale=(5, 1))
    with pytest.raises(ConfigurationError, match="no judge model"):
        Evaluator([JudgeMetric()])


def test_evaluator_runs_the_judge_through_the_checkpoint(tmp_path: Path) -> None:
    records = [Conversation.from_pairs(f"{i}+{i}?", str(2 * i)) for i in range(6)]
    judged: Counter[str] = Counter()

    def grader(prompt: str) -> str:
        judged[prompt] += 1
        answer = prompt.split("Answer to grade:\n", 1)[1].split("\n", 1)[0]
        reference = prompt.split("Reference answer:\n", 1)[1].split("\n", 1)[0]
        return "Score: 5\nReason: matches" if answer == reference else "Score: 1\nReason: differs"

    def model(prompt: str) -> str:
        i = int(prompt.split("+")[0])
        return str(2 * i) if i % 2 == 0 else "7"

    path = tmp_path / "ck.jsonl"
    report = Evaluator(["exact_match", "judge"], judge=grader, checkpoint=path, progress=False).evaluate(
        model, records
    )
    assert report.mean("judge") == 0.5 and report.mean("exact_match") == 0.5
    rows = report.examples["model"]
    assert rows[0].details["judge"] == "matches" and rows[1].details["judge"] == "differs"
    assert report.metrics[1].params["judge_model"] == "grader"
    assert sum(judged.values()) == 6
    again = Evaluator(["exact_match", "judge"], judge=grader, checkpoint=path, progress=False).evaluate(
        model, records
    )
    assert sum(judged.values()) == 6  # judge answers came from the checkpoint too
    assert again.mean("judge") == 0.5 and again.run.resumed == 12
