"""``LocalBackend``: train and run Hugging Face causal LMs on this machine, one worker process per run.

See the package docstring for the run folder and the life of a job. This module is light: torch,
transformers and peft are imported only by the worker process and by :mod:`.inference` (on the first
``chat``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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
from finetune_sdk.errors import (
    ConfigurationError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
    UnsupportedOperationError,
)
from finetune_sdk.training._config import resolve_config, schema
from finetune_sdk.training._deps import INFERENCE_DEPS, require_local_deps
from finetune_sdk.training._gguf import ALIASES, gguf_file_of, is_alias, resolve_alias
from finetune_sdk.training._records_io import to_canonical, write_records
from finetune_sdk.training._run import RunDir, RunState, iter_runs, utcnow

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.records import Turn

__all__ = ["LocalBackend", "default_root"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_MODEL_PREFIX = "model-"
_WORKER_MODULE = "finetune_sdk.training.worker"
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps|auto)$")

#: worker processes started by this process, by pid, so exited ones can be reaped (else they stay zombies)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_CHILDREN_LOCK = threading.Lock()


def default_root() -> Path:
    """``$FINETUNE_SDK_HOME/runs``, else ``~/.cache/finetune_sdk/runs`` (read on every call)."""
    home = os.environ.get("FINETUNE_SDK_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "finetune_sdk"
    return base / "runs"


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "run"


def _local_path(uri: str) -> Path | None:
    """A filesystem path from a plain path or ``file://`` URI; ``None`` for other schemes."""
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri):
        return None
    return Path(uri).expanduser()


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file()


def _resolve_base_model(model: str) -> str:
    """What the worker loads: an alias becomes its GGUF file, a local path becomes absolute (light: no torch).

    Raises:
        BackendNotInstalledError: an alias whose package is not installed.
    """
    if is_alias(model):
        return str(resolve_alias(model))
    path = _local_path(model)
    if path is not None and path.exists():
        gguf = gguf_file_of(path)
        return str(gguf if gguf is not None else path.resolve())
    return model


def _check_base_model(model: str) -> None:
    """Raise unless ``model`` is a model folder, a GGUF file or folder, an installed alias, or a hub id.

    Raises:
        ConfigurationError: none of those.
        BackendNotInstalledError: an alias whose package is not installed.
    """
    if is_alias(model):
        resolve_alias(model)
        return
    base = _local_path(model)
    if base is not None and base.exists():
        if not _is_model_folder(base) and gguf_file_of(base) is None:
            raise ConfigurationError(
                f"base_model {model!r} is a folder without config.json and without a GGUF file, or a file "
                "that is not .gguf; pass such a folder or file (e.g. from "
                "finetune_sdk.training.tiny.build_tiny_model), a hub id, or an alias like "
                f"{next(iter(ALIASES))!r}"
            )
    elif not _HUB_ID.match(model):
        raise ConfigurationError(
            f"base_model {model!r} is neither a model folder or GGUF file on this machine, nor an alias "
            f"({', '.join(ALIASES)}), nor a Hugging Face hub id like 'HuggingFaceTB/SmolLM2-135M'. Bedrock "
            "model ids only train on the bedrock backend."
        )


def _pid_alive(pid: int | None) -> bool:
    """Whether the worker ``pid`` is still running (reaping it when it is our exited child)."""
    if not pid:
        return False
    with _CHILDREN_LOCK:
        child = _CHILDREN.get(pid)
        if child is not None:
            if child.poll() is None:
                return True
            del _CHILDREN[pid]
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():  # Linux: a zombie is dead, and a recycled pid running something else is not ours
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            return True
        return state not in ("Z", "X") and _WORKER_MODULE in cmdline
    return True


@dataclass
class _Deployed:
    """A model held in memory by this process for a local deployment."""

    record: DeploymentRecord
    root: Path
    loaded: Any


#: local deployments of this process, by id (a local deployment lives as long as the process, or its ``with``)
_DEPLOYED: dict[str, _Deployed] = {}
_DEPLOYED_LOCK = threading.Lock()


