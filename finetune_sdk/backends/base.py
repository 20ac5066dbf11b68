"""The backend protocol: what a backend implements, and the capabilities it declares.

A backend receives validated specs (:class:`JobSpec`, :class:`DeploymentSpec`) and returns records
(:class:`JobRecord`, :class:`ModelRecord`, :class:`DeploymentRecord`, :class:`ChatResponse`); those values live
in :mod:`finetune_sdk.specs` and are re-exported here under their old import path. A backend never sees user
dicts and never returns service dicts; it translates service errors into ``finetune_sdk.errors`` at its boundary
(``raise ... from exc``). Optional abilities are declared capability mixins with predicate names, never probed
with ``getattr``:

- :class:`CanInvoke`: run inference (``chat``) on a model or deployment id.
- :class:`CanDeploy`: create, describe, list and delete deployments; ``default_deployment_kind`` says what
  ``Model.deploy()`` creates when no kind is given.
- :class:`CanBatchInfer`: bulk generation as a batch job (used by the Distiller for large prompt sets).
- :class:`CanPreflightImport`: check a model folder before a Custom Model Import is submitted.
- :class:`HasModelArtifacts`: a job's model files can be listed and moved (``finetune_sdk.export``).
- :class:`UsesAwsSession`: the backend talks to AWS through a ``boto3.Session`` in a Region (the Distiller
  reads invocation logs with the same session).

Every backend answers :meth:`Backend.failure_hint` (``None`` by default): the next step for a failed job.

The user-facing handles (``Job``, ``Model``, ``Deployment``) hold a backend and a record and never reach
past this protocol, so any backend that passes ``finetune_sdk.testing.conformance`` works with all of them.

Examples:
    >>> from finetune_sdk.backends.base import JobStatus, TERMINAL_STATUSES
    >>> JobStatus.COMPLETED in TERMINAL_STATUSES, JobStatus("running").is_terminal
    (True, False)
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from finetune_sdk._clock import Clock, SystemClock
from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.errors import ConfigurationError, UnsupportedOperationError
from finetune_sdk.specs import (
    TERMINAL_STATUSES,
    BackendOptions,
    ChatResponse,
    CostEstimate,
    DeploymentRecord,
    DeploymentSpec,
    DeploymentStatus,
    InferenceConfig,
    InvocationLogSource,
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    MetadataFilter,
    MetricPoint,
    ModelArtifacts,
    ModelRecord,
    TeacherConfig,
)

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.records import Turn

__all__ = [
    "TERMINAL_STATUSES",
    "Backend",
    "BackendOptions",
    "CanBatchInfer",
    "CanDeploy",
    "CanInvoke",
    "CanPreflightImport",
    "ChatResponse",
    "CostEstimate",
    "DeploymentRecord",
    "DeploymentSpec",
    "DeploymentStatus",
    "HasModelArtifacts",
    "InferenceConfig",
    "InvocationLogSource",
    "JobKind",
    "JobRecord",
    "JobSpec",
    "JobStatus",
    "MetadataFilter",
    "MetricPoint",
    "ModelArtifacts",
    "ModelRecord",
    "TeacherConfig",
    "UsesAwsSession",
    "capabilities_of",
]


class Backend(abc.ABC):
    """Base class of every backend.

    Subclasses set ``name`` and ``supported_kinds`` and implement the abstract methods. ``clock`` is used by
    ``Job.wait`` for polling and timeouts, so tests can inject a fake one.
    """

    name: ClassVar[str] = ""
    supported_kinds: ClassVar[frozenset[JobKind]] = frozenset()
    #: seconds between polls that ``Job.wait`` uses by default for this backend
    default_poll_interval: ClassVar[float] = 30.0

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()

    # --- jobs -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def submit_job(self, spec: JobSpec) -> JobRecord:
        """Start a job. Must be idempotent: submitting the same spec twice returns the first job."""

    @abc.abstractmethod
    def describe_job(self, job_id: str) -> JobRecord:
        """The job's current record. Raises ``ResourceNotFoundError`` for unknown ids."""

    @abc.abstractmethod
    def stop_job(self, job_id: str) -> None:
        """Ask the job to stop. Stopping a job that already ended is a no-op."""

    @abc.abstractmethod
    def list_jobs(self, *, status: JobStatus | None = None, name_contains: str | None = None) -> Iterator[JobRecord]:
        """Jobs newest first, following pagination lazily."""

    def job_metrics(self, job_id: str) -> list[MetricPoint]:
        """The loss curve so far (empty while nothing was written yet)."""
        return []

    def hyperparameter_schema(self, base_model: str, kind: JobKind) -> Sequence[HyperparameterSpec] | None:
        """The hyperparameters this backend accepts for ``base_model``; ``None`` means "not checked here"."""
        return None

    def stage_data(self, dataset: Dataset, *, name: str, format: str | None, output_uri: str | None) -> str:
        """Write ``dataset`` where jobs on this backend can read it and return the URI.

        ``format`` is the wire format the base model needs (from the catalog) or ``None`` for the backend's
        own choice; ``output_uri`` is the job's output location, a natural place for staged data.
        """
        raise UnsupportedOperationError(
            f"the {self.name!r} backend cannot take a Dataset directly; pass a URI of data it can read"
        )

    def estimate_job_cost(self, spec: JobSpec, *, training_tokens: int | None) -> CostEstimate | None:
        """A cost estimate for ``spec`` (``None`` when the backend has no prices for it)."""
        return None

    # --- models -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def describe_model(self, model_id: str) -> ModelRecord:
        """A model's record. Raises ``ResourceNotFoundError`` for unknown ids."""

    @abc.abstractmethod
    def list_models(self) -> Iterator[ModelRecord]:
        """Custom and imported models this backend holds."""

    @abc.abstractmethod
    def delete_model(self, model_id: str) -> None:
        """Delete a custom or imported model."""

    def foundation_model(self, model_id: str) -> ModelRecord:
        """A record for invoking a base model directly (no job involved)."""
        raise UnsupportedOperationError(f"the {self.name!r} backend does not serve foundation models")

    def failure_hint(self, record: JobRecord) -> str | None:
        """The next step for a failed job, from its failure message (``None``: nothing to add)."""
        return None

    def check_spec(self, spec: JobSpec) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Check everything the service would reject, before anything is sent. Raise ``ConfigurationError``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class CanInvoke(abc.ABC):
    """Capability: run inference on a model or deployment."""

    @abc.abstractmethod
    def chat(
        self,
        model_id: str,
        *,
        system: str | None,
        turns: Sequence[Turn],
        config: InferenceConfig,
    ) -> ChatResponse:
        """Send a conversation and return the answer. Raises ``ThrottlingError`` when throttled after retries."""


