"""Crash and stop handling with real worker processes: kill → resubmit resumes, stop → checkpoint → resume."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from local_helpers import kill_workers, say_records, wait_until

from finetune_sdk.backends.base import JobKind, JobSpec, JobStatus
from finetune_sdk.backends.local import LocalBackend
from finetune_sdk.training._records_io import write_records
from finetune_sdk.training._run import RunDir

pytest.importorskip("torch")
pytestmark = [pytest.mark.local, pytest.mark.slow]


@pytest.fixture
def wide_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wide enough that a step takes tens of milliseconds, so the test can act between steps."""
    from finetune_sdk.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("wide") / "model", hidden_size=128, layers=2, heads=4)


def test_kill_resume_stop_resume(wide_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_records(say_records(64), tmp_path / "train.jsonl")
    monkeypatch.chdir(wide_model.parent)  # relative paths are the caller's; the worker runs elsewhere
    spec = JobSpec(kind=JobKind.FINE_TUNING, base_model=wide_model.name, name="crashy", output_model_name="crashy",
                   training_data=str(tmp_path / "train.jsonl"),
                   hyperparameters={"method": "full", "batchSize": 8, "epochCount": 10, "saveEverySteps": 10,
                                    "logEverySteps": 1, "learningRate": 0.001})  # 80 steps
    backend = LocalBackend(root=tmp_path / "runs", device="cpu")
    try:
        first = backend.submit_job(spec)
        run = RunDir(backend.root / first.id)

        # 1. The worker dies mid-run (SIGKILL: no chance to write anything).
        wait_until(backend, first.id, lambda r: 10 in r.raw["checkpoints"])
        os.killpg(first.raw["pid"], signal.SIGKILL)
        dead = wait_until(backend, first.id, lambda r: r.status.is_terminal, timeout=30)
        assert dead.status is JobStatus.FAILED and dead.raw_status == "worker_exited"
        assert f"LocalBackend.resume({first.id!r})" in (dead.failure_message or "")
        assert "resume" in (backend.failure_hint(dead) or "")
        killed_at = dead.raw["step"]
        assert killed_at >= 10

        # 2. Submitting the same spec again restarts the worker, which resumes from the checkpoint.
        again = backend.submit_job(spec)
        assert again.id == first.id and again.raw["attempt"] == 2
        resumed = wait_until(backend, first.id, lambda r: r.raw["step"] > 10 and r.status is JobStatus.RUNNING)
        assert resumed.raw["resumed_from_step"] == max(s for s in dead.raw["checkpoints"])

        # 3. A stop request ends the run STOPPED, with a checkpoint at the step it stopped.
        backend.stop_job(first.id)
        assert backend.describe_job(first.id).status in (JobStatus.STOPPING, JobStatus.STOPPED)
        stopped = wait_until(backend, first.id, lambda r: r.status.is_terminal, timeout=120)
        assert stopped.status is JobStatus.STOPPED, stopped.failure_message
        stopped_at = stopped.raw["step"]
        assert stopped_at < 80 and stopped_at in stopped.raw["checkpoints"]
        assert not run.stop_file.exists()
        assert backend.submit_job(spec).status is JobStatus.STOPPED  # a stopped run is not restarted by submit

        # 4. resume() continues from the stop checkpoint to the end.
        backend.resume(first.id)
        done = wait_until(backend, first.id, lambda r: r.status.is_terminal, timeout=300)
        assert done.status is JobStatus.COMPLETED, done.failure_message
        assert done.raw["resumed_from_step"] == stopped_at and done.raw["step"] == 80
        assert done.raw["attempt"] == 3
        steps = [p.step for p in backend.job_metrics(first.id)]
        assert steps == list(range(1, 81)), "every step logged exactly once across the three workers"
        assert backend.resume(first.id).status is JobStatus.COMPLETED  # nothing to do
    finally:
        kill_workers(backend.root)
