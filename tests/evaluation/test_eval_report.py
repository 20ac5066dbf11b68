"""The report: exact JSON round trip, renderings, recorded provenance."""

from __future__ import annotations

import json

import pytest
from eval_helpers import OracleChat

from finetune_sdk.data.records import Conversation
from finetune_sdk.evaluation import EvaluationReport, Evaluator, PromptTemplate


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    records = [Conversation.from_pairs(f"What is {i} + {i}?", str(2 * i)) for i in range(30)]
    base = OracleChat(
        "base",
        records,
        lambda i, r: f"The sum is {2 * i}" if i % 3 else "no idea",
        pricing_model_id="amazon.nova-micro-v1:0",
    )
    tuned = OracleChat("tuned", records, lambda i, r: str(2 * i) if i % 5 else "0")
    shared = PromptTemplate(name="sum", version="3", instruction="Answer with a number.")
    return Evaluator(
        ["exact_match", "token_f1", "output_tokens", "cost_usd"],
        template=shared,
        progress=False,
        n_resamples=500,
        seed=7,
    ).compare(
        [base, tuned], records, templates={"tuned": PromptTemplate(name="tuned-sum", system="Numbers only.")}
    )


def test_json_round_trips_exactly(report: EvaluationReport, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = report.to_json()
    again = EvaluationReport.from_json(text)
    assert again == report and again.to_json() == text
    assert EvaluationReport.from_json(text.encode()) == report
    path = tmp_path / "report.json"
    report.to_json(path)
    assert EvaluationReport.from_json(path) == report


def test_report_records_provenance(report: EvaluationReport) -> None:
    data = json.loads(report.to_json())
    assert data["dataset"]["size"] == 30 and len(data["dataset"]["fingerprint"]) == 64
    assert [m["template"]["name"] for m in data["models"]] == ["sum", "tuned-sum"]  # per-model templates
    assert (
        data["models"][0]["pricing_model_id"] == "amazon.nova-micro-v1:0" and data["models"][0]["price_date"]
    )
    assert [m["name"] for m in data["metrics"]] == ["exact_match", "token_f1", "output_tokens", "cost_usd"]
    assert data["metrics"][0]["binary"] is True and data["metrics"][1]["binary"] is False
    assert data["settings"] == {"n_resamples": 500, "confidence": 0.95, "seed": 7, "alpha": 0.05}
    assert data["baseline"] == "base"


def test_statistics_and_usage(report: EvaluationReport) -> None:
    assert report.mean("exact_match", "base") == 0.0
    # tuned answers "0" on multiples of 5: wrong except for record 0 (0 + 0 = 0), so 25 of 30 are right
    assert report.mean("exact_match", "tuned") == 25 / 30
    em = report.comparison("exact_match", "tuned")
    assert em.test == "mcnemar_exact" and em.discordant == (25, 0)
    f1 = report.comparison("token_f1", "tuned")
    assert f1.test == "paired_permutation" and f1.p_value is not None and f1.p_value < 0.05
    tokens = report.comparison("output_tokens", "tuned")
    assert tokens.wins > tokens.losses  # fewer tokens is a win
    u_base, u_tuned = report.usage_of("base"), report.usage_of("tuned")
    assert u_tuned.mean_output_tokens == 1.0
    shorter = (u_base.mean_output_tokens - 1) / u_base.mean_output_tokens * 100
    assert u_tuned.output_tokens_shorter_pct == pytest.approx(shorter)
    assert u_base.cost_per_1k_requests is not None and u_tuned.cost_per_1k_requests is None
    assert u_base.latency_p50_s is not None and u_base.latency_p95_s >= u_base.latency_p50_s


def test_markdown_rendering(report: EvaluationReport) -> None:
    md = report.to_markdown()
    for heading in (
        "### Scores",
        "### Versus baseline (base)",
        "### Usage and cost",
        "### Where models disagree",
    ):
        assert heading in md
    assert "exact McNemar" in md and "paired permutation" in md and "% shorter" in md
    assert "`sum` v3" in md and "amazon.nova-micro-v1:0 prices of" in md


def test_pandas_and_html(report: EvaluationReport) -> None:
    frame = report.to_pandas()
    assert len(frame) == 8 and {"model", "metric", "mean", "ci_low", "p_value", "wins"} <= set(frame.columns)
    rows = report.per_example()
    assert len(rows) == 30 and rows["disagree"].sum() == len(report.disagreements())
    assert rows.loc[1, "tuned/prediction"] == "2" and rows.loc[1, "tuned/exact_match"] == 1.0
    html = report._repr_html_()
    assert "<table>" in html and "data:image/png;base64," in html


def test_single_model_report_has_no_comparisons() -> None:
    records = [Conversation.from_pairs("q", "a")]
    single = Evaluator(["exact_match"], progress=False).evaluate(lambda p: "a", records)
    assert single.baseline is None and single.comparisons == () and single.mean("exact_match") == 1.0
    assert "Versus baseline" not in single.to_markdown()
    assert single.models[0].key == "lambda" and single.models[0].kind == "callable"
    assert single.usage[0].tokens_estimated
