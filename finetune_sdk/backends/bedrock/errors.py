"""Translation of botocore errors into ``finetune_sdk.errors``, with hints drawn from well-known messages.

:func:`translate_error` maps a ``ClientError`` code (or a botocore connection error) to the most specific SDK
class, keeps the service's code and request id, and appends a hint when the message is one users meet often
(an inference profile is required, the model needs a deployment, model access is not enabled...).
:func:`hint_for_failure` does the same for the ``failureMessage`` of a failed job, which the service reports
hours after submission.

Examples:
    >>> hint_for_failure("Maximum input token count 4919 exceeds limit of 4096 for train data")[:40]
    'a training record has 4919 tokens, over '
    >>> hint_for_failure("something new") is None
    True
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
    "RetryKind",
    "classify_retry",
    "error_code",
    "hint_for_failure",
    "hint_for_message",
    "service_message",
    "translate_error",
]

BACKEND = "bedrock"

RetryKind = Literal["throttle", "transient", "not_ready"]

_THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "Throttling",
        "ThrottledException",
        "SlowDown",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "InternalServerException",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_CLASS_BY_CODE: dict[str, type[BackendError]] = {
    "AccessDeniedException": AccessDeniedError,
    "AccessDenied": AccessDeniedError,
    "UnauthorizedOperation": AccessDeniedError,
    "UnrecognizedClientException": AccessDeniedError,
    "InvalidSignatureException": AccessDeniedError,
    "ExpiredTokenException": AccessDeniedError,
    "ResourceNotFoundException": ResourceNotFoundError,
    "NoSuchKey": ResourceNotFoundError,
    "NoSuchBucket": ResourceNotFoundError,
    "NoSuchEntity": ResourceNotFoundError,
    "404": ResourceNotFoundError,
    "NotFound": ResourceNotFoundError,
    "ValidationException": ServiceValidationError,
    "TooManyTagsException": ServiceValidationError,
    "ConflictException": ResourceConflictError,
    "ResourceInUseException": ResourceConflictError,
    "EntityAlreadyExists": ResourceConflictError,
    "ServiceQuotaExceededException": QuotaExceededError,
    "LimitExceeded": QuotaExceededError,
    "ModelNotReadyException": ModelNotReadyError,
    "ModelTimeoutException": ServiceUnavailableError,
    "ModelErrorException": BackendError,
    "ModelStreamErrorException": BackendError,
}


def _normalise(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")


def error_code(exc: BaseException) -> str | None:
    """The service error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code is not None else None
    return None


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return int(status) if isinstance(status, int) else None
    return None


def service_message(exc: BaseException) -> str:
    """The service's own message for a botocore ``ClientError`` or an SDK error translated from one."""
    cause = exc if getattr(exc, "response", None) is not None else exc.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Message") or "")
    return str(exc)


def classify_retry(exc: BaseException) -> RetryKind | None:
    """Which retry budget a botocore exception falls under, or ``None`` when it must not be retried.

    ``transient`` covers 5xx answers and dropped or timed-out connections: the request may or may not have
    been applied, so creates retried after one must be idempotent (client request tokens) and check first.
    """
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        code = error_code(exc) or ""
        if code == "ModelNotReadyException":
            return "not_ready"
        if code in _THROTTLE_CODES or _status(exc) == 429:
            return "throttle"
        status = _status(exc)
        if code in _TRANSIENT_CODES or (
            status is not None and status >= 500 and code != "ModelErrorException"
        ):
            return "transient"
        return None
    if isinstance(exc, (HTTPClientError, BotoConnectionError)):  # dropped, refused or timed-out connections
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
    text = _normalise(message)
    lowered = text.lower()
    if (
        "on-demand throughput isn't supported" in lowered
        or "inference profile that contains this model" in lowered
    ):
        found = re.search(r"model ID (\S+) with", text)
        model = found.group(1) if found else (model_id or "<model>")
        geo = _profile_prefix(region)
        return (
            f"this model is served through an inference profile: use the inference profile id {geo}.{model} "
            f"(Model.foundation({geo + '.' + model!r})) instead of the bare model id"
        )
    if (
        "doesn't support on-demand throughput" in lowered
        or "does not support on-demand throughput" in lowered
    ):
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
                "the caller needs iam:PassRole on the job's role ARN (and the role must trust "
                "bedrock.amazonaws.com)"
            )
        return "check the caller's IAM permissions for this Bedrock action and Region"
    if code in _THROTTLE_CODES:
        return "send fewer requests at once or ask for a higher quota in Service Quotas"
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
    operation: str | None = None,
    region: str | None = None,
    model_id: str | None = None,
) -> FinetuneError:
    """The SDK error for a botocore exception (raise it ``from exc``).

    ``ClientError`` codes map to the ``BackendError`` subclasses (carrying ``backend``, ``code`` and
    ``request_id``); connection errors to ``ServiceUnavailableError``; missing credentials or Region and
    botocore's own parameter validation to ``ConfigurationError``.
    """
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    where = f"Bedrock {operation}" if operation else "Bedrock"
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Unknown"
        message = _normalise(service_message(exc))
        response: Mapping[str, Any] = exc.response or {}
        metadata: Mapping[str, Any] = response.get("ResponseMetadata") or {}
        request_id = metadata.get("RequestId") or None
        cls = _CLASS_BY_CODE.get(code)
        if cls is None:
            kind = classify_retry(exc)
            cls = {"throttle": ThrottlingError, "transient": ServiceUnavailableError}.get(
                kind or "", BackendError
            )
        if code == "ModelErrorException":
            original = response.get("OriginalStatusCode") or response.get("originalStatusCode")
            if original:
                message += f" (model returned status {original})"
        hint = hint_for_message(code, message, region=region, model_id=model_id)
        text = f"{where} failed: {code}: {message}" + (f"\nhint: {hint}" if hint else "")
        return cls(text, backend=BACKEND, code=code, request_id=request_id)
    if isinstance(exc, (HTTPClientError, BotoConnectionError)):
        return ServiceUnavailableError(
            f"{where} failed: the connection failed or timed out ({exc}); retried before giving up. "
            "Check the network, the endpoint URL and the Region.",
            backend=BACKEND,
            code=type(exc).__name__,
        )
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigurationError(
            f"{where}: no AWS credentials were found ({exc}). Configure them (aws configure, environment "
            "variables, SSO) or pass session=boto3.Session(profile_name=...) to backends.get('bedrock', ...)"
        )
    if isinstance(exc, NoRegionError):
        return ConfigurationError(
            f"{where}: no AWS Region is set. Pass region='us-east-1' (or another) to backends.get('bedrock', "
            f"...) "
            "or set AWS_DEFAULT_REGION"
        )
    if isinstance(exc, ParamValidationError):
        report = str(getattr(exc, "kwargs", {}).get("report", exc))
        found = re.search(r"parameter ([\w.\[\]]+)", report)
        return RequestValidationError(
            f"{where}: botocore rejected the request: {report}",
            field=found.group(1) if found else "(request)",
        )
    return BackendError(f"{where} failed: {type(exc).__name__}: {exc}", backend=BACKEND)


