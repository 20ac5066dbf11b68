"""Ownership before waiting: an interrupt, a timeout or a failure while a deployment is created or waited for
leaves nothing billed (or, with keep_on_failure, hands the deployment back on the exception).

Wait points injected: the create call (after the service created it), every status poll, every sleep between
polls, the timeout, and a deployment that fails. Backends: the fake backend and the Bedrock AWS emulation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from finetune_sdk import Model
from finetune_sdk.backends.base import DeploymentStatus
from finetune_sdk.cli import models as cli_models
from finetune_sdk.cli.main import main
from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import FinetuneError, JobTimeoutError
from finetune_sdk.jobs import Job
from finetune_sdk.models import Deployment
from finetune_sdk.testing import FakeBackend

STUDENT = "amazon.nova-micro-v1:0:128k"


def live(backend: Any) -> list[Any]:
    return [d for d in backend.list_deployments() if d.status is not DeploymentStatus.DELETED]


def on_nth(n: int, original: Callable[..., Any], exc: BaseException) -> Callable[..., Any]:
    """A wrapper that calls ``original`` and raises ``exc`` on its ``n``-th call (1-based)."""
    count = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] == n:
            raise exc
        return original(*args, **kwargs)

    return wrapper


def after_create(original: Callable[..., Any], exc: BaseException) -> Callable[..., Any]:
    """The service created the deployment, then the interrupt arrived before the handle came back."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise exc

    return wrapper


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend(deployment_duration_s=60.0)


@pytest.fixture
def custom(fake: FakeBackend) -> Model:
    records = [Conversation.from_pairs(f"q{i}", f"a{i}") for i in range(8)]
    return Job.fine_tune(model=STUDENT, train=records, backend=fake).wait(progress=False).model


WAIT_POINTS = ["create", "poll-1", "poll-2", "sleep-1", "sleep-3"]


def inject(monkeypatch: pytest.MonkeyPatch, backend: Any, point: str, exc: BaseException) -> None:
    if point == "create":
        monkeypatch.setattr(backend, "create_deployment", after_create(backend.create_deployment, exc))
    elif point.startswith("poll-"):
        n = int(point.split("-")[1])
        monkeypatch.setattr(backend, "describe_deployment", on_nth(n, backend.describe_deployment, exc))
    else:
        n = int(point.split("-")[1])
        monkeypatch.setattr(backend.clock, "sleep", on_nth(n, backend.clock.sleep, exc))


