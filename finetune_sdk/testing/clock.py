"""A clock whose time only moves when told to, so waits and timeouts run instantly and deterministically.

Examples:
    >>> from finetune_sdk.testing import FakeClock
    >>> clock = FakeClock()
    >>> clock.monotonic()
    0.0
    >>> clock.sleep(30)          # returns at once; the clock moved 30 s
    >>> clock.advance(0.5)
    >>> clock.monotonic(), clock.now().isoformat()
    (30.5, '2025-01-01T00:00:30.500000+00:00')
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

__all__ = ["FakeClock"]

#: the wall-clock reading of a new FakeClock (a fixed instant, so records are reproducible)
DEFAULT_START = datetime(2025, 1, 1, tzinfo=timezone.utc)


class FakeClock:
    """Implements the ``finetune_sdk._clock.Clock`` protocol without real time.

    ``sleep(s)`` advances the clock by ``s`` and returns at once; ``advance(s)`` does the same from a test.
    ``now()`` is ``start + elapsed``. The clock is safe to share between threads.

    Attributes:
        sleeps: every ``sleep`` duration requested, in order (for asserting on backoff).

    Examples:
        >>> from datetime import datetime, timezone
        >>> c = FakeClock(start=datetime(2024, 5, 1, tzinfo=timezone.utc))
        >>> c.sleep(2); c.sleep(4); c.sleeps
        [2.0, 4.0]
        >>> c.advance(-1)
        Traceback (most recent call last):
        ...
        ValueError: a clock cannot go backwards (advance(-1))
    """

    def __init__(self, *, start: datetime | None = None, monotonic_start: float = 0.0) -> None:
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise ValueError(
                "FakeClock(start=...) needs a timezone-aware datetime (e.g. tzinfo=timezone.utc)"
            )
        self._start = start
        self._monotonic_start = float(monotonic_start)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    @property
    def elapsed(self) -> float:
        """Seconds this clock has moved since it was created."""
        with self._lock:
            return self._elapsed

    def monotonic(self) -> float:
        """The fake monotonic reading (``monotonic_start + elapsed``)."""
        with self._lock:
            return self._monotonic_start + self._elapsed

    def now(self) -> datetime:
        """The fake wall-clock time, UTC."""
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` (negative values count as 0, like ``time.sleep`` callers expect) at once."""
        seconds = max(float(seconds), 0.0)
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds!r}))")
        with self._lock:
            self._elapsed += float(seconds)

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now().isoformat()!r}, elapsed={self.elapsed})"
