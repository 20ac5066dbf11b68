"""``Job``: a handle on one training run (fine-tuning, continued pre-training, distillation, model import).

The same five calls on every backend::

    job = Job.fine_tune(model=..., train=dataset, backend="bedrock")   # or "sagemaker", "local", a Backend
    job.wait()                                                          # progress, backoff, clear failures
    job.metrics()                                                       # loss curve as a DataFrame
    model = job.model                                                   # the customised model
    model.chat("...")                                                   # (deploy first where the backend needs it)

Creates are idempotent: when no ``name`` is given, the job name is derived from the request's content, and
the backend's client token from the whole spec, so running the same cell twice attaches to the first job
instead of paying for a second one.

Examples:
    >>> from finetune_sdk import Dataset, Job
    >>> from finetune_sdk.testing import FakeBackend
    >>> backend = FakeBackend()
    >>> data = Dataset.from_records([{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)])
    >>> job = Job.fine_tune(model="amazon.titan-text-lite-v1:0:4k", train=data, backend=backend,
    ...                     hyperparameters={"epochCount": 2})
    >>> job.wait(progress=False).status
    <JobStatus.COMPLETED: 'completed'>
    >>> job.model.record.kind
    'custom'
"""

from __future__ import annotations

import builtins
import hashlib
import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_sdk import backends as _backends
from finetune_sdk._progress import progress_bar, progress_enabled
from finetune_sdk.backends.base import (
    Backend,
    BackendOptions,
    CanPreflightImport,
    CostEstimate,
    InvocationLogSource,
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    MetricPoint,
    TeacherConfig,
)
from finetune_sdk.catalog import resolve as _resolve_model
from finetune_sdk.errors import (
    ConfigurationError,
    CostLimitExceededError,
    FinetuneError,
    JobFailedError,
    JobStoppedError,
    JobTimeoutError,
    ModelNotReadyError,
    ServiceUnavailableError,
    ThrottlingError,
    UnsupportedOperationError,
)
from finetune_sdk.hyperparameters import Hyperparameters, validate_hyperparameters

if TYPE_CHECKING:
    import pandas as pd

    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.report import ConversionReport
    from finetune_sdk.models import Model
    from finetune_sdk.reward import RewardFunction

__all__ = ["Job"]

DataArg = "Dataset | str"
_TRANSIENT = (ThrottlingError, ServiceUnavailableError, ModelNotReadyError)
#: consecutive transient errors tolerated while polling before wait() gives up and re-raises
_MAX_POLL_ERRORS = 20


def _slug(text: str, limit: int) -> str:
    tail = text.rsplit("/", 1)[-1]
    tail = re.sub(r"^(anthropic|meta|amazon|cohere|us|eu|apac)\.", "", tail)
    slug = re.sub(r"[^a-z0-9]+", "-", tail.lower()).strip("-")
    return slug[:limit].strip("-") or "model"


