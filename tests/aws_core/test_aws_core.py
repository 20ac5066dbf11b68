"""The one AWS core (``finetune_sdk._aws``): error table, retry-with-recovery, polling, S3Uri, client factory."""

from __future__ import annotations

from typing import Any

import pytest

from finetune_sdk._aws import (
    AwsClients,
    RetryPolicy,
    S3Uri,
    call_with_retries,
    classify_retry,
    error_class,
    poll,
    split_s3_uri,
    translate_error,
)
from finetune_sdk.errors import (
    AccessDeniedError,
    BackendError,
    ConfigurationError,
    DataError,
    ModelNotReadyError,
    QuotaExceededError,
    ResourceConflictError,
    ResourceNotFoundError,
    S3UriError,
    ServiceUnavailableError,
    ServiceValidationError,
    ThrottlingError,
)
from finetune_sdk.testing.clock import FakeClock


class FakeClientError(Exception):
    def __init__(self, code: str, message: str = "boom", status: int = 400) -> None:
        super().__init__(message)
        self.response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": status},
        }


# --- one error table ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("ThrottlingException", 400, ThrottlingError),
        ("SlowDown", 503, ThrottlingError),  # S3
        ("AccessDenied", 403, AccessDeniedError),  # S3
        ("SignatureDoesNotMatch", 403, AccessDeniedError),
        ("NoSuchBucket", 404, ResourceNotFoundError),
        ("NoSuchEntity", 404, ResourceNotFoundError),  # IAM
        ("ResourceInUse", 400, ResourceConflictError),  # SageMaker
        ("EntityAlreadyExists", 409, ResourceConflictError),  # IAM
        ("ResourceLimitExceeded", 400, QuotaExceededError),  # SageMaker
        ("ServiceQuotaExceededException", 400, QuotaExceededError),  # Bedrock
        ("ModelNotReadyException", 429, ModelNotReadyError),
        ("InternalServerException", 500, ServiceUnavailableError),
        ("TooManyTagsException", 400, ServiceValidationError),
        ("SomethingNew", 502, ServiceUnavailableError),
        ("SomethingNew", 429, ThrottlingError),
        ("SomethingNew", 400, BackendError),
    ],
)
def test_one_table_maps_every_services_codes(code: str, status: int, cls: type[Exception]) -> None:
    assert error_class(code, status) is cls
    err = translate_error(FakeClientError(code, "it broke", status), backend="s3", action="PutObject")
    assert type(err) is cls
    assert (err.code, err.request_id, err.backend) == (code, "req-1", "s3")  # type: ignore[attr-defined]
    assert "S3 PutObject failed" in str(err) and "it broke" in str(err)


def test_validation_that_means_not_found_is_not_found() -> None:
    err = translate_error(FakeClientError("ValidationException", "Could not find endpoint x"), backend="sagemaker")
    assert isinstance(err, ResourceNotFoundError)


def test_a_callers_hint_comes_first() -> None:
    err = translate_error(FakeClientError("AccessDenied"), backend="s3", hint="grant s3:GetObject")
    assert str(err).endswith("hint: grant s3:GetObject")


def test_retry_classification_works_before_and_after_translation() -> None:
    raw = FakeClientError("ThrottlingException")
    assert classify_retry(raw) == "throttle"
    assert classify_retry(translate_error(raw, backend="bedrock")) == "throttle"
    assert classify_retry(FakeClientError("InternalFailure", status=500)) == "transient"
    assert classify_retry(FakeClientError("ModelErrorException", status=500)) is None
    assert classify_retry(FakeClientError("ValidationException")) is None
    assert classify_retry(KeyError("bug")) is None


# --- one retry policy --------------------------------------------------------------------------------------
def test_retries_recover_a_resource_created_by_a_lost_answer() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def create() -> str:
        calls.append("create")
        raise FakeClientError("InternalFailure", status=500)  # the answer was lost; the resource exists

    def recover() -> str | None:
        calls.append("recover")
        return "found-it"

    result = call_with_retries(create, clock=clock, policy=RetryPolicy(), what="create x", recover=recover)
    assert result == "found-it"
    assert calls == ["create", "recover"]  # never created twice
    assert len(clock.sleeps) == 1


