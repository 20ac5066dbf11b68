"""The specs and records the SDK exchanges with backends: values at the bottom of the layers.

A backend receives validated specs (:class:`JobSpec`, :class:`DeploymentSpec`) and returns records
(:class:`JobRecord`, :class:`ModelRecord`, :class:`DeploymentRecord`, :class:`ChatResponse`). These are frozen
pydantic values; they import nothing above the catalog and the errors, so ``data/`` (which reads invocation
logs with :class:`MetadataFilter`) and every backend use them without importing the backend protocol, which
lives in :mod:`finetune_sdk.backends.base` (and re-exports these names under their old import path).

Examples:
    >>> from finetune_sdk.specs import JobStatus, TERMINAL_STATUSES
    >>> JobStatus.COMPLETED in TERMINAL_STATUSES, JobStatus("running").is_terminal
    (True, False)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TERMINAL_STATUSES",
    "BackendOptions",
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
    "ModelArtifacts",
    "ModelRecord",
    "TeacherConfig",
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
    #: reinforcement fine-tuning with a reward function (issue 17; Bedrock REINFORCEMENT_FINE_TUNING)
    REINFORCEMENT = "reinforcement"

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
    #: the reward grader of a reinforcement job (a Lambda function ARN on Bedrock)
    grader_arn: str | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> JobSpec:
        if self.grader_arn is not None and self.kind is not JobKind.REINFORCEMENT:
            raise ValueError(f"grader_arn is only for reinforcement jobs, not {self.kind.value}")
        if self.kind is JobKind.REINFORCEMENT and not self.grader_arn:
            raise ValueError("a reinforcement job needs grader_arn (the reward grader, e.g. from deploy_lambda)")
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
        if payload.get("grader_arn") is None:
            payload.pop("grader_arn", None)  # tokens of non-reinforcement specs stay what they were
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


class ModelArtifacts(_Value):
    """Where a completed training job left its model: ``uri`` is a folder (``compression="NONE"``) or an archive."""

    job: JobRecord
    uri: str | None
    compression: str = "GZIP"


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
