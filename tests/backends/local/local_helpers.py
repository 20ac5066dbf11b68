"""Helpers shared by the local backend tests."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from finetune_sdk.backends.base import JobRecord
from finetune_sdk.backends.local import LocalBackend
from finetune_sdk.data.records import Conversation


def kill_workers(root: Path) -> None:
    """SIGKILL the worker of every run under ``root`` (each worker leads its own process group)."""
    for status in root.glob("*/status.json"):
        pid = json.loads(status.read_text(encoding="utf-8")).get("pid")
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def say_records(n: int, *, offset: int = 0) -> list[Conversation]:
    """``say <word>`` → ``<word>``: learnable in a few steps, so losses visibly fall."""
    words = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "sloe"]
    return [Conversation.from_pairs(f"say {words[(i + offset) % len(words)]}", words[(i + offset) % len(words)])
            for i in range(n)]


def wait_until(backend: LocalBackend, job_id: str, condition: Callable[[JobRecord], bool], *,
               timeout: float = 300.0, poll: float = 0.05) -> JobRecord:
    """Poll ``describe_job`` until ``condition(record)``; fail after ``timeout`` real seconds."""
    deadline = time.monotonic() + timeout
    record = backend.describe_job(job_id)
    while not condition(record):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last record: {record.status} {record.raw_status} {record.raw}")
        time.sleep(poll)
        record = backend.describe_job(job_id)
    return record
