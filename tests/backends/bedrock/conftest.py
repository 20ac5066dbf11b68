"""Fixtures for the Bedrock backend tests: a backend on a fake clock and Stubber helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bedrock_helpers import OUTPUT, ROLE, session_for
from botocore.stub import Stubber
from moto import mock_aws  # noqa: F401  (imported before the shared session so moto's hook is in it)

from finetune_sdk.backends.bedrock import BedrockBackend
from finetune_sdk.testing.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_backend(clock: FakeClock) -> Callable[..., BedrockBackend]:
    def make(region: str = "us-east-1", **options: Any) -> BedrockBackend:
        options.setdefault("role_arn", ROLE)
        options.setdefault("output_uri", OUTPUT)
        return BedrockBackend(region=region, session=session_for(region), clock=clock, **options)

    return make


@pytest.fixture
def backend(make_backend: Callable[..., BedrockBackend]) -> BedrockBackend:
    return make_backend()


@pytest.fixture
def stub() -> Iterator[Callable[[BedrockBackend, str], Stubber]]:
    """``stub(backend, "bedrock")`` → an active Stubber; every queued response must be used by the test."""
    active: list[Stubber] = []

    def make(backend: BedrockBackend, service: str = "bedrock") -> Stubber:
        stubber = Stubber(backend.client(service))  # type: ignore[arg-type]
        stubber.activate()
        active.append(stubber)
        return stubber

    yield make
    for stubber in active:
        stubber.assert_no_pending_responses()
        stubber.deactivate()
