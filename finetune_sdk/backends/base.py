"""The backend protocol: what a backend implements, and the value records it exchanges with the SDK.

A backend receives validated specs (:class:`JobSpec`, :class:`DeploymentSpec`) and returns records
(:class:`JobRecord`, :class:`ModelRecord`, :class:`DeploymentRecord`, :class:`ChatResponse`). It never sees
user dicts and never returns service dicts; it translates service errors into ``finetune_sdk.errors`` at
its boundary (``raise ... from exc``). Optional abilities are capability mixins with predicate names:

- :class:`CanInvoke`: run inference (``chat``) on a model or deployment id.
- :class:`CanDeploy`: create, describe, list and delete deployments.
- :class:`CanBatchInfer`: bulk generation as a batch job (used by the Distiller for large prompt sets).

The user-facing handles (``Job``, ``Model``, ``Deployment``) hold a backend and a record and never reach
past this protocol, so any backend that passes ``finetune_sdk.testing.conformance`` works with all of them.

Examples:
    >>> from finetune_sdk.backends.base import JobStatus, TERMINAL_STATUSES
    >>> JobStatus.COMPLETED in TERMINAL_STATUSES, JobStatus("running").is_terminal
    (True, False)
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finetune_sdk._clock import Clock, SystemClock
from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.errors import ConfigurationError, UnsupportedOperationError

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
    "ChatResponse",
    "CostEstimate",
    "DeploymentRecord",
    "DeploymentSpec",
    "DeploymentStatus",
    "InferenceConfig",
    "InvocationLogSource",
    "JobKind",
    "JobRecord",
    "JobSpec",
    "JobStatus",
    "MetadataFilter",
    "MetricPoint",
    "ModelRecord",
    "TeacherConfig",
    "capabilities_of",
]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobStatus(str, Enum):
    """One status enum across backends. The backend's own word is kept in ``JobRecord.raw_status``."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def is_terminal(self) -> bool:
        """Whether the job can no longer change state."""
        return self in TERMINAL_STATUSES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})


class JobKind(str, Enum):
    """What a job does."""

    FINE_TUNING = "fine_tuning"
    CONTINUED_PRE_TRAINING = "continued_pre_training"
    DISTILLATION = "distillation"
    IMPORT = "import"

    def __str__(self) -> str:
        return self.value


class DeploymentStatus(str, Enum):
    """One status enum for deployments (Bedrock PT / on-demand deployments, SageMaker endpoints, local)."""

    CREATING = "creating"
    ACTIVE = "active"
    UPDATING = "updating"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"

    def __str__(self) -> str:
        return self.value


class BackendOptions(_Value):
    """Base class of typed per-backend options (e.g. ``BedrockOptions``) passed as ``backend_options=``."""


class TeacherConfig(_Value):
    """The teacher of a distillation job: a model id or a system inference profile ARN."""

    model_id: str = Field(min_length=1)
    max_response_length: int = Field(default=1000, ge=1)


