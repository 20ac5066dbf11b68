"""The training benchmark runs on the CPU and its two loops compute the same thing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = [pytest.mark.local, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "local_train.py"


def test_benchmark_cpu_path() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--steps", "3", "--warmup", "1", "--repeats", "1", "--seq-len", "64", "--json"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    result = json.loads(out.stdout)
    ours, theirs = result["results"]
    assert result["meta"]["preset"] == "tiny" and result["meta"]["device"] == "cpu"
    assert ours["tokens_per_s"] > 0 and theirs["tokens_per_s"] > 0 and result["ratio"] > 0
    assert ours["last_loss"] == pytest.approx(theirs["last_loss"], rel=1e-4)  # same model, data and updates
    assert ours["mfu"] is None  # no GPU peak to compare with