#: (pattern on a job's failureMessage, hint); the first match wins
_FAILURE_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"maximum input token count (\d+) exceeds limit of (\d+)", re.I),
        "a training record has {0} tokens, over the model's limit of {1}. Run "
        "Dataset.validate(for_model=...) (it checks tokens per record), then shorten or drop long records "
        "(Dataset.clean(...)) and resubmit",
    ),
    (
        re.compile(r"must follow '?\{\s*\"(prompt|input|schemaVersion|system|messages)\"", re.I),
        'the training data is not in the format this model expects ({{"{0}": ...}} records). Convert it with '
        "Dataset.convert(...) to the catalog's format for the model (catalog.get(model).format) and resubmit",
    ),
    (
        re.compile(
            r"(number of (training |validation )?(records|samples|lines)|minimum of \d+ (records|samples))",
            re.I,
        ),
        "the dataset has too few or too many records for this model: check the counts with "
        "Dataset.validate(for_model=...) (the catalog holds each model's limits)",
    ),
    (
        re.compile(r"(assume|sts:assumerole|trust relationship)", re.I),
        "Bedrock could not assume the service role: its trust policy must allow bedrock.amazonaws.com "
        "(finetune_sdk.backends.bedrock.iam.trust_policy(...)) and the caller needs iam:PassRole",
    ),
    (
        re.compile(r"(kms|decrypt)", re.I),
        "the service role cannot use the KMS key: grant kms:Decrypt / kms:GenerateDataKey "
        "(iam.data_access_policy(kms_key_arns=...))",
    ),
    (
        re.compile(
            r"(access denied|accessdenied|not authorized|does not have (the )?permission|forbidden)", re.I
        ),
        "the service role cannot read the data or write the output in S3: check the role policy "
        "(finetune_sdk.backends.bedrock.iam.data_access_policy(...)) and any bucket policy",
    ),
    (
        re.compile(r"(no such (key|bucket)|does not exist|not found|could not find)", re.I),
        "an S3 object or bucket the job needs is missing: check the training, validation and output URIs "
        "(and that they are in the job's Region)",
    ),
    (
        re.compile(r"(internal (server )?error|internal failure|unexpected error)", re.I),
        "a service-side failure: resubmit (with a new job name); if it repeats, quote the job ARN to AWS "
        "Support",
    ),
)


def hint_for_failure(message: str | None) -> str | None:
    """What to do about a failed job, from the service's ``failureMessage`` (``None`` when unknown).

    Examples:
        >>> message = "Input data at t.jsonl must follow '{\\"prompt\\": \\"<in>\\"}' format"
        >>> print(hint_for_failure(message)[:83])
        the training data is not in the format this model expects ({"prompt": ...} records)
    """
    if not message:
        return None
    for pattern, template in _FAILURE_HINTS:
        found = pattern.search(message)
        if found:
            groups: list[Any] = [g for g in found.groups() if g is not None] or [""]
            return template.format(*groups)
    return None
