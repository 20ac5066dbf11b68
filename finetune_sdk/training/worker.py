"""The training process of the local backend: ``python -m finetune_sdk.training.worker <run_dir>``.

``LocalBackend.submit_job`` starts it detached (its own session, output to ``worker.out`` / ``worker.err``)
and returns at once. Everything it reports goes to the run folder: ``status.json`` (atomically, with a
heartbeat), ``metrics.csv``, checkpoints and the final ``output/``. It ends in one of three ways:

- ``completed``: the model was exported (early stopping also ends here, with ``raw_status="early_stopped"``);
- ``stopped``: a ``stop`` file appeared (``LocalBackend.stop_job``) or SIGTERM/SIGINT arrived; a checkpoint
  was saved first, so ``LocalBackend.resume(run_id)`` continues from it;
- ``failed``: an exception, with its message in ``status.json`` and the traceback in ``worker.err``.

If the process is killed outright, ``status.json`` stays non-terminal and the backend notices that the pid
is gone; resubmitting the same spec (or ``resume``) restarts the worker from the last checkpoint.

Launched by ``torchrun`` (``WORLD_SIZE`` > 1, as the SageMaker entry script does for several GPUs or
instances), every process joins one process group and trains its shard of the data (see ``_dist``); only
rank 0 writes ``status.json``, ``metrics.csv``, checkpoints and ``output/``, and the other ranks wait at a
barrier until it has exported the model.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from finetune_sdk.specs import JobStatus
from finetune_sdk.training._run import RunDir, utcnow

__all__ = ["FollowerHooks", "RunHooks", "main", "run"]

logger = logging.getLogger("finetune_sdk.training.worker")

#: seconds between status.json rewrites while nothing but the step changes
HEARTBEAT_S = 0.5
#: status fields written at once, whatever the heartbeat
_IMPORTANT = ("raw_status", "stages", "validation_loss", "total_steps", "last_checkpoint")


class RunHooks:
    """Trainer hooks that write the run folder: throttled status updates, metric rows, stop checks."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.pending: dict[str, Any] = {}
        self.last_write = 0.0
        self.signalled = False

    def should_stop(self) -> bool:
        return self.signalled or self.run.stop_requested()

    def on_status(self, **fields: Any) -> None:
        self.pending.update(fields)
        important = any(k in fields for k in _IMPORTANT)
        now = time.monotonic()
        if important or now - self.last_write >= HEARTBEAT_S:
            self.flush()

    def flush(self, **fields: Any) -> None:
        self.pending.update(fields)
        self.pending["heartbeat"] = utcnow()
        self.pending["pid"] = os.getpid()
        self.run.update_state(**self.pending)
        self.pending = {}
        self.last_write = time.monotonic()

    def on_metrics(self, row: dict[str, float | int | None]) -> None:
        self.run.append_metrics(row)

    def on_step_end(self, step: int) -> None:
        return None


class FollowerHooks(RunHooks):
    """The hooks of ranks other than 0 in a ``torchrun`` launch: they write nothing (rank 0 reports and
    decides when to stop)."""

    def should_stop(self) -> bool:
        return False

    def on_status(self, **fields: Any) -> None:
        return None

    def flush(self, **fields: Any) -> None:
        return None

    def on_metrics(self, row: dict[str, float | int | None]) -> None:
        return None


def _barrier_and_leave(distributed: bool) -> None:
    """Wait for every rank (rank 0 may still be exporting), then leave the process group."""
    if not distributed:
        return
    import torch.distributed as dist

    from finetune_sdk.training._dist import destroy_distributed

    try:
        dist.barrier()
        destroy_distributed()
    except Exception:  # the run's outcome is already recorded; a peer that left early must not change it
        logger.warning("leaving the process group failed", exc_info=True)