def test_retries_stop_per_kind_and_translate_when_asked() -> None:
    clock = FakeClock()

    def always() -> None:
        raise FakeClientError("ThrottlingException")

    with pytest.raises(ThrottlingError):
        call_with_retries(always, clock=clock, backend="bedrock", action="X", attempts=3)
    assert len(clock.sleeps) == 2
    with pytest.raises(FakeClientError):  # without a backend the caller translates
        call_with_retries(always, clock=clock, policy=RetryPolicy(throttle_attempts=1))


def test_poll_backs_off_and_times_out_on_the_clock() -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError, match="not done after 100s"):
        poll(lambda: None, clock=clock, interval=10, max_interval=40, backoff=2, timeout=100, what="job j")
    assert clock.sleeps == [10.0, 20.0, 40.0, 30.0]  # never sleeps past the timeout
    answers = iter([None, "done"])
    assert poll(lambda: next(answers), sleep=lambda s: None, interval=1, timeout=None, what="j") == "done"


# --- one S3 URI value --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        ("http://bucket/x", "must start with 's3://'"),
        ("s3://", "has no bucket name"),
        ("s3://ab/x", "3 to 63 characters"),
        ("s3://My_Bucket/x", "lowercase letters"),
        ("s3://my..bucket/x", "two adjacent dots"),
        ("s3://192.168.1.1/x", "IP address"),
        ("s3://xn--bucket/x", "reserved prefix"),
        ("s3://bucket/a//b", "empty segment"),
        ("s3://bucket/a/../b", "'..' segment"),
        ("s3://bucket/data/*.jsonl", "wildcard"),
        ("s3://bucket/a\nb", "control character"),
        ("s3://bucket/" + "k" * 1025, "at most 1024 bytes"),
    ],
)
def test_s3_uri_rules(uri: str, rule: str) -> None:
    with pytest.raises(S3UriError, match=rule) as info:
        S3Uri.parse(uri, field="output_uri")
    assert "output_uri" in str(info.value)
    # one error class that both old kinds of caller catch
    assert isinstance(info.value, ConfigurationError) and isinstance(info.value, DataError)


def test_s3_uri_parts_and_safe_joins() -> None:
    uri = S3Uri.parse("s3://my-bucket/runs/")
    assert (uri.bucket, uri.key, uri.prefix) == ("my-bucket", "runs/", "runs")
    assert str(uri.join("job-1", "out.json")) == "s3://my-bucket/runs/job-1/out.json"
    assert str(S3Uri.parse("s3://my-bucket").join("a")) == "s3://my-bucket/a"
    for bad in ("..", "a/../b", "", "x\x00", "*"):
        with pytest.raises(S3UriError):
            uri.join(bad)
    assert split_s3_uri("s3://my-bucket/a/b/", strip=True) == ("my-bucket", "a/b")
    with pytest.raises(S3UriError, match="names a bucket, not an object"):
        split_s3_uri("s3://my-bucket/", require_key=True)


def test_every_old_parser_is_the_one_parser() -> None:
    from finetune_sdk.backends.bedrock import iam
    from finetune_sdk.backends.sagemaker import staging
    from finetune_sdk.data import io, upload

    assert iam.split_s3_uri is split_s3_uri and staging.split_s3_uri is split_s3_uri
    assert io.parse_s3_uri.func is split_s3_uri and upload.parse_s3_uri.func is split_s3_uri  # type: ignore[attr-defined]


# --- one client factory ------------------------------------------------------------------------------------
def test_clients_share_session_region_endpoints_and_user_agent() -> None:
    clients = AwsClients(region="eu-west-1", backend="bedrock", endpoint_urls={"s3": "http://127.0.0.1:1"})
    s3: Any = clients.client("s3")
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.endpoint_url == "http://127.0.0.1:1"
    assert "finetune-sdk/" in s3.meta.config.user_agent_extra
    assert s3.meta.config.retries["total_max_attempts"] == 1  # the SDK's policy does all retrying
    assert clients.client("s3") is s3
    assert clients.client("bedrock").meta.endpoint_url.startswith("https://bedrock.eu-west-1")


def test_no_region_names_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError, match=r"backends\.get\('sagemaker'"):
        AwsClients(backend="sagemaker").client("sagemaker")


def test_a_profile_makes_the_session(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile team]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    clients = AwsClients(profile="team")
    assert clients.session.profile_name == "team" and clients.region == "ap-southeast-2"