class CanDeploy(abc.ABC):
    """Capability: make models invocable (provisioned throughput, endpoints...)."""

    #: what ``Model.deploy()`` creates when the caller names no kind
    default_deployment_kind: ClassVar[Literal["provisioned", "on_demand", "endpoint", "local"]] = "local"

    @abc.abstractmethod
    def create_deployment(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Create (idempotently) a deployment."""

    @abc.abstractmethod
    def describe_deployment(self, deployment_id: str) -> DeploymentRecord:
        """A deployment's current record."""

    @abc.abstractmethod
    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment; deleting one that is gone is a no-op."""

    @abc.abstractmethod
    def list_deployments(self) -> Iterator[DeploymentRecord]:
        """Deployments this backend holds."""

    def estimate_deployment_cost(self, spec: DeploymentSpec, *, hours: float = 1.0) -> CostEstimate | None:
        """Cost of running ``spec`` for ``hours`` (``None`` when unknown)."""
        return None


class CanPreflightImport(abc.ABC):
    """The backend checks a model folder before a Custom Model Import job is submitted."""

    @abc.abstractmethod
    def preflight_import(self, source: str) -> Any:
        """A report on ``source`` with an ``ok`` flag; its ``str()`` lists every problem."""


class UsesAwsSession(abc.ABC):
    """The backend calls AWS through one ``boto3.Session`` in one Region."""

    @property
    @abc.abstractmethod
    def session(self) -> Any:
        """The ``boto3.Session`` its clients come from."""

    @property
    @abc.abstractmethod
    def region(self) -> str | None:
        """The Region its requests go to (``None`` when none is configured)."""

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint URL its ``service`` client uses (``None``: AWS's own)."""
        return None


class HasModelArtifacts(abc.ABC):
    """The backend's training jobs leave model files that can be moved elsewhere (SageMaker -> Bedrock import)."""

    @abc.abstractmethod
    def model_artifacts(self, job_id: str) -> ModelArtifacts:
        """Where the job's model is, with the job's record."""

    @abc.abstractmethod
    def list_artifact_files(self, uri: str) -> list[str]:
        """The file names directly inside the folder ``uri``."""


class CanBatchInfer(abc.ABC):
    """Capability: bulk generation as a batch job (cheaper than one request at a time)."""

    @abc.abstractmethod
    def batch_generate(
        self,
        model_id: str,
        requests: Sequence[tuple[str, str | None, Sequence[Turn]]],
        *,
        config: InferenceConfig,
        wait: bool = True,
        timeout: float | None = None,
        keep_on_failure: bool = False,
    ) -> dict[str, ChatResponse]:
        """Run ``(record_id, system, turns)`` requests as one batch job; results keyed by record id.

        An interrupt, a ``timeout`` or a failure while waiting stops the job (it bills nothing more) unless
        ``keep_on_failure=True``; either way the raised exception carries the job's ARN as ``batch_job``.
        """


def capabilities_of(backend: Backend | type[Backend]) -> dict[str, bool]:
    """A row of the capability matrix: which job kinds and capabilities a backend has.

    Examples:
        >>> from finetune_sdk.testing import FakeBackend
        >>> capabilities_of(FakeBackend)["fine_tuning"]
        True
    """
    cls = backend if isinstance(backend, type) else type(backend)
    row = {kind.value: kind in cls.supported_kinds for kind in JobKind}
    row["invoke"] = issubclass(cls, CanInvoke)
    row["deploy"] = issubclass(cls, CanDeploy)
    row["batch_inference"] = issubclass(cls, CanBatchInfer)
    return row


def require(backend: Backend, capability: type[Any], what: str) -> Any:
    """``backend`` as ``capability`` or a clear ``UnsupportedOperationError`` naming backends that can."""
    if isinstance(backend, capability):
        return backend
    raise UnsupportedOperationError(
        f"the {backend.name!r} backend cannot {what}; it lacks {capability.__name__}. "
        "See the capability matrix in the docs (finetune_sdk.backends.capability_matrix())."
    )


def ensure(condition: bool, message: str) -> None:
    """Raise ``ConfigurationError(message)`` unless ``condition``."""
    if not condition:
        raise ConfigurationError(message)
