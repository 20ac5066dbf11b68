"""Running many model requests: concurrency, an adaptive rate limit, retries and a resumable checkpoint.

- :class:`AdaptiveRateLimiter` paces request starts. It starts unlimited (or at ``max_rps``); on a
  ``ThrottlingError`` it cuts the allowed rate to ``decrease`` x the lower of the current rate and the rate
  actually observed over the last second, at most once per round trip (a throttle of a request sent before
  the last cut is not counted again), and remembers the rate of answers over the last second as the
  service's ceiling (at saturation, its limit). Afterwards
  it climbs back to ``recover_to`` x that ceiling within ``recovery_s`` seconds, then probes above it,
  slowly for a second (``probe_fraction`` of the ceiling per second), then by 50% a second until the next
  throttle, never above ``max_rps``: most of the time is spent just under the limit, not recovering from
  the last cut, and a ceiling learned too low (from a burst) is left behind within seconds.
- :class:`RetryPolicy` retries ``ThrottlingError``, ``ServiceUnavailableError`` and ``ModelNotReadyError``
  with exponential backoff and jitter; when retries are exhausted, or for any other error, the example
  gets a final error and the run goes on.
- :class:`Checkpoint` is an append-only JSONL file, one line per finished request keyed by
  ``(key, index, fingerprint)``, flushed and fsync'd before the next request starts on that thread. On
  resume, answered requests are not sent again; a torn last line (a process killed mid-write) is dropped.
- :class:`Runner` runs tasks on a thread pool and returns outcomes in task order, whatever the order they
  finish in. By default it sizes its own concurrency (:class:`ConcurrencyController`): by Little's law, the
  requests in flight needed to sustain a rate ``λ`` at latency ``W`` are ``λ·W``, so it keeps
  ``headroom·λ·W + 2`` in flight (at least 8), with ``λ`` the rate each model's limiter learned (or ``max_rps``) and
  ``W`` the measured latency; until a model's rate is known it grows additively (slow start), so the
  limiter, not a thread count, is what paces requests.

Examples:
    >>> from finetune_sdk.backends.base import ChatResponse, InferenceConfig
    >>> runner = Runner(concurrency=2, progress=False)
    >>> tasks = [Task(key="m", index=i, fingerprint=str(i), system=None, turns=()) for i in range(3)]
    >>> echo = lambda system, turns, config: ChatResponse(text="ok")
    >>> [o.response.text for o in runner.run(tasks, {"m": echo}, config=InferenceConfig())]
    ['ok', 'ok', 'ok']
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import statistics
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk._clock import Clock, SystemClock
from finetune_sdk._progress import progress_bar
from finetune_sdk.backends.base import ChatResponse, InferenceConfig
from finetune_sdk.data.records import Turn
from finetune_sdk.errors import (
    ConfigurationError,
    DataError,
    ModelNotReadyError,
    ServiceUnavailableError,
    ThrottlingError,
)
from finetune_sdk.evaluation._checkpoint import CheckpointLock

__all__ = [
    "RETRYABLE_ERRORS",
    "AdaptiveRateLimiter",
    "Checkpoint",
    "ConcurrencyController",
    "Outcome",
    "RetryPolicy",
    "RunStats",
    "Runner",
    "Task",
]

logger = logging.getLogger(__name__)

#: errors retried with backoff; anything else ends the example with an error at once
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (ThrottlingError, ServiceUnavailableError, ModelNotReadyError)

Invoker = Callable[[str | None, tuple[Turn, ...], InferenceConfig], ChatResponse]


class RetryPolicy(BaseModel):
    """How retryable errors are retried: ``max_attempts`` tries per request, exponential backoff with jitter.

    The delay before retry ``k`` (1-based) is ``min(max_delay, base_delay * 2**(k-1))`` scaled by a random
    factor in ``[1 - jitter, 1]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=8, ge=1)
    base_delay: float = Field(default=0.25, ge=0.0)
    max_delay: float = Field(default=20.0, ge=0.0)
    jitter: float = Field(default=0.5, ge=0.0, le=1.0)
    #: the longest wait before retrying a throttled request: the rate limiter has already slowed every
    #: request down, so a long backoff would only leave the run's last records waiting
    throttle_max_delay: float = Field(default=1.0, ge=0.0)

    def delay(self, attempt: int, rng: random.Random, *, throttled: bool = False) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.throttle_max_delay) if throttled else self.max_delay
        base = min(cap, self.base_delay * (2.0 ** (attempt - 1)))
        return base * (1.0 - self.jitter * rng.random())


