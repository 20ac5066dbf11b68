"""FakeBackend: the in-memory state machine behind tests, doctests and offline notebooks."""

from __future__ import annotations

import itertools
from datetime import timedelta
from importlib import metadata

import pytest

from finetune_sdk import backends
from finetune_sdk.backends.base import (
    DeploymentSpec,
    DeploymentStatus,
    InferenceConfig,
    JobKind,
    JobSpec,
    JobStatus,
    TeacherConfig,
)
from finetune_sdk.data.records import Conversation, Turn
from finetune_sdk.errors import (
    ConfigurationError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
    ThrottlingError,
    UnsupportedOperationError,
)
from finetune_sdk.testing import FakeBackend, FakeClock


def _spec(name: str = "job-a", **changes: object) -> JobSpec:
    fields: dict[str, object] = {
        "kind": JobKind.FINE_TUNING,
        "base_model": "amazon.nova-micro-v1:0:128k",
        "name": name,
        "output_model_name": f"{name}-model",
        "training_data": "memory://fake/data/train.jsonl",
        "hyperparameters": {"epochCount": 2},
    }
    fields.update(changes)
    return JobSpec(**fields)  # type: ignore[arg-type]


def test_job_walks_pending_running_completed_on_the_clock(fake_clock: FakeClock) -> None:
    fake = FakeBackend(clock=fake_clock, pending_s=1, job_duration_s=10)
    job = fake.submit_job(_spec())
    assert (job.status, job.raw_status, job.progress) == (JobStatus.PENDING, "Queued", 0.0)
    fake_clock.advance(0.99)
    assert fake.describe_job(job.id).status is JobStatus.PENDING
    fake_clock.advance(0.01)
    assert fake.describe_job(job.id).status is JobStatus.RUNNING
    fake_clock.advance(5)
    halfway = fake.describe_job(job.id)
    assert halfway.status is JobStatus.RUNNING and halfway.progress == pytest.approx(0.5)
    assert halfway.output_model_id is None
    fake_clock.advance(5)
    done = fake.describe_job(job.id)
    assert (done.status, done.raw_status, done.progress) == (JobStatus.COMPLETED, "Completed", 1.0)
    assert done.created_at is not None and done.ended_at == done.created_at + timedelta(seconds=11)
    model = fake.describe_model(done.output_model_id or "")
    assert (model.kind, model.name, model.base_model, model.job_id) == (
        "custom",
        "job-a-model",
        "amazon.nova-micro-v1:0:128k",
        job.id,
    )
    assert fake.describe_model("job-a-model").id == model.id  # by name too


def test_metric_points_appear_as_time_passes(fake_clock: FakeClock) -> None:
    fake = FakeBackend(clock=fake_clock, pending_s=0, job_duration_s=10, steps_per_epoch=5)
    job = fake.submit_job(_spec(validation_data="memory://fake/data/val.jsonl"))
    assert fake.job_metrics(job.id) == []
    fake_clock.advance(5)
    half = fake.job_metrics(job.id)
    assert [p.step for p in half] == [1, 2, 3, 4, 5]
    fake_clock.advance(100)
    points = fake.job_metrics(job.id)
    assert [p.step for p in points] == list(range(1, 11))  # 2 epochs x 5 steps
    losses = [p.training_loss for p in points]
    assert all(a is not None and b is not None and b < a for a, b in itertools.pairwise(losses))
    assert [p.step for p in points if p.validation_loss is not None] == [5, 10]
    record = fake.describe_job(job.id)
    assert record.training_loss == points[-1].training_loss
    assert record.validation_loss == points[-1].validation_loss


def test_submit_is_idempotent_and_names_are_unique(fake_backend: FakeBackend) -> None:
    first = fake_backend.submit_job(_spec())
    assert fake_backend.submit_job(_spec()).id == first.id
    with pytest.raises(ResourceConflictError, match="already exists"):
        fake_backend.submit_job(_spec(hyperparameters={"epochCount": 3}))
    assert fake_backend.calls["submit_job"] == 3
    assert len(list(fake_backend.list_jobs())) == 1


def test_fail_next_job_and_fail_job(fake_clock: FakeClock) -> None:
    fake = FakeBackend(clock=fake_clock)
    fake.fail_next_job("Input data must follow the prompt/completion format")
    doomed = fake.submit_job(_spec("doomed"))
    healthy = fake.submit_job(_spec("healthy"))
    fake_clock.advance(100)
    failed = fake.describe_job(doomed.id)
    assert (failed.status, failed.failure_message) == (
        JobStatus.FAILED,
        "Input data must follow the prompt/completion format",
    )
    assert failed.output_model_id is None
    assert fake.describe_job(healthy.id).status is JobStatus.COMPLETED

    running = fake.submit_job(_spec("running"))
    fake_clock.advance(1)
    fake.fail_job(running.id, "out of capacity")
    record = fake.describe_job(running.id)
    assert (record.status, record.failure_message) == (JobStatus.FAILED, "out of capacity")
    with pytest.raises(ResourceConflictError, match="already ended"):
        fake.fail_job(running.id, "again")