class MetadataFilter(_Value):
    """A filter on invocation-log request metadata, with Bedrock's rule: one operator, no combination.

    Set exactly one of ``equals`` / ``not_equals`` (one key each) or ``and_all`` / ``or_all`` (1-16 filters
    that are themselves ``equals`` or ``not_equals``).

    Examples:
        >>> MetadataFilter(equals={"project": "faq"}).to_request()
        {'equals': {'project': 'faq'}}
        >>> MetadataFilter.all_of(project="faq", stage="prod").to_request()["andAll"][1]
        {'equals': {'stage': 'prod'}}
    """

    equals: Mapping[str, str] | None = None
    not_equals: Mapping[str, str] | None = None
    and_all: tuple[MetadataFilter, ...] | None = None
    or_all: tuple[MetadataFilter, ...] | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> MetadataFilter:
        set_ops = [n for n in ("equals", "not_equals", "and_all", "or_all") if getattr(self, n) is not None]
        if len(set_ops) != 1:
            raise ValueError(
                f"a metadata filter takes exactly one operator, got {set_ops or 'none'}; "
                "use and_all=[...] or or_all=[...] to combine several keys"
            )
        for name in ("equals", "not_equals"):
            value = getattr(self, name)
            if value is not None and len(value) != 1:
                raise ValueError(f"{name} takes exactly one key (got {len(value)}); combine keys with and_all/or_all")
        for name in ("and_all", "or_all"):
            items = getattr(self, name)
            if items is not None:
                if not 1 <= len(items) <= 16:
                    raise ValueError(f"{name} takes 1 to 16 filters, got {len(items)}")
                if any(i.and_all is not None or i.or_all is not None for i in items):
                    raise ValueError(f"{name} items must be equals/not_equals filters; operators cannot be nested")
        return self

    @classmethod
    def all_of(cls, **pairs: str) -> MetadataFilter:
        """``andAll`` of one ``equals`` per key (a single key gives a plain ``equals``)."""
        if len(pairs) == 1:
            return cls(equals=pairs)
        return cls(and_all=tuple(cls(equals={k: v}) for k, v in pairs.items()))

    @classmethod
    def any_of(cls, **pairs: str) -> MetadataFilter:
        """``orAll`` of one ``equals`` per key."""
        return cls(or_all=tuple(cls(equals={k: v}) for k, v in pairs.items()))

    def to_request(self) -> dict[str, Any]:
        """The ``requestMetadataFilters`` member of a Bedrock request."""
        if self.equals is not None:
            return {"equals": dict(self.equals)}
        if self.not_equals is not None:
            return {"notEquals": dict(self.not_equals)}
        key, items = ("andAll", self.and_all) if self.and_all is not None else ("orAll", self.or_all)
        return {key: [i.to_request() for i in items or ()]}

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """Whether a log record's request metadata passes this filter (used for local log reading)."""
        if self.equals is not None:
            return all(metadata.get(k) == v for k, v in self.equals.items())
        if self.not_equals is not None:
            return all(metadata.get(k) != v for k, v in self.not_equals.items())
        if self.and_all is not None:
            return all(f.matches(metadata) for f in self.and_all)
        return any(f.matches(metadata) for f in self.or_all or ())


class InvocationLogSource(_Value):
    """Bedrock model invocation logs in S3 used as distillation training data."""

    s3_uri: str
    use_prompt_response: bool = False
    filter: MetadataFilter | None = None


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class JobSpec(_Value):
    """A validated request for one training job, independent of the backend.

    Built by ``Job.fine_tune`` / ``continue_pretraining`` / ``distill`` / ``import_model``; backends translate
    it into their own request. ``training_data`` / ``validation_data`` / ``model_source`` are URIs the
    backend can read (``s3://`` for the cloud, a path for ``local``).
    """

    kind: JobKind
    base_model: str = Field(min_length=1)
    name: str = Field(min_length=1)
    output_model_name: str = Field(min_length=1)
    training_data: str | None = None
    validation_data: str | None = None
    output_uri: str | None = None
    hyperparameters: Mapping[str, int | float | bool | str] = Field(default_factory=dict)
    teacher: TeacherConfig | None = None
    invocation_logs: InvocationLogSource | None = None
    model_source: str | None = None
    role_arn: str | None = None
    tags: Mapping[str, str] = Field(default_factory=dict)
    backend_options: BackendOptions | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> JobSpec:
        if self.kind is JobKind.IMPORT:
            if not self.model_source:
                raise ValueError("an import job needs model_source (the folder holding config.json and weights)")
        elif self.kind is JobKind.DISTILLATION:
            if self.teacher is None:
                raise ValueError("a distillation job needs teacher=TeacherConfig(model_id=...)")
            if not self.training_data and self.invocation_logs is None:
                raise ValueError("a distillation job needs training_data (prompts) or invocation_logs")
        elif not self.training_data:
            raise ValueError(f"a {self.kind.value} job needs training_data")
        return self

    def client_token(self) -> str:
        """An idempotency token derived from the spec: the same spec always gives the same token.

        A retried create after a timeout or a crash therefore cannot start a second, paid job.
        """
        payload = self.model_dump(mode="json", serialize_as_any=True)
        digest = hashlib.sha256(_canonical_json(payload).encode()).hexdigest()
        return f"ftsdk-{digest[:48]}"


