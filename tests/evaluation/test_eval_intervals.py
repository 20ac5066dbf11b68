"""Honest intervals at the extremes (Wilson, Newcombe) and cut-off answers flagged in token comparisons."""

from __future__ import annotations

from typing import Any

import pytest
from eval_helpers import OracleChat

from finetune_sdk.backends.base import ChatResponse
from finetune_sdk.data.records import Conversation
from finetune_sdk.evaluation import Evaluator
from finetune_sdk.evaluation.statistics import paired_proportion_ci, wilson_ci


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (100, 100, 0.96301, 1.0), (0, 100, 0.0, 0.03699), (0, 10, 0.0, 0.27753), (7, 10, 0.39678, 0.89221),
    (1, 1, 0.20654, 1.0),
])
def test_wilson_matches_reference_values_and_is_never_zero_width(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_ci(k, n)
    assert (lo, hi) == pytest.approx((low, high), abs=1e-5)
    assert hi - lo > 0


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_ci(0, 0)
    with pytest.raises(ValueError, match=r"\[0, 5\]"):
        wilson_ci(6, 5)


def test_newcombe_paired_interval() -> None:
    # every pair discordant in the same direction: the bootstrap of the differences would be [1, 1]
    lo, hi = paired_proportion_ci(0, 100, 0, 0)
    assert 0.9 < lo < 1.0 and hi == 1.0
    # no difference at all: an interval around 0 that has width
    lo, hi = paired_proportion_ci(40, 0, 0, 60)
    assert lo < 0 < hi
    # swapping the two models negates the interval
    lo, hi = paired_proportion_ci(8, 5, 4, 9)
    assert paired_proportion_ci(8, 4, 5, 9) == pytest.approx((-hi, -lo))
    assert lo < 1 / 26 < hi
    with pytest.raises(ValueError):
        paired_proportion_ci(0, 0, 0, 0)


class _Cutting(OracleChat):
    """Answers end at max_tokens when they are longer than ``limit`` words."""

    def __init__(self, *args: Any, limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit = limit

    def chat(self, *args: Any, **kwargs: Any) -> ChatResponse:
        response = super().chat(*args, **kwargs)
        if response.output_tokens and response.output_tokens > self.limit:
            return response.model_copy(update={"output_tokens": self.limit, "stop_reason": "max_tokens"})
        return response.model_copy(update={"stop_reason": "end_turn"})


def test_report_uses_score_intervals_and_flags_cut_off_answers() -> None:
    records = [Conversation.from_pairs(f"What is {i} + {i}?", str(2 * i)) for i in range(40)]
    base = _Cutting("base", records, lambda i, r: "I think the answer could be many things really", limit=5)
    tuned = _Cutting("tuned", records, lambda i, r: str(2 * i), limit=5)
    report = Evaluator(["exact_match", "output_tokens"], progress=False, n_resamples=200).compare(
        [base, tuned], records)
    perfect = report.summary("exact_match", "tuned")
    assert perfect.mean == 1.0 and perfect.ci_low == pytest.approx(wilson_ci(40, 40)[0]) and perfect.ci_low < 1.0
    zero = report.summary("exact_match", "base")
    assert zero.mean == 0.0 and zero.ci_high == pytest.approx(wilson_ci(0, 40)[1]) and zero.ci_high > 0.0
    diff = report.comparison("exact_match", "tuned")
    assert diff.diff == 1.0 and diff.ci_low is not None and diff.ci_low < 1.0 and diff.ci_high == 1.0
    usage = {u.model: u for u in report.usage}
    assert usage["base"].cut_off == 40 and usage["tuned"].cut_off == 0
    text = report.to_markdown()
    assert "(40/40 cut off)" in text and "Cut off: answers that stopped at max_tokens" in text
    assert "Wilson score" in text
    assert report.examples["base"][0].stop_reason == "max_tokens"


def test_newcombe_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    import random

    rng = random.Random(0)
    # P(both)=0.45, P(first only)=0.2, P(second only)=0.05, P(neither)=0.3: true difference 0.15
    cells = [0.45, 0.2, 0.05, 0.3]
    covered = 0
    trials = 1500
    for _ in range(trials):
        counts = [0, 0, 0, 0]
        for _ in range(60):
            u, acc = rng.random(), 0.0
            for i, p in enumerate(cells):
                acc += p
                if u < acc or i == 3:
                    counts[i] += 1
                    break
        lo, hi = paired_proportion_ci(*counts)
        covered += lo <= 0.15 <= hi
    assert 0.93 <= covered / trials <= 0.985
