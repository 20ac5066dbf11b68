"""FakeClock: time that moves only when told to."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from finetune_sdk._clock import Clock
from finetune_sdk.testing import FakeClock


def test_implements_the_clock_protocol() -> None:
    assert isinstance(FakeClock(), Clock)


def test_sleep_and_advance_move_monotonic_and_now_together() -> None:
    start = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
    clock = FakeClock(start=start, monotonic_start=100.0)
    assert clock.monotonic() == 100.0 and clock.now() == start
    clock.sleep(30)
    clock.advance(2.5)
    assert clock.monotonic() == 132.5
    assert clock.now() == start + timedelta(seconds=32.5)
    assert clock.elapsed == 32.5
    assert clock.sleeps == [30.0]


def test_negative_sleep_counts_as_zero_but_negative_advance_is_an_error() -> None:
    clock = FakeClock()
    clock.sleep(-5)
    assert clock.monotonic() == 0.0 and clock.sleeps == [0.0]
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-0.1)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(start=datetime(2024, 1, 1))


def test_is_safe_to_share_between_threads() -> None:
    clock = FakeClock()

    def work() -> None:
        for _ in range(1000):
            clock.sleep(0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.monotonic() == pytest.approx(4.0)
    assert len(clock.sleeps) == 4000
