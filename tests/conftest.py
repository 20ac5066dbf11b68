"""Hermetic test defaults: fake AWS credentials, no retries against unimplemented calls, no progress bars."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(("AWS_", "FINETUNE_SDK_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("FINETUNE_SDK_HOME", str(tmp_path / "finetune-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield


@pytest.fixture(autouse=True, scope="session")
def _reap_worker_processes() -> Iterator[None]:
    """Stop and reap every local training worker a test left running, so none outlives the session and no
    ``ResourceWarning: subprocess ... is still running`` is printed after pytest's summary."""
    yield
    backend = sys.modules.get("finetune_sdk.backends.local._backend")
    children = dict(getattr(backend, "_CHILDREN", {}) or {})
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=15)


@pytest.fixture
def shared_datasets() -> Path:
    """``../shared/datasets`` beside the checkout; tests that need it skip when it is absent."""
    path = SHARED / "datasets"
    if not path.is_dir():
        pytest.skip("../shared/datasets is not present beside this checkout")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markexpr = config.getoption("-m") or ""
    if "aws" in markexpr:
        return
    skip_aws = pytest.mark.skip(reason="real-AWS test; run with -m aws and real credentials")
    for item in items:
        if "aws" in item.keywords:
            item.add_marker(skip_aws)
