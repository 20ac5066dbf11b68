"""The local trainer under ``torchrun``: data sharding (pure) and a real 2-process gloo run on the CPU."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from local_helpers import say_records

from finetune_sdk.backends.base import JobKind, JobSpec
from finetune_sdk.training._dist import DistContext, dist_context_from_env, shard_indices
from finetune_sdk.training._records_io import write_records
from finetune_sdk.training._run import RunDir


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_cover_the_data_evenly(n: int, world: int) -> None:
    order = [(i * 7) % n for i in range(n)] if n > 1 else [0]
    shards = [shard_indices(order, rank=r, world_size=world) for r in range(world)]
    assert {len(s) for s in shards} == {math.ceil(n / world)}  # same number of steps on every rank
    merged = [i for s in shards for i in s]
    assert set(merged) == set(order)  # covered
    padding = len(merged) - n
    assert padding == math.ceil(n / world) * world - n
    if n % world == 0:
        assert len(set(merged)) == n  # disjoint
    else:  # only the padding repeats, and it repeats the start of the order like DistributedSampler
        assert sorted(merged) == sorted((order * (padding // n + 2))[: n + padding])
    assert shard_indices(order, rank=world - 1, world_size=world) == shards[-1]  # deterministic


def test_shard_indices_refuses_a_bad_rank() -> None:
    with pytest.raises(ValueError, match="outside"):
        shard_indices([1, 2], rank=2, world_size=2)
    with pytest.raises(ValueError, match="empty"):
        shard_indices([], rank=0, world_size=2)


def test_dist_context_from_env() -> None:
    assert dist_context_from_env({}) == DistContext()
    assert not dist_context_from_env({"WORLD_SIZE": "1", "RANK": "0"}).enabled
    ctx = dist_context_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (ctx.enabled, ctx.is_main, ctx.rank, ctx.local_rank, ctx.local_world_size) == (True, False, 3, 1, 2)
    with pytest.raises(ValueError, match="RANK=4"):
        dist_context_from_env({"WORLD_SIZE": "4", "RANK": "4"})
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        dist_context_from_env({"WORLD_SIZE": "two"})


_HPS = {"epochCount": 2, "batchSize": 2, "learningRate": 5e-3, "logEverySteps": 1, "saveEverySteps": 2,
        "maxSequenceLength": 64, "loraRank": 4, "loraAlpha": 8}


def _make_run(root: Path, name: str, model: Path) -> RunDir:
    run = RunDir(root / name)
    run.data_dir.mkdir(parents=True)
    write_records(say_records(16), run.data_dir / "train.jsonl")
    write_records(say_records(4, offset=3), run.data_dir / "validation.jsonl")
    spec = JobSpec(kind=JobKind.FINE_TUNING, base_model=str(model), name=name, output_model_name="m",
                   training_data=str(run.data_dir / "train.jsonl"), hyperparameters=_HPS)
    run.write_spec(spec, created_at=datetime.now(timezone.utc), output_dir=run.path / "output")
    return run


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", FINETUNE_SDK_TORCH_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore")
    return env


def _layout(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.slow
def test_two_process_torchrun_run_matches_the_single_process_layout(tiny_model: Path, tmp_path: Path) -> None:
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not on PATH")
    single = _make_run(tmp_path, "single", tiny_model)
    multi = _make_run(tmp_path, "multi", tiny_model)
    worker = [sys.executable, "-m", "finetune_sdk.training.worker"]
    done = subprocess.run([*worker, str(single.path), "--device", "cpu"], env=_env(), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    launch = ["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "finetune_sdk.training.worker",
              str(multi.path), "--device", "cpu"]
    done = subprocess.run(launch, env=_env(), capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    state = json.loads(multi.status_file.read_text(encoding="utf-8"))
    assert state["status"] == "completed" and state["raw_status"] == "completed"
    # 16 records over 2 ranks: 8 each, batch 2 -> 4 steps per epoch, 2 epochs (single process: 8 per epoch)
    assert state["total_steps"] == 8 and state["step"] == 8
    single_state = json.loads(single.status_file.read_text(encoding="utf-8"))
    assert single_state["total_steps"] == 16
    assert state["tokens_seen"] == single_state["tokens_seen"]  # same data, every token counted once

    # exactly one writer: one status.json / metrics.csv, one row per step, no stray temp files of rank 1
    assert sorted(p.name for p in multi.path.glob("*status*")) == ["status.json"]
    with open(multi.metrics_file, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    losses = [float(r["training_loss"]) for r in rows]
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-2:]) < sum(losses[:2])  # it learns
    assert all(math.isfinite(float(r["validation_loss"])) for r in rows if r["validation_loss"])
    assert sum(1 for r in rows if r["validation_loss"]) == 2  # once per epoch
    assert not multi.checkpoints_dir.exists()  # completed runs drop their checkpoints, as in one process
    assert not list(multi.path.rglob("*.tmp"))
    assert _layout(multi.path / "output") == _layout(single.path / "output")
    assert (multi.path / "output" / "model" / "model.safetensors").is_file()
    assert (multi.path / "output" / "adapter").is_dir()


@pytest.mark.slow
def test_torchrun_run_stops_on_rank_0_and_resumes_on_every_rank(tiny_model: Path, tmp_path: Path) -> None:
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not on PATH")
    run = _make_run(tmp_path, "resume", tiny_model)
    meta = run.read_meta()
    meta["spec"]["hyperparameters"] = {**_HPS, "epochCount": 50, "maxSteps": 30}
    run.spec_file.write_text(json.dumps(meta), encoding="utf-8")
    launch = ["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "finetune_sdk.training.worker",
              str(run.path), "--device", "cpu"]
    proc = subprocess.Popen(launch, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(run.read_metrics()) < 3:  # a checkpoint at step 2 exists by now
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the stop request"
            time.sleep(0.05)
        run.request_stop()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    stopped = run.read_state()
    assert stopped.status.value == "stopped" and 3 <= stopped.step < 30
    assert run.latest_checkpoint() is not None and run.latest_checkpoint()[0] == stopped.step  # type: ignore[index]
    assert not run.stop_requested()

    done = subprocess.run(launch, env=_env(), capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    state = run.read_state()
    assert state.status.value == "completed" and state.step == 30
    assert state.resumed_from_step == stopped.step
    assert "resumed from checkpoint" in done.stderr and done.stderr.count("resumed from checkpoint") == 2  # each rank
    assert [p.step for p in run.read_metrics()] == list(range(1, 31))  # no gap, no duplicate
