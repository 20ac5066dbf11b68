"""End-to-end flows through the public handles, on moto plus the SageMaker emulation (real boto3
serialisation)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from finetune_sdk.backends.base import (
    DeploymentSpec,
    DeploymentStatus,
    InferenceConfig,
    JobKind,
    JobSpec,
    JobStatus,
)
from finetune_sdk.backends.sagemaker import (
    JumpStartLlamaHyperparameters,
    SageMakerBackend,
    SageMakerEndpointOptions,
    SageMakerOptions,
)
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation, TextRecord, Turn
from finetune_sdk.errors import (
    ConfigurationError,
    QuotaExceededError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from finetune_sdk.jobs import Job
from finetune_sdk.models import Model
from finetune_sdk.testing.sagemaker import SageMakerEmulation

pytestmark = pytest.mark.sagemaker

MODEL = "meta-textgeneration-llama-3-8b"


def small_dataset(n: int = 8) -> Dataset:
    return Dataset(
        [
            Conversation.from_pairs(f"What is {i} times 3?", str(3 * i), system="Answer with a number.")
            for i in range(n)
        ]
    )


def jumpstart_spec(backend: SageMakerBackend, name: str = "e2e", **hps: object) -> JobSpec:
    uri = backend.stage_data(small_dataset(), name=f"{name}-train", format=None, output_uri=None)
    return JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model=MODEL,
        name=name,
        output_model_name=f"{name}-model",
        training_data=uri,
        hyperparameters=dict(hps) or {"epoch": 2},
        backend_options=SageMakerOptions(accept_eula=True),
    )


def test_fine_tune_aqua_wait_metrics_deploy_chat_and_clean_up(
    backend: SageMakerBackend, emulation: SageMakerEmulation, aqua: Dataset
) -> None:
    job = Job.fine_tune(
        model=MODEL,
        train=aqua.head(40),
        backend=backend,
        hyperparameters=JumpStartLlamaHyperparameters(epoch=3, learning_rate=1e-4, lora_r=16),
        backend_options=SageMakerOptions(accept_eula=True, instance_type="ml.g5.12xlarge"),
    )
    assert job.status is JobStatus.RUNNING
    request = emulation.calls("CreateTrainingJob")[0]
    assert request["HyperParameters"]["lora_r"] == "16" and request["HyperParameters"]["epoch"] == "3"

    job.wait(progress=False)
    assert job.status is JobStatus.COMPLETED
    assert set(job.record.stages) >= {"Starting", "Downloading", "Training", "Uploading", "Completed"}
    points = job.metric_points()
    assert [p.step for p in points] == [1, 2, 3]
    assert points[-1].training_loss is not None and points[0].training_loss is not None
    assert points[-1].training_loss < points[0].training_loss
    assert all(p.validation_loss is not None for p in points)

    model = job.model
    assert model.record.kind == "custom" and model.record.needs_deployment
    assert model.record.uri == f"{emulation.output_uri}/{job.id}/output/model/"
    with pytest.raises(ConfigurationError, match="deployed"):
        model.chat("hi")

    with model.deploy(name="aqua-endpoint", wait=True) as deployment:
        assert deployment.status is DeploymentStatus.ACTIVE
        answer = deployment.chat("What is 2 + 2?", max_tokens=32)
        assert answer.text == "echo: What is 2 + 2?"
        assert (
            answer.output_tokens and answer.input_tokens and answer.tokens_estimated
        )  # TGI: no prompt count
        sent = json.loads(emulation.calls("InvokeEndpoint")[-1]["Body"])
        # a JumpStart instruction-tuned model is prompted with the template it was trained on
        assert "### Instruction:\nWhat is 2 + 2?" in sent["inputs"]
        assert sent["parameters"]["max_new_tokens"] == 32 and sent["parameters"]["details"] is True
    sm = emulation.session.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []


def test_foundation_model_endpoint_with_messages_payload(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    base = Model.foundation(f"{MODEL}-instruct", backend=backend)
    options = SageMakerEndpointOptions(accept_eula=True, payload="messages")
    deployment = base.deploy(
        name="base-llama", instance_type="ml.g5.2xlarge", wait=False, backend_options=options
    )
    assert deployment.status is DeploymentStatus.CREATING
    deployment.wait()
    assert deployment.status is DeploymentStatus.ACTIVE
    answer = deployment.chat(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}], temperature=0.5
    )
    assert answer.text == "echo: Hello?" and not answer.tokens_estimated
    body = json.loads(emulation.calls("InvokeEndpoint")[-1]["Body"])
    assert body["messages"][0] == {"role": "system", "content": "Be brief."} and body["temperature"] == 0.5
    # a fresh backend (another process) finds the dialect from the endpoint's tags
    again = emulation.backend().chat(
        "base-llama", system=None, turns=[Turn.of("user", "x")], config=InferenceConfig()
    )
    assert again.text == "echo: x"
    model_request = emulation.calls("CreateModel")[0]
    source = model_request["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]
    assert source["ModelAccessConfig"] == {"AcceptEula": True}
    assert {d.id for d in backend.list_deployments()} == {"base-llama"}
    deployment.delete()
    deployment.delete()
    with pytest.raises(ResourceNotFoundError):
        backend.describe_deployment("base-llama")


def test_endpoint_name_taken_by_another_model_is_a_conflict(backend: SageMakerBackend) -> None:
    options = SageMakerEndpointOptions(accept_eula=True)
    backend.create_deployment(
        DeploymentSpec(model_id=f"{MODEL}-instruct", name="shared", kind="endpoint", backend_options=options)
    )
    with pytest.raises(ResourceConflictError, match="already serves"):
        backend.create_deployment(
            DeploymentSpec(model_id=MODEL, name="shared", kind="endpoint", backend_options=options)
        )


def test_chat_with_unknown_endpoint_is_not_found(backend: SageMakerBackend) -> None:
    with pytest.raises(ResourceNotFoundError):
        backend.chat("no-such-endpoint", system=None, turns=[Turn.of("user", "hi")], config=InferenceConfig())


def test_continued_pretraining_uses_domain_adaptation(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    text = Dataset([TextRecord(text=f"Quarterly revenue note {i}.") for i in range(6)])
    job = Job.continue_pretraining(
        model=MODEL,
        train=text,
        backend=backend,
        hyperparameters={"epoch": 1},
        backend_options=SageMakerOptions(accept_eula=True),
    )
    request = emulation.calls("CreateTrainingJob")[0]
    assert request["HyperParameters"]["instruction_tuned"] == "False"
    assert request["HyperParameters"]["chat_dataset"] == "False"
    training = next(c for c in request["InputDataConfig"] if c["ChannelName"] == "training")
    assert training["DataSource"]["S3DataSource"]["S3Uri"].endswith("/text/")
    assert job.kind is JobKind.CONTINUED_PRE_TRAINING
    assert json.loads(
        emulation.read_object(training["DataSource"]["S3DataSource"]["S3Uri"] + "train.jsonl").splitlines()[0]
    ) == {"text": "Quarterly revenue note 0."}


def test_multi_turn_conversations_train_as_chat_dataset(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    data = Dataset([Conversation.from_pairs("Hi", "Hello!", f"What is {i}+1?", str(i + 1)) for i in range(4)])
    Job.fine_tune(
        model=MODEL, train=data, backend=backend, backend_options=SageMakerOptions(accept_eula=True)
    )
    request = emulation.calls("CreateTrainingJob")[0]
    assert request["HyperParameters"]["chat_dataset"] == "True"
    training = next(c for c in request["InputDataConfig"] if c["ChannelName"] == "training")
    first = json.loads(
        emulation.read_object(training["DataSource"]["S3DataSource"]["S3Uri"] + "train.jsonl").splitlines()[0]
    )
    assert [m["role"] for m in first["dialog"]] == ["user", "assistant", "user", "assistant"]


def test_resubmitting_the_same_spec_attaches(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    spec = jumpstart_spec(backend)
    first = backend.submit_job(spec)
    again = backend.submit_job(spec)
    assert again.id == first.id
    assert len(emulation.calls("CreateTrainingJob")) == 1


def test_connection_dropped_after_create_landed_does_not_start_a_second_job(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    spec = jumpstart_spec(backend, "dropped")
    emulation.inject("CreateTrainingJob", "drop_after_apply")
    record = backend.submit_job(spec)
    assert record.status is JobStatus.RUNNING
    assert len(emulation.calls("CreateTrainingJob")) == 1
    assert list(emulation.training_jobs()) == [record.id]


def test_connection_dropped_before_create_is_retried(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    spec = jumpstart_spec(backend, "retried")
    emulation.inject("CreateTrainingJob", "drop")
    record = backend.submit_job(spec)
    assert len(emulation.calls("CreateTrainingJob")) == 2
    assert list(emulation.training_jobs()) == [record.id]
    assert emulation.clock.sleeps  # it backed off before the second try


def test_capacity_error_is_reported_as_quota(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    spec = jumpstart_spec(backend, "capacity")
    emulation.inject("CreateTrainingJob", "capacity")
    with pytest.raises(QuotaExceededError, match="Service Quotas"):
        backend.submit_job(spec)
    assert list(emulation.training_jobs()) == []


def test_throttled_polls_are_ridden_out(backend: SageMakerBackend, emulation: SageMakerEmulation) -> None:
    record = backend.submit_job(jumpstart_spec(backend, "throttled"))
    emulation.inject("DescribeTrainingJob", "throttle", times=2)
    assert backend.describe_job(record.id).id == record.id


def test_stop_then_stopped(backend: SageMakerBackend, emulation: SageMakerEmulation) -> None:
    job = Job.create(jumpstart_spec(backend, "stopping"), backend=backend)
    job.stop()
    assert job.status is JobStatus.STOPPING
    emulation.clock.sleep(emulation.stop_duration_s)
    assert job.refresh().status is JobStatus.STOPPED
    assert "Stopping" in job.record.stages


def test_tail_logs_follows_until_the_job_ends(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    record = backend.submit_job(jumpstart_spec(backend, "logs", epoch=2))
    lines = list(backend.tail_logs(record.id, follow=True, poll_interval=120))
    assert any(line.startswith("Epoch 2: train_perplexity") for line in lines)
    assert lines[-1] == "Training job completed"
    since = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(backend.tail_logs(record.id, since=since)) == []
    # a second instance's lines carry its host name
    logs = emulation.session.client("logs")
    stream = f"{record.id}/algo-2-1735689600"
    logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream)
    logs.put_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream,
                        logEvents=[{"timestamp": int(datetime.now(timezone.utc).timestamp() * 1000),
                                    "message": "rank 1 ready"}])
    assert "[algo-2] rank 1 ready" in list(backend.tail_logs(record.id))
    assert backend.job_metrics(record.id)[-1].training_loss == 1.41  # metrics read algo-1 only


def test_failed_job_reason_and_hint(backend: SageMakerBackend, emulation: SageMakerEmulation) -> None:
    job = Job.create(jumpstart_spec(backend, "failing"), backend=backend)
    emulation.fail_job(job.id, "ClientError: No S3 objects found under S3 URL given for channel training")
    with pytest.raises(Exception) as caught:
        job.wait(progress=False)
    assert "No S3 objects found" in str(caught.value)
    assert "staged data URI" in str(caught.value)


def test_delete_model_removes_the_weights(backend: SageMakerBackend, emulation: SageMakerEmulation) -> None:
    job = Job.create(jumpstart_spec(backend, "deleted"), backend=backend).wait(progress=False)
    model = job.model
    assert emulation.list_objects(model.record.uri or "")
    model.delete()
    assert emulation.list_objects(model.record.uri or "") == []
    with pytest.raises(ResourceNotFoundError, match="gone"):
        backend.describe_model(job.id)


def test_script_mode_job_uploads_code_and_reports_sdk_metrics(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    uri = backend.stage_data(small_dataset(), name="script-train", format=None, output_uri=None)
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="meta-llama/Llama-3.2-1B-Instruct",
        name="script-job",
        output_model_name="script-model",
        training_data=uri,
        hyperparameters={"epochCount": 1},
        backend_options=SageMakerOptions(
            mode="script",
            instance_type="ml.g5.2xlarge",
            image_uri="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5",
        ),
    )
    job = Job.create(spec, backend=backend)
    request = emulation.calls("CreateTrainingJob")[0]
    code_uri = json.loads(request["HyperParameters"]["sagemaker_submit_directory"])
    assert emulation.list_objects(code_uri) == [""]  # the tarball itself
    job.wait(progress=False)
    points = job.metric_points()
    assert [p.step for p in points] == [10, 20, 30, 40, 50]
    assert points[-1].validation_loss is not None
    assert job.record.base_model == "meta-llama/Llama-3.2-1B-Instruct"
    # a second job of the same SDK version reuses the uploaded tarball
    Job.create(spec.model_copy(update={"name": "script-job-2"}), backend=backend)
    assert (
        json.loads(emulation.calls("CreateTrainingJob")[1]["HyperParameters"]["sagemaker_submit_directory"])
        == code_uri
    )


def test_script_mode_checks_local_trainer_hyperparameters(backend: SageMakerBackend) -> None:
    uri = backend.stage_data(small_dataset(), name="script-bad", format=None, output_uri=None)
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="meta-llama/Llama-3.2-1B",
        name="bad",
        output_model_name="m",
        training_data=uri,
        hyperparameters={"epoch": 1},
        backend_options=SageMakerOptions(mode="script", instance_type="ml.g5.2xlarge", image_uri="img"),
    )
    with pytest.raises(ConfigurationError, match="epoch"):
        backend.submit_job(spec)


def test_unsupported_kinds_and_missing_settings(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    spec = jumpstart_spec(backend, "settings")
    no_role = emulation.backend(role_arn=None)
    with pytest.raises(ConfigurationError, match="execution role"):
        no_role.submit_job(spec)
    no_output = emulation.backend(output_uri=None)
    with pytest.raises(ConfigurationError, match="output_uri"):
        no_output.submit_job(spec)
    with pytest.raises(ConfigurationError, match="s3://"):
        backend.submit_job(spec.model_copy(update={"training_data": "/tmp/train.jsonl"}))
    with pytest.raises(ConfigurationError, match="SageMakerOptions"):
        backend.check_spec(spec.model_copy(update={"backend_options": JumpStartOptionsStandIn()}))


class JumpStartOptionsStandIn(SageMakerEndpointOptions):
    """Options of the wrong kind for a training job."""


def test_unknown_jumpstart_model_explains_the_modes(backend: SageMakerBackend) -> None:
    with pytest.raises(ConfigurationError, match="mode='script'"):
        backend.hub_document("meta-textgeneration-llama-9-1t")


def test_list_jobs_newest_first_with_filters(
    backend: SageMakerBackend, emulation: SageMakerEmulation
) -> None:
    older = backend.submit_job(jumpstart_spec(backend, "alpha"))
    newer = backend.submit_job(jumpstart_spec(backend, "beta"))
    emulation.complete_job(older.id)
    assert [r.id for r in backend.list_jobs()] == [newer.id, older.id]
    assert [r.id for r in backend.list_jobs(status=JobStatus.COMPLETED)] == [older.id]
    assert [r.id for r in backend.list_jobs(name_contains="beta")] == [newer.id]
    assert [j.id for j in Job.list(backend=backend, limit=1)] == [newer.id]


def test_multi_process_script_jobs_are_submitted_with_the_distributed_trainer(
    backend: SageMakerBackend, emulation: SageMakerEmulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_sdk.training import _config

    uri = backend.stage_data(small_dataset(), name="multi-train", format=None, output_uri=None)
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="meta-llama/Llama-3.2-1B",
        name="multi",
        output_model_name="m",
        training_data=uri,
        backend_options=SageMakerOptions(
            mode="script", instance_type="ml.g5.12xlarge", instance_count=2, image_uri="img"
        ),
    )
    assert backend.training_request(spec)["ResourceConfig"]["InstanceCount"] == 2  # the dry run shows it
    # an SDK whose trainer runs one process (no SUPPORTS_DISTRIBUTED) still refuses, submitting nothing
    monkeypatch.delattr(_config, "SUPPORTS_DISTRIBUTED")
    with pytest.raises(ConfigurationError, match="runs one process"):
        backend.submit_job(spec)
    assert emulation.calls("CreateTrainingJob") == []
    monkeypatch.undo()
    # this trainer runs under torchrun: the 2-instance job is submitted as it is
    assert _config.SUPPORTS_DISTRIBUTED is True
    job = backend.submit_job(spec)
    assert job.status is JobStatus.RUNNING
    [call] = emulation.calls("CreateTrainingJob")
    assert call["ResourceConfig"]["InstanceCount"] == 2