class LocalBackend(Backend, CanInvoke, CanDeploy):
    """Fine-tuning, continued pre-training and inference of Hugging Face causal LMs on this machine.

    Each job is a folder under ``root`` and a detached worker process
    (``python -m finetune_sdk.training.worker``); the folder holds everything, so a job survives the
    process that submitted it. Runs are idempotent: the run id comes from the spec's client token, so
    submitting the same spec again returns the same run, and restarts it from its last checkpoint if its
    worker died. Outputs are Hugging Face folders that Amazon Bedrock Custom Model Import accepts.

    Args:
        root: where run folders live (default ``$FINETUNE_SDK_HOME/runs`` or ``~/.cache/finetune_sdk/runs``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``None``/``"auto"`` (CUDA when available).
        clock: time source for ``Job.wait`` polling.

    Raises:
        ConfigurationError: ``device`` is not one of the forms above.

    Examples:
        >>> import tempfile
        >>> from finetune_sdk.backends.local import LocalBackend
        >>> backend = LocalBackend(root=tempfile.mkdtemp())
        >>> backend.name, sorted(k.value for k in backend.supported_kinds)
        ('local', ['continued_pre_training', 'fine_tuning'])
        >>> list(backend.list_jobs())
        []
    """

    name: ClassVar[str] = "local"
    supported_kinds: ClassVar[frozenset[JobKind]] = frozenset(
        {JobKind.FINE_TUNING, JobKind.CONTINUED_PRE_TRAINING}
    )
    default_poll_interval: ClassVar[float] = 1.0

    def __init__(self, *, root: str | Path | None = None, device: str | None = None,
                 clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        if device is not None and not _DEVICE.match(device):
            raise ConfigurationError(
                f"LocalBackend(device={device!r}): use 'cpu', 'cuda', 'cuda:N', 'mps', 'auto' or None"
            )
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.device = None if device in (None, "auto") else device

    def __repr__(self) -> str:
        return f"<LocalBackend root={str(self.root)!r} device={self.device or 'auto'!r}>"

    # --- ids and folders ---------------------------------------------------------------------------------
    def run_id_for(self, spec: JobSpec) -> str:
        """The run id ``spec`` gets: its name and a digest of its client token (stable across processes)."""
        digest = hashlib.sha256(spec.client_token().encode()).hexdigest()[:12]
        return f"{_slug(spec.name)}-{digest}"

    def _run(self, job_id: str) -> RunDir:
        """The run folder of a run id, a job name, or a run folder path."""
        if job_id and "/" not in job_id and "\\" not in job_id and job_id not in (".", ".."):
            run = RunDir(self.root / job_id)
            if run.exists():
                return run
            by_name = sorted((r for r in iter_runs(self.root) if self._spec_name(r) == job_id),
                             key=self._created, reverse=True)
            if by_name:
                return by_name[0]
        else:
            path = _local_path(job_id)
            if path is not None and RunDir(path).exists():
                return RunDir(path)
        raise ResourceNotFoundError(
            f"the local backend has no job {job_id!r} under {self.root}; list them with list_jobs() "
            "(or pass root= to LocalBackend if the runs live elsewhere)",
            backend=self.name, code="NotFound",
        )

    @staticmethod
    def _spec_name(run: RunDir) -> str | None:
        try:
            name = run.read_meta()["spec"]["name"]
            return str(name)
        except (OSError, KeyError, ValueError):
            return None

    @staticmethod
    def _created(run: RunDir) -> datetime:
        try:
            return datetime.fromisoformat(run.read_meta()["created_at"])
        except (OSError, KeyError, ValueError):
            return datetime.fromtimestamp(0).astimezone()

    def _output_dir(self, spec: JobSpec, run_id: str) -> Path:
        if spec.output_uri:
            path = _local_path(spec.output_uri)
            if path is None:
                raise ConfigurationError(
                    f"output_uri {spec.output_uri!r} is not a local folder; the local backend writes to the "
                    "filesystem (leave output_uri unset for <root>/<run_id>/output)"
                )
            return path.resolve() / run_id
        return (self.root / run_id / "output").resolve()

    # --- checks ------------------------------------------------------------------------------------------
    def hyperparameter_schema(self, base_model: str, kind: JobKind) -> Sequence[HyperparameterSpec] | None:
        """The local trainer's hyperparameters with ranges and defaults (``None`` for kinds it cannot run).

        Examples:
            >>> from finetune_sdk.backends.base import JobKind
            >>> specs = LocalBackend(root="/tmp/x").hyperparameter_schema("m", JobKind.FINE_TUNING)
            >>> spec = {s.name: s for s in specs or []}
            >>> spec["loraRank"].default, spec["learningRate"].max
            (16, 1.0)
        """
        if kind not in self.supported_kinds:
            return None
        return schema(kind)

    def check_spec(self, spec: JobSpec) -> None:
        """Reject what the worker could not run, before anything starts.

        Raises:
            UnsupportedOperationError: a distillation or import job.
            ConfigurationError: data that is not a local file, a base model that is neither a model folder
                nor a hub id, an output_uri that is not local.
            HyperparameterError: unknown name, value out of range, or an invalid choice.
        """
        if spec.kind not in self.supported_kinds:
            hint = " Use finetune_sdk.Distiller for teacher → student locally." \
                if spec.kind is JobKind.DISTILLATION else ""
            raise UnsupportedOperationError(
                f"the 'local' backend cannot run {spec.kind.value} jobs; it runs fine_tuning and "
                f"continued_pre_training.{hint}"
            )
        for label, uri in (("training_data", spec.training_data), ("validation_data", spec.validation_data)):
            if uri is None:
                continue
            path = _local_path(uri)
            if path is None or not path.is_file():
                raise ConfigurationError(
                    f"{label} {uri!r} is not a file on this machine; the local backend reads local JSONL "
                    "files (pass a Dataset and it is staged for you)"
                )
        _check_base_model(spec.base_model)
        resolve_config(spec.hyperparameters, spec.kind)
        self._output_dir(spec, "x")

    def estimate_job_cost(self, spec: JobSpec, *, training_tokens: int | None) -> CostEstimate | None:
        """Zero: local runs use this machine and no paid service."""
        return CostEstimate(total=0.0, breakdown={"compute": 0.0},
                            assumptions=("runs on this machine; electricity and hardware are not counted",))

    # --- data --------------------------------------------------------------------------------------------
    def stage_data(self, dataset: Dataset, *, name: str, format: str | None, output_uri: str | None) -> str:
        """Write ``dataset`` as canonical records under ``<root>/_staged/`` and return the file path.

        The file name carries a digest of the content, so staging the same data twice gives the same path
        (and the same job spec, hence the same run). ``format`` is ignored: the local trainer reads
        canonical records, not a wire format.
        """
        staged = self.root / "_staged"
        staged.mkdir(parents=True, exist_ok=True)
        tmp = staged / f".{_slug(name, 60)}.{os.getpid()}.{threading.get_ident()}.jsonl"
        digest = write_records(iter(dataset), tmp)
        final = staged / f"{_slug(name, 60)}-{digest[:12]}.jsonl"
        os.replace(tmp, final)
        return str(final.resolve())

    # --- jobs --------------------------------------------------------------------------------------------
    def submit_job(self, spec: JobSpec) -> JobRecord:
        """Start a run in a detached worker and return at once (idempotent, see the class docstring).

        Raises:
            ConfigurationError / HyperparameterError: see :meth:`check_spec`.
            BackendNotInstalledError: torch, transformers or peft are missing.
            DataError: the training data cannot be read.
        """
        self.check_spec(spec)
        require_local_deps("train a model")
        run_id = self.run_id_for(spec)
        run = RunDir(self.root / run_id)
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(run):
            if run.exists():
                state = self._effective_state(run)
                if state.raw_status == "worker_exited":
                    self._launch(run, resume=True)
                return self._record(run)
            try:
                self._create(run, spec)
            except BaseException:
                shutil.rmtree(run.path, ignore_errors=True)  # leave no half-made run behind
                raise
            self._launch(run, resume=False)
            return self._record(run)

    def resume(self, run_id: str) -> JobRecord:
        """Restart a run that did not complete (worker killed, stopped, or failed) from its last checkpoint.

        A completed run, or one whose worker is still alive, is returned unchanged.

        Raises:
            ResourceNotFoundError: no such run.
            BackendNotInstalledError: torch, transformers or peft are missing.
        """
        run = self._run(run_id)
        require_local_deps("train a model")
        with self._locked(run):
            state = self._effective_state(run)
            if state.status is JobStatus.COMPLETED or not state.status.is_terminal:
                return self._record(run)
            self._launch(run, resume=True)
            return self._record(run)

    @contextlib.contextmanager
    def _locked(self, run: RunDir) -> Iterator[None]:
        """An exclusive lock on the run (two processes submitting the same spec start one worker)."""
        run.path.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows has no fcntl; submits there are rare and manual
            yield
            return
        with open(run.lock_file, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _create(self, run: RunDir, spec: JobSpec) -> None:
        run.data_dir.mkdir(parents=True, exist_ok=True)
        for uri, target in ((spec.training_data, "train.jsonl"), (spec.validation_data, "validation.jsonl")):
            path = _local_path(uri) if uri else None
            if path is not None:
                to_canonical(path, run.data_dir / target)
        resolved = _resolve_base_model(spec.base_model)
        run.write_spec(spec, created_at=self.clock.now(), output_dir=self._output_dir(spec, run.run_id),
                       base_model=resolved)
        run.write_state(RunState(stages=dict.fromkeys(("load", "train", "export"), "not_started")))

    def _launch(self, run: RunDir, *, resume: bool) -> None:
        state = run.read_state()
        run.clear_stop()
        cmd = [sys.executable, "-m", _WORKER_MODULE, str(run.path.resolve())]
        if self.device:
            cmd += ["--device", self.device]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # The worker must import this very finetune_sdk, installed or not (a source checkout, a notebook).
        package_root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        with open(run.stdout_file, "ab") as out, open(run.stderr_file, "ab") as err:
            child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=run.path,
                                     env=env, start_new_session=True, close_fds=True)
        with _CHILDREN_LOCK:
            _CHILDREN[child.pid] = child
        run.write_state(state.model_copy(update={
            "status": JobStatus.PENDING, "raw_status": "resuming" if resume else "pending", "pid": child.pid,
            "heartbeat": utcnow(), "ended_at": None, "failure_message": None, "attempt": state.attempt + 1,
        }))

    def _effective_state(self, run: RunDir) -> RunState:
        """``status.json``, corrected for a worker that died without saying so."""
        state = run.read_state()
        if state.status.is_terminal or _pid_alive(state.pid):
            return state
        state = run.read_state()  # it may have finished between the two reads
        if state.status.is_terminal:
            return state
        latest = run.latest_checkpoint()
        where = f"checkpoint step {latest[0]}" if latest else "the start (no checkpoint was saved yet)"
        detail = self._stderr_tail(run)
        message = (
            f"the worker process (pid {state.pid}) ended without finishing, at step {state.step}"
            f"{'/' + str(state.total_steps) if state.total_steps else ''}{': ' + detail if detail else ''}. "
            f"Resume from {where} with LocalBackend.resume({run.run_id!r}) or by submitting the same spec "
            "again."
        )
        return state.model_copy(update={"status": JobStatus.FAILED, "raw_status": "worker_exited",
                                        "failure_message": message})

    @staticmethod
    def _stderr_tail(run: RunDir) -> str:
        try:
            with open(run.stderr_file, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 4000))
                lines = [ln.strip() for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        errors = [ln for ln in lines if "Error" in ln or "Killed" in ln]
        return errors[-1][:300] if errors else ""

    def _record(self, run: RunDir) -> JobRecord:
        meta = run.read_meta()
        spec = JobSpec.model_validate(meta["spec"])
        state = self._effective_state(run)
        status, raw = state.status, state.raw_status
        if not status.is_terminal and run.stop_requested():
            status, raw = JobStatus.STOPPING, "stop_requested"
        model_dir = Path(meta.get("output_dir", run.path / "output")) / "model"
        completed = status is JobStatus.COMPLETED
        progress = None
        if completed:
            progress = 1.0
        elif state.total_steps:
            progress = min(max(state.step / state.total_steps, 0.0), 1.0)
        return JobRecord(
            id=run.run_id,
            name=spec.name,
            backend=self.name,
            kind=spec.kind,
            status=status,
            raw_status=raw,
            base_model=spec.base_model,
            output_model_id=f"{_MODEL_PREFIX}{run.run_id}" if completed else None,
            output_model_name=spec.output_model_name,
            output_uri=str(model_dir.parent),
            created_at=datetime.fromisoformat(meta["created_at"]),
            updated_at=state.heartbeat,
            ended_at=state.ended_at,
            failure_message=state.failure_message,
            stages=dict(state.stages),
            progress=progress,
            training_loss=state.training_loss,
            validation_loss=state.validation_loss,
            raw={"run_dir": str(run.path), "step": state.step, "total_steps": state.total_steps,
                 "epoch": state.epoch, "pid": state.pid, "attempt": state.attempt, "device": state.device,
                 "tokens_per_second": state.tokens_per_second, "tokens_seen": state.tokens_seen,
                 "train_seconds": state.train_seconds, "cpu_seconds": state.cpu_seconds,
                 "resumed_from_step": state.resumed_from_step,
                 "checkpoints": [step for step, _ in run.checkpoints()]},
        )

    def describe_job(self, job_id: str) -> JobRecord:
        """The run's record, read from its folder (a dead worker shows as FAILED with a resume hint).

        Raises:
            ResourceNotFoundError: no such run id or job name under ``root``.
        """
        return self._record(self._run(job_id))

    def stop_job(self, job_id: str) -> None:
        """Ask the worker to stop after the current step; it saves a checkpoint and ends STOPPED.

        A run that already ended is left alone; a run whose worker is gone is marked STOPPED at once.

        Raises:
            ResourceNotFoundError: no such run.
        """
        run = self._run(job_id)
        with self._locked(run):
            state = self._effective_state(run)
            if state.status.is_terminal and state.raw_status != "worker_exited":
                return
            if state.raw_status == "worker_exited":
                run.update_state(status=JobStatus.STOPPED, raw_status="stopped", ended_at=utcnow(),
                                 failure_message=None)
                return
            run.request_stop()

    def list_jobs(
        self, *, status: JobStatus | None = None, name_contains: str | None = None
    ) -> Iterator[JobRecord]:
        """Runs under ``root``, newest first."""
        runs = sorted(iter_runs(self.root), key=self._created, reverse=True)
        for run in runs:
            try:
                record = self._record(run)
            except (OSError, ValueError, KeyError):
                continue  # a run folder being created right now, or damaged by hand
            if status is not None and record.status is not status:
                continue
            if name_contains and name_contains.lower() not in record.name.lower():
                continue
            yield record

    def job_metrics(self, job_id: str) -> list[MetricPoint]:
        """Rows of the run's ``metrics.csv`` (empty until the first logging step)."""
        return self._run(job_id).read_metrics()

    def failure_hint(self, record: JobRecord) -> str | None:
        """What to do about a failed run (used by ``Job.wait`` in its error message)."""
        if record.raw_status == "worker_exited":
            return f"resume it: LocalBackend.resume({record.id!r}), or submit the same spec again"
        message = record.failure_message or ""
        if "out of memory" in message.lower():
            return "lower batchSize or maxSequenceLength, or use method='lora' and gradientCheckpointing=true"
        run_dir = record.raw.get("run_dir")
        return f"the traceback is in {run_dir}/worker.err" if run_dir else None

    # --- models ------------------------------------------------------------------------------------------
    def _model_record(self, run: RunDir) -> ModelRecord | None:
        state = run.read_state()
        if state.status is not JobStatus.COMPLETED:
            return None
        meta = run.read_meta()
        folder = Path(meta.get("output_dir", run.path / "output")) / "model"
        if not _is_model_folder(folder):
            return None
        spec = meta["spec"]
        return ModelRecord(id=f"{_MODEL_PREFIX}{run.run_id}", name=str(spec["output_model_name"]),
                           backend=self.name, kind="local", base_model=str(spec["base_model"]),
                           status="ready", job_id=run.run_id, uri=str(folder), created_at=state.ended_at,
                           raw={"adapter": str(folder.parent / "adapter")
                                if (folder.parent / "adapter").is_dir() else None})

    def _find_model(self, model_id: str) -> ModelRecord | None:
        if model_id.startswith(_MODEL_PREFIX):
            run = RunDir(self.root / model_id[len(_MODEL_PREFIX):])
            if run.exists():
                return self._model_record(run)
        path = _local_path(model_id)
        if path is not None and path.is_dir():
            resolved = path.resolve()
            # An output folder is <root>/<run_id>/output/model, or <output_uri>/<run_id>/model.
            for run_id in {resolved.parent.name, resolved.parent.parent.name}:
                run = RunDir(self.root / run_id)
                record = self._model_record(run) if run_id and run.exists() else None
                if record is not None and record.uri and Path(record.uri).resolve() == resolved:
                    return record
            return None
        matches = [r for r in self.list_models() if r.name == model_id]
        return matches[0] if matches else None

    def describe_model(self, model_id: str) -> ModelRecord:
        """A run's output model (by ``model-<run_id>``, name, or folder), or any model folder as a foundation.

        Raises:
            ResourceNotFoundError: nothing of that id or name, and no model folder at that path.
        """
        record = self._find_model(model_id)
        if record is not None:
            return record
        path = _local_path(model_id)
        if is_alias(model_id) or (path is not None and (_is_model_folder(path) or gguf_file_of(path))):
            return self.foundation_model(model_id)
        raise ResourceNotFoundError(
            f"the local backend has no model {model_id!r}: not a completed run's output under {self.root} "
            "and not a folder with config.json. List models with list_models().",
            backend=self.name, code="NotFound",
        )

    def list_models(self) -> Iterator[ModelRecord]:
        """The output models of completed runs, newest first."""
        for run in sorted(iter_runs(self.root), key=self._created, reverse=True):
            try:
                record = self._model_record(run)
            except (OSError, ValueError, KeyError):
                continue
            if record is not None:
                yield record

    def delete_model(self, model_id: str) -> None:
        """Delete a run's output (``model/`` and ``adapter/``); the run's record and metrics stay.

        Raises:
            ResourceNotFoundError: no such output model.
            ResourceConflictError: ``model_id`` is a folder that no run produced (it is not deleted).
        """
        record = self._find_model(model_id)
        if record is None or record.uri is None:
            path = _local_path(model_id)
            if path is not None and _is_model_folder(path):
                raise ResourceConflictError(
                    f"{model_id!r} is a model folder that no local run produced; the backend does not delete "
                    "folders it did not create", backend=self.name, code="Conflict",
                )
            raise ResourceNotFoundError(f"the local backend has no model {model_id!r}", backend=self.name,
                                        code="NotFound")
        folder = Path(record.uri)
        if "torch" in sys.modules:
            from finetune_sdk.backends.local import _inference as inference

            inference.evict(folder)
        shutil.rmtree(folder.parent / "adapter", ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)

    def foundation_model(self, model_id: str) -> ModelRecord:
        """A base model to chat with directly: a Hugging Face model folder, a GGUF file (or a folder holding
        one), an alias like ``smollm2-135m-instruct``, or a hub id (needs the network or the Hugging Face cache).

        Raises:
            ResourceNotFoundError: none of those.
            BackendNotInstalledError: an alias whose package is not installed.
        """
        if is_alias(model_id):
            alias_file = resolve_alias(model_id)
            return ModelRecord(id=model_id, name=model_id, backend=self.name, kind="foundation",
                               status="ready", uri=str(alias_file),
                               raw={"source": "gguf", "file": str(alias_file)})
        path = _local_path(model_id)
        if path is not None and _is_model_folder(path):
            folder = path.resolve()
            return ModelRecord(id=str(folder), name=folder.name, backend=self.name, kind="foundation",
                               status="ready", uri=str(folder))
        gguf = gguf_file_of(path) if path is not None and path.exists() else None
        if gguf is not None:
            return ModelRecord(id=str(gguf), name=gguf.name, backend=self.name, kind="foundation",
                               status="ready", uri=str(gguf), raw={"source": "gguf", "file": str(gguf)})
        if _HUB_ID.match(model_id) and not (path is not None and path.exists()):
            return ModelRecord(id=model_id, name=model_id, backend=self.name, kind="foundation",
                               status="ready", uri=model_id, raw={"source": "huggingface_hub"})
        raise ResourceNotFoundError(
            f"{model_id!r} is neither a model folder (with config.json) nor a Hugging Face hub id",
            backend=self.name, code="NotFound",
        )

    # --- inference ---------------------------------------------------------------------------------------
    def _chat_source(self, model_id: str) -> str:
        record = self._find_model(model_id)
        if record is not None and record.uri:
            return record.uri
        return self.foundation_model(model_id).uri or model_id

    def chat(
        self, model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
    ) -> ChatResponse:
        """Generate an answer locally. Token counts are exact; decoding is greedy at temperature 0.

        Raises:
            ResourceNotFoundError: unknown model, or a hub id that cannot be fetched (offline).
            ServiceValidationError: the prompt does not fit in the model's context.
            BackendNotInstalledError: torch or transformers are missing.
        """
        with _DEPLOYED_LOCK:
            deployed = _DEPLOYED.get(model_id)
        loaded = deployed.loaded if deployed is not None else self._load(model_id)
        prompt_ids = loaded.encode(system, turns)
        if loaded.context and len(prompt_ids) >= loaded.context:
            raise ServiceValidationError(
                f"the prompt has {len(prompt_ids)} tokens but {model_id} takes at most {loaded.context - 1} "
                "input tokens; shorten the conversation", backend=self.name, code="ContextLength",
            )
        result = loaded.submit(prompt_ids, config)
        return ChatResponse(text=result.text, stop_reason=result.stop_reason,
                            input_tokens=result.input_tokens, output_tokens=result.output_tokens,
                            tokens_estimated=False, latency_s=result.latency_s, model_id=model_id)

    def _load(self, model_id: str) -> Any:
        """The loaded model for ``model_id`` (from the in-process cache when it is there).

        Raises:
            ResourceNotFoundError: unknown model, or a hub id that cannot be fetched (offline).
            BackendNotInstalledError: torch or transformers are missing.
        """
        source = self._chat_source(model_id)
        require_local_deps("run a model", INFERENCE_DEPS)
        from finetune_sdk.backends.local import _inference as inference

        try:
            return inference.load(source, self.device)
        except OSError as exc:
            raise ResourceNotFoundError(
                f"cannot load model {model_id!r} from {source!r}: {exc}. For hub ids, check the network "
                "(HF_HUB_OFFLINE) or download the model first.", backend=self.name, code="LoadFailed",
            ) from exc

    # --- deployments -------------------------------------------------------------------------------------
    def _deployment_id(self, spec: DeploymentSpec) -> str:
        digest = hashlib.sha256(f"{self.root.resolve()}|{spec.client_token()}".encode()).hexdigest()[:10]
        return f"local-{_slug(spec.name, 40)}-{digest}"

    def create_deployment(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Load the model into this process once and keep it there until the deployment is deleted.

        A local deployment is in-process: ``Model.deploy()`` returns it ACTIVE with the model loaded, its
        ``chat``/``invoke`` answer from that copy, and ``delete()`` (or leaving the ``with`` block) frees it.
        It costs nothing and is not visible to other processes. Creating the same spec twice returns the same
        deployment.

        Raises:
            ConfigurationError: a deployment kind other than ``"local"``.
            ResourceNotFoundError: unknown model, or a model that cannot be loaded.
            BackendNotInstalledError: torch or transformers are missing.

        Examples:
            >>> import tempfile
            >>> from finetune_sdk.backends.base import DeploymentSpec
            >>> from finetune_sdk.training.tiny import build_tiny_model
            >>> folder = build_tiny_model(tempfile.mkdtemp() + "/m", hidden_size=32, layers=1, heads=2)
            >>> backend = LocalBackend(root=tempfile.mkdtemp())
            >>> record = backend.create_deployment(DeploymentSpec(model_id=str(folder), name="d", kind="local"))
            >>> record.status.value, record.hourly_cost, [d.id for d in backend.list_deployments()] == [record.id]
            ('active', 0.0, True)
            >>> backend.delete_deployment(record.id); list(backend.list_deployments())
            []
        """
        if spec.kind != "local":
            raise ConfigurationError(
                f"the local backend deploys in-process only: kind={spec.kind!r} is not possible here; leave kind "
                "unset (or pass kind='local')"
            )
        deployment_id = self._deployment_id(spec)
        with _DEPLOYED_LOCK:
            existing = _DEPLOYED.get(deployment_id)
        if existing is not None:
            return existing.record
        loaded = self._load(spec.model_id)
        record = DeploymentRecord(
            id=deployment_id, name=spec.name, backend=self.name, model_id=spec.model_id, kind="local",
            status=DeploymentStatus.ACTIVE, raw_status="loaded", invoke_id=deployment_id, hourly_cost=0.0,
            created_at=self.clock.now(),
            raw={"source": str(loaded.source), "device": str(loaded.device), "parameters": int(loaded.n_params),
                 "pid": os.getpid()},
        )
        with _DEPLOYED_LOCK:
            _DEPLOYED.setdefault(deployment_id, _Deployed(record=record, root=self.root.resolve(), loaded=loaded))
            return _DEPLOYED[deployment_id].record

    def describe_deployment(self, deployment_id: str) -> DeploymentRecord:
        """The record of one of this process's local deployments.

        Raises:
            ResourceNotFoundError: no such deployment in this process (local deployments are in-process).
        """
        with _DEPLOYED_LOCK:
            deployed = _DEPLOYED.get(deployment_id)
        if deployed is None:
            raise ResourceNotFoundError(
                f"no local deployment {deployment_id!r} in this process; local deployments live in the process "
                "that created them (Model.deploy()) until deleted", backend=self.name, code="NotFound",
            )
        return deployed.record

    def delete_deployment(self, deployment_id: str) -> None:
        """Free the deployment's model (a deployment that is gone is a no-op)."""
        with _DEPLOYED_LOCK:
            deployed = _DEPLOYED.pop(deployment_id, None)
            still_used = deployed is not None and any(
                d.loaded is deployed.loaded for d in _DEPLOYED.values())
        if deployed is None or still_used:
            return
        if "torch" in sys.modules:
            from finetune_sdk.backends.local import _inference as inference

            inference.evict(deployed.loaded.source)
        deployed.loaded = None

    def list_deployments(self) -> Iterator[DeploymentRecord]:
        """This process's local deployments made through a backend with the same root."""
        root = self.root.resolve()
        with _DEPLOYED_LOCK:
            records = [d.record for d in _DEPLOYED.values() if d.root == root]
        yield from records

    def estimate_deployment_cost(self, spec: DeploymentSpec, *, hours: float = 1.0) -> CostEstimate | None:
        """Zero: a local deployment runs in this process."""
        return CostEstimate(total=0.0, breakdown={"compute": 0.0},
                            assumptions=("runs in this process; electricity and hardware are not counted",))
