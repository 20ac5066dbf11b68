"""The exception tree of finetune_sdk.

Every error the SDK raises on purpose derives from :class:`FinetuneError`, and most also derive from the
builtin that matches their meaning, so ``except ValueError`` keeps working in code that does not know us::

    FinetuneError
    ├── ConfigurationError(ValueError)          a setting, spec or argument is wrong; nothing was sent
    │   ├── HyperparameterError                 unknown name or value out of the catalog's range
    │   ├── RequestValidationError              a request would break a service constraint botocore skips
    │   ├── CostLimitExceededError              estimate_cost() is above the max_cost guard
    │   └── S3UriError(DataError)               an s3:// URI is malformed (also a DataError)
    ├── DataError(ValueError)                   a dataset cannot be read or used as asked
    │   ├── DatasetValidationError              validation found errors (carries the ValidationReport)
    │   └── FormatDetectionError                the wire format is unknown or mixed
    ├── CatalogError(LookupError)               the model id is not in the catalog
    ├── BackendNotFoundError(LookupError)       no backend registered under that name
    ├── BackendNotInstalledError(ImportError)   the backend's optional extra is missing
    ├── UnsupportedOperationError(NotImplementedError)  the backend lacks that capability
    ├── BackendError                            the service answered with an error
    │   ├── AccessDeniedError(PermissionError)
    │   ├── ResourceNotFoundError(LookupError)
    │   ├── ResourceConflictError
    │   ├── ThrottlingError                     retried automatically before it reaches you
    │   ├── QuotaExceededError
    │   ├── ServiceValidationError(ValueError)
    │   ├── ModelNotReadyError                  an imported model is scaled to zero; retried
    │   └── ServiceUnavailableError(ConnectionError)  5xx, dropped connections; retried
    └── JobError
        ├── JobFailedError                      the job ended Failed (carries the service's message)
        ├── JobStoppedError                     the job was stopped before it completed
        └── JobTimeoutError(TimeoutError)       wait() ran out of time; the job goes on

Messages name the field, the limit and the next step.

Examples:
    >>> from finetune_sdk.errors import FinetuneError, HyperparameterError
    >>> issubclass(HyperparameterError, ValueError) and issubclass(HyperparameterError, FinetuneError)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetune_sdk.data.report import ValidationReport

__all__ = [
    "AccessDeniedError",
    "BackendError",
    "BackendNotFoundError",
    "BackendNotInstalledError",
    "CatalogError",
    "ConfigurationError",
    "CostLimitExceededError",
    "DataError",
    "DatasetValidationError",
    "FinetuneError",
    "FormatDetectionError",
    "HyperparameterError",
    "JobError",
    "JobFailedError",
    "JobStoppedError",
    "JobTimeoutError",
    "ModelNotReadyError",
    "QuotaExceededError",
    "RequestValidationError",
    "ResourceConflictError",
    "ResourceNotFoundError",
    "S3UriError",
    "ServiceUnavailableError",
    "ServiceValidationError",
    "ThrottlingError",
    "UnsupportedOperationError",
]


class FinetuneError(Exception):
    """Root of every error finetune_sdk raises on purpose."""


class ConfigurationError(FinetuneError, ValueError):
    """A setting, spec or argument is wrong. Nothing was sent to any service."""


class HyperparameterError(ConfigurationError):
    """A hyperparameter name is unknown for the model family, or its value is outside the allowed range."""


class RequestValidationError(ConfigurationError):
    """A request would break a service constraint (pattern, maximum, enum) that botocore does not check.

    Attributes:
        field: the request member at fault, as a dotted path (``"jobName"``, ``"jobTags[3].key"``).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class CostLimitExceededError(ConfigurationError):
    """The estimated cost is above the ``max_cost`` guard, so the request was not sent."""

    def __init__(self, message: str, *, estimate: float, max_cost: float) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.max_cost = max_cost


class DataError(FinetuneError, ValueError):
    """A dataset cannot be read, converted or used as asked."""


class S3UriError(ConfigurationError, DataError):
    """An ``s3://`` URI is malformed (bucket-name rules, ``..``, wildcards, control characters). Nothing was sent.

    Both a ``ConfigurationError`` (an argument is wrong) and a ``DataError`` (a data source cannot be read), so
    code that caught either before still catches it.
    """


class DatasetValidationError(DataError):
    """Validation found errors; ``report`` holds every issue with its line, path, rule and hint."""

    def __init__(self, message: str, *, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class FormatDetectionError(DataError):
    """The wire format of a file or record is unknown, or a file mixes formats."""


class CatalogError(FinetuneError, LookupError):
    """The model id is not in the base-model catalog."""


class BackendNotFoundError(FinetuneError, LookupError):
    """No backend is registered under that name."""


class BackendNotInstalledError(FinetuneError, ImportError):
    """The backend is known but its optional dependencies are not installed."""


class UnsupportedOperationError(FinetuneError, NotImplementedError):
    """The backend does not have the capability the call needs."""


class BackendError(FinetuneError):
    """A service answered with an error.

    Attributes:
        backend: the backend name (``"bedrock"``, ``"sagemaker"``, ``"local"``...).
        code: the service's error code when there is one (``"ValidationException"``).
        request_id: the service request id, to quote to support.
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.code = code
        self.request_id = request_id


class AccessDeniedError(BackendError, PermissionError):
    """The caller or the service role lacks a permission."""


class ResourceNotFoundError(BackendError, LookupError):
    """The job, model or deployment does not exist (or not in this Region/account)."""


class ResourceConflictError(BackendError):
    """The resource is in a state that does not allow the call, or the name is taken."""


class ThrottlingError(BackendError):
    """The service throttled the request. The SDK retries these with backoff before raising."""


class QuotaExceededError(BackendError):
    """An account quota was hit. Ask for an increase in Service Quotas, or free capacity first."""


class ServiceValidationError(BackendError, ValueError):
    """The service rejected the request as invalid."""


class ModelNotReadyError(BackendError):
    """An imported model is scaled to zero and is being restored; the SDK retries these."""


class ServiceUnavailableError(BackendError, ConnectionError):
    """A 5xx answer or a dropped connection. The SDK retries these before raising."""


class JobError(FinetuneError):
    """A training job did not end as the caller needed.

    Attributes:
        job_id: the job's id or ARN.
        status: the job's status when the error was raised (a ``JobStatus`` value as a string).
    """

    def __init__(self, message: str, *, job_id: str, status: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status


class JobFailedError(JobError):
    """The job ended ``Failed``. ``failure_reason`` is the service's own message; ``hint`` says what to do."""

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        status: str,
        failure_reason: str | None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, job_id=job_id, status=status)
        self.failure_reason = failure_reason
        self.hint = hint


class JobStoppedError(JobError):
    """The job was stopped before it completed, so it has no model."""


class JobTimeoutError(JobError, TimeoutError):
    """``wait()`` ran out of time. The job itself goes on; call ``wait()`` again or ``stop()`` it."""

    def __init__(self, message: str, *, job_id: str, status: str, waited_s: float) -> None:
        super().__init__(message, job_id=job_id, status=status)
        self.waited_s = waited_s


def _describe(obj: Any) -> str:  # pragma: no cover - tiny helper used in messages
    return type(obj).__name__
