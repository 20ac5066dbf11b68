"""Batch inference: JSONL in S3 (moto), the job (Stubber), output joined back by recordId."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from bedrock_helpers import ROLE
from botocore.stub import ANY
from moto import mock_aws

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import Turn
from finetune_sdk.errors import ConfigurationError, JobFailedError, UnsupportedOperationError

MODEL = "amazon.titan-text-lite-v1:0"
JOB_ID = "abcdef123456"
JOB_ARN = f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{JOB_ID}"


def requests(n: int = 3) -> list[tuple[str, str | None, list[Turn]]]:
    return [(f"q{i}", "Be brief." if i == 0 else None, [Turn.of("user", f"question {i}")]) for i in range(n)]


def write_outputs_when_created(backend: Any, s3: Any, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Play the service: when the job is created, write its output under <output>/<jobId>/."""
    seen: dict[str, Any] = {}

    def on_create(params: dict[str, Any], **_: Any) -> None:
        seen.update(params)
        out = params["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        bucket, _, prefix = out[5:].partition("/")
        body = "\n".join(json.dumps(line) for line in lines) + "\n"
        s3.put_object(Bucket=bucket, Key=f"{prefix}{JOB_ID}/records.jsonl.out", Body=body.encode())
        s3.put_object(
            Bucket=bucket,
            Key=f"{prefix}{JOB_ID}/manifest.json.out",
            Body=b'{"totalRecordCount": 3, "processedRecordCount": 3, "successRecordCount": 2}',
        )

    backend.client("bedrock").meta.events.register(
        "before-parameter-build.bedrock.CreateModelInvocationJob", on_create
    )
    return seen


def titan_output(record_id: str, text: str) -> dict[str, Any]:
    return {
        "recordId": record_id,
        "modelInput": {},
        "modelOutput": {
            "inputTextTokenCount": 5,
            "results": [{"tokenCount": 2, "outputText": text, "completionReason": "FINISH"}],
        },
    }


def test_batch_generate_round_trip(backend, stub, clock):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="ft-bucket")
        # out of order, and the service failed one record
        seen = write_outputs_when_created(
            backend,
            s3,
            [
                titan_output("R0000000002", "two"),
                {
                    "recordId": "R0000000001",
                    "modelInput": {},
                    "error": {"errorCode": 400, "errorMessage": "bad"},
                },
                titan_output("R0000000000", "zero"),
            ],
        )
        stubber = stub(backend)
        stubber.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []}, {"nameContains": ANY})
        stubber.add_response(
            "create_model_invocation_job",
            {"jobArn": JOB_ARN},
            {
                "jobName": ANY,
                "roleArn": ROLE,
                "clientRequestToken": ANY,
                "modelId": MODEL,
                "inputDataConfig": ANY,
                "outputDataConfig": ANY,
            },
        )
        stubber.add_response(
            "get_model_invocation_job",
            {"jobArn": JOB_ARN, "status": "InProgress", **_job()},
            {"jobIdentifier": JOB_ARN},
        )
        stubber.add_response(
            "get_model_invocation_job",
            {"jobArn": JOB_ARN, "status": "PartiallyCompleted", **_job()},
            {"jobIdentifier": JOB_ARN},
        )
        results = backend.batch_generate(MODEL, requests(), config=InferenceConfig(max_tokens=20))
        input_uri = seen["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket, _, key = input_uri[5:].partition("/")
        lines = [
            json.loads(x) for x in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        ]
    assert {k: (v.text, v.input_tokens, v.output_tokens) for k, v in results.items()} == {
        "q0": ("zero", 5, 2),
        "q2": ("two", 5, 2),
    }
    assert lines[0] == {
        "recordId": "R0000000000",
        "modelInput": {
            "inputText": "Be brief.\n\nquestion 0",
            "textGenerationConfig": {"maxTokenCount": 20, "temperature": 0.0},
        },
    }
    assert seen["jobName"].startswith("ftsdk-batch-") and input_uri.endswith("/input/records.jsonl")
    assert clock.sleeps == [backend.default_poll_interval]


def _job() -> dict[str, Any]:
    return {
        "jobName": "ftsdk-batch-x",
        "modelId": MODEL,
        "roleArn": ROLE,
        "submitTime": "2025-01-01T00:00:00Z",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://ft-bucket/in/records.jsonl"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://ft-bucket/out/"}},
    }


def test_same_requests_give_the_same_job_name_and_token(backend, stub):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="ft-bucket")
        stubber = stub(backend)
        captured: list[dict[str, Any]] = []
        backend.client("bedrock").meta.events.register(
            "before-parameter-build.bedrock.CreateModelInvocationJob",
            lambda params, **_: captured.append(dict(params)),
        )
        for _ in range(2):
            stubber.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []}, {"nameContains": ANY})
            stubber.add_response("create_model_invocation_job", {"jobArn": JOB_ARN})
            assert backend.batch_generate(MODEL, requests(), config=InferenceConfig(), wait=False) == {}
    assert captured[0]["jobName"] == captured[1]["jobName"]
    assert captured[0]["clientRequestToken"] == captured[1]["clientRequestToken"]


def test_failed_batch_job_raises(backend, stub):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="ft-bucket")
        stubber = stub(backend)
        stubber.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []}, {"nameContains": ANY})
        stubber.add_response("create_model_invocation_job", {"jobArn": JOB_ARN})
        stubber.add_response(
            "get_model_invocation_job",
            {"jobArn": JOB_ARN, "status": "Failed", "message": "Access denied to s3://ft-bucket", **_job()},
        )
        with pytest.raises(JobFailedError, match="Access denied") as info:
            backend.batch_generate(MODEL, requests(), config=InferenceConfig())
    assert info.value.hint is not None and "iam" in info.value.hint


def test_batch_needs_unique_ids_an_output_and_no_imported_model(backend, make_backend):
    with pytest.raises(ConfigurationError, match="unique"):
        backend.batch_generate(MODEL, [("a", None, [Turn.of("user", "x")])] * 2, config=InferenceConfig())
    with pytest.raises(ConfigurationError, match="output_uri"):
        make_backend(output_uri=None).batch_generate(MODEL, requests(), config=InferenceConfig())
    with pytest.raises(UnsupportedOperationError):
        backend.batch_generate(
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef123456",
            requests(),
            config=InferenceConfig(),
        )
