"""pytest fixtures for tests that use the fake backend or the AWS emulation.

Import the ones you need into a ``conftest.py`` (no pytest plugin is registered, on purpose)::

    from finetune_sdk.testing.fixtures import aws_emulation, fake_backend, fake_clock  # noqa: F401

- ``fake_clock``: a new :class:`~finetune_sdk.testing.FakeClock`.
- ``fake_backend``: a :class:`~finetune_sdk.testing.FakeBackend` on ``fake_clock``.
- ``aws_emulation``: a started :class:`~finetune_sdk.testing.emulation.BedrockEmulation` on ``fake_clock`` (needs the
  ``[testing]`` extra); ``aws_emulation.backend()`` gives the Bedrock backend wired to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.fake import FakeBackend

if TYPE_CHECKING:
    from finetune_sdk.testing.emulation import BedrockEmulation

__all__ = ["aws_emulation", "fake_backend", "fake_clock"]


@pytest.fixture
def fake_clock() -> FakeClock:
    """A fresh fake clock (time moves only on ``sleep``/``advance``)."""
    return FakeClock()


@pytest.fixture
def fake_backend(fake_clock: FakeClock) -> FakeBackend:
    """A fresh in-memory backend on ``fake_clock``."""
    return FakeBackend(clock=fake_clock)


@pytest.fixture
def aws_emulation(fake_clock: FakeClock) -> Iterator[BedrockEmulation]:
    """A started AWS emulation (moto + emulated Bedrock) on ``fake_clock``; stopped after the test."""
    from finetune_sdk.testing.emulation import BedrockEmulation

    with BedrockEmulation(clock=fake_clock) as emulation:
        yield emulation