@pytest.mark.parametrize("point", WAIT_POINTS)
def test_interrupt_at_every_wait_point_leaves_nothing_billed(
    fake: FakeBackend, custom: Model, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject(monkeypatch, fake, point, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        custom.deploy()
    monkeypatch.undo()
    assert live(fake) == []
    assert fake.calls["create_deployment"] == 1 and fake.calls["delete_deployment"] == 1


def test_timeout_deletes_and_says_so(fake: FakeBackend, custom: Model) -> None:
    with pytest.raises(JobTimeoutError, match="was deleted so that it bills nothing") as info:
        custom.deploy(timeout=10)
    assert live(fake) == []
    assert info.value.deployment.status is DeploymentStatus.DELETED  # type: ignore[attr-defined]


def test_failed_deployment_is_deleted(
    fake: FakeBackend, custom: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fake.describe_deployment

    def failing(deployment_id: str) -> Any:
        return original(deployment_id).model_copy(
            update={"status": DeploymentStatus.FAILED, "failure_message": "capacity"}
        )

    monkeypatch.setattr(fake, "describe_deployment", failing)
    with pytest.raises(FinetuneError, match="capacity"):
        custom.deploy()
    monkeypatch.undo()
    assert live(fake) == []


@pytest.mark.parametrize("point", ["poll-1", "sleep-1"])
def test_keep_on_failure_hands_the_deployment_back(
    fake: FakeBackend, custom: Model, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject(monkeypatch, fake, point, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as info:
        custom.deploy(keep_on_failure=True)
    monkeypatch.undo()
    kept: Deployment = info.value.deployment  # type: ignore[attr-defined]
    assert [d.id for d in live(fake)] == [kept.id]
    assert kept.wait().status is DeploymentStatus.ACTIVE
    kept.delete()
    assert live(fake) == []


def test_keep_on_failure_timeout(fake: FakeBackend, custom: Model) -> None:
    with pytest.raises(JobTimeoutError, match="wait again or delete") as info:
        custom.deploy(timeout=10, keep_on_failure=True)
    assert len(live(fake)) == 1
    info.value.deployment.delete()  # type: ignore[attr-defined]
    assert live(fake) == []


def test_interrupted_create_never_deletes_a_deployment_that_existed_before(
    fake: FakeBackend, custom: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = custom.deploy(name="kept")
    fake.clock.advance(3600)  # type: ignore[attr-defined]
    monkeypatch.setattr(fake, "create_deployment", on_nth(1, fake.create_deployment, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        custom.deploy(name="kept")
    monkeypatch.undo()
    assert [d.id for d in live(fake)] == [first.id]


@pytest.mark.parametrize("point", WAIT_POINTS)
def test_distiller_evaluate_with_deploy_interrupted(point: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_sdk.distillation import Distiller
    from finetune_sdk.evaluation import Evaluator

    fake = FakeBackend(models_need_deployment=True, deployment_duration_s=60.0,
                       responder=lambda model, system, turns: "an answer long enough to keep")
    test = [Conversation.from_pairs(f"t{i}", "x") for i in range(3)]
    distiller = Distiller(teacher="amazon.nova-pro-v1:0", student=STUDENT, backend=fake,
                          evaluator=Evaluator(["exact_match"], progress=False), progress=False)
    prompts = [Conversation.from_pairs(f"What is {i} plus {i}?", str(2 * i)) for i in range(10)]
    distiller.run(prompts, test=test, evaluate=False, workdir=tmp_path)  # train first, no deployment yet
    assert fake.calls["create_deployment"] == 0
    inject(monkeypatch, fake, point, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        distiller.run(prompts, test=test, deploy=True, workdir=tmp_path)
    monkeypatch.undo()
    assert live(fake) == []


@pytest.mark.parametrize("point", WAIT_POINTS)
def test_cli_models_deploy_interrupted_exits_130_and_leaves_nothing(
    fake: FakeBackend, custom: Model, point: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli_models, "backend_from", lambda args, **kw: fake)
    inject(monkeypatch, fake, point, KeyboardInterrupt())
    assert main(["models", "deploy", custom.id]) == 130
    assert "Traceback" not in capsys.readouterr().err
    monkeypatch.undo()
    assert live(fake) == []


def test_cli_models_deploy_timeout_exits_1_and_deletes(
    fake: FakeBackend, custom: Model, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_models, "backend_from", lambda args, **kw: fake)
    assert main(["models", "deploy", custom.id, "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert "deleted" in err and "Traceback" not in err
    assert live(fake) == []
    assert main(["models", "deploy", custom.id, "--timeout", "5", "--keep-on-failure"]) == 1
    assert "finetune models undeploy" in capsys.readouterr().err
    assert len(live(fake)) == 1


# --- the Bedrock AWS emulation ----------------------------------------------------------------------------

@pytest.fixture
def aws() -> Iterator[Any]:
    from finetune_sdk.testing.emulation import BedrockEmulation as AwsEmulation

    with AwsEmulation(deployment_duration_s=120.0) as emulation:
        yield emulation


def billed(aws: Any) -> list[dict[str, Any]]:
    client = aws.session.client("bedrock")
    pts = client.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    return [p for p in pts if p["status"] in ("Creating", "InService", "Updating")]


@pytest.mark.parametrize("point", [*WAIT_POINTS, "timeout"])
def test_emulated_bedrock_provisioned_throughput_never_orphaned(
    aws: Any, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = aws.backend()
    model = Model.foundation("amazon.nova-micro-v1:0", backend=backend)
    if point == "timeout":
        with pytest.raises(JobTimeoutError):
            model.deploy(timeout=30)
    else:
        inject(monkeypatch, backend, point, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            model.deploy()
        monkeypatch.undo()
    assert len(aws.calls("CreateProvisionedModelThroughput")) == 1
    assert billed(aws) == []


def test_emulated_bedrock_dropped_create_answer_is_cleaned_up(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The create request reached the service, its answer was lost, and Ctrl-C came before any retry."""
    backend = aws.backend()
    model = Model.foundation("amazon.nova-micro-v1:0", backend=backend)
    monkeypatch.setattr(backend, "create_deployment", after_create(backend.create_deployment, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        model.deploy(name="dropped")
    monkeypatch.undo()
    assert billed(aws) == []


# --- the SageMaker emulation: a real-time endpoint ----------------------------------------------------------

@pytest.fixture
def sagemaker() -> Iterator[Any]:
    from finetune_sdk.testing.clock import FakeClock
    from finetune_sdk.testing.sagemaker import SageMakerEmulation

    with SageMakerEmulation(clock=FakeClock()) as emulation:
        yield emulation


@pytest.mark.parametrize("point", [*WAIT_POINTS, "timeout"])
def test_emulated_sagemaker_endpoint_never_orphaned(
    sagemaker: Any, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_sdk.backends.sagemaker import SageMakerEndpointOptions

    backend = sagemaker.backend()
    base = Model.foundation("meta-textgeneration-llama-3-8b-instruct", backend=backend)
    options = SageMakerEndpointOptions(accept_eula=True, payload="messages")

    def deploy(**kw: Any) -> Any:
        return base.deploy(name="hostile-ep", instance_type="ml.g5.2xlarge", backend_options=options, **kw)

    if point == "timeout":
        with pytest.raises(JobTimeoutError):
            deploy(timeout=1)
    else:
        inject(monkeypatch, backend, point, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            deploy()
        monkeypatch.undo()
    # poll-1 lands in create_deployment's own existence check (nothing created yet); poll-2 right after
    # CreateEndpoint, before the handle came back: the hard case
    assert len(sagemaker.calls("CreateEndpoint")) == (0 if point == "poll-1" else 1)
    assert [d.id for d in backend.list_deployments()] == []
