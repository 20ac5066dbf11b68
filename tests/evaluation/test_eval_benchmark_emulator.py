"""The throughput benchmark's loopback Converse emulation: botocore parses its errors like the service's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import Turn
from finetune_sdk.errors import ServiceUnavailableError, ThrottlingError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "evaluator_throughput.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("evaluator_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["evaluator_throughput"] = module
    spec.loader.exec_module(module)
    return module


def ask(model: object, rid: int = 1) -> str:
    turns = (Turn.of("user", f"[rid={rid}] hello"),)
    return model.chat(turns=turns, config=InferenceConfig()).text  # type: ignore[attr-defined]


def test_answers_throttles_5xx_and_drops_map_to_sdk_errors(bench: ModuleType) -> None:
    kwargs = dict(latency_s=0.0, seed=0, max_seconds=60)
    ok = bench.ConverseServer(rate=1000, burst=1, error_rate=0.0, drop_rate=0.0, **kwargs).start()
    try:
        model = bench._ConverseModel(ok.url, bench.MODEL_ID, pool=2)
        assert ask(model, 7) == "answer-7"
        ok.bucket.rate, ok.bucket.tokens = 0.001, 0.0  # empty bucket: the next request is throttled
        with pytest.raises(ThrottlingError, match="Too many requests") as info:
            ask(model)
        assert info.value.code == "ThrottlingException"
        assert ok.counters.answered == {7: 1} and ok.counters.throttled == 1
    finally:
        ok.stop()
    failing = bench.ConverseServer(rate=1000, burst=10, error_rate=1.0, drop_rate=0.0, **kwargs).start()
    try:
        with pytest.raises(ServiceUnavailableError, match="InternalServerException"):
            ask(bench._ConverseModel(failing.url, bench.MODEL_ID, pool=2))
    finally:
        failing.stop()
    dropping = bench.ConverseServer(rate=1000, burst=10, error_rate=0.0, drop_rate=1.0, **kwargs).start()
    try:
        with pytest.raises(ServiceUnavailableError):
            ask(bench._ConverseModel(dropping.url, bench.MODEL_ID, pool=2))
        assert dropping.counters.dropped == 1 and not dropping.counters.answered
    finally:
        dropping.stop()