def test_stop_goes_through_stopping(fake_clock: FakeClock) -> None:
    fake = FakeBackend(clock=fake_clock, stop_duration_s=2)
    job = fake.submit_job(_spec())
    fake_clock.advance(1)
    fake.stop_job(job.id)
    assert fake.describe_job(job.id).status is JobStatus.STOPPING
    fake_clock.advance(2)
    stopped = fake.describe_job(job.id)
    assert (stopped.status, stopped.raw_status) == (JobStatus.STOPPED, "Stopped")
    fake.stop_job(job.id)  # no-op once ended
    fake_clock.advance(100)
    assert fake.describe_job(job.id).status is JobStatus.STOPPED
    assert list(fake.list_models()) == []


def test_distillation_reports_stages(fake_clock: FakeClock) -> None:
    fake = FakeBackend(clock=fake_clock, pending_s=0, job_duration_s=9)
    spec = _spec(
        kind=JobKind.DISTILLATION,
        teacher=TeacherConfig(model_id="us.amazon.nova-pro-v1:0"),
        hyperparameters={},
    )
    job = fake.submit_job(spec)
    fake_clock.advance(4)
    assert fake.describe_job(job.id).stages == {
        "validation": "completed",
        "data_processing": "in_progress",
        "training": "not_started",
    }
    fake_clock.advance(10)
    assert set(fake.describe_job(job.id).stages.values()) == {"completed"}


def test_import_job_makes_an_imported_model(fake_backend: FakeBackend, fake_clock: FakeClock) -> None:
    spec = JobSpec(
        kind=JobKind.IMPORT,
        base_model="s3://b/model/",
        name="imp",
        output_model_name="imported",
        model_source="s3://b/model/",
    )
    job = fake_backend.submit_job(spec)
    fake_clock.advance(100)
    record = fake_backend.describe_job(job.id)
    model = fake_backend.describe_model(record.output_model_id or "")
    assert model.kind == "imported" and fake_backend.job_metrics(job.id) == []


def test_unknown_ids_raise_resource_not_found(fake_backend: FakeBackend) -> None:
    with pytest.raises(ResourceNotFoundError):
        fake_backend.describe_job("nope")
    with pytest.raises(ResourceNotFoundError):
        fake_backend.stop_job("nope")
    with pytest.raises(ResourceNotFoundError):
        fake_backend.describe_model("nope")
    with pytest.raises(ResourceNotFoundError):
        fake_backend.describe_deployment("nope")


def test_check_spec_refuses_what_the_catalog_says_the_model_cannot_do(fake_backend: FakeBackend) -> None:
    with pytest.raises(ConfigurationError, match="does not support continued_pre_training"):
        fake_backend.submit_job(
            _spec(
                kind=JobKind.CONTINUED_PRE_TRAINING, base_model="anthropic.claude-3-haiku-20240307-v1:0:200k"
            )
        )
    fake_backend.submit_job(_spec(base_model="my-org/unknown-model"))  # unknown models are accepted


def test_hyperparameter_schema_comes_from_the_catalog(fake_backend: FakeBackend) -> None:
    schema = fake_backend.hyperparameter_schema("amazon.nova-micro-v1:0:128k", JobKind.FINE_TUNING)
    assert schema is not None and "epochCount" in [s.name for s in schema]
    assert fake_backend.hyperparameter_schema("my-org/unknown-model", JobKind.FINE_TUNING) is None
    assert fake_backend.hyperparameter_schema("amazon.nova-micro-v1:0:128k", JobKind.DISTILLATION) is None


def test_stage_data_keeps_the_records(fake_backend: FakeBackend) -> None:
    records = [Conversation.from_pairs("q", "a"), Conversation.from_pairs("q2", "a2")]
    uri = fake_backend.stage_data(
        records,
        name="ft-train",
        format="bedrock_conversation",  # type: ignore[arg-type]
        output_uri=None,
    )
    assert uri == "memory://fake/data/ft-train.jsonl"
    assert fake_backend.staged[uri] == records
    assert fake_backend.staged_formats[uri] == "bedrock_conversation"


