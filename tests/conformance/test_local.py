"""The local backend runs the conformance suite with real worker processes training a tiny Llama model.

Every job here is a real run: a detached worker imports torch, trains a 1-layer model for a few steps and
exports it. Failures are provoked the way they happen in life (the worker is killed), and every worker a
test started is killed when the test ends.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from finetune_sdk.backends.base import JobKind, JobSpec
from finetune_sdk.backends.local import LocalBackend
from finetune_sdk.data.records import Conversation, TextRecord
from finetune_sdk.testing.conformance import Advance, BackendConformance, FailJob, JobSpecFactory
from finetune_sdk.training._records_io import write_records

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = [pytest.mark.local, pytest.mark.slow]

_names = itertools.count(1)
#: a few optimizer steps: enough for a falling loss curve, cheap enough for a dozen runs
_HYPERPARAMETERS: dict[str, int | float | bool | str] = {
    "method": "full", "epochCount": 2, "batchSize": 4, "learningRate": 0.01, "logEverySteps": 1,
    "maxSequenceLength": 64, "saveEverySteps": 0,
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finetune_sdk.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", hidden_size=32, layers=1, heads=2, seed=0)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    conversations = [Conversation.from_pairs(f"say {w}", w) for w in ("apple", "pear", "plum", "fig") * 2]
    texts = [TextRecord(text=f"the {w} is ripe. " * 3) for w in ("apple", "pear", "plum", "fig") * 2]
    paths = {"train": folder / "train.jsonl", "validation": folder / "validation.jsonl",
             "text": folder / "text.jsonl"}
    write_records(conversations, paths["train"])
    write_records(conversations[:4], paths["validation"])
    write_records(texts, paths["text"])
    return paths


def kill_workers(root: Path) -> None:
    """SIGKILL the worker of every run under ``root`` (each leads its own process group)."""
    for status in root.glob("*/status.json"):
        pid = json.loads(status.read_text(encoding="utf-8")).get("pid")
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class TestLocalBackend(BackendConformance):
    #: the message a killed worker's job fails with (the suite's ``fail_job`` kills the worker)
    failure_message: ClassVar[str] = "ended without finishing"
    #: backend seconds as drive_job counts them; ``advance`` sleeps at most 0.25 s of each step of up to 16 s,
    #: so this bounds a stuck job at about 5 real minutes
    max_job_time_s: ClassVar[float] = 20_000.0
    #: local deployments load the model into this process
    deployment_kind: ClassVar[Literal["provisioned", "on_demand", "endpoint", "local"]] = "local"

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[LocalBackend]:
        backend = LocalBackend(root=tmp_path / "runs", device="cpu")
        yield backend
        kill_workers(backend.root)
        for _ in backend.list_jobs():  # reaps the killed workers
            pass

    @pytest.fixture
    def job_spec_factory(self, tiny_model: Path, data_files: dict[str, Path]) -> JobSpecFactory:
        def make(kind: JobKind = JobKind.FINE_TUNING) -> JobSpec:
            name = f"conformance-local-{next(_names)}"
            extra: dict[str, Any] = {}
            if kind is JobKind.CONTINUED_PRE_TRAINING:
                extra["training_data"] = str(data_files["text"])
            else:
                extra["training_data"] = str(data_files["train"])
                extra["validation_data"] = str(data_files["validation"])
            return JobSpec(kind=kind, base_model=str(tiny_model), name=name, output_model_name=f"{name}-model",
                           hyperparameters=_HYPERPARAMETERS, **extra)

        return make

    @pytest.fixture
    def advance(self) -> Advance:
        # A real clock: polling more often than asked only makes the suite quicker.
        return lambda seconds: time.sleep(min(seconds, 0.25))

    @pytest.fixture
    def fail_job(self, backend: LocalBackend) -> FailJob:
        def kill(job_id: str, message: str) -> None:
            pid = backend.describe_job(job_id).raw["pid"]
            os.killpg(pid, signal.SIGKILL)

        return kill