def _default_names(kind: JobKind, base_model: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """A job name and model name derived from the request's content (so re-runs are idempotent)."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]
    prefix = {
        JobKind.FINE_TUNING: "ft",
        JobKind.CONTINUED_PRE_TRAINING: "cpt",
        JobKind.DISTILLATION: "distill",
        JobKind.IMPORT: "import",
        JobKind.REINFORCEMENT: "rft",
    }[kind]
    stem = f"{prefix}-{_slug(base_model, 36)}-{digest}"
    return stem, stem


def _training_tokens(dataset: Dataset, base_model: str) -> int:
    from finetune_sdk.data.records import record_text
    from finetune_sdk.data.tokens import counter_for

    counter = counter_for(base_model)
    return sum(counter.count(record_text(r)) for r in dataset)


def _fingerprint(dataset: Dataset) -> str:
    """sha256 of the dataset's canonical records: the same data always gives the same job name."""
    h = hashlib.sha256()
    for record in dataset:
        h.update(record.model_dump_json().encode())
        h.update(b"\n")
    return h.hexdigest()


class Job:
    """A handle on one training job on some backend.

    Handles hold a backend and the latest :class:`~finetune_sdk.backends.base.JobRecord`; ``refresh()`` and
    ``wait()`` update them in place and return the same ``Job`` so calls chain in notebooks.
    """

    def __init__(
        self, record: JobRecord, backend: Backend, *, spec: JobSpec | None = None, training_tokens: int | None = None
    ) -> None:
        self.record = record
        self.backend = backend
        self.spec = spec
        self._training_tokens = training_tokens
        #: What rendering the data in the model's wire format did, by role ("train", "validation"); empty when
        #: the data was sent as given (see finetune_sdk.data.prepare).
        self.conversions: dict[str, ConversionReport] = {}

    # --- construction ----------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        spec: JobSpec,
        *,
        backend: str | Backend | None = None,
        max_cost: float | None = None,
        training_tokens: int | None = None,
    ) -> Job:
        """Submit ``spec`` as is (the lowest-level constructor).

        Raises:
            UnsupportedOperationError: the backend cannot run this kind of job.
            CostLimitExceededError: the estimate is above ``max_cost``.
            ConfigurationError: the backend's local checks rejected the spec; nothing was sent.
        """
        be = _backends.resolve(backend)
        if spec.kind not in be.supported_kinds:
            can = [n for n, row in _backends.capability_matrix().items() if row.get(spec.kind.value)]
            hint = (
                " Use finetune_sdk.Distiller for teacher → student on any backend."
                if spec.kind is JobKind.DISTILLATION
                else ""
            )
            raise UnsupportedOperationError(
                f"the {be.name!r} backend cannot run {spec.kind.value} jobs; backends that can: "
                f"{', '.join(can) or 'none installed'}.{hint}"
            )
        be.check_spec(spec)
        if max_cost is not None:
            estimate = be.estimate_job_cost(spec, training_tokens=training_tokens)
            if estimate is None:
                why = (
                    "the training data was given as a URI, so its token count is unknown; pass a Dataset"
                    if training_tokens is None
                    else f"the {be.name!r} backend has no price for {spec.base_model}"
                )
                raise ConfigurationError(
                    f"max_cost={max_cost} was given but the cost cannot be estimated: {why}. "
                    "Nothing was submitted; drop max_cost to submit anyway."
                )
            if estimate.total > max_cost:
                raise CostLimitExceededError(
                    f"estimated cost {estimate} is above max_cost=${max_cost:,.2f}; nothing was submitted. "
                    "Reduce epochs or data, or raise max_cost.",
                    estimate=estimate.total,
                    max_cost=max_cost,
                )
        record = be.submit_job(spec)
        return cls(record, be, spec=spec, training_tokens=training_tokens)

    @classmethod
    def _training(
        cls,
        kind: JobKind,
        *,
        model: str,
        train: Dataset | str | None,
        validation: Dataset | str | None,
        hyperparameters: Mapping[str, Any] | Hyperparameters | None,
        backend: str | Backend | None,
        name: str | None,
        output_model_name: str | None,
        output_uri: str | None,
        role_arn: str | None,
        tags: Mapping[str, str] | None,
        max_cost: float | None,
        validate: bool,
        backend_options: BackendOptions | None,
        teacher: TeacherConfig | None = None,
        invocation_logs: InvocationLogSource | None = None,
        allow_lossy: bool = False,
    ) -> Job:
        from finetune_sdk.data.dataset import Dataset
        from finetune_sdk.data.prepare import Purpose, prepare_job_data

        be = _backends.resolve(backend)
        hp = validate_hyperparameters(hyperparameters, be.hyperparameter_schema(model, kind), model=model)
        info = _resolve_model(model)
        fmt = info.format if info else None
        if kind is JobKind.CONTINUED_PRE_TRAINING and info is not None:
            fmt = "text"
        if kind is JobKind.DISTILLATION and info is not None:
            fmt = "bedrock_conversation"

        # The data goes to the model as it is sent: rendered in the model's wire format when nothing is lost.
        purposes: dict[JobKind, Purpose] = {
            JobKind.CONTINUED_PRE_TRAINING: "continued_pretraining",
            JobKind.DISTILLATION: "distillation",
        }
        # A data file is read once (issue 12): format detection, validation, token count, fingerprint and
        # staging all use the bytes of that one read, and the records parsed from them once validation passed.
        if isinstance(train, Dataset):
            train = train._read_once()
        if isinstance(validation, Dataset):
            validation = validation._read_once()
        train, validation, conversions = prepare_job_data(
            train, validation, model, purpose=purposes.get(kind, "fine_tuning"), allow_lossy=allow_lossy
        )
        training_tokens: int | None = None
        if isinstance(train, Dataset):
            if validate and info is not None:
                val = validation if isinstance(validation, Dataset) else None
                train.validate(
                    for_model=model,
                    format=None,
                    validation=val,
                    purpose="distillation" if kind is JobKind.DISTILLATION else "fine_tuning",
                ).raise_for_errors()
            for data in (train, validation):
                if isinstance(data, Dataset) and data._bytes is not None:
                    _ = data.records  # parsed once from the bytes already read; iterating reuses them
            training_tokens = _training_tokens(train, model)
        payload = {
            "kind": kind.value,
            "model": model,
            "hp": hp,
            "teacher": teacher.model_dump() if teacher else None,
            "logs": invocation_logs.model_dump(mode="json") if invocation_logs else None,
            "train": _fingerprint(train) if isinstance(train, Dataset) else train,
            "validation": _fingerprint(validation) if isinstance(validation, Dataset) else validation,
            "output_uri": output_uri,
        }
        default_job, default_model = _default_names(kind, model, payload)
        job_name = name or default_job
        model_name = output_model_name or (re.sub(r"[^0-9A-Za-z]+", "-", name) if name else default_model)

        def stage(data: Dataset | str | None, role: str) -> str | None:
            if data is None or isinstance(data, str):
                return data
            return be.stage_data(data, name=f"{job_name}-{role}", format=fmt, output_uri=output_uri)

        spec = JobSpec(
            kind=kind,
            base_model=model,
            name=job_name,
            output_model_name=model_name,
            training_data=stage(train, "train"),
            validation_data=stage(validation, "validation"),
            output_uri=output_uri,
            hyperparameters=hp,
            teacher=teacher,
            invocation_logs=invocation_logs,
            role_arn=role_arn,
            tags=dict(tags or {}),
            backend_options=backend_options,
        )
        job = cls.create(spec, backend=be, max_cost=max_cost, training_tokens=training_tokens)
        job.conversions = conversions
        return job

    @classmethod
    def fine_tune(
        cls,
        *,
        model: str,
        train: Dataset | str,
        validation: Dataset | str | None = None,
        hyperparameters: Mapping[str, Any] | Hyperparameters | None = None,
        backend: str | Backend | None = None,
        name: str | None = None,
        output_model_name: str | None = None,
        output_uri: str | None = None,
        role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_cost: float | None = None,
        validate: bool = True,
        backend_options: BackendOptions | None = None,
        allow_lossy: bool = False,
    ) -> Job:
        """Start a fine-tuning job and return its handle at once.

        A ``Dataset`` is rendered in ``model``'s wire format when that loses nothing (a chat Dataset sent to
        Nova becomes ``bedrock_conversation``; the report is kept in ``job.conversions``), validated for
        ``model`` (every error, with line numbers, before anything is uploaded), then staged where the backend
        reads it. A lossy conversion is refused unless ``allow_lossy=True``. Hyperparameters are checked
        against the backend's schema.

        Raises:
            LossyConversionError: the model's format cannot hold the data (see ``err.conversion``).
            DatasetValidationError: the data breaks the model's format or limits (see ``err.report``).
            HyperparameterError: unknown name or out-of-range value.
            CostLimitExceededError: the estimate is above ``max_cost``; nothing was submitted.
            BackendError: the service refused the request.
        """
        return cls._training(
            JobKind.FINE_TUNING,
            model=model,
            train=train,
            validation=validation,
            hyperparameters=hyperparameters,
            backend=backend,
            name=name,
            output_model_name=output_model_name,
            output_uri=output_uri,
            role_arn=role_arn,
            tags=tags,
            max_cost=max_cost,
            validate=validate,
            backend_options=backend_options,
            allow_lossy=allow_lossy,
        )

    @classmethod
    def continue_pretraining(
        cls,
        *,
        model: str,
        train: Dataset | str,
        validation: Dataset | str | None = None,
        hyperparameters: Mapping[str, Any] | Hyperparameters | None = None,
        backend: str | Backend | None = None,
        name: str | None = None,
        output_model_name: str | None = None,
        output_uri: str | None = None,
        role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_cost: float | None = None,
        validate: bool = True,
        backend_options: BackendOptions | None = None,
        allow_lossy: bool = False,
    ) -> Job:
        """Start a continued pre-training job on unlabelled text (``{"input": ...}`` records).

        Raises the same errors as :meth:`fine_tune`.
        """
        return cls._training(
            JobKind.CONTINUED_PRE_TRAINING,
            model=model,
            train=train,
            validation=validation,
            hyperparameters=hyperparameters,
            backend=backend,
            name=name,
            output_model_name=output_model_name,
            output_uri=output_uri,
            role_arn=role_arn,
            tags=tags,
            max_cost=max_cost,
            validate=validate,
            backend_options=backend_options,
            allow_lossy=allow_lossy,
        )

    @classmethod
    def distill(
        cls,
        *,
        student: str,
        teacher: str,
        prompts: Dataset | str | None = None,
        invocation_logs: InvocationLogSource | None = None,
        max_response_length: int = 1000,
        hyperparameters: Mapping[str, Any] | Hyperparameters | None = None,
        backend: str | Backend | None = None,
        name: str | None = None,
        output_model_name: str | None = None,
        output_uri: str | None = None,
        role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_cost: float | None = None,
        validate: bool = True,
        backend_options: BackendOptions | None = None,
        allow_lossy: bool = False,
    ) -> Job:
        """Start a managed distillation job (Bedrock): the service invokes ``teacher`` and trains ``student``.

        Training data comes from ``prompts`` (a Dataset or S3 URI of bedrock-conversation records) or from
        ``invocation_logs`` (with an optional request-metadata filter). For teacher → student on any other
        backend, use :class:`finetune_sdk.Distiller`.

        Raises:
            ConfigurationError: neither or both of ``prompts`` and ``invocation_logs``-only rules broken, or the
                teacher/student pair is not one the backend supports.
        """
        if prompts is None and invocation_logs is None:
            raise ConfigurationError("distill() needs prompts= (a Dataset or S3 URI) or invocation_logs=")
        return cls._training(
            JobKind.DISTILLATION,
            model=student,
            train=prompts,
            validation=None,
            hyperparameters=hyperparameters,
            backend=backend,
            name=name,
            output_model_name=output_model_name,
            output_uri=output_uri,
            role_arn=role_arn,
            tags=tags,
            max_cost=max_cost,
            validate=validate,
            backend_options=backend_options,
            teacher=TeacherConfig(model_id=teacher, max_response_length=max_response_length),
            invocation_logs=invocation_logs,
            allow_lossy=allow_lossy,
        )

    @classmethod
    def reinforce(
        cls,
        *,
        model: str,
        train: Dataset | str | Iterable[Mapping[str, Any]],
        reward: RewardFunction | None = None,
        grader_arn: str | None = None,
        grader_role_arn: str | None = None,
        hyperparameters: Mapping[str, Any] | Any | None = None,
        backend: str | Backend | None = None,
        validation: Dataset | str | None = None,
        name: str | None = None,
        output_model_name: str | None = None,
        output_uri: str | None = None,
        role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_cost: float | None = None,
        validate: bool = True,
        backend_options: BackendOptions | None = None,
    ) -> Job:
        """Start a reinforcement fine-tuning job whose grader is ``reward`` (issue 17).

        On Bedrock (``amazon.nova-2-lite-v1:0:256k``, us-east-1): the prompts (RFT lines: OpenAI chat +
        ``reference_answer``) are validated with ``validate(purpose="reinforcement")`` and staged as they are,
        the reward is deployed as the grader Lambda (``reward.deploy_lambda``; idempotent) unless ``grader_arn``
        is given, and ``REINFORCEMENT_FINE_TUNING`` is submitted with ``rftConfig`` (typed
        ``RFTHyperParameters`` or a dict of its service names). For local GRPO use
        ``finetune_sdk.reward.train_grpo`` with the same reward.

        Raises:
            UnsupportedOperationError: the backend has no reinforcement fine-tuning (lists those that do).
            DatasetValidationError: the prompts break the RFT data rules.
            HyperparameterError: unknown RFT hyperparameter or value out of range.
            ConfigurationError: no reward/grader, no grader execution role, unsupported model or Region.
        """
        from finetune_sdk.reward._job import reinforce_spec

        spec, be = reinforce_spec(
            model=model,
            train=train,
            reward=reward,
            grader_arn=grader_arn,
            grader_role_arn=grader_role_arn,
            hyperparameters=hyperparameters,
            backend=backend,
            validation=validation,
            name=name,
            output_model_name=output_model_name,
            output_uri=output_uri,
            role_arn=role_arn,
            tags=tags,
            validate=validate,
            backend_options=backend_options,
        )
        return cls.create(spec, backend=be, max_cost=max_cost)

    @classmethod
    def import_model(
        cls,
        *,
        source: str,
        name: str | None = None,
        backend: str | Backend | None = None,
        role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        preflight: bool = True,
        backend_options: BackendOptions | None = None,
    ) -> Job:
        """Import Hugging Face weights (an S3 folder with config.json, safetensors and tokenizer files).

        With ``preflight`` the folder is checked first (required files, supported architecture, adapter-only
        output refused) so a doomed import is never submitted.

        Raises:
            ConfigurationError: the pre-flight check failed; the message lists every problem.
        """
        be = _backends.resolve(backend)
        if preflight and isinstance(be, CanPreflightImport):
            report = be.preflight_import(source)
            if not report.ok:
                raise ConfigurationError(f"the model folder {source} cannot be imported:\n{report}")
        payload = {"kind": "import", "source": source}
        default_job, default_model = _default_names(JobKind.IMPORT, source, payload)
        job_name = name or default_job
        spec = JobSpec(
            kind=JobKind.IMPORT,
            base_model=source,
            name=job_name,
            output_model_name=re.sub(r"[^0-9A-Za-z]+", "-", name) if name else default_model,
            model_source=source,
            role_arn=role_arn,
            tags=dict(tags or {}),
            backend_options=backend_options,
        )
        return cls.create(spec, backend=be)

    @classmethod
    def attach(cls, job_id: str, *, backend: str | Backend | None = None) -> Job:
        """A handle on an existing job (by id, ARN, name or local run id), e.g. after a crash.

        Raises:
            ResourceNotFoundError: no such job on that backend.
        """
        be = _backends.resolve(backend)
        return cls(be.describe_job(job_id), be)

    @classmethod
    def list(
        cls,
        *,
        backend: str | Backend | None = None,
        status: JobStatus | None = None,
        name_contains: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Job]:
        """Jobs on a backend, newest first, fetched lazily page by page."""
        be = _backends.resolve(backend)
        for i, record in enumerate(be.list_jobs(status=status, name_contains=name_contains)):
            if limit is not None and i >= limit:
                return
            yield cls(record, be)

    # --- state ---------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The job's id (an ARN on Bedrock, a run id on the local backend)."""
        return self.record.id

    @property
    def name(self) -> str:
        """The job's name."""
        return self.record.name

    @property
    def kind(self) -> JobKind:
        """What the job does."""
        return self.record.kind

    @property
    def status(self) -> JobStatus:
        """The status at the last refresh (call ``refresh()`` for a fresh one)."""
        return self.record.status

    def refresh(self) -> Job:
        """Fetch the latest record. Returns the same Job, updated in place."""
        self.record = self.backend.describe_job(self.id)
        return self

    def wait(
        self, *, timeout: float | None = None, poll_interval: float | None = None, progress: bool | None = None
    ) -> Job:
        """Poll until the job ends; return the same Job, updated in place.

        Polling starts fast and backs off to ``poll_interval`` (the backend's default when ``None``);
        throttling and dropped connections while polling are ridden out, never losing track of the job.

        Raises:
            JobFailedError: the job failed; ``failure_reason`` is the service's message, ``hint`` the next step.
            JobStoppedError: the job was stopped.
            JobTimeoutError: ``timeout`` seconds passed; the job goes on (call ``wait()`` again or ``stop()``).
        """
        clock = self.backend.clock
        interval_max = poll_interval if poll_interval is not None else self.backend.default_poll_interval
        interval = min(interval_max, max(interval_max / 8, 1.0)) if interval_max > 0 else 0.0
        from finetune_sdk._aws.retry import poll  # the one polling policy (tenacity), on the backend's clock

        errors = 0
        show = progress_enabled() if progress is None else progress
        bar = progress_bar(
            total=100,
            desc=f"{self.backend.name} {self.name}",
            unit="%",
            enabled=show,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
        )

        def check() -> Job | None:
            nonlocal errors
            try:
                self.refresh()
                errors = 0
            except _TRANSIENT:
                errors += 1
                if errors > _MAX_POLL_ERRORS:
                    raise
            self._update_bar(bar)
            return self if self.status.is_terminal else None

        def timed_out(waited: float) -> JobTimeoutError:
            return JobTimeoutError(
                f"job {self.name} is still {self.status.value} after {waited:.0f}s. It keeps running: "
                "call job.wait() again, or job.stop() to end it.",
                job_id=self.id,
                status=self.status.value,
                waited_s=waited,
            )

        try:
            poll(
                check,
                clock=clock,
                interval=interval,
                max_interval=interval_max,
                backoff=1.5,
                timeout=timeout,
                what=f"job {self.name}",
                on_timeout=timed_out,
            )
        finally:
            bar.close()
        return self._raise_for_status()

    def _update_bar(self, bar: Any) -> None:
        record = self.record
        if record.progress is not None:
            bar.n = round(record.progress * 100, 1)
        elif record.status is JobStatus.COMPLETED:
            bar.n = 100
        stages = " ".join(f"{k}={v}" for k, v in record.stages.items())
        bar.set_postfix_str(f"{record.raw_status} {stages}".strip(), refresh=False)
        bar.refresh()

    def _raise_for_status(self) -> Job:
        record = self.record
        if record.status is JobStatus.FAILED:
            hint = self.backend.failure_hint(record)
            message = f"job {record.name} failed: {record.failure_message or 'no reason given'}"
            if hint:
                message += f"\nhint: {hint}"
            raise JobFailedError(
                message, job_id=record.id, status=record.status.value, failure_reason=record.failure_message, hint=hint
            )
        if record.status is JobStatus.STOPPED:
            raise JobStoppedError(
                f"job {record.name} was stopped before it completed, so it has no model",
                job_id=record.id,
                status=record.status.value,
            )
        return self

    def stop(self) -> Job:
        """Ask the job to stop (a no-op if it already ended). Returns the same Job, refreshed."""
        if not self.status.is_terminal:
            self.backend.stop_job(self.id)
        return self.refresh()

    # --- results -------------------------------------------------------------------------------------
    def metric_points(self) -> builtins.list[MetricPoint]:
        """The loss curve so far as records (works without pandas)."""
        return self.backend.job_metrics(self.id)

    def metrics(self) -> pd.DataFrame:
        """The loss curve so far as a DataFrame with columns ``step, epoch, training_loss, validation_loss,
        perplexity`` (the same on every backend). Empty while the job has written nothing yet.

        Raises:
            ModuleNotFoundError: pandas is missing (``pip install 'finetune-sdk[pandas]'``).
        """
        try:
            import pandas as pd
        except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
            raise ModuleNotFoundError("Job.metrics() needs pandas: pip install 'finetune-sdk[pandas]'") from exc
        columns = ["step", "epoch", "training_loss", "validation_loss", "perplexity"]
        rows = [p.model_dump() for p in self.metric_points()]
        frame: pd.DataFrame = pd.DataFrame(rows, columns=columns)
        return frame

    def plot_metrics(self, path: str | Path | None = None) -> Any:
        """Plot training and validation loss against step; save a PNG when ``path`` is given.

        Returns the matplotlib ``Figure`` (it renders inline in notebooks).
        """
        from matplotlib.figure import Figure

        points = self.metric_points()
        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        train = [(p.step, p.training_loss) for p in points if p.training_loss is not None]
        val = [(p.step, p.validation_loss) for p in points if p.validation_loss is not None]
        if train:
            ax.plot(*zip(*train, strict=True), label="training loss")
        if val:
            ax.plot(*zip(*val, strict=True), marker="o", label="validation loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"{self.name} ({self.backend.name})")
        ax.grid(alpha=0.3)
        if train or val:
            ax.legend()
        if path is not None:
            fig.savefig(str(path), dpi=110, bbox_inches="tight")
        return fig

    @property
    def model(self) -> Model:
        """The model this job produced.

        Raises:
            JobFailedError / JobStoppedError: the job ended without a model.
            ConfigurationError: the job is still running; call ``wait()`` first.
        """
        from finetune_sdk.models import Model

        if not self.status.is_terminal:
            self.refresh()
        if self.status is not JobStatus.COMPLETED:
            if self.status.is_terminal:
                self._raise_for_status()
            raise ConfigurationError(f"job {self.name} is {self.status.value}; call job.wait() first")
        model_id = self.record.output_model_id or self.record.output_model_name
        if not model_id:
            raise FinetuneError(f"job {self.name} completed but the backend reported no output model")
        return Model(self.backend.describe_model(model_id), self.backend)

    def estimate_cost(self) -> CostEstimate | None:
        """The backend's cost estimate for this job's spec (``None`` if unknown or attached without a spec)."""
        if self.spec is None:
            return None
        return self.backend.estimate_job_cost(self.spec, training_tokens=self._training_tokens)

    # --- display -------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, backend={self.backend.name!r}, status=<JobStatus.{self.status.name}>)"

    def _repr_html_(self) -> str:
        r = self.record
        rows = [
            ("name", r.name),
            ("id", r.id),
            ("backend", r.backend),
            ("kind", r.kind.value),
            ("status", f"{r.status.value} ({r.raw_status})"),
            ("base model", r.base_model),
            ("output model", r.output_model_id or "—"),
            ("created", str(r.created_at or "—")),
        ]
        if r.failure_message:
            rows.append(("failure", r.failure_message))
        if r.stages:
            rows.append(("stages", ", ".join(f"{k}: {v}" for k, v in r.stages.items())))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
        )
        return f"<table><caption>finetune_sdk.Job</caption>{body}</table>"
