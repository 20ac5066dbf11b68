"""One submit path: a fine-tuning job's request is built and validated against the service model once, and the
data file is read once (issue 12, item 4)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")

import finetune_sdk as ft
from finetune_sdk._aws import validation
from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.emulation import BedrockEmulation

_WATCHED: list[str] = []  # the file whose opens are counted (audit hooks cannot be removed, so one hook)
_OPENS: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCHED and args and str(args[0]) == _WATCHED[0]:
        _OPENS.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def train_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "train.jsonl"
    rows = [{"prompt": f"What is {i} + {i}?", "completion": str(2 * i)} for i in range(40)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _WATCHED[:] = [str(path)]
    _OPENS.clear()
    yield path
    _WATCHED.clear()


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = validation.find_request_problems

    def counting(service: str, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(service, operation, params)

    monkeypatch.setattr(validation, "find_request_problems", counting)
    return calls


def _submit(path: Path) -> tuple[BedrockEmulation, ft.Job]:
    aws = BedrockEmulation(clock=FakeClock())
    aws.start()
    job = ft.Job.fine_tune(
        model="amazon.titan-text-lite-v1:0:4k",
        train=ft.Dataset.from_jsonl(path),
        backend=aws.backend(),
        hyperparameters={"epochCount": 1},
    )
    return aws, job


def test_the_request_is_validated_once_and_sent_as_validated(train_file: Path, validations: list[str]) -> None:
    aws, job = _submit(train_file)
    try:
        assert validations.count("CreateModelCustomizationJob") == 1
        sent = [r for r in aws.requests if r.operation == "CreateModelCustomizationJob"]
        assert len(sent) == 1 and sent[0].params["jobName"] == job.name
        assert aws.violations == []
    finally:
        aws.stop()


def test_the_data_file_is_read_once(train_file: Path) -> None:
    train = ft.Dataset.from_jsonl(train_file)
    assert _OPENS == []  # the existence check stats the file, it does not open it
    aws = BedrockEmulation(clock=FakeClock())
    aws.start()
    try:
        job = ft.Job.fine_tune(
            model="amazon.titan-text-lite-v1:0:4k",
            train=train,
            backend=aws.backend(),
            hyperparameters={"epochCount": 1},
        )
    finally:
        aws.stop()
    assert len(_OPENS) == 1
    assert train.is_lazy  # the caller's Dataset is not filled in; the job worked on its own copy
    again, same = _submit(train_file)
    again.stop()
    assert job.name == same.name  # same data, same fingerprint, same default name
