"""Offline evaluations of real test sets (AQuA-RAT, TAT-QA) with emulated models and hand-checked scores."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import OracleChat, aqua_records, aqua_reply, tatqa_records, wrong_letter

from finetune_sdk.data.records import Conversation
from finetune_sdk.evaluation import Evaluator, PromptTemplate
from finetune_sdk.evaluation.statistics import mcnemar_exact


@pytest.fixture
def aqua(shared_datasets: Path) -> list[Conversation]:
    return aqua_records(shared_datasets / "aqua" / "test.json")


def answer_every(k: int):  # type: ignore[no-untyped-def]
    """Right on every k-th record (index % k == 0), a different letter otherwise, in varied styles."""

    def answer(i: int, record: Conversation) -> str:
        gold = str(record.metadata["answer"])
        return aqua_reply(i, record, gold if i % k == 0 else wrong_letter(gold))

    return answer


def test_aqua_test_set_base_vs_tuned(aqua: list[Conversation]) -> None:
    assert len(aqua) == 254
    base = OracleChat(
        "base", aqua, answer_every(5), pricing_model_id="anthropic.claude-3-haiku-20240307-v1:0"
    )
    tuned = OracleChat("tuned", aqua, answer_every(2))
    template = PromptTemplate(name="aqua-letter", version="2", system="Answer with one letter.")
    report = Evaluator(["accuracy"], template=template, concurrency=4, progress=False).compare(
        [base, tuned], aqua, baseline="base"
    )

    # hand-checked: right on multiples of 5 (0..250: 51) and of 2 (0..252: 127) out of 254
    assert report.mean("accuracy", "base") == 51 / 254
    assert report.mean("accuracy", "tuned") == 127 / 254
    cmp = report.comparison("accuracy", "tuned")
    # tuned-only right: even, not a multiple of 10 = 127 - 26 = 101; base-only right: odd multiples of 5 = 25
    assert cmp.discordant == (101, 25)
    assert (cmp.wins, cmp.ties, cmp.losses) == (101, 254 - 126, 25)
    assert cmp.test == "mcnemar_exact" and cmp.p_value == mcnemar_exact(101, 25) and cmp.p_value < 1e-10
    assert cmp.diff == pytest.approx((127 - 51) / 254)
    assert cmp.ci_low < cmp.diff < cmp.ci_high and cmp.ci_low > 0
    s = report.summary("accuracy", "base")
    assert s.ci_low < 51 / 254 < s.ci_high and s.n == 254
    # every record asked once per model, with the template's system prompt
    assert set(base.calls.values()) == {1} and len(base.calls) == 254
    assert set(base.systems) == {"Answer with one letter."}
    assert report.models[0].template == template and report.dataset.size == 254
    assert len(report.disagreements()) == 126
    usage = report.usage_of("base")
    assert usage.cost_per_1k_requests is not None and usage.cost_per_1k_requests > 0  # catalog prices
    assert report.usage_of("tuned").cost_per_1k_requests is None


@pytest.fixture
def tatqa(shared_datasets: Path) -> list[Conversation]:
    return tatqa_records(shared_datasets / "tatqa" / "tatqa_dataset_test_gold.json", limit=120)


def formatted(record: Conversation) -> str:
    """The gold answer, written the way a model might: with units, currency, list words."""
    answer, kind, scale = record.metadata["answer"], record.metadata["answer_type"], record.metadata["scale"]
    if kind == "arithmetic":
        unit = {"percent": "%", "": ""}.get(scale, f" {scale}")
        return f"The answer is {round(float(answer), 2)}{unit}"
    if kind == "count":
        return f"There are {answer}"
    spans = [str(a) for a in answer]
    return spans[0] if len(spans) == 1 else ", ".join(spans[:-1]) + " and " + spans[-1]


def test_tatqa_slice_scores(tatqa: list[Conversation]) -> None:
    kinds = {r.metadata["answer_type"] for r in tatqa}
    assert kinds == {"span", "multi-span", "arithmetic", "count"}
    # verbose base: right on every third question, in prose; tuned: verbatim gold on every second
    base = OracleChat("base", tatqa, lambda i, r: formatted(r) if i % 3 == 0 else "N/A")
    tuned = OracleChat("tuned", tatqa, lambda i, r: (r.reference or "") if i % 2 == 0 else "N/A")
    report = Evaluator(["tatqa_em", "tatqa_f1", "token_f1", "output_tokens"], progress=False).compare(
        [base, tuned], tatqa
    )

    assert report.mean("tatqa_em", "base") == 40 / 120  # indices 0, 3, ..., 117
    assert report.mean("tatqa_em", "tuned") == 60 / 120
    assert report.mean("tatqa_f1", "tuned") == 60 / 120  # "N/A" shares no token with any gold answer
    # the simple token F1 scores the verbatim answers 1 and "N/A" 0...
    tuned_rows = report.examples["tuned"]
    assert all(row.scores["token_f1"] == (1.0 if row.index % 2 == 0 else 0.0) for row in tuned_rows)
    assert report.mean("token_f1", "tuned") == 0.5
    # ...but gives the prose answers partial credit where the TAT-QA scorer reads the number exactly
    base_rows = report.examples["base"]
    prose = [
        r for r in base_rows if r.index % 3 == 0 and tatqa[r.index].metadata["answer_type"] == "arithmetic"
    ]
    assert prose and all(r.scores["tatqa_em"] == 1.0 and r.scores["token_f1"] < 1.0 for r in prose)
    # output length: "N/A" is one token, the prose answers are longer
    usage = report.usage_of("tuned")
    assert usage.mean_output_tokens is not None and usage.output_tokens_shorter_pct is not None
    cmp = report.comparison("tatqa_em", "tuned")
    assert cmp.test == "mcnemar_exact" and cmp.discordant is not None
    # tuned-only right: even, not a multiple of 3 (60 - 20 = 40); base-only right: odd multiples of 3 (20)
    assert cmp.discordant == (40, 20)
