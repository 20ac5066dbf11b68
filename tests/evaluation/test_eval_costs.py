"""Costs in the Evaluator: hourly deployments, per-token on-demand deployments, estimates, emulation flags."""

from __future__ import annotations

import json

import pytest

from finetune_sdk import catalog
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation
from finetune_sdk.evaluation import Evaluator
from finetune_sdk.evaluation.pricing import Pricing, is_emulated, pricing_of
from finetune_sdk.jobs import Job
from finetune_sdk.models import Model
from finetune_sdk.testing import FakeBackend
from finetune_sdk.testing.emulation import BedrockEmulation as AwsEmulation

TITAN = "amazon.titan-text-lite-v1:0:4k"
NOVA_MICRO = "amazon.nova-micro-v1:0"


def records(n: int = 8) -> list[Conversation]:
    return [Conversation.from_pairs(f"Double of {i}?", str(2 * i)) for i in range(n)]


def test_provisioned_deployment_cost_flows_into_every_rendering_of_the_report() -> None:
    data = Dataset.from_records([{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)])
    with AwsEmulation(region="us-east-1", responder=lambda model, system, messages: "4") as aws:
        backend = aws.backend()
        job = Job.fine_tune(model=TITAN, train=data, backend=backend)
        tuned = job.wait(progress=False).model
        with tuned.deploy(model_units=2) as deployment:
            price = catalog.resolve(TITAN).prices.provisioned_per_hour_no_commit  # type: ignore[union-attr]
            assert price and deployment.hourly_cost == pytest.approx(2 * price)
            assert deployment.pricing_model_id is None  # billed by the hour, not per token
            billing = pricing_of(deployment)
            assert billing is not None and billing.billing == "hourly" and billing.per_hour == pytest.approx(2 * price)
            base = Model.foundation(NOVA_MICRO, backend=backend)
            report = Evaluator(["exact_match"], progress=False).compare([base, deployment], records())

    tuned_info = report.models[1]
    assert tuned_info.billing == "hourly" and tuned_info.hourly_price == pytest.approx(2 * price)
    usage = report.usage_of(tuned_info.key)
    # the hours the run held the deployment, spread over its requests
    expected = 2 * price * report.run.duration_s / 3600 / report.dataset.size * 1000
    assert usage.cost_per_1k_requests is not None and 0 < usage.cost_per_1k_requests <= expected
    assert report.usage_of(report.models[0].key).cost_per_1k_requests is not None  # per token, catalog
    assert report.emulated == [m.key for m in report.models]
    markdown = report.to_markdown()
    assert "EMULATED" in markdown and "Billed by the hour" in markdown and f"${2 * price:,.2f}/hour" in markdown
    assert "EMULATED" in str(report) and "EMULATED" in report._repr_html_() and "emulated=" in repr(report)
    saved = json.loads(report.to_json())
    assert all(m["emulated"] for m in saved["models"]) and saved["models"][1]["billing"] == "hourly"


def test_on_demand_deployment_bills_per_token_at_its_base_models_prices() -> None:
    backend = FakeBackend()
    model = Model.foundation(NOVA_MICRO, backend=backend)
    assert is_emulated(model)
    from finetune_sdk.backends.base import DeploymentRecord, DeploymentStatus
    from finetune_sdk.models import Deployment

    record = DeploymentRecord(
        id="dep-1", name="dep", backend="fake", model_id=NOVA_MICRO, kind="on_demand",
        status=DeploymentStatus.ACTIVE, raw_status="Active", invoke_id=NOVA_MICRO, hourly_cost=0.0,
    )
    deployment = Deployment(record, backend)
    assert deployment.pricing_model_id == model.pricing_model_id and deployment.hourly_cost is None
    billing = pricing_of(deployment)
    assert billing is not None and billing.billing == "per_token"


def test_estimate_cost_before_a_run_matches_the_prices() -> None:
    backend = FakeBackend()
    model = Model.foundation(NOVA_MICRO, backend=backend)
    prices = catalog.resolve(NOVA_MICRO).prices  # type: ignore[union-attr]
    data = records(10)
    ev = Evaluator(["exact_match"], progress=False, concurrency=4)
    estimate = ev.estimate_cost([model], data, output_tokens=10)
    input_tokens = sum(-(-len(r.prompt_text) // 4) for r in data)  # the 4-characters-per-token heuristic
    expected = (input_tokens * prices.input_per_1k_tokens + 100 * prices.output_per_1k_tokens) / 1000
    assert estimate.total == pytest.approx(expected, rel=0.25) and estimate.total > 0
    assert estimate.price_date == prices.date and len(backend.chat_log) == 0  # nothing was sent

    def endpoint(prompt: str) -> str:
        return "0"

    estimate = Evaluator(["exact_match"], prices={"endpoint": Pricing.hourly(7.2)}, concurrency=4).estimate_cost(
        [model, endpoint], data, latency_s=2.0
    )
    assert estimate.breakdown["endpoint"] == pytest.approx(7.2 * 10 * 2.0 / 4 / 3600)
    assert "endpoint: $7.20/hour" in " ".join(estimate.assumptions)


def test_given_hourly_price_wins_and_reports_built_on_real_callables_are_not_emulated() -> None:
    def endpoint(prompt: str) -> str:
        return "0"

    report = Evaluator(["exact_match"], progress=False, prices={"endpoint": Pricing.hourly(3.6)}).evaluate(
        endpoint, records(4)
    )
    assert report.emulated == [] and "EMULATED" not in report.to_markdown()
    assert report.models[0].billing == "hourly" and report.usage[0].cost_per_1k_requests is not None