def _install_signal_handlers(hooks: RunHooks) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        hooks.signalled = True  # checked between steps: save a checkpoint, end STOPPED

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def run(run_dir: Path, *, device: str | None = None) -> int:
    """Train the run in ``run_dir`` to its end. Returns the process exit code (0 unless it failed).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) this process trains as one rank of the group.
    """
    from finetune_sdk.training._dist import dist_context_from_env

    ctx = dist_context_from_env(os.environ)
    run = RunDir(run_dir)
    hooks = RunHooks(run) if ctx.is_main else FollowerHooks(run)
    _install_signal_handlers(hooks)
    previous = run.read_state()
    hooks.flush(status=JobStatus.RUNNING, raw_status="loading", started_at=previous.started_at or utcnow(),
                ended_at=None, failure_message=None,
                stages={"load": "in_progress", "train": "not_started", "export": "not_started"})
    stopped = {"load": "completed", "train": "stopped", "export": "not_started"}
    if not ctx.enabled and hooks.should_stop():  # stopped before the heavy imports: nothing to save
        hooks.flush(status=JobStatus.STOPPED, raw_status="stopped", ended_at=utcnow(), stages=stopped)
        run.clear_stop()
        return 0
    try:
        from finetune_sdk.training._config import resolve_config
        from finetune_sdk.training._records_io import read_records
        from finetune_sdk.training._trainer import Trainer, pick_device

        if ctx.enabled:
            from finetune_sdk.training._dist import init_distributed

            device = str(init_distributed(ctx, pick_device(device).type))
        spec = run.read_spec()
        config = resolve_config(spec.hyperparameters, spec.kind)
        train_records = read_records(run.data_dir / "train.jsonl")
        validation_path = run.data_dir / "validation.jsonl"
        validation_records = read_records(validation_path) if validation_path.exists() else []
        trainer = Trainer(base_model=run.base_model(), kind=spec.kind, config=config,
                          train_records=train_records, validation_records=validation_records, run=run,
                          hooks=hooks, device=device, dist=ctx)
        logger.info("run %s: %d training sequences, %d validation, %d steps on %s", run.run_id,
                    len(trainer.train_set.examples), len(trainer.validation_set.examples),
                    trainer.total_steps, trainer.device)
        hooks.flush(total_steps=trainer.total_steps, device=str(trainer.device))
        result = trainer.train()
        if not ctx.is_main:
            _barrier_and_leave(ctx.enabled)
            return 0
        speed = result.tokens_per_second
        common = {"step": result.step, "epoch": result.epoch, "tokens_seen": result.tokens_seen,
                  "tokens_per_second": round(speed, 1) if speed else None}
        if result.outcome == "stopped":
            hooks.flush(status=JobStatus.STOPPED, raw_status="stopped", ended_at=utcnow(), stages=stopped,
                        **common)
            run.clear_stop()
            _barrier_and_leave(ctx.enabled)
            return 0
        trainer.export(run.output_dir)
        hooks.flush(status=JobStatus.COMPLETED, raw_status=result.outcome, ended_at=utcnow(),
                    stages={"load": "completed", "train": "completed", "export": "completed"},
                    train_seconds=round(result.train_seconds, 1), cpu_seconds=round(time.process_time(), 1),
                    **common)
        # A completed run is never resumed; its checkpoints (optimizer state: 3x the weights) only take disk.
        shutil.rmtree(run.checkpoints_dir, ignore_errors=True)
        _barrier_and_leave(ctx.enabled)
        return 0
    except BaseException as exc:  # the status must say why, whatever happened
        traceback.print_exc(file=sys.stderr)
        message = f"{type(exc).__name__}: {exc}".strip()
        hooks.flush(status=JobStatus.FAILED, raw_status="failed", ended_at=utcnow(),
                    failure_message=message[:2000])
        if isinstance(exc, KeyboardInterrupt):
            return 130
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m finetune_sdk.training.worker RUN_DIR [--device cuda]``."""
    parser = argparse.ArgumentParser(prog="python -m finetune_sdk.training.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no progress bars in worker.err
    return run(args.run_dir, device=args.device)


if __name__ == "__main__":
    sys.exit(main())
