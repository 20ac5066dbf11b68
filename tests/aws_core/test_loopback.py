"""Real clients over real HTTP: boto3 against a moto server process and the Bedrock emulation served over
loopback, so requests go through botocore's whole serialisation and HTTP stack, not in-process hooks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from finetune_sdk._aws import AwsClients, S3Uri, translate_error
from finetune_sdk.errors import ResourceConflictError, ResourceNotFoundError

pytestmark = pytest.mark.slow  # two server processes start once per session (~15 s)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/finetune-sdk-bedrock"


def _session() -> object:
    import boto3

    return boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def test_s3_uploads_through_a_moto_server(moto_server: str, tmp_path: Path) -> None:
    from finetune_sdk.data.upload import upload_file

    session = _session()
    bucket = f"loopback-{uuid.uuid4().hex[:12]}"
    AwsClients(session=session, endpoint_url=moto_server).client("s3").create_bucket(Bucket=bucket)
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "q", "completion": "a"}\n', encoding="utf-8")
    uri = upload_file(path, f"s3://{bucket}/data", session=session, endpoint_url=moto_server)
    assert S3Uri.parse(uri).bucket == bucket
    assert upload_file(path, f"s3://{bucket}/data", session=session, endpoint_url=moto_server) == uri  # skipped
    with pytest.raises(ResourceNotFoundError, match="does not exist"):
        upload_file(path, f"s3://missing-{bucket}/data", session=session, endpoint_url=moto_server)


def test_sts_and_iam_errors_translate_over_http(moto_server: str) -> None:
    clients = AwsClients(session=_session(), endpoint_url=moto_server)
    assert clients.client("sts").get_caller_identity()["Account"] == "123456789012"
    iam = clients.client("iam")
    name = f"role-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    with pytest.raises(Exception) as info:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    assert isinstance(translate_error(info.value, backend="iam"), ResourceConflictError)


def test_the_sagemaker_backend_over_http(moto_server: str) -> None:
    from finetune_sdk.backends.sagemaker import SageMakerBackend

    backend = SageMakerBackend(region=REGION, session=_session(), endpoint_url=moto_server)
    with pytest.raises(ResourceNotFoundError):
        backend.describe_job("no-such-training-job")
    assert list(backend.list_jobs(name_contains="no-such")) == []


def test_the_bedrock_emulation_served_over_loopback(bedrock_server: dict[str, str]) -> None:
    from finetune_sdk.backends.bedrock import BedrockBackend
    from finetune_sdk.specs import InferenceConfig, JobKind, JobSpec, JobStatus

    backend = BedrockBackend(
        region=REGION,
        session=_session(),
        endpoint_url=bedrock_server["bedrock"],
        runtime_endpoint_url=bedrock_server["bedrock-runtime"],
        role_arn=ROLE,
        output_uri="s3://finetune-sdk-emulation-123456789012/output",
    )
    answer = backend.chat("amazon.nova-micro-v1:0", system=None, turns=_turns("hi"), config=InferenceConfig())
    assert answer.text == "echo: hi"
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="amazon.titan-text-lite-v1:0:4k",
        name=f"loopback-{uuid.uuid4().hex[:8]}",
        output_model_name=f"loopback-model-{uuid.uuid4().hex[:8]}",
        training_data="s3://finetune-sdk-emulation-123456789012/train.jsonl",
        hyperparameters={"epochCount": "1"},
    )
    record = backend.submit_job(spec)
    assert record.status is JobStatus.RUNNING
    assert backend.describe_job(record.id).name == spec.name
    assert backend.submit_job(spec).id == record.id  # idempotent over HTTP too


def _turns(text: str) -> list[object]:
    from finetune_sdk.data.records import Turn

    return [Turn.of("user", text)]