def test_chat_uses_the_responder_and_cuts_at_max_tokens_and_stop_sequences(fake_backend: FakeBackend) -> None:
    seen: list[tuple[str, str | None, int]] = []

    def responder(model_id: str, system: str | None, turns: object) -> str:
        seen.append((model_id, system, len(list(turns))))  # type: ignore[call-overload]
        return "The answer is 4. STOP then more text that goes on and on"

    fake = FakeBackend(responder=responder)
    base = fake.foundation_model("amazon.nova-micro-v1:0")
    turns = [Turn.of("user", "What is 2+2?")]
    full = fake.chat(base.id, system="Be brief.", turns=turns, config=InferenceConfig(max_tokens=512))
    assert full.text.endswith("on and on") and full.stop_reason == "end_turn"
    assert full.tokens_estimated and full.input_tokens and full.output_tokens
    cut = fake.chat(base.id, system=None, turns=turns, config=InferenceConfig(max_tokens=512, stop=("STOP",)))
    assert (cut.text, cut.stop_reason) == ("The answer is 4. ", "stop_sequence")
    short = fake.chat(base.id, system=None, turns=turns, config=InferenceConfig(max_tokens=2))
    assert short.stop_reason == "max_tokens" and short.output_tokens == 2
    assert seen[0] == ("amazon.nova-micro-v1:0", "Be brief.", 1)
    assert [c.model_id for c in fake.chat_log] == ["amazon.nova-micro-v1:0"] * 3
    with pytest.raises(ResourceNotFoundError):
        fake.chat("no-such-model", system=None, turns=turns, config=InferenceConfig())


def test_models_that_need_a_deployment_answer_only_through_one(fake_clock: FakeClock) -> None:
    fake = FakeBackend(clock=fake_clock, models_need_deployment=True, deployment_duration_s=5)
    job = fake.submit_job(_spec())
    fake_clock.advance(100)
    model_id = fake.describe_job(job.id).output_model_id or ""
    assert fake.describe_model(model_id).needs_deployment
    turns = [Turn.of("user", "hi")]
    with pytest.raises(ServiceValidationError, match="deployment"):
        fake.chat(model_id, system=None, turns=turns, config=InferenceConfig())
    spec = DeploymentSpec(model_id=model_id, name="serve")
    deployment = fake.create_deployment(spec)
    assert deployment.status is DeploymentStatus.CREATING
    assert fake.create_deployment(spec).id == deployment.id
    with pytest.raises(ResourceConflictError, match="creating"):
        fake.chat(deployment.invoke_id, system=None, turns=turns, config=InferenceConfig())
    fake_clock.advance(5)
    assert fake.describe_deployment(deployment.id).status is DeploymentStatus.ACTIVE
    answer = fake.chat(deployment.invoke_id, system=None, turns=turns, config=InferenceConfig())
    assert answer.text == "echo: hi" and answer.raw["answered_by"] == model_id
    with pytest.raises(ResourceConflictError, match="still served"):
        fake.delete_model(model_id)
    fake.delete_deployment(deployment.id)
    fake.delete_deployment(deployment.id)
    assert list(fake.list_deployments()) == []
    fake.delete_model(model_id)
    with pytest.raises(ResourceNotFoundError):
        fake.describe_model(model_id)
    with pytest.raises(UnsupportedOperationError):
        fake.delete_model(fake.foundation_model("amazon.nova-micro-v1:0").id)


def test_inject_raises_the_next_calls(fake_backend: FakeBackend) -> None:
    fake_backend.inject("describe_job", ThrottlingError("slow down", backend="fake"), times=2)
    job = fake_backend.submit_job(_spec())
    for _ in range(2):
        with pytest.raises(ThrottlingError):
            fake_backend.describe_job(job.id)
    assert fake_backend.describe_job(job.id).id == job.id
    assert fake_backend.calls["describe_job"] == 3


def test_estimate_job_cost_uses_catalog_prices(fake_backend: FakeBackend) -> None:
    estimate = fake_backend.estimate_job_cost(_spec(), training_tokens=100_000)
    assert estimate is not None and estimate.total > 0 and "training" in estimate.breakdown
    assert fake_backend.estimate_job_cost(_spec(base_model="my-org/x"), training_tokens=10) is None


def test_durations_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError, match="job_duration_s"):
        FakeBackend(job_duration_s=-1)


def test_registration_works_but_it_is_not_an_entry_point() -> None:
    names = {ep.name for ep in metadata.entry_points(group="finetune_sdk.backends")}
    assert "fake" not in names
    before = backends._registry.get("fake")
    try:
        backends.register_backend("fake", FakeBackend, replace=True)
        assert isinstance(backends.get("fake"), FakeBackend)
        assert "fake" in backends.available()
    finally:  # leave the process registry as it was for other tests
        if before is None:
            backends._registry.pop("fake", None)
        else:
            backends._registry["fake"] = before


def test_job_handles_run_end_to_end_on_the_fake() -> None:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.jobs import Job

    fake = FakeBackend()
    data = Dataset.from_records([{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)])
    job = Job.fine_tune(
        model="amazon.titan-text-lite-v1:0:4k", train=data, backend=fake, hyperparameters={"epochCount": 2}
    )
    assert job.wait(progress=False).status is JobStatus.COMPLETED
    assert len(fake.staged[job.spec.training_data or ""]) == 40  # type: ignore[union-attr]
    answer = job.model.chat("What is 2+2?")
    assert answer.text == "echo: What is 2+2?"
    assert fake.clock.monotonic() > 0  # wait() slept on the fake clock, not in real time
