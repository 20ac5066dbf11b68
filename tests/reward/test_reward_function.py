"""The one reward function: score, TRL signature, Bedrock grader contract, Evaluator metric, verify."""

from __future__ import annotations

import json

import pytest
from rft_rewards import answer_letter, fussy

from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.evaluation import Evaluator
from finetune_sdk.evaluation.metrics import Metric, as_metric
from finetune_sdk.reward import RewardFunction, reward


def _sample(sample_id: str, answer: str, *, top: str | None = None, meta: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "id": sample_id,
        "messages": [
            {"role": "system", "content": "Answer with a letter."},
            {"role": "user", "content": "2+2? A) 3 B) 4"},
            {"role": "assistant", "content": answer},
        ],
    }
    if top is not None:
        out["reference_answer"] = top
    if meta is not None:
        out["metadata"] = {"reference_answer": meta, "unit": "km"}
    return out


def test_score_reads_reference_from_every_record_shape() -> None:
    assert answer_letter.score("The answer is B.", {"messages": [], "reference_answer": "B"}) == 1.0
    assert answer_letter.score("A", {"messages": [], "metadata": {"reference_answer": "B"}}) == 0.0
    conv = Conversation.from_pairs("2+2? A) 3 B) 4", metadata={"answer": "B"})
    assert answer_letter.score("(B)", conv) == 1.0  # the Evaluator's gold answer
    conv2 = Conversation.from_pairs("q", metadata={"reference_answer": "A", "answer": "B"})
    assert answer_letter.score("A", conv2) == 1.0  # reference_answer wins
    assert answer_letter.score("A", Conversation.from_pairs("q")) is None  # not gradable


def test_fields_only_those_named_and_return_values_checked() -> None:
    assert fussy.score("10 km", {"messages": [], "unit": "km", "other": 1}) == 1.0
    assert fussy("10 km", unit="km") == 1.0  # calling it calls the function

    @reward
    def weird(completion: str, **fields: object) -> object:
        return "high"

    with pytest.raises(TypeError, match="return a float"):
        weird.score("x", {"messages": []})
    with pytest.raises(ConfigurationError, match="first positional argument"):
        reward(lambda **kw: 1.0)

    @reward
    def flag(completion: str, **fields: object) -> bool:
        return completion == "yes"

    assert flag.score("yes", {}) == 1.0 and flag.score("no", {}) == 0.0


def test_lambda_handler_contract_both_reference_positions() -> None:
    event = [
        _sample("top", "B", top="B"),
        _sample("meta", "It is (A)", meta="B"),
        _sample("none", "B"),
        {"id": "bad", "messages": "not a list", "reference_answer": 3},
    ]
    out = answer_letter.lambda_handler(event, None)
    assert [o["id"] for o in out] == ["top", "meta", "none", "bad"]
    for o in out:
        assert set(o) == {"id", "aggregate_reward_score", "metrics_list"}
        assert isinstance(o["aggregate_reward_score"], float)
        for m in o["metrics_list"]:
            assert set(m) == {"name", "value", "type"} and m["type"] in ("Reward", "Metric")
    assert [o["aggregate_reward_score"] for o in out] == [1.0, 0.0, 0.0, 0.0]
    assert out[0]["metrics_list"] == [{"name": "answer_letter", "value": 1.0, "type": "Reward"}]
    assert out[2]["metrics_list"][0]["name"] == "gradable"
    json.dumps(out)  # the answer is plain JSON


def test_lambda_handler_reports_a_failing_sample_not_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    event = [_sample("ok", "5 km", meta="x"), _sample("boom", "boom", meta="x"), _sample("no", "5 mi", meta="x")]
    out = fussy.lambda_handler(json.dumps(event), None)  # a JSON string event works too
    assert [o["aggregate_reward_score"] for o in out] == [1.0, 0.0, 0.0]
    assert out[1]["metrics_list"] == [{"name": "grader_error", "value": 1.0, "type": "Metric"}]
    assert "cannot parse boom" in caplog.text


def test_lambda_handler_content_blocks_and_missing_ids() -> None:
    sample = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"text": "The answer"}, {"text": "is C"}]},
        ],
        "reference_answer": "C",
    }
    out = answer_letter.lambda_handler([sample, sample], None)
    assert [o["id"] for o in out] == ["0", "1"] and out[0]["aggregate_reward_score"] == 1.0


def test_as_trl_plain_and_conversational() -> None:
    fn = answer_letter.as_trl()
    assert fn.__name__ == "answer_letter"
    scores = fn(
        prompts=["q1", "q2", "q3"],
        completions=["A", "B", "no idea"],
        completion_ids=[[1], [2], [3]],
        trainer_state=object(),
        reference_answer=["A", "A", "C"],
    )
    assert scores == [1.0, 0.0, 0.0]
    conv = [[{"role": "assistant", "content": "C!"}], [{"role": "assistant", "content": "D"}]]
    assert fn(prompts=[[], []], completions=conv, reference_answer=["C", None]) == [1.0, None]
    # a raising sample is None for TRL, not a crashed training step
    assert fussy.as_trl()(prompts=["a", "b"], completions=["boom", "3 km"], unit=["km", "km"]) == [None, 1.0]


def test_reward_function_is_an_evaluator_metric() -> None:
    assert isinstance(answer_letter, Metric) and as_metric(answer_letter) is answer_letter
    records = [Conversation.from_pairs(f"question {i}? A) x B) y", metadata={"answer": "AB"[i % 2]}) for i in range(6)]
    report = Evaluator(metrics=[answer_letter], progress=False).evaluate(lambda prompt: "A", records)
    assert report.mean("answer_letter") == pytest.approx(0.5)
    info = answer_letter.info()
    assert info.binary and info.name == "answer_letter" and "source_sha256" in info.params


def test_verify_reports_distribution_and_aws_guidance() -> None:
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}], "reference_answer": "ABCDE"[i % 5]} for i in range(20)]
    good = answer_letter.verify(rows)
    assert good.references is not None and good.references.mean == 1.0 and good.completions is None
    assert good.ok, good.warnings
    # the baseline already solves it: RFT may be unnecessary
    high = answer_letter.verify(rows, completions=[r["reference_answer"] for r in rows])  # type: ignore[misc]
    assert any("RFT may be unnecessary" in w for w in high.warnings)
    # nothing right: start with SFT
    low = answer_letter.verify(rows, completions=["no letter here"] * 20)
    assert any("supervised fine-tuning" in w for w in low.warnings)
    assert low.completions is not None and low.completions.positive_share == 0.0

    @reward
    def out_of_range(completion: str, **fields: object) -> float | None:
        return None if completion == "A" else 7.0

    bad = out_of_range.verify(rows)
    text = " ".join(bad.warnings)
    assert "outside [0, 1]" in text and "could not grade" in text and "constant" in text
    assert "reward 'out_of_range' on 20 records" in bad.to_text()
    with pytest.raises(ConfigurationError, match="one per record"):
        answer_letter.verify(rows, completions=["A"])


def test_repr_and_type() -> None:
    assert isinstance(answer_letter, RewardFunction)
    assert repr(answer_letter) == "RewardFunction(name='answer_letter')"
    assert reward(name="other")(answer_letter.fn).name == "other"


def test_verify_flags_a_hackable_reward() -> None:
    @reward
    def lenient(completion: str, *, reference_answer: object = None, **fields: object) -> float:
        return 1.0  # rewards anything, even an empty answer

    rows = [{"messages": [{"role": "user", "content": "q"}], "reference_answer": "A"}] * 5
    assert any("reward hacking" in w for w in lenient.verify(rows).warnings)
