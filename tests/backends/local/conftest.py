"""Fixtures for the local backend tests: a tiny offline Llama model."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 32-wide Llama with the byte tokenizer (builds in about a second once torch is loaded)."""
    pytest.importorskip("torch")
    from finetune_sdk.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", hidden_size=32, layers=1, heads=2, seed=0)