class AdaptiveRateLimiter:
    """Adaptive pacing of request starts, shared by every thread sending to one model.

    Args:
        max_rps: ceiling on requests per second (``None``: no ceiling; the limiter starts unlimited).
        decrease: multiplicative cut on throttling (0 < decrease < 1).
        increase_fraction: additive increase per second, as a fraction of the rate after the last cut,
            while no ceiling has been learned.
        min_rps: the rate never goes below this.
        clock: time source (a fake one in tests).
        recover_to: after a cut, climb back to this fraction of the learned ceiling (the rate observed
            when the service throttled)...
        recovery_s: ...within this many seconds,
        probe_fraction: then probe above it by this fraction of the ceiling per second for a second, and
            by 50% a second after that until the next throttle.

    Raises:
        ConfigurationError: a setting is out of range.
    """

    def __init__(
        self,
        *,
        max_rps: float | None = None,
        decrease: float = 0.85,
        increase_fraction: float = 0.05,
        min_rps: float = 0.1,
        clock: Clock | None = None,
        recover_to: float = 0.97,
        recovery_s: float = 1.0,
        probe_fraction: float = 0.02,
    ) -> None:
        if max_rps is not None and max_rps <= 0:
            raise ConfigurationError(f"max_rps must be > 0 requests per second, got {max_rps}")
        if not 0.0 < decrease < 1.0:
            raise ConfigurationError(f"decrease must be between 0 and 1, got {decrease}")
        if not decrease <= recover_to <= 1.0 or recovery_s <= 0 or probe_fraction < 0:
            raise ConfigurationError(
                f"need decrease <= recover_to <= 1, recovery_s > 0 and probe_fraction >= 0, got "
                f"{recover_to}, {recovery_s}, {probe_fraction}"
            )
        self.quiet_s = 1.0
        self.fast_probe = 0.5
        self.recover_to = recover_to
        self.recovery_s = recovery_s
        self.probe_fraction = probe_fraction
        self._ceiling: float | None = None
        self._cut_to = 0.0
        self._plateau_since: float | None = None
        self._answers: deque[float] = deque()
        self._first_answer: float | None = None
        self._quiet_until: float | None = None
        self._settled = False
        self.max_rps = max_rps
        self.decrease = decrease
        self.increase_fraction = increase_fraction
        self.min_rps = min_rps
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._rate: float | None = max_rps
        self._step = 0.0
        self._next_slot = 0.0
        self._last_update: float | None = None
        self._last_cut = float("-inf")
        self._starts: deque[float] = deque()
        self.throttles = 0
        self.cuts = 0

    @property
    def rate(self) -> float | None:
        """Allowed requests per second now (``None``: unlimited)."""
        return self._rate

    @property
    def ceiling(self) -> float | None:
        """The rate observed when the service last throttled (``None`` before the first throttle)."""
        return self._ceiling

    def _grow(self, now: float) -> None:
        if self._rate is not None and self._last_update is not None:
            dt = max(0.0, now - self._last_update)
            if self._ceiling is None:
                self._rate += self._step * dt
            else:
                target = self.recover_to * self._ceiling
                if self._rate < target:  # fast recovery to just under the learned ceiling...
                    speed = (target - self._cut_to) / self.recovery_s  # req/s gained per second
                    needed = (target - self._rate) / speed if speed > 0 else 0.0
                    if dt < needed:
                        self._rate += speed * dt
                        dt = 0.0
                    else:
                        self._rate = target
                        dt -= needed
                        self._plateau_since = now - dt
                if self._rate >= target and dt > 0:
                    # ...then a probe above it: slow for `quiet_s` (probe_fraction x ceiling per second),
                    # then growing by `fast_probe` (50%) per second while no throttle comes (the ceiling may have
                    # been learned low, from a burst rather than a rate)
                    since = self._plateau_since if self._plateau_since is not None else now - dt
                    quiet = 0.0 if self._quiet_until is not None else self.quiet_s
                    t0, t1 = max(0.0, now - dt - since), max(0.0, now - since)
                    slow = max(0.0, min(t1, quiet) - t0)
                    fast = max(0.0, t1 - max(t0, quiet))
                    self._rate += self.probe_fraction * self._ceiling * slow
                    self._rate *= (1.0 + self.fast_probe) ** fast
            if self.max_rps is not None:
                self._rate = min(self._rate, self.max_rps)
        self._last_update = now

    def on_answer(self) -> None:
        """A request was answered (not throttled): counts towards the delivery rate the service allows."""
        with self._lock:
            now = self.clock.monotonic()
            self._answers.append(now)
            if self._first_answer is None:
                self._first_answer = now
            while self._answers and self._answers[0] < now - 1.0:
                self._answers.popleft()

    def _delivery_rate(self, now: float) -> float | None:
        """Answers per second over the last second (what the service let through), or ``None``."""
        while self._answers and self._answers[0] < now - 1.0:
            self._answers.popleft()
        if len(self._answers) < 5 or self._first_answer is None:
            return None
        span = min(1.0, now - self._first_answer)  # a run younger than a second: count over its age
        return len(self._answers) / span if span > 0.05 else None

    def _observed_rate(self, now: float) -> float | None:
        while self._starts and self._starts[0] < now - 1.0:
            self._starts.popleft()
        if len(self._starts) < 2:
            return None
        span = max(self._starts[-1] - self._starts[0], 1e-3)
        return (len(self._starts) - 1) / span

    def acquire(self) -> float:
        """Wait for this request's start slot; returns the start time (pass it to :meth:`on_throttle`)."""
        with self._lock:
            now = self.clock.monotonic()
            self._grow(now)
            if self._rate is None:
                slot = now
            else:
                slot = max(now, self._next_slot)
                self._next_slot = slot + 1.0 / self._rate
            self._starts.append(slot)
            while self._starts and self._starts[0] < now - 1.0:  # keep one second of history
                self._starts.popleft()
        if slot > now:
            self.clock.sleep(slot - now)
        return slot

    def on_throttle(self, started_at: float) -> None:
        """A request that started at ``started_at`` was throttled: cut the rate, once per round trip."""
        with self._lock:
            self.throttles += 1
            if started_at <= self._last_cut:
                return  # sent before the last cut: that cut already answered this congestion
            now = self.clock.monotonic()
            self._grow(now)
            observed = self._observed_rate(now)
            known = [x for x in (self._rate, observed, self.max_rps) if x is not None]
            current = min(known) if known else 1.0  # a single request so far: start from one per second
            # the ceiling is what the service delivered over the last second (answers, not attempts): at
            # saturation that is its limit, whatever was sent above it. While the rate was still ramping
            # up it is lower than the limit; the probe after the recovery finds the rest within seconds.
            delivered = self._delivery_rate(now)
            if delivered is not None and self.max_rps is not None:
                delivered = min(delivered, self.max_rps)
            # settled once a throttle comes while probing above a recovered plateau; before that (a run
            # ramping up, throttled for its bursts) the answers lag the sends and the ceiling is unsure
            if self._plateau_since is not None:  # recovered fully from the last cut before this throttle
                self._settled = True
            ramping = not self._settled
            previous = self._ceiling
            if delivered is None:
                self._ceiling = current
            elif ramping:
                # answers lag the sends by a round trip while the rate ramps up: the higher of the two, at
                # most 15% below the last estimate per cut, and a fast probe as soon as it has recovered
                self._ceiling = max(delivered, current, (previous or 0.0) * self.decrease)
                self._quiet_until = now
            else:
                self._ceiling = delivered
                self._quiet_until = None
            # cut from the ceiling, not from the starts of the last second: those are few when the
            # concurrency, not the rate, held requests back, and a cut from them would go far too deep
            current = self._ceiling
            self._rate = max(self.min_rps, current * self.decrease)
            self._cut_to = self._rate
            self._plateau_since = None
            self._step = max(self.min_rps, self._rate * self.increase_fraction)
            self._next_slot = max(self._next_slot, now + 1.0 / self._rate)
            self._last_cut = now
            self._last_update = now
            self.cuts += 1
            logger.debug("throttled: allowed rate cut to %.2f req/s", self._rate)


