"""The on-disk state of one local run: every fact about a job lives in its run folder.

The caller (``LocalBackend``) and the worker process share nothing but this folder, so a crashed notebook
can re-attach, and a killed worker can be resumed from its last checkpoint::

    <root>/<run_id>/
        spec.json            the JobSpec and when it was submitted
        data/                the staged training / validation records (canonical JSONL)
        status.json          written atomically by the worker: status, step, epoch, pid, heartbeat...
        metrics.csv          one row per logging / evaluation step (Bedrock's metric columns)
        stop                 present when a stop was requested; the worker checks it between steps
        worker.out/.err      the worker's stdout and stderr
        checkpoints/step-N/  trained weights + optimizer + scheduler + RNG + trainer state (the last two;
                             deleted once the run completes)
        output/adapter/      the PEFT adapter (LoRA runs)
        output/model/        merged full weights: safetensors + config.json + tokenizer files

This module is light: it imports neither torch nor transformers.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.specs import JobSpec, JobStatus, MetricPoint

__all__ = [
    "METRIC_COLUMNS",
    "RunDir",
    "RunState",
    "atomic_write_text",
    "iter_runs",
    "utcnow",
]

METRIC_COLUMNS = ("step", "epoch", "training_loss", "validation_loss", "perplexity")
_CHECKPOINT_PREFIX = "step-"


def utcnow() -> datetime:
    """The current UTC time (timezone-aware)."""
    return datetime.now(timezone.utc)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see either the old or the new content, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
    os.replace(tmp, path)


class RunState(BaseModel):
    """The contents of ``status.json``."""

    model_config = ConfigDict(extra="ignore")

    status: JobStatus = JobStatus.PENDING
    raw_status: str = "pending"
    step: int = 0
    total_steps: int | None = None
    epoch: float = 0.0
    pid: int | None = None
    heartbeat: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failure_message: str | None = None
    training_loss: float | None = None
    validation_loss: float | None = None
    tokens_per_second: float | None = None
    tokens_seen: int = 0
    #: seconds spent in training steps, and CPU seconds of the worker process (all threads), at the end
    train_seconds: float | None = None
    cpu_seconds: float | None = None
    device: str | None = None
    attempt: int = 0
    resumed_from_step: int | None = None
    last_checkpoint: int | None = None
    stages: dict[str, str] = Field(default_factory=dict)


class RunDir:
    """Paths and file operations of one run folder (see the module docstring for the layout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # --- paths -----------------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def stop_file(self) -> Path:
        return self.path / "stop"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def stdout_file(self) -> Path:
        return self.path / "worker.out"

    @property
    def stderr_file(self) -> Path:
        return self.path / "worker.err"

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    def exists(self) -> bool:
        return self.spec_file.is_file()

    # --- spec ------------------------------------------------------------------------------------------
    def write_spec(self, spec: JobSpec, *, created_at: datetime, output_dir: Path,
                   base_model: str | None = None) -> None:
        """Write ``spec.json``; ``base_model`` is the base model as the worker must load it (an absolute path
        for a local folder: the worker runs in the run folder, not in the caller's working directory)."""
        payload = {
            "run_id": self.run_id,
            "created_at": created_at.isoformat(),
            "output_dir": str(output_dir),
            "base_model": base_model or spec.base_model,
            "client_token": spec.client_token(),
            "spec": spec.model_dump(mode="json"),
        }
        atomic_write_text(self.spec_file, json.dumps(payload, indent=2, sort_keys=True))

    def read_meta(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.spec_file.read_text(encoding="utf-8"))
        return data

    def read_spec(self) -> JobSpec:
        return JobSpec.model_validate(self.read_meta()["spec"])

    def base_model(self) -> str:
        """The base model to load: the resolved folder, or the spec's id (a hub id)."""
        meta = self.read_meta()
        return str(meta.get("base_model") or meta["spec"]["base_model"])

    @property
    def output_dir(self) -> Path:
        try:
            return Path(self.read_meta()["output_dir"])
        except (OSError, KeyError, ValueError):
            return self.path / "output"

    # --- status ----------------------------------------------------------------------------------------
    def read_state(self) -> RunState:
        try:
            text = self.status_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return RunState()
        return RunState.model_validate_json(text)

    def write_state(self, state: RunState) -> None:
        atomic_write_text(self.status_file, state.model_dump_json(indent=1))

    def update_state(self, **changes: Any) -> RunState:
        state = self.read_state().model_copy(update=changes)
        self.write_state(state)
        return state

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def request_stop(self) -> None:
        atomic_write_text(self.stop_file, utcnow().isoformat())

    def clear_stop(self) -> None:
        self.stop_file.unlink(missing_ok=True)

    # --- metrics ---------------------------------------------------------------------------------------
    def append_metrics(self, row: Mapping[str, float | int | None]) -> None:
        new = not self.metrics_file.exists()
        with open(self.metrics_file, "a", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(METRIC_COLUMNS)
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in METRIC_COLUMNS])
            fh.flush()

    def read_metrics(self) -> list[MetricPoint]:
        try:
            with open(self.metrics_file, encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))
        except FileNotFoundError:
            return []
        points = []
        for row in rows:
            def num(key: str, r: Mapping[str, str] = row) -> float | None:
                value = (r.get(key) or "").strip()
                if not value:
                    return None
                number = float(value)
                return number if math.isfinite(number) else None

            step = num("step")
            if step is None:
                continue  # a row cut short by a kill
            points.append(MetricPoint(step=int(step), epoch=num("epoch"), training_loss=num("training_loss"),
                                      validation_loss=num("validation_loss"), perplexity=num("perplexity")))
        return points

    def truncate_metrics_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run recomputes them)."""
        if not self.metrics_file.exists():
            return
        with open(self.metrics_file, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            return
        kept = [rows[0]]
        for row in rows[1:]:
            try:
                if int(float(row[0])) <= step and len(row) == len(METRIC_COLUMNS):
                    kept.append(row)
            except (ValueError, IndexError):
                continue
        tmp = self.metrics_file.with_name(f".metrics.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(kept)
        os.replace(tmp, self.metrics_file)

    # --- checkpoints -----------------------------------------------------------------------------------
    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first (half-written ones are ``.tmp`` folders and are skipped)."""
        found: list[tuple[int, Path]] = []
        if not self.checkpoints_dir.is_dir():
            return found
        for child in self.checkpoints_dir.iterdir():
            name = child.name
            complete = (child / "trainer_state.json").is_file()
            if child.is_dir() and name.startswith(_CHECKPOINT_PREFIX) and complete:
                try:
                    found.append((int(name[len(_CHECKPOINT_PREFIX):]), child))
                except ValueError:
                    continue
        return sorted(found)

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / f"{_CHECKPOINT_PREFIX}{step:08d}"

    def prune_checkpoints(self, keep: int) -> None:
        for _, path in self.checkpoints()[:-keep] if keep > 0 else []:
            shutil.rmtree(path, ignore_errors=True)


def iter_runs(root: Path) -> Iterator[RunDir]:
    """Every run folder under ``root`` (those with a ``spec.json``)."""
    if not root.is_dir():
        return
    for child in root.iterdir():
        run = RunDir(child)
        if child.is_dir() and run.exists():
            yield run
