"""The one translation of AWS service errors into ``finetune_sdk.errors``: one code table, one retry
classification, one set of hints.

Every AWS call in the SDK (Bedrock, SageMaker, S3 uploads and reads, IAM, Bedrock evaluation jobs) ends here,
so a code means the same SDK class wherever it is met. Nothing here imports botocore at module import time.

Examples:
    >>> class FakeClientError(Exception):
    ...     response = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
    ...                 "ResponseMetadata": {"RequestId": "r-1", "HTTPStatusCode": 400}}
    >>> err = translate_error(FakeClientError(), backend="sagemaker", action="DescribeTrainingJob")
    >>> type(err).__name__, err.code, err.request_id
    ('ThrottlingError', 'ThrottlingException', 'r-1')
    >>> classify_retry(FakeClientError()), classify_retry(KeyError("bug"))
    ('throttle', None)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from finetune_sdk.errors import (
    AccessDeniedError,
    BackendError,
    ConfigurationError,
    FinetuneError,
    ModelNotReadyError,
    QuotaExceededError,
    RequestValidationError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceUnavailableError,
    ServiceValidationError,
    ThrottlingError,
)

__all__ = [
    "ERROR_CLASSES",
    "RetryKind",
    "classify_retry",
    "error_class",
    "error_code",
    "hint_for_message",
    "is_aws_error",
    "is_connection_error",
    "request_id",
    "service_message",
    "status_code",
    "translate_error",
]

RetryKind = Literal["throttle", "transient", "not_ready"]

_THROTTLE = (
    "ThrottlingException Throttling ThrottledException TooManyRequestsException SlowDown RequestLimitExceeded "
    "RequestThrottled RequestThrottledException ProvisionedThroughputExceededException"
)
_ACCESS = (
    "AccessDenied AccessDeniedException UnauthorizedOperation UnrecognizedClientException InvalidClientTokenId "
    "ExpiredToken ExpiredTokenException InvalidSignatureException SignatureDoesNotMatch InvalidAccessKeyId "
    "InvalidToken AllAccessDisabled AccountProblem Forbidden NotAuthorized 403"
)
_NOT_FOUND = (
    "ResourceNotFound ResourceNotFoundException NoSuchKey NoSuchBucket NoSuchEntity NoSuchEntityException NotFound 404"
)
_CONFLICT = "ResourceInUse ResourceInUseException ConflictException Conflict EntityAlreadyExists"
_QUOTA = "ResourceLimitExceeded ServiceQuotaExceededException LimitExceeded LimitExceededException"
_UNAVAILABLE = (
    "InternalServerException InternalServerError InternalFailure InternalError ServiceUnavailable ServiceFailure "
    "ServiceUnavailableException RequestTimeout RequestTimeoutException ModelTimeoutException 500 502 503 504"
)
_VALIDATION = (
    "ValidationException ValidationError InvalidParameterValue InvalidRequest TooManyTagsException "
    "EntityTooLarge InvalidArgument MalformedPolicyDocument"
)

#: the one table: service error code -> SDK class (codes not listed: by HTTP status, else ``BackendError``)
ERROR_CLASSES: dict[str, type[BackendError]] = {
    **dict.fromkeys(_THROTTLE.split(), ThrottlingError),
    **dict.fromkeys(_ACCESS.split(), AccessDeniedError),
    **dict.fromkeys(_NOT_FOUND.split(), ResourceNotFoundError),
    **dict.fromkeys(_CONFLICT.split(), ResourceConflictError),
    **dict.fromkeys(_QUOTA.split(), QuotaExceededError),
    **dict.fromkeys(_UNAVAILABLE.split(), ServiceUnavailableError),
    **dict.fromkeys(_VALIDATION.split(), ServiceValidationError),
    "ModelNotReadyException": ModelNotReadyError,
    "ModelErrorException": BackendError,
    "ModelStreamErrorException": BackendError,
}

#: phrases in a ValidationException that really mean "no such resource" (SageMaker says it this way)
_NOT_FOUND_PHRASES = ("could not find", "does not exist", "not found", "cannot find")

#: a next step per SDK class, when the message itself has no better one
_CLASS_HINTS: dict[type[BackendError], str] = {
    AccessDeniedError: "check the caller's IAM permissions and that the service role trusts the service",
    QuotaExceededError: "ask for a quota increase in the Service Quotas console, or free capacity first",
    ThrottlingError: "the SDK already retried with backoff; send fewer requests at once or retry later",
    ServiceUnavailableError: "the SDK already retried; try again in a few minutes",
}

_SERVICE_NAMES = {"bedrock": "Bedrock", "sagemaker": "SageMaker", "s3": "S3", "iam": "IAM", "logs": "CloudWatch Logs"}


def _response(exc: BaseException | None) -> Mapping[str, Any] | None:
    response = getattr(exc, "response", None)
    return response if isinstance(response, Mapping) else None


def error_code(exc: BaseException) -> str | None:
    """The service error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = _response(exc)
    if response is None:
        return None
    code = (response.get("Error") or {}).get("Code")
    return str(code) if code not in (None, "") else None


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of a botocore ``ClientError`` (``None`` for anything else)."""
    response = _response(exc)
    status = ((response or {}).get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return int(status) if isinstance(status, int) else None


def request_id(exc: BaseException) -> str | None:
    """The AWS request id of a botocore ``ClientError``."""
    meta = (_response(exc) or {}).get("ResponseMetadata") or {}
    found = meta.get("RequestId") or (meta.get("HTTPHeaders") or {}).get("x-amzn-requestid")
    return str(found) if found else None


def service_message(exc: BaseException) -> str:
    """The service's own message for a botocore ``ClientError`` or an SDK error translated from one."""
    cause = exc if _response(exc) is not None else exc.__cause__
    response = _response(cause)
    if response is not None:
        return str((response.get("Error") or {}).get("Message") or "")
    return str(exc)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a dropped connection or a timeout below HTTP (the request may have landed)."""
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError
    except ImportError:  # pragma: no cover - botocore is a core dependency
        return isinstance(exc, ConnectionError)
    return isinstance(exc, (BotoConnectionError, HTTPClientError, ConnectionError))


def is_aws_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from botocore (a service answer, a connection failure, a client-side check)."""
    if _response(exc) is not None or is_connection_error(exc):
        return True
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, BotoCoreError)


