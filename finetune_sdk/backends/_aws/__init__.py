"""AWS plumbing shared by the AWS backends: sessions and clients, error translation, retries.

Nothing here imports boto3 or botocore at module import time; they load on the first client or the first
error, so importing a backend module stays cheap.

- :class:`AwsClients` makes (and caches) boto3 clients from one session, Region and optional endpoint URL
  (moto server, LocalStack). Botocore's own retries follow the usual ``AWS_MAX_ATTEMPTS`` /
  ``AWS_RETRY_MODE`` settings; the SDK adds its own retries on top (:func:`call_with_retries`) with a
  clock the tests can fake.
- :func:`translate_error` maps a botocore ``ClientError`` (or a dropped connection) to the most specific
  ``finetune_sdk.errors`` class, keeping the service's message, code and request id.

Examples:
    >>> from finetune_sdk.backends._aws import translate_error
    >>> class FakeClientError(Exception):
    ...     response = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
    ...                 "ResponseMetadata": {"RequestId": "r-1", "HTTPStatusCode": 400}}
    >>> err = translate_error(FakeClientError(), backend="sagemaker", action="DescribeTrainingJob")
    >>> type(err).__name__, err.code, err.request_id
    ('ThrottlingError', 'ThrottlingException', 'r-1')
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from finetune_sdk._version import __version__
from finetune_sdk.errors import (
    AccessDeniedError,
    BackendError,
    ModelNotReadyError,
    QuotaExceededError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceUnavailableError,
    ServiceValidationError,
    ThrottlingError,
)

__all__ = [
    "RETRYABLE",
    "AwsClients",
    "call_with_retries",
    "error_code",
    "is_connection_error",
    "translate_error",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: SDK errors worth another try after a backoff
RETRYABLE: tuple[type[BackendError], ...] = (ThrottlingError, ServiceUnavailableError, ModelNotReadyError)

_THROTTLING = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)
_ACCESS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "NotAuthorized",
        "SignatureDoesNotMatch",
    }
)
_NOT_FOUND = frozenset(
    {
        "ResourceNotFound",
        "ResourceNotFoundException",
        "NoSuchKey",
        "NoSuchBucket",
        "NotFound",
        "404",
        "NoSuchEntity",
        "NoSuchEntityException",
    }
)
_CONFLICT = frozenset({"ResourceInUse", "ResourceInUseException", "ConflictException", "Conflict"})
_QUOTA = frozenset(
    {
        "ResourceLimitExceeded",
        "ServiceQuotaExceededException",
        "LimitExceededException",
        "TooManyTagsException",
    }
)
_UNAVAILABLE = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "ModelTimeoutException",
    }
)
#: phrases in a ValidationException that really mean "no such resource" (SageMaker says it this way)
_NOT_FOUND_PHRASES = ("could not find", "does not exist", "not found", "cannot find")

_HINTS: dict[type[BackendError], str] = {
    AccessDeniedError: "check the caller's IAM permissions and that the service role trusts the service",
    QuotaExceededError: "ask for a quota increase in the Service Quotas console, or free capacity first",
    ThrottlingError: "the SDK already retried with backoff; slow down or retry later",
    ServiceUnavailableError: "the SDK already retried; try again in a few minutes",
}


def error_code(exc: BaseException) -> str | None:
    """The service error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a dropped connection or a timeout below HTTP (the request may have landed)."""
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError
    except ImportError:  # pragma: no cover - botocore is a core dependency
        return isinstance(exc, ConnectionError)
    return isinstance(exc, (BotoConnectionError, HTTPClientError, ConnectionError))


def translate_error(
    exc: BaseException, *, backend: str, action: str = "", resource: str = ""
) -> BackendError:
    """The ``finetune_sdk.errors`` exception for a service error; raise it with ``raise ... from exc``.

    Args:
        exc: a botocore ``ClientError``, a botocore connection error, or anything else (wrapped as
            ``BackendError``).
        backend: the backend name for the error's ``backend`` attribute.
        action: the API operation, for the message (``"CreateTrainingJob"``).
        resource: what the call was about, for the message (``"training job ft-123"``).
    """
    where = " ".join(p for p in (action, f"({resource})" if resource else "") if p)
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        if is_connection_error(exc):
            return ServiceUnavailableError(
                f"{backend}: {where or 'request'} failed before an answer came back: {exc}. The SDK "
                "retries these; check your network or endpoint_url if it persists",
                backend=backend,
            )
        return BackendError(f"{backend}: {where or 'request'} failed: {exc}", backend=backend)
    err = response.get("Error", {}) or {}
    code = str(err.get("Code") or "")
    message = str(err.get("Message") or exc)
    meta = response.get("ResponseMetadata", {}) or {}
    request_id = meta.get("RequestId") or (meta.get("HTTPHeaders") or {}).get("x-amzn-requestid")
    status = int(meta.get("HTTPStatusCode") or 0)
    cls: type[BackendError]
    if code in _THROTTLING:
        cls = ThrottlingError
    elif code in _ACCESS:
        cls = AccessDeniedError
    elif code in _NOT_FOUND:
        cls = ResourceNotFoundError
    elif code in _CONFLICT:
        cls = ResourceConflictError
    elif code in _QUOTA:
        cls = QuotaExceededError
    elif code == "ModelNotReadyException":
        cls = ModelNotReadyError
    elif code in _UNAVAILABLE or status >= 500:
        cls = ServiceUnavailableError
    elif code in ("ValidationException", "ValidationError", "InvalidParameterValue", "InvalidRequest"):
        lowered = message.lower()
        cls = (
            ResourceNotFoundError if any(p in lowered for p in _NOT_FOUND_PHRASES) else ServiceValidationError
        )
    else:
        cls = BackendError
    hint = _HINTS.get(cls)
    text = f"{backend}: {where + ' ' if where else ''}failed with {code or 'an error'}: {message}"
    if hint:
        text += f" ({hint})"
    return cls(text, backend=backend, code=code or None, request_id=request_id)


def call_with_retries(
    fn: Callable[[], T],
    *,
    backend: str,
    action: str,
    resource: str = "",
    sleep: Callable[[float], None],
    attempts: int = 5,
    retry_on: tuple[type[BaseException], ...] = RETRYABLE,
) -> T:
    """Call ``fn()``, translating service errors, and retry throttling / dropped connections with backoff.

    The backoff is exponential with jitter (1 s doubling up to 30 s) and sleeps through ``sleep``, so a
    fake clock makes retries instant in tests.

    Raises:
        BackendError: the translated error of the last attempt (the original is its ``__cause__``).
    """
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

    def attempt() -> T:
        try:
            return fn()
        except BackendError:
            raise
        except Exception as exc:
            if getattr(exc, "response", None) is None and not is_connection_error(exc):
                raise
            raise translate_error(exc, backend=backend, action=action, resource=resource) from exc

    retrying = Retrying(
        stop=stop_after_attempt(max(attempts, 1)),
        wait=wait_exponential_jitter(initial=1, max=30),
        retry=retry_if_exception_type(retry_on),
        sleep=sleep,
        reraise=True,
        before_sleep=lambda state: logger.debug(
            "%s %s: attempt %d failed (%s); retrying",
            backend,
            action,
            state.attempt_number,
            state.outcome.exception() if state.outcome else None,
        ),
    )
    return retrying(attempt)


class AwsClients:
    """Lazily created, cached boto3 clients that share one session, Region and endpoint URL.

    Args:
        session: a ``boto3.Session``; a new default one is made when ``None``.
        region: the Region; ``None`` uses the session's (``AWS_DEFAULT_REGION``, profile...).
        endpoint_url: send every call to this URL (moto server, LocalStack); ``None`` for AWS.
        user_agent: appended to botocore's user agent.

    Raises (on first use):
        ConfigurationError: no Region could be resolved.
    """

    def __init__(
        self,
        *,
        session: Any | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        user_agent: str = f"finetune-sdk/{__version__}",
    ) -> None:
        self._session = session
        self._region = region
        self.endpoint_url = endpoint_url
        self._user_agent = user_agent
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        """The ``boto3.Session`` (created on first use)."""
        if self._session is None:
            import boto3

            self._session = boto3.Session(region_name=self._region) if self._region else boto3.Session()
        return self._session

    @property
    def region(self) -> str:
        """The Region calls go to."""
        if self._region:
            return self._region
        region = self.session.region_name
        if not region:
            from finetune_sdk.errors import ConfigurationError

            raise ConfigurationError(
                "no AWS Region is configured: pass region='us-east-1' (or "
                "session=boto3.Session(region_name=...)), or set AWS_DEFAULT_REGION"
            )
        self._region = str(region)
        return self._region

    def client(self, service: str) -> Any:
        """The cached boto3 client for ``service`` (``"sagemaker"``, ``"s3"``, ``"logs"``...)."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                from botocore.config import Config

                config = Config(user_agent_extra=self._user_agent, retries={"mode": "standard"})
                client = self.session.client(
                    service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
                )
                self._clients[service] = client
            return client
