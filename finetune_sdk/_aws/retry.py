"""The one retry-with-recovery policy for AWS calls and polling loops, on tenacity, timed by an SDK clock.

Every AWS call the SDK makes goes through :func:`call_with_retries`: each failure is classified once
(:func:`finetune_sdk._aws.errors.classify_retry`: throttled, transient, or a model being restored), each kind has
its own budget, and a ``recover`` check runs before a create is repeated after a transient failure (the lost
answer may have created the resource). Polling loops (``Job.wait``, ``Deployment.wait``, Bedrock batch polling,
the conformance driver) wait through :func:`poll`, on the same clock. Waits go through tenacity's ``sleep=``
hook and the clock, so tests with a fake clock never sleep, and the give-up deadlines read the same clock.

Examples:
    >>> from finetune_sdk.testing.clock import FakeClock
    >>> clock, answers = FakeClock(), iter([None, None, "ready"])
    >>> poll(lambda: next(answers), clock=clock, interval=5, timeout=60, what="job j"), clock.sleeps
    ('ready', [5.0, 5.0])
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, retry_if_result

from finetune_sdk._aws.errors import RetryKind, classify_retry, is_aws_error, translate_error
from finetune_sdk._clock import Clock
from finetune_sdk.errors import BackendError

__all__ = ["RetryPolicy", "call_with_retries", "poll"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and how long apart, each kind of failure is retried.

    Attributes:
        max_attempts: attempts for 5xx answers and dropped connections (``transient``).
        throttle_attempts: attempts when throttled.
        not_ready_budget_s: total seconds to keep retrying ``ModelNotReadyException`` (0: do not retry).
        base_s / cap_s: exponential backoff for transient and throttle waits.
        not_ready_base_s / not_ready_cap_s: backoff while an imported model is restored.
    """

    max_attempts: int = 5
    throttle_attempts: int = 5
    not_ready_budget_s: float = 0.0
    base_s: float = 1.0
    cap_s: float = 20.0
    not_ready_base_s: float = 10.0
    not_ready_cap_s: float = 30.0


class _SleepClock:
    """A clock from a bare ``sleep`` function (callers that pass no clock)."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)


class _Attempts:
    """Per-call counters behind tenacity's ``stop`` and ``wait`` hooks."""

    def __init__(self, policy: RetryPolicy, clock: Clock, what: str) -> None:
        self.policy = policy
        self.clock = clock
        self.what = what
        self.started = clock.monotonic()
        self.counts: dict[RetryKind, int] = {"throttle": 0, "transient": 0, "not_ready": 0}
        self.last: RetryKind | None = None
        #: a transient failure happened: an earlier attempt may have been applied by the service
        self.uncertain = False
        self.registered = 0
        self.rng = random.Random()

    def _register(self, state: RetryCallState) -> RetryKind | None:
        """Count the failure of this attempt once (tenacity calls ``wait`` and ``stop`` in either order)."""
        if self.registered == state.attempt_number:
            return self.last
        self.registered = state.attempt_number
        exc = state.outcome.exception() if state.outcome is not None else None
        kind = classify_retry(exc) if exc is not None else None
        self.last = kind
        if kind is not None:
            self.counts[kind] += 1
            self.uncertain = self.uncertain or kind == "transient"
        return kind

    def stop(self, state: RetryCallState) -> bool:
        kind = self._register(state)
        if kind is None:
            return True
        if kind == "not_ready":
            return self.clock.monotonic() - self.started >= self.policy.not_ready_budget_s
        limit = self.policy.throttle_attempts if kind == "throttle" else self.policy.max_attempts
        return self.counts[kind] >= limit

    def wait(self, state: RetryCallState) -> float:
        kind = self._register(state) or "transient"
        n = max(self.counts[kind], 1)
        if kind == "not_ready":
            base, cap = self.policy.not_ready_base_s, self.policy.not_ready_cap_s
            left = self.policy.not_ready_budget_s - (self.clock.monotonic() - self.started)
            return max(0.0, min(base * 2.0 ** (n - 1), cap, left))
        delay = min(self.policy.base_s * 2.0 ** (n - 1), self.policy.cap_s)
        return delay * self.rng.uniform(0.8, 1.2)  # jitter so parallel callers spread out

    def before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.info(
            "%s: %s (%s); retry %d in %.1fs",
            self.what,
            type(exc).__name__,
            self.last,
            state.attempt_number,
            state.next_action.sleep if state.next_action else 0.0,
        )