def error_class(code: str | None, status: int | None = None, message: str = "") -> type[BackendError]:
    """The SDK class for a service error code (and HTTP status, and message for ambiguous codes).

    Examples:
        >>> error_class("NoSuchBucket").__name__, error_class("Weird", 503).__name__
        ('ResourceNotFoundError', 'ServiceUnavailableError')
        >>> error_class("ValidationException", 400, "Could not find endpoint x").__name__
        'ResourceNotFoundError'
    """
    cls = ERROR_CLASSES.get(code or "")
    not_found = any(p in message.lower() for p in _NOT_FOUND_PHRASES)
    if cls is ServiceValidationError and code in ("ValidationException", "ValidationError", "InvalidParameterValue"):
        cls = ResourceNotFoundError if not_found else cls
    if cls is not None:
        return cls
    if status == 429:
        return ThrottlingError
    if status is not None and status >= 500:
        return ServiceUnavailableError
    return BackendError


def classify_retry(exc: BaseException) -> RetryKind | None:
    """Which retry budget a failure falls under, or ``None`` when it must not be retried.

    Works on botocore errors and on SDK errors already translated from them. ``transient`` covers 5xx answers
    and dropped or timed-out connections: the request may or may not have been applied, so creates retried
    after one must be idempotent (client request tokens) and check first.
    """
    if isinstance(exc, ModelNotReadyError):
        return "not_ready"
    if isinstance(exc, ThrottlingError):
        return "throttle"
    if isinstance(exc, ServiceUnavailableError):
        return "transient"
    if isinstance(exc, FinetuneError):
        return None
    if _response(exc) is not None:
        code, status = error_code(exc), status_code(exc)
        if code == "ModelErrorException":
            return None
        cls = error_class(code, status)
        if cls is ModelNotReadyError:
            return "not_ready"
        if cls is ThrottlingError:
            return "throttle"
        if cls is ServiceUnavailableError:
            return "transient"
        return None
    if is_connection_error(exc):
        return "transient"
    return None


def _profile_prefix(region: str | None) -> str:
    region = region or "us-east-1"
    if region.startswith("us-gov"):
        return "us-gov"
    for prefix, geo in (("us-", "us"), ("eu-", "eu"), ("ap-", "apac"), ("ca-", "ca")):
        if region.startswith(prefix):
            return geo
    return "us"


