"""BedrockEmulation: full request validation, the request log, fault injection, and wiring to the backend."""

from __future__ import annotations

import pytest
from aws_helpers import create_job
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from finetune_sdk.testing.emulation import BedrockEmulation


def _jobs(aws: BedrockEmulation) -> list[str]:
    summaries = aws.session.client("bedrock").list_model_customization_jobs()[
        "modelCustomizationJobSummaries"
    ]
    return [s["jobName"] for s in summaries]


def test_a_request_that_breaks_a_pattern_is_rejected_and_recorded(aws_emulation: BedrockEmulation) -> None:
    with pytest.raises(ClientError) as refused:
        create_job(aws_emulation, name="bad_name")
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(
        "1 validation error detected: Value 'bad_name' at 'jobName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern"
    )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [(v.operation, v.field, v.rule) for v in aws_emulation.violations] == [
        ("CreateModelCustomizationJob", "jobName", "pattern")
    ]
    assert aws_emulation.calls("CreateModelCustomizationJob")[0]["jobName"] == "bad_name"
    assert _jobs(aws_emulation) == []


def test_maximums_and_enums_that_botocore_skips_are_enforced(aws_emulation: BedrockEmulation) -> None:
    with pytest.raises(ClientError) as refused:
        create_job(aws_emulation, name="a" * 64, customModelName="m", customizationType="FOO")
    message = refused.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected")
    assert {v.rule for v in aws_emulation.violations} == {"max", "enum"}


def test_the_request_log_has_every_operation_with_its_parameters(aws_emulation: BedrockEmulation) -> None:
    arn = create_job(aws_emulation)
    aws_emulation.session.client("bedrock").get_model_customization_job(jobIdentifier=arn)
    assert [r.operation for r in aws_emulation.requests] == [
        "CreateModelCustomizationJob",
        "GetModelCustomizationJob",
    ]
    operation, params = aws_emulation.requests[1]
    assert (operation, params) == ("GetModelCustomizationJob", {"jobIdentifier": arn})


def test_throttling_and_5xx_are_answered_like_the_service(aws_emulation: BedrockEmulation) -> None:
    aws_emulation.inject("CreateModelCustomizationJob", "throttle", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as throttled:
            create_job(aws_emulation)
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
        assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    aws_emulation.inject("*", "5xx")
    with pytest.raises(ClientError) as broken:
        create_job(aws_emulation)
    assert broken.value.response["Error"]["Code"] == "InternalServerException"
    assert broken.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert _jobs(aws_emulation) == []
    create_job(aws_emulation)
    assert _jobs(aws_emulation) == ["job-1"]
    assert len(aws_emulation.calls("CreateModelCustomizationJob")) == 4


def test_a_dropped_request_before_it_arrives_creates_nothing(aws_emulation: BedrockEmulation) -> None:
    aws_emulation.inject("CreateModelCustomizationJob", "drop")
    with pytest.raises(EndpointConnectionError):
        create_job(aws_emulation)
    aws_emulation.inject("CreateModelCustomizationJob", "timeout")
    with pytest.raises(ConnectTimeoutError):
        create_job(aws_emulation)
    assert _jobs(aws_emulation) == []


def test_a_lost_answer_after_the_create_leaves_the_job_there(aws_emulation: BedrockEmulation) -> None:
    aws_emulation.inject("CreateModelCustomizationJob", "drop", after_apply=True)
    with pytest.raises(ConnectionClosedError):
        create_job(aws_emulation, clientRequestToken="tok-1")
    assert _jobs(aws_emulation) == ["job-1"]
    aws_emulation.inject("CreateModelCustomizationJob", "timeout", after_apply=True)
    with pytest.raises(ReadTimeoutError):
        create_job(aws_emulation, clientRequestToken="tok-1")
    arn = create_job(aws_emulation, clientRequestToken="tok-1")  # the retry with the same token finds it
    assert _jobs(aws_emulation) == ["job-1"] and arn.endswith(arn.rsplit("/", 1)[1])


def test_unknown_fault_kinds_are_refused(aws_emulation: BedrockEmulation) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        aws_emulation.inject("Converse", "meteor")  # type: ignore[arg-type]


def test_operations_it_does_not_emulate_fail_loudly_instead_of_reaching_the_network(
    aws_emulation: BedrockEmulation,
) -> None:
    with pytest.raises(NotImplementedError, match="ListEvaluationJobs"):
        aws_emulation.session.client("bedrock").list_evaluation_jobs()


def test_s3_iam_and_sts_are_moto(aws_emulation: BedrockEmulation) -> None:
    identity = aws_emulation.session.client("sts").get_caller_identity()
    assert identity["Account"] == aws_emulation.account_id
    role = aws_emulation.session.client("iam").get_role(RoleName="finetune-sdk-bedrock")["Role"]
    assert role["Arn"] == aws_emulation.role_arn
    assert (
        aws_emulation.s3.head_bucket(Bucket=aws_emulation.bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    )


def test_backend_is_the_bedrock_backend_wired_to_the_emulation(aws_emulation: BedrockEmulation) -> None:
    backend = aws_emulation.backend()
    assert backend.name == "bedrock" and backend.clock is aws_emulation.clock
    assert getattr(backend, "session", None) is aws_emulation.session
    assert getattr(backend, "role_arn", None) == aws_emulation.role_arn


def test_started_twice_or_used_unstarted_is_an_error() -> None:
    aws = BedrockEmulation()
    with pytest.raises(RuntimeError, match="start the emulation first"):
        _ = aws.session
    with aws:
        with pytest.raises(RuntimeError, match="already started"):
            aws.start()
