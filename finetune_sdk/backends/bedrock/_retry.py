"""Retries for Bedrock calls with tenacity, timed by the backend's clock.

botocore's own retries are turned off (``total_max_attempts=1``) so that every retry happens here, where it is
logged, bounded per error kind, and can run a recovery check before a create is repeated. Waits go through
tenacity's ``sleep=`` hook and the backend clock, so tests with a fake clock never sleep, and the give-up
deadlines read the same clock (tenacity's own ``stop_after_delay`` reads the real monotonic time).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from finetune_sdk._clock import Clock
from finetune_sdk.backends.bedrock.errors import RetryKind, classify_retry

__all__ = ["RetryPolicy", "call_with_retries"]

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
    clock: Clock,
    policy: RetryPolicy,
    what: str,
    recover: Callable[[], T | None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds or its error kind runs out of attempts (then the last error is raised).

    ``recover`` runs before every retry once a ``transient`` failure happened (an earlier attempt may have
    been applied): when it returns a value, that value is returned and ``fn`` is not called again. Creates
    use it to
    find the resource a lost response had created.
    """
    attempts = _Attempts(policy, clock, what)

    def attempt() -> T:
        if recover is not None and attempts.uncertain:
            found = recover()
            if found is not None:
                logger.info(
                    "%s: found the resource created by an earlier attempt; not creating it again", what
                )
                return found
        return fn()

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: classify_retry(exc) is not None),
        stop=attempts.stop,
        wait=attempts.wait,
        sleep=clock.sleep,
        before_sleep=attempts.before_sleep,
        reraise=True,
    )
    return retrying(attempt)
