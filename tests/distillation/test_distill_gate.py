"""The quality gate: every step, per-record decisions, and AQuA with a teacher right 70% of the time."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation, TextRecord
from finetune_sdk.distillation import Distiller, QualityGate
from finetune_sdk.distillation.gate import GATE_STEPS
from finetune_sdk.evaluation.judge import JudgeMetric

LETTERS = "ABCDE"


def answered(prompt: str, response: str, /, **metadata: object) -> Conversation:
    return Conversation.from_pairs(prompt, response, metadata=metadata)


class SometimesRightTeacher:
    """Answers AQuA questions: right for a fixed, seeded 70% of the questions, a wrong letter otherwise."""

    def __init__(self, records: list[Conversation], *, share: float = 0.7, seed: int = 3) -> None:
        rng = random.Random(seed)
        right = set(rng.sample(range(len(records)), round(share * len(records))))
        self.gold = {r.prompt_text: str(r.metadata["answer"]) for r in records}
        self.right_prompts = {records[i].prompt_text for i in right}
        self.calls: dict[str, int] = {}

    def __call__(self, prompt: str) -> str:
        self.calls[prompt] = self.calls.get(prompt, 0) + 1
        gold = self.gold[prompt]
        if prompt in self.right_prompts:
            return f"Working it through step by step, the result matches option {gold}.\nAnswer: ({gold})"
        wrong = LETTERS[(LETTERS.index(gold) + 1) % 5]
        return f"After some algebra I get {wrong}) as the result.\nThe answer is {wrong}"


def test_aqua_gold_step_keeps_exactly_the_right_answers(shared_datasets: Path) -> None:
    dev = Dataset.from_aqua(shared_datasets / "aqua" / "dev.json")
    test = Dataset.from_aqua(shared_datasets / "aqua" / "test.json")
    records = [r for r in dev if isinstance(r, Conversation)]
    teacher = SometimesRightTeacher(records)
    distiller = Distiller(
        teacher=teacher,
        student="amazon.nova-micro-v1:0:128k",
        gate=QualityGate(gold_field="answer"),
        progress=False,
    )

    generation = distiller.generate(dev)
    assert len(generation.records) == len(records) == 254
    # the prompt's own gold rationale moved to metadata; the teacher's answer is the final turn
    first = generation.records[0]
    assert first.metadata["reference"] == records[0].reference
    assert first.reference != records[0].reference

    kept, report = distiller.filter(generation, test=test)
    kept_prompts = [r.prompt_text for r in kept]
    assert set(kept_prompts) == teacher.right_prompts
    assert len(kept_prompts) == round(0.7 * 254)
    gold = report.step("gold")
    assert (gold.records_in, gold.accepted, gold.rejected) == (254, 178, 76)
    assert report.step("leakage").enabled and report.step("leakage").rejected == 0
    assert report.step("dedupe").rejected == 0
    assert report.step("judge").enabled is False
    rejected = report.rejected("gold")
    assert len(rejected) == 76
    assert all(d.reason and d.reason.startswith("teacher answered '") for d in rejected)
    # decisions are per input record and agree with what was kept
    assert [d.index for d in report.decisions] == list(range(254))
    assert {generation.records[i].prompt_text for i in report.accepted_indexes} == teacher.right_prompts
    text = report.to_markdown()
    assert "| gold | yes | 254 | 178 | 76 |" in text


def test_aqua_leakage_drops_test_questions(shared_datasets: Path) -> None:
    dev = list(Dataset.from_aqua(shared_datasets / "aqua" / "dev.json"))[:20]
    test = list(Dataset.from_aqua(shared_datasets / "aqua" / "test.json"))
    leaked = [test[0], test[1], test[2].model_copy(update={"system": "Another system prompt."})]
    prompts = [*dev, *leaked]
    data = [p.with_response("Answer: (A)") for p in prompts if isinstance(p, Conversation)]
    kept, report = QualityGate().apply(data, test=test)
    assert len(kept) == 20
    leak = report.rejected("leakage")
    assert [d.index for d in leak] == [20, 21, 22]
    assert leak[0].reason == "the prompt is in the test set (test record 0)"


def test_every_step_reports_its_decisions() -> None:
    class ScoreByLength:
        id = "judge-model"

        def chat(self, messages=None, *, system=None, turns=None, config=None):
            from finetune_sdk.backends.base import ChatResponse

            prompt = turns[-1].text
            answer = prompt.split("Answer to grade:\n", 1)[1].split("\n\nScore the answer", 1)[0]
            return ChatResponse(text=f"Score: {5 if 'good' in answer else 1}\nReason: looked at it")

    data = [
        answered("q0", "a good and complete answer"),  # kept
        answered("q1", ""),  # response
        answered("q2", "good but cut", teacher_stop_reason="max_tokens"),  # truncated
        answered("q3", "good answer, mail me at ann@example.com"),  # kept, redacted
        answered("q4", "good"),  # length (min)
        answered("q5", "good " * 40),  # length (max)
        answered("Q0", "another good answer"),  # dedupe of q0
        answered("q6", "a fine answer, though bad"),  # judge
        answered("q7", "The answer is (B), good", answer="C"),  # gold
        answered("q8", "The answer is (C), good", answer="C"),  # kept
        Conversation.from_pairs("q9"),  # response (no answer)
        answered("q10", "good x", teacher_error="ThrottlingError: slow down"),  # response
    ]
    gate = QualityGate(
        redact_pii=True,
        min_response_chars=10,
        max_response_chars=150,
        gold_field="answer",
        judge=JudgeMetric(ScoreByLength()),
        judge_threshold=0.5,
    )
    kept, report = gate.apply([*data, TextRecord(text="raw text")], test=[Conversation.from_pairs("q8", "x")])
    steps = {s.name: s for s in report.steps}
    assert list(steps) == list(GATE_STEPS)
    assert {s: (steps[s].records_in, steps[s].rejected) for s in GATE_STEPS} == {
        "response": (13, 4),
        "truncated": (9, 1),
        "clean": (8, 0),
        "length": (8, 2),
        "gold": (6, 1),
        "dedupe": (5, 1),
        "leakage": (4, 1),
        "judge": (3, 1),
    }
    assert [r.prompt_text for r in kept] == ["q0", "q3"]
    assert kept[1].reference == "good answer, mail me at [EMAIL]"
    assert steps["clean"].modified == 1
    by_index = {d.index: d for d in report.decisions}
    assert by_index[3].modified_by == ("pii",)
    assert by_index[1].reason == "empty response"
    assert by_index[10].reason.startswith("no teacher response")
    assert by_index[11].reason == "teacher error: ThrottlingError: slow down"
    assert by_index[12].reason.startswith("not a conversation")
    assert by_index[2].step == "truncated"
    assert "below min_response_chars=10" in by_index[4].reason
    assert "above max_response_chars=150" in by_index[5].reason
    assert by_index[6].reason == "same prompt as record 0"
    assert by_index[8].reason == "teacher answered 'B', gold is 'C'"
    assert by_index[9].step == "leakage"
    assert by_index[7].step == "judge" and by_index[7].judge_score == 0.0
    assert by_index[0].judge_score == 1.0
    assert report.rejection_counts()["response"] == 4
    assert str(report).startswith("quality gate: 2 of 13 records accepted")


def test_disabled_steps_and_records_without_gold() -> None:
    data = [
        answered("q1", "The answer is A", answer="A"),
        answered("q2", "The answer is B"),
        answered("q1", "The answer is A", answer="A"),
    ]
    kept, report = QualityGate(gold_field="answer", dedupe=False, drop_truncated=False).apply(data)
    assert len(kept) == 3  # no gold on q2: kept; duplicates kept with dedupe off
    assert report.step("gold").detail == "1 records had no gold answer"
    assert not report.step("dedupe").enabled and not report.step("truncated").enabled
    assert not report.step("leakage").enabled  # no test set given
    kept, report = QualityGate(gold_field="answer", require_gold=True).apply(data)
    assert [r.prompt_text for r in kept] == ["q1"]
    assert report.decisions[1].reason == "no gold answer in metadata['answer']"


def test_gold_with_another_metric_and_field() -> None:
    data = [
        answered("capital of France?", "Paris", city="paris"),
        answered("capital of Peru?", "Quito", city="Lima"),
    ]
    kept, report = QualityGate(gold_field="city", gold_metric="exact_match").apply(data)
    assert [r.reference for r in kept] == ["Paris"]
    assert report.decisions[1].reason == "the answer disagrees with the gold answer (exact_match=0)"


def test_token_limits_prefer_the_teachers_count() -> None:
    data = [answered("q1", "short", teacher_output_tokens=500), answered("q2", "x" * 400)]
    kept, report = QualityGate(max_response_tokens=50).apply(data)
    assert kept == []
    assert report.decisions[0].reason == "response has 500 tokens, above max_response_tokens=50"
    assert report.decisions[1].reason == "response has 100 tokens, above max_response_tokens=50"


def test_gate_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="min_response_chars=10 is above max_response_chars=5"):
        QualityGate(min_response_chars=10, max_response_chars=5)
    with pytest.raises(ValueError, match="unknown metric"):
        QualityGate(gold_field="answer", gold_metric="no-such-metric")
    assert QualityGate(redact_pii=["email"]).redact_pii == ("email",)
    assert QualityGate().fingerprint == QualityGate().fingerprint
    assert QualityGate().fingerprint != QualityGate(dedupe=False).fingerprint


def test_judging_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    calls: list[str] = []

    def judge(prompt: str) -> str:
        calls.append(prompt)
        return "Score: 4\nReason: fine"

    data = [answered(f"q{i}", f"answer {i}") for i in range(5)]
    gate = QualityGate(judge=JudgeMetric(judge))
    ckpt = tmp_path / "judge.jsonl"
    kept, _ = gate.apply(data, checkpoint=ckpt, progress=False)
    assert len(kept) == 5 and len(calls) == 5
    kept, report = gate.apply(data, checkpoint=ckpt, progress=False)
    assert len(kept) == 5 and len(calls) == 5  # nothing asked twice
    assert all(d.judge_score == 0.75 for d in report.decisions)
