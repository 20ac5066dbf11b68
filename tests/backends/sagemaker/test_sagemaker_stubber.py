"""Status sequences and service errors moto cannot produce, pinned with botocore's Stubber.

Stubber validates every stubbed request and response against the service model; S3 (the staged-data
manifest lookup) runs on moto.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from finetune_sdk.backends.base import JobKind, JobSpec, JobStatus
from finetune_sdk.backends.sagemaker import SageMakerBackend, SageMakerOptions
from finetune_sdk.backends.sagemaker.requests import training_job_name
from finetune_sdk.errors import (
    JobFailedError,
    JobStoppedError,
    QuotaExceededError,
    ResourceNotFoundError,
    ServiceValidationError,
    ThrottlingError,
)
from finetune_sdk.jobs import Job
from finetune_sdk.testing.clock import FakeClock

pytestmark = pytest.mark.sagemaker

MODEL = "meta-textgeneration-llama-3-8b"
ROLE = "arn:aws:iam::123456789012:role/SageMakerJobs"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:training-job/"


def spec(name: str = "stubbed") -> JobSpec:
    return JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model=MODEL,
        name=name,
        output_model_name=f"{name}-model",
        training_data="s3://ft-bucket/data/",
        hyperparameters={"epoch": 1},
        backend_options=SageMakerOptions(accept_eula=True),
    )


def described(name: str, status: str, secondary: str, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://ft-bucket/out/{name}/output/model/"},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1, "VolumeSizeInGB": 256},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": T0,
        "OutputDataConfig": {"S3OutputPath": "s3://ft-bucket/out", "CompressionType": "NONE"},
        "HyperParameters": {"instruction_tuned": "True", "chat_dataset": "False"},
    }
    response.update(extra)
    return response


def tags_of(name: str) -> dict[str, Any]:
    return {
        "Tags": [
            {"Key": "finetune-sdk:job-name", "Value": "stubbed"},
            {"Key": "finetune-sdk:base-model", "Value": MODEL},
            {"Key": "finetune-sdk:kind", "Value": "fine_tuning"},
        ]
    }


def not_found(stub: Stubber, name: str) -> None:
    stub.add_client_error(
        "describe_training_job",
        service_error_code="ValidationException",
        service_message=f"Could not find training job '{ARN_PREFIX}{name}'.",
        http_status_code=400,
        expected_params={"TrainingJobName": name},
    )


def expect_describe(stub: Stubber, name: str, status: str, secondary: str, **extra: Any) -> None:
    stub.add_response(
        "describe_training_job", described(name, status, secondary, **extra), {"TrainingJobName": name}
    )


@pytest.fixture
def stubbed(stub_backend: Callable[..., SageMakerBackend]) -> Iterator[tuple[SageMakerBackend, Stubber]]:
    backend = stub_backend()
    with Stubber(backend.client("sagemaker")) as stub:
        yield backend, stub
        stub.assert_no_pending_responses()


def submit(backend: SageMakerBackend, stub: Stubber, name: str) -> None:
    """Stub a first submit: the describe-first finds nothing, then exactly the built request is created."""
    not_found(stub, name)
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    stub.add_response("create_training_job", {"TrainingJobArn": arn}, backend.training_request(spec()))


def test_in_progress_then_failed_surfaces_reason_and_hint(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    name = training_job_name(spec())
    submit(backend, stub, name)
    expect_describe(stub, name, "InProgress", "Starting")
    stub.add_response("list_tags", tags_of(name), {"ResourceArn": ANY})
    expect_describe(
        stub,
        name,
        "InProgress",
        "Training",
        SecondaryStatusTransitions=[
            {"Status": "Starting", "StartTime": T0, "EndTime": T0 + timedelta(minutes=3)},
            {"Status": "Training", "StartTime": T0 + timedelta(minutes=3)},
        ],
    )
    reason = "AlgorithmError: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    expect_describe(
        stub, name, "Failed", "Failed", FailureReason=reason, TrainingEndTime=T0 + timedelta(hours=1)
    )

    job = Job.create(spec(), backend=backend)
    assert job.status is JobStatus.RUNNING and job.record.raw_status == "InProgress"
    assert job.name == "stubbed" and job.id == name
    with pytest.raises(JobFailedError) as caught:
        job.wait(progress=False)
    assert caught.value.failure_reason == reason
    assert caught.value.hint and "per_device_train_batch_size" in caught.value.hint
    assert job.status is JobStatus.FAILED
    assert backend.clock.monotonic() > 0  # the waits happened on the fake clock


def test_stopping_then_stopped(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    name = training_job_name(spec())
    expect_describe(stub, name, "InProgress", "Training")  # attach
    stub.add_response("list_tags", tags_of(name), {"ResourceArn": ANY})
    expect_describe(stub, name, "InProgress", "Training")  # stop_job looks before it stops
    stub.add_response("stop_training_job", {}, {"TrainingJobName": name})
    expect_describe(stub, name, "Stopping", "Stopping")  # stop() refreshes
    expect_describe(stub, name, "Stopping", "Stopping")  # a second stop() looks and sends no StopTrainingJob
    expect_describe(stub, name, "Stopping", "Stopping")
    expect_describe(stub, name, "Stopped", "Stopped", TrainingEndTime=T0 + timedelta(minutes=20))

    job = Job.attach(name, backend=backend)
    job.stop()
    assert job.status is JobStatus.STOPPING and job.record.raw_status == "Stopping"
    job.stop()
    with pytest.raises(JobStoppedError):
        job.wait(progress=False)
    assert job.status is JobStatus.STOPPED


def test_stop_of_an_ended_job_sends_nothing(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    expect_describe(stub, "done-job", "Completed", "Completed", TrainingEndTime=T0 + timedelta(hours=1))
    stub.add_response("list_tags", {"Tags": []}, {"ResourceArn": ANY})
    backend.stop_job("done-job")


def test_resource_limit_exceeded_is_a_quota_error_with_the_fix(
    stubbed: tuple[SageMakerBackend, Stubber],
) -> None:
    backend, stub = stubbed
    name = training_job_name(spec())
    not_found(stub, name)
    stub.add_client_error(
        "create_training_job",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level service limit 'ml.g5.12xlarge for training job usage' is 0 "
        "Instances",
        http_status_code=400,
    )
    with pytest.raises(QuotaExceededError) as caught:
        backend.submit_job(spec())
    assert "ml.g5.12xlarge for training job usage" in str(caught.value)
    assert "Service Quotas" in str(caught.value)
    assert caught.value.code == "ResourceLimitExceeded"
    assert backend.clock.sleeps == []  # not retried


def test_throttling_is_retried_with_backoff(
    stubbed: tuple[SageMakerBackend, Stubber], clock: FakeClock
) -> None:
    backend, stub = stubbed
    for _ in range(2):
        stub.add_client_error(
            "describe_training_job",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
    expect_describe(stub, "busy-job", "InProgress", "Training")
    stub.add_response("list_tags", {"Tags": []}, {"ResourceArn": ANY})
    record = backend.describe_job("busy-job")
    assert record.status is JobStatus.RUNNING
    assert len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)


def test_throttling_gives_up_after_the_retry_budget(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    for _ in range(backend.retry_attempts):
        stub.add_client_error(
            "describe_training_job",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
    with pytest.raises(ThrottlingError):
        backend.describe_job("busy-job")


def test_resource_in_use_attaches_to_the_existing_job(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    name = training_job_name(spec())
    not_found(stub, name)
    stub.add_client_error(
        "create_training_job",
        service_error_code="ResourceInUse",
        service_message="Training job names must be unique",
        http_status_code=400,
    )
    expect_describe(stub, name, "InProgress", "Starting")
    stub.add_response("list_tags", tags_of(name), {"ResourceArn": ANY})
    record = backend.submit_job(spec())
    assert record.id == name and record.status is JobStatus.RUNNING


def test_unknown_job_is_resource_not_found(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    not_found(stub, "nope")
    with pytest.raises(ResourceNotFoundError):
        backend.describe_job("nope")


def test_service_validation_error_keeps_message(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    name = training_job_name(spec())
    not_found(stub, name)
    stub.add_client_error(
        "create_training_job",
        service_error_code="ValidationException",
        service_message="Image img is not authorized for the account",
        http_status_code=400,
    )
    with pytest.raises(ServiceValidationError, match="not authorized"):
        backend.submit_job(spec())


def test_list_jobs_follows_pages_and_filters(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    first = {
        "TrainingJobSummaries": [
            {
                "TrainingJobName": "b-job",
                "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/b-job",
                "CreationTime": T0 + timedelta(hours=1),
                "TrainingJobStatus": "Completed",
            }
        ],
        "NextToken": "page-2",
    }
    second = {
        "TrainingJobSummaries": [
            {
                "TrainingJobName": "a-job",
                "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/a-job",
                "CreationTime": T0,
                "TrainingJobStatus": "Completed",
            }
        ]
    }
    stub.add_response(
        "list_training_jobs",
        first,
        {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 50, "StatusEquals": "Completed"},
    )
    expect_describe(stub, "b-job", "Completed", "Completed", TrainingEndTime=T0 + timedelta(hours=2))
    stub.add_response("list_tags", {"Tags": []}, {"ResourceArn": ANY})
    stub.add_response(
        "list_training_jobs",
        second,
        {
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": 50,
            "StatusEquals": "Completed",
            "NextToken": "page-2",
        },
    )
    expect_describe(stub, "a-job", "Completed", "Completed", TrainingEndTime=T0 + timedelta(hours=1))
    stub.add_response("list_tags", {"Tags": []}, {"ResourceArn": ANY})
    records = list(backend.list_jobs(status=JobStatus.COMPLETED))
    assert [r.id for r in records] == ["b-job", "a-job"]
    assert all(r.output_model_id == r.id for r in records)


def test_record_maps_secondary_status_and_final_metrics(stubbed: tuple[SageMakerBackend, Stubber]) -> None:
    backend, stub = stubbed
    expect_describe(
        stub,
        "m-job",
        "Completed",
        "Completed",
        TrainingEndTime=T0 + timedelta(hours=1),
        SecondaryStatusTransitions=[
            {"Status": "Starting", "StartTime": T0, "EndTime": T0 + timedelta(minutes=2)},
            {
                "Status": "Training",
                "StartTime": T0 + timedelta(minutes=2),
                "EndTime": T0 + timedelta(minutes=50),
            },
            {"Status": "Completed", "StartTime": T0 + timedelta(hours=1), "EndTime": T0 + timedelta(hours=1)},
        ],
        FinalMetricDataList=[
            {"MetricName": "huggingface-textgeneration:train-loss", "Value": 0.91},
            {"MetricName": "huggingface-textgeneration:eval-loss", "Value": 1.02},
        ],
    )
    stub.add_response(
        "list_tags",
        {"Tags": [{"Key": "sagemaker-sdk:jumpstart-model-id", "Value": MODEL}]},
        {"ResourceArn": ANY},
    )
    record = backend.describe_job("m-job")
    assert record.status is JobStatus.COMPLETED and record.progress == 1.0
    assert record.stages == {"Starting": "completed", "Training": "completed", "Completed": "completed"}
    assert (record.training_loss, record.validation_loss) == (0.91, 1.02)
    assert record.base_model == MODEL and record.kind is JobKind.FINE_TUNING
    assert record.output_uri == "s3://ft-bucket/out/m-job/output/"
    assert record.ended_at == T0 + timedelta(hours=1)