def call_with_retries(
    fn: Callable[[], T],
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] | None = None,
    policy: RetryPolicy | None = None,
    what: str = "",
    recover: Callable[[], T | None] | None = None,
    backend: str | None = None,
    action: str = "",
    resource: str = "",
    attempts: int | None = None,
    retry_on: tuple[type[BaseException], ...] | None = None,
) -> T:
    """Call ``fn`` until it succeeds or its failure kind runs out of attempts (then the last error is raised).

    Args:
        fn: the call.
        clock / sleep: what waits (and, for ``clock``, what the not-ready budget reads); a fake clock makes
            retries instant in tests.
        policy: the budgets; ``attempts`` overrides both attempt counts.
        what: names the call in logs.
        recover: runs before every retry once a ``transient`` failure happened (an earlier attempt may have been
            applied); when it returns a value, that value is returned and ``fn`` is not called again. Creates
            use it to find the resource a lost response had created.
        backend / action / resource: when ``backend`` is given, AWS errors are raised translated
            (:func:`finetune_sdk._aws.errors.translate_error`), other exceptions unchanged; without it the
            botocore error itself is raised, for the caller to translate with more context.
        retry_on: retry only failures that are (or translate to) these classes.

    Raises:
        Exception: the last attempt's error (translated when ``backend`` is given).
    """
    if clock is None:
        clock = _SleepClock(sleep or time.sleep)
    policy = policy or RetryPolicy()
    if attempts is not None:
        policy = RetryPolicy(
            max_attempts=max(attempts, 1),
            throttle_attempts=max(attempts, 1),
            not_ready_budget_s=policy.not_ready_budget_s,
            base_s=policy.base_s,
            cap_s=policy.cap_s,
        )
    label = what or " ".join(p for p in (backend or "", action, resource) if p)
    tracker = _Attempts(policy, clock, label)

    def attempt() -> T:
        if recover is not None and tracker.uncertain:
            found = recover()
            if found is not None:
                logger.info("%s: found the resource created by an earlier attempt; not creating it again", label)
                return found
        if backend is None:
            return fn()
        try:
            return fn()
        except BackendError:
            raise
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            raise translate_error(exc, backend=backend, action=action, resource=resource) from exc

    def retryable(exc: BaseException) -> bool:
        if retry_on is not None and not isinstance(exc, retry_on):
            return False
        return classify_retry(exc) is not None

    retrying = Retrying(
        retry=retry_if_exception(retryable),
        stop=tracker.stop,
        wait=tracker.wait,
        sleep=clock.sleep,
        before_sleep=tracker.before_sleep,
        reraise=True,
    )
    return retrying(attempt)


class _VirtualClock(_SleepClock):
    """Time is what was slept (a driver that makes time pass for a backend through ``advance(seconds)``)."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        super().__init__(sleep)
        self._slept = 0.0

    def monotonic(self) -> float:
        return self._slept

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)
        self._slept += seconds


def poll(
    check: Callable[[], T | None],
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] | None = None,
    interval: float,
    timeout: float | None,
    what: str,
    max_interval: float | None = None,
    backoff: float = 1.0,
    on_timeout: Callable[[float], BaseException] | None = None,
) -> T:
    """Call ``check`` until it returns something other than ``None``, waiting on ``clock`` between calls.

    The wait starts at ``interval`` seconds and grows by ``backoff`` per poll up to ``max_interval``; it never
    sleeps past ``timeout`` (seconds from the first call on ``clock``, ``None``: no limit). Errors raised by
    ``check`` propagate (calls inside it go through :func:`call_with_retries`). Without a ``clock``, ``sleep``
    makes time pass and the time slept is what counts against ``timeout``.

    Raises:
        TimeoutError: (or what ``on_timeout(elapsed)`` returns) ``timeout`` passed first.
    """
    if clock is None:
        if sleep is None:
            raise TypeError("poll() needs a clock or a sleep function")
        clock = _VirtualClock(sleep)
    started = clock.monotonic()
    delays = {"next": float(interval)}

    def wait(state: RetryCallState) -> float:
        delay = delays["next"]
        delays["next"] = min(delay * backoff, max_interval if max_interval is not None else delay * backoff)
        if timeout is not None:
            delay = min(delay, max(0.0, timeout - (clock.monotonic() - started)))
        return delay

    def stop(state: RetryCallState) -> bool:
        return timeout is not None and clock.monotonic() - started >= timeout

    retrying = Retrying(
        retry=retry_if_result(lambda value: value is None),
        wait=wait,
        stop=stop,
        sleep=clock.sleep,
        retry_error_callback=lambda state: None,
        before_sleep=lambda state: logger.debug("%s: not done yet (poll %d)", what, state.attempt_number),
    )
    result = retrying(check)
    if result is None:
        elapsed = clock.monotonic() - started
        raise on_timeout(elapsed) if on_timeout is not None else TimeoutError(f"{what}: not done after {elapsed:.0f}s")
    return result
