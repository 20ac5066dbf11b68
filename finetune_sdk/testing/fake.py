"""``FakeBackend``: an in-memory backend with an injectable clock, for tests, doctests and offline notebooks.

It is the reference implementation of the backend protocol (it passes ``BackendConformance`` like any other
backend) and plays the role fsspec's memory filesystem plays there. It is not registered as an entry point:
pass it explicitly (``Job.fine_tune(..., backend=FakeBackend())``) or register it yourself with
``finetune_sdk.backends.register_backend("fake", FakeBackend)``.

Everything is driven by its clock (a :class:`~finetune_sdk.testing.FakeClock` unless you pass another), so
``job.wait()`` returns at once while still walking a job through its states:

``pending`` (``pending_s``) → ``running`` (``job_duration_s``, metric points appear step by step) →
``completed`` (a custom model appears) — or ``failed`` when scripted with :meth:`FakeBackend.fail_next_job` /
:meth:`FakeBackend.fail_job`, or ``stopping`` → ``stopped`` (``stop_duration_s``) after ``stop_job``.

Examples:
    >>> from finetune_sdk.backends.base import JobKind, JobSpec
    >>> from finetune_sdk.testing import FakeBackend
    >>> fake = FakeBackend(job_duration_s=10)
    >>> spec = JobSpec(kind=JobKind.FINE_TUNING, base_model="amazon.nova-micro-v1:0:128k", name="demo",
    ...                output_model_name="demo-model", training_data="memory://fake/data/train.jsonl")
    >>> job = fake.submit_job(spec)
    >>> job.status.value, fake.submit_job(spec).id == job.id      # submitting again is idempotent
    ('pending', True)
    >>> fake.clock.advance(60)
    >>> record = fake.describe_job(job.id)
    >>> record.status.value, fake.describe_model(record.output_model_id).kind
    ('completed', 'custom')
    >>> fake.calls["submit_job"]
    2
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

from finetune_sdk import catalog
from finetune_sdk._clock import Clock
from finetune_sdk.backends.base import (
    Backend,
    CanDeploy,
    CanInvoke,
    ChatResponse,
    CostEstimate,
    DeploymentRecord,
    DeploymentSpec,
    DeploymentStatus,
    InferenceConfig,
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    MetricPoint,
    ModelRecord,
)
from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.data.tokens import counter_for
from finetune_sdk.errors import (
    ConfigurationError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
    UnsupportedOperationError,
)
from finetune_sdk.testing.clock import FakeClock

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.records import Record, Turn

from finetune_sdk.testing._fake_state import (
    _CUSTOMIZATION,
    _RAW_STATUS,
    _STAGES,
    ChatCall,
    _FakeDeployment,
    _FakeJob,
    _FakeModel,
    _Fault,
    _State,
    echo_responder,
)

__all__ = ["FakeBackend", "Responder", "echo_responder"]

#: ``responder(model_id, system, turns) -> answer text``: scripts what ``FakeBackend.chat`` answers
Responder = Callable[[str, "str | None", "Sequence[Turn]"], str]

class FakeBackend(Backend, CanInvoke, CanDeploy):
    """An in-memory backend whose jobs, models and deployments move with its clock.

    Args:
        clock: the clock that drives every transition (a new :class:`FakeClock` by default, so ``wait()``
            returns at once; pass ``SystemClock()`` to watch it move in real time).
        pending_s: seconds a job stays ``pending``.
        job_duration_s: seconds a job stays ``running``.
        stop_duration_s: seconds between ``stop_job`` and ``stopped``.
        deployment_duration_s: seconds a deployment stays ``creating``.
        steps_per_epoch: training steps per epoch in the fake loss curve (epochs come from the
            ``epochCount`` / ``epochs`` hyperparameter, default 2).
        responder: ``responder(model_id, system, turns) -> str`` scripts ``chat`` answers
            (default :func:`echo_responder`).
        models_need_deployment: when true, custom and imported models answer ``chat`` only through a
            deployment (like Bedrock's fine-tuned Claude); direct calls raise ``ServiceValidationError``.
        chat_latency_s: clock seconds each ``chat`` call takes (reported as ``latency_s``).

    Attributes:
        calls: how many times each protocol method was called (``calls["describe_job"]``).
        chat_log: every ``chat`` request, in order.
        staged: the records :meth:`stage_data` kept, by the ``memory://`` URI it returned.
        staged_formats: the ``format`` each staged URI was asked for.

    Examples:
        >>> from finetune_sdk.data.records import Turn
        >>> from finetune_sdk.backends.base import InferenceConfig
        >>> fake = FakeBackend(responder=lambda model, system, turns: "42")
        >>> base = fake.foundation_model("amazon.nova-micro-v1:0")
        >>> turns = [Turn.of("user", "6*7?")]
        >>> answer = fake.chat(base.id, system=None, turns=turns, config=InferenceConfig())
        >>> answer.text, answer.output_tokens, answer.tokens_estimated
        ('42', 1, True)
    """

    name: ClassVar[str] = "fake"
    supported_kinds: ClassVar[frozenset[JobKind]] = frozenset(JobKind)
    default_poll_interval: ClassVar[float] = 0.1

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        pending_s: float = 0.5,
        job_duration_s: float = 2.0,
        stop_duration_s: float = 0.5,
        deployment_duration_s: float = 1.0,
        steps_per_epoch: int = 5,
        responder: Responder | None = None,
        models_need_deployment: bool = False,
        chat_latency_s: float = 0.0,
    ) -> None:
        super().__init__(clock=clock or FakeClock())
        for label, value in (
            ("pending_s", pending_s),
            ("job_duration_s", job_duration_s),
            ("stop_duration_s", stop_duration_s),
            ("deployment_duration_s", deployment_duration_s),
            ("chat_latency_s", chat_latency_s),
        ):
            if value < 0:
                raise ConfigurationError(f"FakeBackend({label}={value!r}): durations must be >= 0")
        if steps_per_epoch < 1:
            raise ConfigurationError(f"FakeBackend(steps_per_epoch={steps_per_epoch!r}) must be >= 1")
        self.pending_s = float(pending_s)
        self.job_duration_s = float(job_duration_s)
        self.stop_duration_s = float(stop_duration_s)
        self.deployment_duration_s = float(deployment_duration_s)
        self.steps_per_epoch = int(steps_per_epoch)
        self.responder: Responder = responder or echo_responder
        self.models_need_deployment = models_need_deployment
        self.chat_latency_s = float(chat_latency_s)
        self.calls: Counter[str] = Counter()
        self.chat_log: list[ChatCall] = []
        self.staged: dict[str, list[Record]] = {}
        self.staged_formats: dict[str, str | None] = {}
        self._state = _State()
        self._seq = 0
        self._fail_next: list[str] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.RLock()

    # --- scripting --------------------------------------------------------------------------------------
    def fail_next_job(self, message: str = "scripted failure") -> None:
        """Make the next submitted job fail (with ``message``) when it would otherwise have completed.

        Calls queue up: two calls fail the next two new jobs.
        """
        with self._lock:
            self._fail_next.append(message)

    def fail_job(self, job_id: str, message: str = "scripted failure") -> None:
        """Fail a job now, with ``message`` as the service's failure message.

        Raises:
            ResourceNotFoundError: no such job.
            ResourceConflictError: the job already ended.
        """
        with self._lock:
            job = self._job(job_id)
            now = self.clock.monotonic()
            status = self._status(job, now)[0]
            if status.is_terminal:
                raise ResourceConflictError(
                    f"job {job.spec.name} already ended ({status.value}); only running jobs can be failed",
                    backend=self.name,
                    code="Conflict",
                )
            job.failed_at = now
            job.failure_message = message

    def inject(self, method: str, error: BaseException, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` (e.g. ``"chat"``, ``"describe_job"``) raise ``error``.

        Examples:
            >>> from finetune_sdk.errors import ThrottlingError
            >>> fake = FakeBackend()
            >>> fake.inject("list_models", ThrottlingError("slow down", backend="fake"))
            >>> list(fake.list_models())
            Traceback (most recent call last):
            ...
            finetune_sdk.errors.ThrottlingError: slow down
            >>> list(fake.list_models())
            []
        """
        if times < 1:
            raise ConfigurationError(f"inject(times={times!r}) must be >= 1")
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(error, times))

    def _enter(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1
            queue = self._faults.get(method)
            if not queue:
                return
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            raise fault.error

    # --- helpers ----------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _now_at(self, monotonic: float) -> datetime:
        """The wall-clock time of a past monotonic reading."""
        return self.clock.now() - timedelta(seconds=max(self.clock.monotonic() - monotonic, 0.0))

    def _not_found(self, what: str, ident: str) -> ResourceNotFoundError:
        return ResourceNotFoundError(
            f"the fake backend has no {what} {ident!r}; list them with list_{what.replace(' ', '_')}s()",
            backend=self.name,
            code="NotFound",
        )

    def _job(self, job_id: str) -> _FakeJob:
        job = self._state.jobs.get(job_id)
        if job is None:
            job = next((j for j in self._state.jobs.values() if j.spec.name == job_id), None)
        if job is None:
            raise self._not_found("job", job_id)
        return job

    def _natural_end(self, job: _FakeJob) -> float:
        return job.started + job.pending_s + job.duration_s

    def _status(self, job: _FakeJob, now: float) -> tuple[JobStatus, float | None]:
        """The job's status at ``now`` and the monotonic time it entered that status (if terminal)."""
        if job.failed_at is not None and now >= job.failed_at:
            return JobStatus.FAILED, job.failed_at
        if job.stop_requested_at is not None:
            stopped_at = job.stop_requested_at + self.stop_duration_s
            if now >= stopped_at:
                return JobStatus.STOPPED, stopped_at
            return JobStatus.STOPPING, None
        elapsed = now - job.started
        if elapsed < job.pending_s:
            return JobStatus.PENDING, None
        end = self._natural_end(job)
        if now < end:
            return JobStatus.RUNNING, None
        if job.scripted_failure is not None:
            return JobStatus.FAILED, end
        return JobStatus.COMPLETED, end

    def _progress(self, job: _FakeJob, at: float) -> float:
        if job.duration_s <= 0:
            return 1.0 if at >= self._natural_end(job) else 0.0
        running = at - job.started - job.pending_s
        return min(max(running / job.duration_s, 0.0), 1.0)

    def _epochs(self, spec: JobSpec) -> int:
        for key in ("epochCount", "epochs", "num_train_epochs", "epoch_count"):
            value = spec.hyperparameters.get(key)
            if value is not None and not isinstance(value, bool):
                try:
                    return max(int(float(value)), 1)
                except ValueError:
                    continue
        return 2

    def _points(self, job: _FakeJob, until: float) -> list[MetricPoint]:
        if job.spec.kind is JobKind.IMPORT:
            return []
        total = self._epochs(job.spec) * self.steps_per_epoch
        done = math.floor(self._progress(job, until) * total + 1e-9)
        with_validation = job.spec.validation_data is not None
        points = []
        for step in range(1, done + 1):
            loss = round(0.3 + 2.2 * math.exp(-3.0 * step / total), 6)
            validation = (
                round(loss + 0.08, 6) if with_validation and step % self.steps_per_epoch == 0 else None
            )
            points.append(
                MetricPoint(
                    step=step,
                    epoch=round(step / self.steps_per_epoch, 6),
                    training_loss=loss,
                    validation_loss=validation,
                    perplexity=round(math.exp(loss), 6),
                )
            )
        return points

    def _until(self, job: _FakeJob, now: float) -> float:
        """The last instant the job was training (for progress and metrics)."""
        ends = [now, self._natural_end(job)]
        if job.failed_at is not None:
            ends.append(job.failed_at)
        if job.stop_requested_at is not None:
            ends.append(job.stop_requested_at)
        return min(ends)

    def _stages(self, job: _FakeJob, status: JobStatus, progress: float) -> dict[str, str]:
        if job.spec.kind is not JobKind.DISTILLATION:
            return {}
        if status is JobStatus.PENDING:
            return dict.fromkeys(_STAGES, "not_started")
        if status is JobStatus.COMPLETED:
            return dict.fromkeys(_STAGES, "completed")
        current = min(int(progress * len(_STAGES)), len(_STAGES) - 1)
        word = {
            JobStatus.RUNNING: "in_progress",
            JobStatus.FAILED: "failed",
            JobStatus.STOPPING: "stopping",
            JobStatus.STOPPED: "stopped",
        }[status]
        return {
            name: "completed" if i < current else word if i == current else "not_started"
            for i, name in enumerate(_STAGES)
        }

    def _materialize(self, job: _FakeJob, ended: float) -> None:
        """Create the job's model the first time the job is seen completed."""
        if job.model_id is not None:
            return
        imported = job.spec.kind is JobKind.IMPORT
        model_id = f"fake-{'imported' if imported else 'custom'}-model-{job.seq:06d}"
        record = ModelRecord(
            id=model_id,
            name=job.spec.output_model_name,
            backend=self.name,
            kind="imported" if imported else "custom",
            base_model=None if imported else job.spec.base_model,
            status="Active",
            job_id=job.id,
            uri=f"memory://fake/models/{model_id}",
            created_at=self._now_at(ended),
            supports_chat=True,
            needs_deployment=self.models_need_deployment,
            raw={"job": job.id, "source": job.spec.model_source} if imported else {"job": job.id},
        )
        self._state.models[model_id] = _FakeModel(record, job.seq)
        job.model_id = model_id

    def _record(self, job: _FakeJob) -> JobRecord:
        now = self.clock.monotonic()
        status, ended = self._status(job, now)
        if status is JobStatus.COMPLETED and ended is not None:
            self._materialize(job, ended)
        until = self._until(job, now)
        progress = self._progress(job, until)
        points = self._points(job, until)
        losses = [p.training_loss for p in points if p.training_loss is not None]
        vlosses = [p.validation_loss for p in points if p.validation_loss is not None]
        if status is JobStatus.PENDING:
            updated = job.started
        elif status is JobStatus.RUNNING:
            updated = job.started + job.pending_s
        elif status is JobStatus.STOPPING:
            updated = job.stop_requested_at or now
        else:
            updated = ended if ended is not None else now
        failure = None
        if status is JobStatus.FAILED:
            failure = job.failure_message if job.failed_at is not None else job.scripted_failure
        return JobRecord(
            id=job.id,
            name=job.spec.name,
            backend=self.name,
            kind=job.spec.kind,
            status=status,
            raw_status=_RAW_STATUS[status],
            base_model=job.spec.base_model,
            output_model_id=job.model_id if status is JobStatus.COMPLETED else None,
            output_model_name=job.spec.output_model_name,
            output_uri=job.spec.output_uri or f"memory://fake/jobs/{job.id}",
            created_at=job.created_at,
            updated_at=self._now_at(updated),
            ended_at=self._now_at(ended) if ended is not None else None,
            failure_message=failure,
            stages=self._stages(job, status, progress),
            progress=round(progress, 6),
            training_loss=losses[-1] if losses else None,
            validation_loss=vlosses[-1] if vlosses else None,
            raw={"client_token": job.token, "spec": job.spec.model_dump(mode="json")},
        )

    def _sync(self) -> None:
        """Bring every job up to the clock (so models of completed jobs exist)."""
        now = self.clock.monotonic()
        for job in self._state.jobs.values():
            if job.model_id is None:
                status, ended = self._status(job, now)
                if status is JobStatus.COMPLETED and ended is not None:
                    self._materialize(job, ended)

    # --- jobs ---------------------------------------------------------------------------------------------
    def check_spec(self, spec: JobSpec) -> None:
        """Refuse what Bedrock would refuse for catalog models: a customization the base model lacks.

        Raises:
            ConfigurationError: the catalog says ``spec.base_model`` does not support ``spec.kind``.
        """
        customization = _CUSTOMIZATION.get(spec.kind)
        info = catalog.resolve(spec.base_model) if customization else None
        if info is not None and customization is not None and not info.supports(customization):
            supported = ", ".join(info.customizations) or "none"
            raise ConfigurationError(
                f"{info.id} does not support {spec.kind.value} (it supports: {supported}); "
                "pick another base model or job kind"
            )

    def submit_job(self, spec: JobSpec) -> JobRecord:
        """Start a fake job, or return the existing one for the same spec (same ``client_token()``).

        Raises:
            ConfigurationError: the base model does not support the job kind (see :meth:`check_spec`).
            ResourceConflictError: another job (a different spec) already has this name.
        """
        self._enter("submit_job")
        token = spec.client_token()
        with self._lock:
            existing = self._state.tokens.get(token)
            if existing is not None:
                return self._record(self._state.jobs[existing])
            self.check_spec(spec)
            if any(j.spec.name == spec.name for j in self._state.jobs.values()):
                raise ResourceConflictError(
                    f"a job named {spec.name!r} already exists with a different request; choose another name",
                    backend=self.name,
                    code="Conflict",
                )
            seq = self._next_seq()
            job = _FakeJob(
                id=f"fake-job-{seq:06d}",
                seq=seq,
                spec=spec,
                token=token,
                created_at=self.clock.now(),
                started=self.clock.monotonic(),
                pending_s=self.pending_s,
                duration_s=self.job_duration_s,
                scripted_failure=self._fail_next.pop(0) if self._fail_next else None,
            )
            self._state.jobs[job.id] = job
            self._state.tokens[token] = job.id
            return self._record(job)

    def describe_job(self, job_id: str) -> JobRecord:
        """The job's record at the clock's current time (by id or name).

        Raises:
            ResourceNotFoundError: no such job.
        """
        self._enter("describe_job")
        with self._lock:
            return self._record(self._job(job_id))

    def stop_job(self, job_id: str) -> None:
        """Stop a job: ``stopping`` now, ``stopped`` after ``stop_duration_s``. A no-op once it ended.

        Raises:
            ResourceNotFoundError: no such job.
        """
        self._enter("stop_job")
        with self._lock:
            job = self._job(job_id)
            status = self._status(job, self.clock.monotonic())[0]
            if status.is_terminal or status is JobStatus.STOPPING:
                return
            job.stop_requested_at = self.clock.monotonic()

    def list_jobs(
        self, *, status: JobStatus | None = None, name_contains: str | None = None
    ) -> Iterator[JobRecord]:
        """Jobs newest first, optionally only those with ``status`` or a name containing ``name_contains``."""
        self._enter("list_jobs")
        with self._lock:
            records = [self._record(j) for j in sorted(self._state.jobs.values(), key=lambda j: -j.seq)]
        for record in records:
            if status is not None and record.status is not status:
                continue
            if name_contains is not None and name_contains not in record.name:
                continue
            yield record

    def job_metrics(self, job_id: str) -> list[MetricPoint]:
        """The loss curve so far: one point per finished step, validation loss at each epoch end.

        Raises:
            ResourceNotFoundError: no such job.
        """
        self._enter("job_metrics")
        with self._lock:
            job = self._job(job_id)
            return self._points(job, self._until(job, self.clock.monotonic()))

    def hyperparameter_schema(self, base_model: str, kind: JobKind) -> Sequence[HyperparameterSpec] | None:
        """The catalog's hyperparameters of known models for fine-tuning and CPT; otherwise ``None``."""
        self._enter("hyperparameter_schema")
        if kind not in (JobKind.FINE_TUNING, JobKind.CONTINUED_PRE_TRAINING):
            return None
        info = catalog.resolve(base_model)
        return info.hyperparameters if info is not None else None

    def stage_data(self, dataset: Dataset, *, name: str, format: str | None, output_uri: str | None) -> str:
        """Keep the dataset's records in memory and return their ``memory://fake/data/<name>.jsonl`` URI."""
        self._enter("stage_data")
        records: Iterable[Record] = dataset
        uri = f"memory://fake/data/{name}.jsonl"
        with self._lock:
            self.staged[uri] = list(records)
            self.staged_formats[uri] = format
        return uri

    def estimate_job_cost(self, spec: JobSpec, *, training_tokens: int | None) -> CostEstimate | None:
        """Catalog training price x tokens x epochs plus one month of storage (``None`` without prices)."""
        self._enter("estimate_job_cost")
        info = catalog.resolve(spec.base_model)
        if info is None or info.prices.training_per_1k_tokens is None or training_tokens is None:
            return None
        epochs = self._epochs(spec)
        training = training_tokens / 1000 * info.prices.training_per_1k_tokens * epochs
        breakdown = {"training": round(training, 6)}
        if info.prices.storage_per_month:
            breakdown["storage (1 month)"] = info.prices.storage_per_month
        return CostEstimate(
            total=round(sum(breakdown.values()), 6),
            breakdown=breakdown,
            price_date=info.prices.date,
            assumptions=(f"{training_tokens} training tokens x {epochs} epochs",),
        )

    # --- models ---------------------------------------------------------------------------------------------
    def foundation_model(self, model_id: str) -> ModelRecord:
        """A record for invoking ``model_id`` directly; the fake serves any foundation model id."""
        self._enter("foundation_model")
        info = catalog.resolve(model_id)
        record = ModelRecord(
            id=model_id,
            name=info.name if info else model_id,
            backend=self.name,
            kind="foundation",
            base_model=model_id,
            status="Active",
            supports_chat=True,
            needs_deployment=False,
        )
        with self._lock:
            self._state.foundation[model_id] = record
        return record

    def _model(self, model_id: str) -> _FakeModel:
        self._sync()
        found = self._state.models.get(model_id)
        if found is None:
            found = next(
                (m for m in self._state.models.values() if m.record.name == model_id and not m.deleted), None
            )
        if found is None or found.deleted:
            raise self._not_found("model", model_id)
        return found

    def describe_model(self, model_id: str) -> ModelRecord:
        """A custom, imported or foundation model's record (custom/imported by id or name).

        Raises:
            ResourceNotFoundError: no such model (or it was deleted).
        """
        self._enter("describe_model")
        with self._lock:
            if model_id in self._state.foundation:
                return self._state.foundation[model_id]
            return self._model(model_id).record

    def list_models(self) -> Iterator[ModelRecord]:
        """Custom and imported models, newest first."""
        self._enter("list_models")
        with self._lock:
            self._sync()
            models = sorted((m for m in self._state.models.values() if not m.deleted), key=lambda m: -m.seq)
            records = [m.record for m in models]
        yield from records

    def delete_model(self, model_id: str) -> None:
        """Delete a custom or imported model.

        Raises:
            ResourceNotFoundError: no such model.
            ResourceConflictError: a deployment still serves it; delete the deployment first.
            UnsupportedOperationError: ``model_id`` is a foundation model.
        """
        self._enter("delete_model")
        with self._lock:
            if model_id in self._state.foundation:
                raise UnsupportedOperationError(
                    f"{model_id!r} is a foundation model; only custom models can be deleted"
                )
            model = self._model(model_id)
            users = [
                d.id
                for d in self._state.deployments.values()
                if not d.deleted and d.spec.model_id in (model.record.id, model.record.name)
            ]
            if users:
                raise ResourceConflictError(
                    f"model {model.record.name!r} is still served by deployment(s) {', '.join(users)}; "
                    "delete them first",
                    backend=self.name,
                    code="Conflict",
                )
            model.deleted = True

    # --- inference ------------------------------------------------------------------------------------------
    def _chat_target(self, model_id: str) -> tuple[str, str | None]:
        """The model that answers for ``model_id`` and its base model (for token estimates)."""
        deployment = self._state.deployments.get(model_id)
        if deployment is not None and not deployment.deleted:
            status = self._deployment_status(deployment)
            if status is not DeploymentStatus.ACTIVE:
                raise ResourceConflictError(
                    f"deployment {deployment.spec.name!r} is {status.value}; call deployment.wait() first",
                    backend=self.name,
                    code="Conflict",
                )
            target = self._model_or_foundation(deployment.spec.model_id)
            return target.id, target.base_model
        if model_id in self._state.foundation:
            return model_id, model_id
        self._sync()
        found = self._state.models.get(model_id) or next(
            (m for m in self._state.models.values() if m.record.name == model_id and not m.deleted), None
        )
        if found is not None and not found.deleted:
            if found.record.needs_deployment:
                raise ServiceValidationError(
                    f"model {found.record.name!r} cannot be invoked on demand; chat through a deployment",
                    backend=self.name,
                    code="ValidationException",
                )
            return found.record.id, found.record.base_model
        if catalog.resolve(model_id) is not None:
            return model_id, model_id
        raise self._not_found("model", model_id)

    def _model_or_foundation(self, model_id: str) -> ModelRecord:
        if model_id in self._state.foundation:
            return self._state.foundation[model_id]
        return self._model(model_id).record

    def chat(
        self,
        model_id: str,
        *,
        system: str | None,
        turns: Sequence[Turn],
        config: InferenceConfig,
    ) -> ChatResponse:
        """The responder's answer to ``turns``, cut at ``max_tokens`` or a stop sequence; tokens estimated.

        ``model_id`` may be a foundation model, a custom or imported model (id or name) or a deployment's
        ``invoke_id``.

        Raises:
            ResourceNotFoundError: no such model or deployment.
            ResourceConflictError: the deployment is not active yet.
            ServiceValidationError: the model needs a deployment (``models_need_deployment=True``).
        """
        self._enter("chat")
        turns = tuple(turns)
        with self._lock:
            answering, base = self._chat_target(model_id)
            self.chat_log.append(ChatCall(model_id, system, turns, config))
        start = self.clock.monotonic()
        if self.chat_latency_s:
            self.clock.sleep(self.chat_latency_s)
        text = self.responder(answering, system, turns)
        if not isinstance(text, str):
            raise ConfigurationError(
                f"the FakeBackend responder must return a str, got {type(text).__name__}"
            )
        counter = counter_for(base)
        stop_reason = "end_turn"
        for stop in config.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
                stop_reason = "stop_sequence"
        if counter.count(text) > config.max_tokens:
            text = text[: int(config.max_tokens * counter.chars_per_token)]
            stop_reason = "max_tokens"
        prompt = "\n".join([system or "", *(t.text for t in turns)]).strip()
        return ChatResponse(
            text=text,
            stop_reason=stop_reason,
            input_tokens=max(counter.count(prompt), 1),
            output_tokens=counter.count(text),
            tokens_estimated=True,
            latency_s=self.clock.monotonic() - start,
            model_id=model_id,
            raw={"answered_by": answering},
        )

    # --- deployments ----------------------------------------------------------------------------------------
    def _deployment_status(self, deployment: _FakeDeployment) -> DeploymentStatus:
        if deployment.deleted:
            return DeploymentStatus.DELETED
        if self.clock.monotonic() - deployment.started < self.deployment_duration_s:
            return DeploymentStatus.CREATING
        return DeploymentStatus.ACTIVE

    def _deployment_record(self, deployment: _FakeDeployment) -> DeploymentRecord:
        status = self._deployment_status(deployment)
        raw = {
            DeploymentStatus.CREATING: "Creating",
            DeploymentStatus.ACTIVE: "Active",
            DeploymentStatus.DELETED: "Deleted",
        }[status]
        kind: Literal["provisioned", "on_demand", "endpoint", "local"] = deployment.spec.kind
        return DeploymentRecord(
            id=deployment.id,
            name=deployment.spec.name,
            backend=self.name,
            model_id=deployment.spec.model_id,
            kind=kind,
            status=status,
            raw_status=raw,
            invoke_id=deployment.id,
            created_at=deployment.created_at,
            raw={"client_token": deployment.token, "model_units": deployment.spec.model_units},
        )

    def create_deployment(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Create a deployment (``creating`` for ``deployment_duration_s``, then ``active``), idempotently.

        Raises:
            ResourceNotFoundError: the model does not exist.
            ResourceConflictError: another deployment already has this name.
        """
        self._enter("create_deployment")
        token = spec.client_token()
        with self._lock:
            existing = self._state.deployment_tokens.get(token)
            if existing is not None and not self._state.deployments[existing].deleted:
                return self._deployment_record(self._state.deployments[existing])
            self._model_or_foundation(spec.model_id)
            if any(d.spec.name == spec.name and not d.deleted for d in self._state.deployments.values()):
                raise ResourceConflictError(
                    f"a deployment named {spec.name!r} already exists; choose another name",
                    backend=self.name,
                    code="Conflict",
                )
            seq = self._next_seq()
            deployment = _FakeDeployment(
                id=f"fake-deployment-{seq:06d}",
                seq=seq,
                spec=spec,
                token=token,
                created_at=self.clock.now(),
                started=self.clock.monotonic(),
            )
            self._state.deployments[deployment.id] = deployment
            self._state.deployment_tokens[token] = deployment.id
            return self._deployment_record(deployment)

    def _deployment(self, deployment_id: str) -> _FakeDeployment:
        found = self._state.deployments.get(deployment_id) or next(
            (d for d in self._state.deployments.values() if d.spec.name == deployment_id and not d.deleted),
            None,
        )
        if found is None or found.deleted:
            raise self._not_found("deployment", deployment_id)
        return found

    def describe_deployment(self, deployment_id: str) -> DeploymentRecord:
        """A deployment's record (by id or name).

        Raises:
            ResourceNotFoundError: no such deployment, or it was deleted.
        """
        self._enter("describe_deployment")
        with self._lock:
            return self._deployment_record(self._deployment(deployment_id))

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment; deleting one that is already gone is a no-op."""
        self._enter("delete_deployment")
        with self._lock:
            found = self._state.deployments.get(deployment_id) or next(
                (d for d in self._state.deployments.values() if d.spec.name == deployment_id), None
            )
            if found is not None:
                found.deleted = True

    def list_deployments(self) -> Iterator[DeploymentRecord]:
        """Live deployments, newest first."""
        self._enter("list_deployments")
        with self._lock:
            records = [
                self._deployment_record(d)
                for d in sorted(self._state.deployments.values(), key=lambda d: -d.seq)
                if not d.deleted
            ]
        yield from records

    def __repr__(self) -> str:
        with self._lock:
            return f"<FakeBackend jobs={len(self._state.jobs)} clock={self.clock!r}>"