class JobRecord(_Value):
    """What a backend knows about one job at one moment."""

    id: str
    name: str
    backend: str
    kind: JobKind
    status: JobStatus
    raw_status: str
    base_model: str
    output_model_id: str | None = None
    output_model_name: str | None = None
    output_uri: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ended_at: datetime | None = None
    failure_message: str | None = None
    stages: Mapping[str, str] = Field(default_factory=dict)
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    training_loss: float | None = None
    validation_loss: float | None = None
    raw: Mapping[str, Any] = Field(default_factory=dict, repr=False)


class MetricPoint(_Value):
    """One row of a job's loss curve; ``Job.metrics()`` turns a list of these into a DataFrame.

    Columns everywhere: ``step, epoch, training_loss, validation_loss, perplexity``.
    """

    step: int
    epoch: float | None = None
    training_loss: float | None = None
    validation_loss: float | None = None
    perplexity: float | None = None


class ModelRecord(_Value):
    """A model a backend holds: foundation, custom (fine-tuned / distilled), imported, or local."""

    id: str
    name: str
    backend: str
    kind: Literal["foundation", "custom", "imported", "local"]
    base_model: str | None = None
    status: str | None = None
    job_id: str | None = None
    uri: str | None = None
    created_at: datetime | None = None
    supports_chat: bool = True
    needs_deployment: bool = False
    raw: Mapping[str, Any] = Field(default_factory=dict, repr=False)


class DeploymentSpec(_Value):
    """A request to make a model invocable."""

    model_id: str
    name: str = Field(min_length=1)
    kind: Literal["provisioned", "on_demand", "endpoint", "local"] = "provisioned"
    model_units: int = Field(default=1, ge=1)
    commitment: Literal["OneMonth", "SixMonths"] | None = None
    instance_type: str | None = None
    instance_count: int = Field(default=1, ge=1)
    tags: Mapping[str, str] = Field(default_factory=dict)
    backend_options: BackendOptions | None = None

    def client_token(self) -> str:
        """Idempotency token derived from the spec."""
        digest = hashlib.sha256(
            _canonical_json(self.model_dump(mode="json", serialize_as_any=True)).encode()
        ).hexdigest()
        return f"ftsdk-{digest[:48]}"


class DeploymentRecord(_Value):
    """What a backend knows about one deployment. ``invoke_id`` is the id to pass to ``chat``."""

    id: str
    name: str
    backend: str
    model_id: str
    kind: Literal["provisioned", "on_demand", "endpoint", "local"]
    status: DeploymentStatus
    raw_status: str
    invoke_id: str
    hourly_cost: float | None = None
    failure_message: str | None = None
    created_at: datetime | None = None
    raw: Mapping[str, Any] = Field(default_factory=dict, repr=False)


class InferenceConfig(_Value):
    """Generation settings for one request."""

    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop: tuple[str, ...] = ()


class ChatResponse(_Value):
    """One model answer, the same shape on every backend.

    ``input_tokens`` / ``output_tokens`` are the service's counts when it reports them, else an estimate
    (``tokens_estimated`` is then ``True``). ``latency_s`` is measured around the call.
    """

    text: str
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    latency_s: float = 0.0
    model_id: str = ""
    raw: Mapping[str, Any] = Field(default_factory=dict, repr=False)


class CostEstimate(_Value):
    """A cost estimate in USD with what it assumed. ``price_date`` says when the prices were read."""

    total: float
    breakdown: Mapping[str, float] = Field(default_factory=dict)
    currency: str = "USD"
    price_date: str | None = None
    assumptions: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = ", ".join(f"{k} ${v:,.2f}" for k, v in self.breakdown.items())
        date = f" (prices as of {self.price_date})" if self.price_date else ""
        return f"${self.total:,.2f} {self.currency}{date}" + (f": {parts}" if parts else "")


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
    ) -> dict[str, ChatResponse]:
        """Run ``(record_id, system, turns)`` requests as one batch job; results keyed by record id."""


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