def hint_for_message(
    code: str | None, message: str, *, region: str | None = None, model_id: str | None = None
) -> str | None:
    """A next step for a well-known service error message (``None`` when there is nothing to add).

    Examples:
        >>> message = "The provided model doesn't support on-demand throughput."
        >>> hint_for_message("ValidationException", message)[:38]
        'deploy the model first: model.deploy()'
    """
    text = message.replace("\u2019", "'").replace("\u2018", "'")
    lowered = text.lower()
    if "on-demand throughput isn't supported" in lowered or "inference profile that contains this model" in lowered:
        found = re.search(r"model ID (\S+) with", text)
        model = found.group(1) if found else (model_id or "<model>")
        geo = _profile_prefix(region)
        return (
            f"this model is served through an inference profile: use the inference profile id {geo}.{model} "
            f"(Model.foundation({geo + '.' + model!r})) instead of the bare model id"
        )
    if "doesn't support on-demand throughput" in lowered or "does not support on-demand throughput" in lowered:
        return (
            'deploy the model first: model.deploy() (Provisioned Throughput, or kind="on_demand" where '
            "supported), then chat with the deployment"
        )
    if "model identifier is invalid" in lowered:
        return (
            "check the model id and the Region: list known ids with finetune_sdk.catalog.all_models(); "
            "inference profile ids (us./eu./apac.) exist only in their geography"
        )
    if code in ("AccessDeniedException", "AccessDenied"):
        if "access to the model" in lowered:
            return (
                f"enable model access in the Bedrock console for this Region ({region or 'your Region'}): "
                "Bedrock > Model access > Modify model access"
            )
        if "iam:passrole" in lowered:
            return (
                "the caller needs iam:PassRole on the job's role ARN (and the role must trust the service, "
                "e.g. bedrock.amazonaws.com)"
            )
        return None
    if code == "ServiceQuotaExceededException":
        return (
            "an account quota was hit: free capacity (stop jobs, delete deployments) or request an increase "
            "in Service Quotas"
        )
    if code == "TooManyTagsException":
        return "Bedrock accepts at most 200 tags per resource; pass fewer tags"
    if code == "ModelNotReadyException":
        return "the imported model is being restored after scaling to zero (up to ~5 minutes); retry shortly"
    if code == "ModelTimeoutException":
        return "the model took too long: lower max_tokens, shorten the prompt, or retry"
    return None


def translate_error(
    exc: BaseException,
    *,
    backend: str,
    action: str | None = None,
    resource: str = "",
    region: str | None = None,
    model_id: str | None = None,
    hint: str | None = None,
    operation: str | None = None,
) -> FinetuneError:
    """The SDK error for a botocore failure; raise it with ``raise ... from exc``.

    ``ClientError`` codes map through :data:`ERROR_CLASSES` to the ``BackendError`` subclasses (carrying
    ``backend``, ``code`` and ``request_id``); connection errors to ``ServiceUnavailableError``; missing
    credentials or Region and botocore's own parameter validation to ``ConfigurationError``; anything else to
    ``BackendError``.

    Args:
        exc: the botocore exception (or anything else).
        backend: the backend (or service) name for the error's ``backend`` attribute.
        action: the API operation, for the message (``"CreateTrainingJob"``); ``operation`` is an alias.
        resource: what the call was about, for the message (``"training job ft-123"``).
        region / model_id: help the hints (inference profile ids depend on the Region's geography).
        hint: a caller's own next step, used before the table's.
    """
    action = action or operation or ""
    service = _SERVICE_NAMES.get(backend, backend)
    where = " ".join(p for p in (service, action, f"({resource})" if resource else "") if p)
    response = _response(exc)
    if response is not None:
        code = error_code(exc) or ""
        message = service_message(exc).replace("\u2019", "'").replace("\u2018", "'") or str(exc)
        cls = error_class(code, status_code(exc), message)
        if code == "ModelErrorException":
            original = response.get("OriginalStatusCode") or response.get("originalStatusCode")
            if original:
                message += f" (model returned status {original})"
        found_hint = hint or hint_for_message(code, message, region=region, model_id=model_id) or _CLASS_HINTS.get(cls)
        text = f"{where} failed: {code or 'an error'}: {message}" + (f"\nhint: {found_hint}" if found_hint else "")
        return cls(text, backend=backend, code=code or None, request_id=request_id(exc))
    if is_connection_error(exc):
        return ServiceUnavailableError(
            f"{where} failed: the connection failed or timed out ({exc}); retried before giving up. "
            "Check the network, the endpoint URL and the Region.",
            backend=backend,
            code=type(exc).__name__,
        )
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return ConfigurationError(
            f"{where}: no usable AWS credentials were found ({exc}). Configure them (aws configure, environment "
            f"variables, SSO) or pass session=boto3.Session(profile_name=...) to backends.get({backend!r}, ...)"
        )
    if name == "NoRegionError":
        return ConfigurationError(
            f"{where}: no AWS Region is set. Pass region='us-east-1' (or another) to backends.get({backend!r}, "
            "...) or set AWS_DEFAULT_REGION"
        )
    if name == "ParamValidationError":
        report = str(getattr(exc, "kwargs", {}).get("report", exc))
        found = re.search(r"parameter ([\w.\[\]]+)", report)
        return RequestValidationError(
            f"{where}: botocore rejected the request: {report}", field=found.group(1) if found else "(request)"
        )
    return BackendError(f"{where} failed: {name}: {exc}", backend=backend)
