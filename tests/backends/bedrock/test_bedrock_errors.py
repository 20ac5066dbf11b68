"""Error translation, hints from well-known messages, and the retry policy of inference calls."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.backends.bedrock.errors import hint_for_failure, translate_error
from finetune_sdk.data.records import Turn
from finetune_sdk.errors import (
    AccessDeniedError,
    BackendError,
    ConfigurationError,
    ModelNotReadyError,
    QuotaExceededError,
    RequestValidationError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceUnavailableError,
    ServiceValidationError,
    ThrottlingError,
)


def client_error(
    code: str, message: str = "msg", status: int = 400, request_id: str = "rid-1"
) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": request_id},
        },
        "Converse",
    )


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("AccessDeniedException", 403, AccessDeniedError),
        ("ResourceNotFoundException", 404, ResourceNotFoundError),
        ("ValidationException", 400, ServiceValidationError),
        ("ConflictException", 409, ResourceConflictError),
        ("ThrottlingException", 429, ThrottlingError),
        ("ServiceQuotaExceededException", 400, QuotaExceededError),
        ("TooManyTagsException", 400, ServiceValidationError),
        ("InternalServerException", 500, ServiceUnavailableError),
        ("ServiceUnavailableException", 503, ServiceUnavailableError),
        ("ModelNotReadyException", 429, ModelNotReadyError),
        ("ModelTimeoutException", 408, ServiceUnavailableError),
        ("ModelErrorException", 424, BackendError),
        ("SomethingNew", 502, ServiceUnavailableError),
    ],
)
def test_client_error_codes_map_to_sdk_errors(code, status, cls):
    exc = client_error(code, status=status)
    err = translate_error(exc, operation="Converse", region="us-east-1")
    assert type(err) is cls
    assert (err.backend, err.code, err.request_id) == ("bedrock", code, "rid-1")
    assert "Bedrock Converse failed" in str(err)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://bedrock"),
        ConnectionClosedError(endpoint_url="https://bedrock"),
        ReadTimeoutError(endpoint_url="https://bedrock"),
    ],
)
def test_connection_errors_are_service_unavailable(exc):
    assert isinstance(translate_error(exc, operation="Converse"), ServiceUnavailableError)


def test_configuration_problems_are_configuration_errors():
    assert "session=boto3.Session" in str(translate_error(NoCredentialsError()))
    assert "region=" in str(translate_error(NoRegionError()))
    err = translate_error(ParamValidationError(report="Invalid type for parameter jobName, value: 1"))
    assert isinstance(err, RequestValidationError) and err.field == "jobName"
    assert isinstance(translate_error(NoCredentialsError()), ConfigurationError)


def test_inference_profile_hint_uses_the_regions_geography():
    message = (
        "Invocation of model ID anthropic.claude-3-5-sonnet-20241022-v2:0 with on-demand throughput "
        "isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains "
        "this model."
    )
    us = str(
        translate_error(
            client_error("ValidationException", message), operation="Converse", region="us-west-2"
        )
    )
    assert "use the inference profile id us.anthropic.claude-3-5-sonnet-20241022-v2:0" in us
    eu = str(
        translate_error(
            client_error("ValidationException", message), operation="Converse", region="eu-west-1"
        )
    )
    assert "eu.anthropic.claude-3-5-sonnet-20241022-v2:0" in eu


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        (
            "ValidationException",
            "The provided model doesn\u2019t support on-demand throughput.",
            "model.deploy()",
        ),
        ("ValidationException", "The provided model identifier is invalid.", "catalog.all_models()"),
        (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            "enable model access in the Bedrock console",
        ),
        (
            "AccessDeniedException",
            "User is not authorized to perform: iam:PassRole on resource",
            "iam:PassRole",
        ),
        ("ServiceQuotaExceededException", "exceeds the service quota for your account", "Service Quotas"),
    ],
)
def test_hints_for_well_known_messages(code, message, hint):
    assert hint in str(translate_error(client_error(code, message), operation="Converse", region="us-east-1"))


@pytest.mark.parametrize(
    ("message", "hint"),
    [
        (
            "Maximum input token count 4919 exceeds limit of 4096 for train data",
            "Dataset.validate(for_model=...)",
        ),
        (
            'Input data at fine-tuning-datasets/train/train-cnn-5K.jsonl must follow \'{"prompt": '
            '"<input text>", "completion": "<output text>"}\' format',
            "Dataset.convert(",
        ),
        ("Access denied when reading s3://bucket/train.jsonl", "finetune_sdk.backends.bedrock.iam"),
        ("Unable to assume role arn:aws:iam::1:role/x", "trust policy"),
    ],
)
def test_failure_hints(message, hint):
    found = hint_for_failure(message)
    assert found is not None and hint in found


def test_unknown_failures_have_no_hint():
    assert hint_for_failure("The moon is in the wrong phase") is None
    assert hint_for_failure(None) is None


# --- inference retries ------------------------------------------------------------------------------------
CONVERSE_OK = {
    "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
    "metrics": {"latencyMs": 1},
}
IMPORTED = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef123456"


def chat(backend, model_id: str = "us.amazon.nova-micro-v1:0") -> Any:
    return backend.chat(
        model_id, system=None, turns=[Turn.of("user", "hi")], config=InferenceConfig(max_tokens=8)
    )


def test_model_not_ready_is_retried_with_backoff(backend, stub, clock):
    stub(backend, "bedrock").add_response(
        "get_imported_model", {"modelArn": IMPORTED, "modelName": "m", "instructSupported": True}
    )
    runtime = stub(backend, "bedrock-runtime")
    for _ in range(4):
        runtime.add_client_error("converse", "ModelNotReadyException", "Model is not ready", 429)
    runtime.add_response("converse", CONVERSE_OK)
    assert chat(backend, IMPORTED).text == "ok"
    assert len(clock.sleeps) == 4 and clock.sleeps[:3] == [10.0, 20.0, 30.0]


def test_model_not_ready_gives_up_after_about_five_minutes(backend, stub, clock):
    stub(backend, "bedrock").add_response(
        "get_imported_model", {"modelArn": IMPORTED, "modelName": "m", "instructSupported": True}
    )
    runtime = stub(backend, "bedrock-runtime")
    for _ in range(12):
        runtime.add_client_error("converse", "ModelNotReadyException", "Model is not ready", 429)
    with pytest.raises(ModelNotReadyError, match="restored"):
        chat(backend, IMPORTED)
    assert 290 <= clock.elapsed <= 300


def test_throttled_chat_is_retried_briefly_then_raised(backend, stub, clock):
    runtime = stub(backend, "bedrock-runtime")
    for _ in range(3):
        runtime.add_client_error(
            "converse", "ThrottlingException", "Too many tokens, please wait before trying again.", 429
        )
    with pytest.raises(ThrottlingError, match="Too many tokens"):
        chat(backend)
    assert len(clock.sleeps) == 2 and sum(clock.sleeps) < 5


def test_on_demand_unsupported_is_not_retried_with_invoke_model(backend, stub):
    runtime = stub(backend, "bedrock-runtime")
    runtime.add_client_error(
        "converse",
        "ValidationException",
        "Invocation of model ID amazon.nova-micro-v1:0 with on-demand throughput isn\u2019t "
        "supported. Retry your request with the ID or ARN of an inference profile that contains "
        "this model.",
        400,
    )
    with pytest.raises(ServiceValidationError, match=r"us\.amazon\.nova-micro-v1:0"):
        chat(backend, "amazon.nova-micro-v1:0")


def test_latency_is_measured_around_the_successful_attempt(backend, stub, clock):
    runtime = stub(backend, "bedrock-runtime")
    runtime.add_client_error("converse", "ThrottlingException", "slow down", 429)
    runtime.add_response("converse", CONVERSE_OK)
    backend.client("bedrock-runtime").meta.events.register(
        "before-parameter-build.bedrock-runtime.Converse", lambda **_: clock.advance(0.25)
    )
    response = chat(backend)
    assert response.latency_s == pytest.approx(0.25)  # the backoff wait is not counted