class ConcurrencyController:
    """How many requests may be in flight: a fixed number, or sized from Little's law as the run goes.

    With ``fixed`` set it is a plain semaphore of that size. Otherwise, per limiter key ``k``, it keeps the
    median latency ``W_k`` of the recent answered requests and reads the key's learned rate
    ``λ_k`` (:attr:`AdaptiveRateLimiter.rate`, which is ``max_rps`` until a throttle teaches it more) and
    allows ``Σ_k ceil(headroom · λ_k · W_k) + 2`` requests in flight, between ``minimum`` and
    ``maximum``. While some key has no known rate (no ``max_rps`` and no throttle yet) the limit grows by
    two for every answer that came back while the limit was nearly full (tripling per round trip, a
    faster cousin of TCP's slow start), so an unthrottled service is not held back by a guessed thread count.

    Requests waiting for a retry's backoff do not hold a place.

    Args:
        fixed: a fixed number of requests in flight (``None``: sized automatically).
        initial: the limit before any latency is known (automatic sizing).
        maximum: the most requests ever in flight (threads).
        headroom: how much more than ``λ·W`` to keep in flight, so that pacing (the limiter), not the
            concurrency, decides the rate.
        window: how many recent answers the latency ``W`` is the median of (robust to slow outliers).

    Raises:
        ConfigurationError: a setting out of range.

    Examples:
        >>> from finetune_sdk.testing.clock import FakeClock
        >>> limiter = AdaptiveRateLimiter(max_rps=100.0, clock=FakeClock())
        >>> ctl = ConcurrencyController()
        >>> for _ in range(20):
        ...     ctl.observe("m", limiter, latency_s=0.5)
        >>> ctl.limit  # 100 req/s x 0.5 s x 1.5 headroom + 2
        77
    """

    def __init__(
        self,
        fixed: int | None = None,
        *,
        initial: int = 8,
        maximum: int = 256,
        minimum: int = 1,
        headroom: float = 1.5,
        window: int = 32,
    ) -> None:
        if fixed is not None and fixed < 1:
            raise ConfigurationError(f"concurrency must be >= 1, got {fixed}")
        if not 1 <= minimum <= initial <= maximum:
            raise ConfigurationError(
                f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}"
            )
        if headroom < 1.0 or window < 1:
            raise ConfigurationError(f"need headroom >= 1 and window >= 1, got {headroom}, {window}")
        self.fixed = fixed
        self.maximum = fixed if fixed is not None else maximum
        self.minimum = minimum
        self.headroom = headroom
        self.window = window
        self._limit = fixed if fixed is not None else initial
        self._probe = self._limit  # the slow-start limit while some rate is unknown
        self._in_flight = 0
        self._peak = 0
        self._latency: dict[str, float] = {}
        self._recent: dict[str, deque[float]] = {}
        self._limiters: dict[str, AdaptiveRateLimiter] = {}
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return self._limit

    @property
    def peak(self) -> int:
        """The most requests that were in flight at once."""
        return self._peak

    def latency(self, key: str) -> float | None:
        """The median latency of ``key``'s recent answered requests, in seconds (``None`` before one)."""
        return self._latency.get(key)

    def enter(self, stop: threading.Event) -> None:
        """Wait for a place in flight (returns at once when ``stop`` is set; the caller checks it)."""
        with self._cond:
            while self._in_flight >= self._limit and not stop.is_set():
                self._cond.wait(0.5)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)

    def leave(self) -> None:
        """Give the place back (a request ended, or waits for a retry)."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify()

    def observe(self, key: str, limiter: AdaptiveRateLimiter, *, latency_s: float | None) -> None:
        """Record an answer of ``key`` (its latency, when it was answered) and resize."""
        if self.fixed is not None:
            return
        with self._cond:
            self._limiters[key] = limiter
            if latency_s is not None and latency_s >= 0:
                recent = self._recent.setdefault(key, deque(maxlen=self.window))
                recent.append(latency_s)
                self._latency[key] = statistics.median(recent)
            needed = 0.0
            unknown = False
            for k, lim in self._limiters.items():
                rate, wait = lim.rate, self._latency.get(k)
                if rate is None or wait is None:
                    unknown = True
                    continue
                needed += math.ceil(self.headroom * rate * wait)
            if unknown:
                if latency_s is not None and self._in_flight + 1 >= self._probe:  # an answer at the limit
                    self._probe = min(self.maximum, self._probe + 2)
                limit = max(self._probe, int(needed) + 2)
            else:
                limit = int(needed) + 2
                self._probe = max(self.minimum, min(self._probe, limit))
            old = self._limit
            self._limit = max(self.minimum, min(self.maximum, limit))
            if self._limit > old:
                self._cond.notify(self._limit - old)


@dataclass(frozen=True)
class Task:
    """One request. ``key`` (the model or judge), ``index`` and ``fingerprint`` key its checkpoint row."""

    key: str
    index: int
    fingerprint: str
    system: str | None
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Outcome:
    """What became of a task: a response, or a final error after ``attempts`` tries."""

    response: ChatResponse | None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0
    resumed: bool = False


@dataclass
class RunStats:
    """Counters of one :meth:`Runner.run` call (and totals across calls on the same runner)."""

    requests: int = 0
    resumed: int = 0
    retries: int = 0
    throttles: int = 0
    errors: int = 0
    per_key: dict[str, int] = field(default_factory=dict)


_CK = tuple[str, int, str]


class Checkpoint:
    """Append-only JSONL of finished requests; safe to share between threads.

    Each line is ``{"k": key, "i": index, "fp": fingerprint, "ok": true, "a": attempts, "r": response}`` or,
    for a final error, ``"ok": false`` with ``"e"`` (message) and ``"et"`` (error class). Only answers are
    reused on resume: examples that ended in an error are tried again.

    A run holds an exclusive lock on ``<path>.lock`` from :meth:`load` (or the first write) until :meth:`close`,
    so a second process on the same checkpoint fails at once, naming the holder, instead of paying for every
    request again. The kernel drops the lock when the holder dies, so a killed run never blocks its rerun.

    Raises:
        DataError: the file exists but is not a checkpoint (its first complete line is not one).
        ConfigurationError: another process (or another ``Checkpoint`` object) is using the file.
    """

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fh: Any = None
        self._plock = CheckpointLock(self.path)

    def load(self) -> dict[_CK, tuple[ChatResponse, int]]:
        """Answers already in the file, keyed by ``(key, index, fingerprint)``. Drops a torn last line.

        Takes the checkpoint's lock (kept until :meth:`close`).
        """
        with self._lock:
            self._plock.acquire()
        try:
            return self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> dict[_CK, tuple[ChatResponse, int]]:
        done: dict[_CK, tuple[ChatResponse, int]] = {}
        if not self.path.exists():
            return done
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # killed mid-write: drop the partial line so appends start on a fresh line
            logger.warning("checkpoint %s: ignoring a torn last line (%d bytes)", self.path, len(data) - end)
            with self.path.open("r+b") as fh:
                fh.truncate(end)
            data = data[:end]
        for lineno, raw in enumerate(data.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict) or "k" not in row:
                    raise ValueError("not a checkpoint row")
            except ValueError as exc:
                if lineno == 1:
                    raise DataError(
                        f"{self.path} is not an evaluation checkpoint (line 1: {exc}). "
                        "Pass a new path as checkpoint=, or delete the file to start over."
                    ) from exc
                logger.warning("checkpoint %s: skipping unreadable line %d", self.path, lineno)
                continue
            if row.get("ok"):
                response = ChatResponse.model_validate(row["r"])
                done[(str(row["k"]), int(row["i"]), str(row["fp"]))] = (response, int(row.get("a", 1)))
        return done

    def _write(self, row: Mapping[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._fh is None:
                self._plock.acquire()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8", newline="\n")
            self._fh.write(line)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())

    def record_answer(self, task: Task, response: ChatResponse, attempts: int) -> None:
        """Append an answer (without the response's ``raw`` payload)."""
        self._write(
            {
                "k": task.key,
                "i": task.index,
                "fp": task.fingerprint,
                "ok": True,
                "a": attempts,
                "r": response.model_dump(mode="json", exclude={"raw"}),
            }
        )

    def record_error(self, task: Task, error: str, error_type: str, attempts: int) -> None:
        """Append a final error (kept for the record; the example is tried again on resume)."""
        self._write(
            {
                "k": task.key,
                "i": task.index,
                "fp": task.fingerprint,
                "ok": False,
                "a": attempts,
                "e": error,
                "et": error_type,
            }
        )

    def close(self) -> None:
        """Close the file handle and release the lock (appends reopen and relock it)."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            self._plock.release()


class _Cancelled(Exception):
    pass


class Runner:
    """Runs tasks concurrently with per-key rate limiters, retries and an optional checkpoint.

    Args:
        concurrency: requests in flight at most, or ``None`` (the default) to size it from the measured
            latency and each key's learned rate (Little's law, see :class:`ConcurrencyController`).
        max_rps: ceiling of each key's limiter (requests per second), or ``None``.
        retry: the retry policy.
        checkpoint: where finished requests are appended; ``None`` keeps nothing.
        clock: time source for pacing and backoff (a fake one in tests).
        progress: show a progress bar (``None``: the process-wide setting).
        seed: seed of the jitter.
        max_concurrency: with automatic sizing, the most requests (threads) ever in flight.

    Raises:
        ConfigurationError: ``concurrency`` or ``max_concurrency`` < 1.
    """

    def __init__(
        self,
        *,
        concurrency: int | None = None,
        max_rps: float | None = None,
        retry: RetryPolicy | None = None,
        checkpoint: Checkpoint | None = None,
        clock: Clock | None = None,
        progress: bool | None = None,
        seed: int | None = None,
        max_concurrency: int = 256,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ConfigurationError(f"concurrency must be >= 1, got {concurrency}")
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.concurrency = concurrency
        self.max_concurrency = max_concurrency
        self.max_rps = max_rps
        self.retry = retry or RetryPolicy()
        self.checkpoint = checkpoint
        self.clock: Clock = clock or SystemClock()
        self.progress = progress
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.limiters: dict[str, AdaptiveRateLimiter] = {}
        self.stats = RunStats()
        # never fewer than 8 in flight (the old fixed default): at low latency λ·W is tiny and a couple of
        # places cannot absorb the client's own jitter
        floor = min(8, max_concurrency)
        self._gate = ConcurrencyController(concurrency, initial=floor, minimum=floor, maximum=max_concurrency)

    @property
    def controller(self) -> ConcurrencyController:
        """What decides the requests in flight (its ``limit``, ``peak`` and measured latencies)."""
        return self._gate

    def limiter(self, key: str) -> AdaptiveRateLimiter:
        """The limiter shared by every request to ``key`` (created on first use)."""
        lim = self.limiters.get(key)
        if lim is None:
            lim = self.limiters[key] = AdaptiveRateLimiter(max_rps=self.max_rps, clock=self.clock)
        return lim

    def _sleep(self, seconds: float, stop: threading.Event) -> None:
        if seconds <= 0:
            return
        if isinstance(self.clock, SystemClock):
            stop.wait(seconds)  # wakes at once when the run is interrupted
        else:
            self.clock.sleep(seconds)

    def _work(
        self,
        task: Task,
        invoke: Invoker,
        limiter: AdaptiveRateLimiter,
        config: InferenceConfig,
        stop: threading.Event,
        limiter_key: str,
    ) -> Outcome:
        attempts = 0
        gate = self._gate
        while True:
            gate.enter(stop)
            try:
                if stop.is_set():
                    raise _Cancelled
                started = limiter.acquire()
                attempts += 1
                sent = self.clock.monotonic()
                try:
                    response = invoke(task.system, task.turns, config)
                except RETRYABLE_ERRORS as exc:
                    if isinstance(exc, ThrottlingError):
                        limiter.on_throttle(started)
                    gate.observe(limiter_key, limiter, latency_s=None)
                    if attempts >= self.retry.max_attempts:
                        return self._fail(task, exc, attempts)
                    with self._rng_lock:
                        delay = self.retry.delay(
                            attempts, self._rng, throttled=isinstance(exc, ThrottlingError)
                        )
                    logger.debug(
                        "%s #%d: %s; retrying in %.2fs", task.key, task.index, type(exc).__name__, delay
                    )
                except Exception as exc:
                    return self._fail(task, exc, attempts)
                else:
                    limiter.on_answer()
                    gate.observe(limiter_key, limiter, latency_s=self.clock.monotonic() - sent)
                    if self.checkpoint is not None:
                        self.checkpoint.record_answer(task, response, attempts)
                    return Outcome(response=response, attempts=attempts)
            finally:
                gate.leave()
            self._sleep(delay, stop)  # the backoff holds no place in flight

    def _fail(self, task: Task, exc: Exception, attempts: int) -> Outcome:
        message = f"{type(exc).__name__}: {exc}"
        logger.warning("%s #%d failed after %d attempt(s): %s", task.key, task.index, attempts, message)
        if self.checkpoint is not None:
            self.checkpoint.record_error(task, message, type(exc).__name__, attempts)
        return Outcome(response=None, error=message, error_type=type(exc).__name__, attempts=attempts)

    def run(
        self,
        tasks: Sequence[Task],
        invokers: Mapping[str, Invoker],
        *,
        config: InferenceConfig,
        limiter_keys: Mapping[str, str] | None = None,
        desc: str = "evaluating",
    ) -> list[Outcome]:
        """Run ``tasks`` and return one :class:`Outcome` per task, in task order.

        ``invokers`` maps each task key to the function that sends it; ``limiter_keys`` maps a task key to
        the limiter it shares (default: its own key). Tasks already answered in the checkpoint are not sent.

        Raises:
            ConfigurationError: a task's key has no invoker.
            KeyboardInterrupt, SystemExit: re-raised after requests in flight have finished and been
                checkpointed; queued requests are not sent.
        """
        missing = sorted({t.key for t in tasks} - set(invokers))
        if missing:
            raise ConfigurationError(f"no model to send tasks for {', '.join(missing)}")
        done = self.checkpoint.load() if self.checkpoint is not None else {}
        results: list[Outcome | None] = [None] * len(tasks)
        pending: list[int] = []
        for pos, task in enumerate(tasks):
            hit = done.get((task.key, task.index, task.fingerprint))
            if hit is not None:
                results[pos] = Outcome(response=hit[0], attempts=hit[1], resumed=True)
            else:
                pending.append(pos)
        resumed = len(tasks) - len(pending)
        self.stats.resumed += resumed
        lkeys = limiter_keys or {}
        stop = threading.Event()
        bar = progress_bar(total=len(tasks), desc=desc, unit="req", enabled=self.progress, initial=resumed)
        try:
            if pending:
                workers = min(self._gate.maximum, len(pending))
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="finetune-eval") as pool:
                    futures = {
                        pool.submit(
                            self._work,
                            tasks[pos],
                            invokers[tasks[pos].key],
                            self.limiter(lkeys.get(tasks[pos].key, tasks[pos].key)),
                            config,
                            stop,
                            lkeys.get(tasks[pos].key, tasks[pos].key),
                        ): pos
                        for pos in pending
                    }
                    try:
                        for fut in as_completed(futures):
                            outcome = fut.result()
                            results[futures[fut]] = outcome
                            self._count(tasks[futures[fut]].key, outcome)
                            bar.update(1)
                            if outcome.error is not None:
                                bar.set_postfix(errors=self.stats.errors, refresh=False)
                    except BaseException:
                        stop.set()
                        for f in futures:
                            f.cancel()
                        raise
        finally:
            bar.close()
            if self.checkpoint is not None:
                self.checkpoint.close()
        self.stats.throttles = sum(lim.throttles for lim in self.limiters.values())
        return [
            r if r is not None else Outcome(response=None, error="not run", error_type="Cancelled")
            for r in results
        ]

    def _count(self, key: str, outcome: Outcome) -> None:
        self.stats.requests += outcome.attempts
        self.stats.retries += max(0, outcome.attempts - 1)
        self.stats.per_key[key] = self.stats.per_key.get(key, 0) + outcome.attempts
        if outcome.error is not None:
            self.stats.errors += 1
