"""Runner: AIMD limiter, retries, checkpoint file, ordering, throttling end to end."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, deque
from pathlib import Path

import pytest
from eval_helpers import OracleChat

from finetune_sdk.backends.base import ChatResponse, InferenceConfig
from finetune_sdk.data.records import Conversation, Turn
from finetune_sdk.errors import (
    ConfigurationError,
    DataError,
    ServiceUnavailableError,
    ServiceValidationError,
    ThrottlingError,
)
from finetune_sdk.evaluation import Evaluator, RetryPolicy
from finetune_sdk.evaluation.runner import AdaptiveRateLimiter, Checkpoint, Runner, Task
from finetune_sdk.testing import FakeClock


def records(n: int) -> list[Conversation]:
    return [Conversation.from_pairs(f"question {i}", f"answer {i}") for i in range(n)]


# ----------------------------------------------------------------------------------------------- limiter
def test_limiter_paces_at_max_rps_with_a_fake_clock() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(max_rps=5.0, clock=clock)
    starts = [limiter.acquire() for _ in range(10)]
    assert starts == pytest.approx([i * 0.2 for i in range(10)])
    assert clock.monotonic() == pytest.approx(1.8)


def test_limiter_aimd_cuts_once_per_round_trip_then_recovers_additively() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(max_rps=100.0, decrease=0.5, increase_fraction=0.1, clock=clock)
    first = limiter.acquire()
    limiter.on_throttle(first)
    assert limiter.rate == pytest.approx(50.0)  # multiplicative decrease from the ceiling
    limiter.on_throttle(first)  # same congestion episode (sent before the cut): no second cut
    assert limiter.rate == pytest.approx(50.0) and limiter.cuts == 1 and limiter.throttles == 2
    clock.advance(10.0)
    limiter.acquire()  # growth is applied lazily: +5 req/s per second (10% of 50)
    assert limiter.rate == pytest.approx(100.0)  # 50 + 5 * 10, capped at max_rps
    later = limiter.acquire()
    limiter.on_throttle(later)
    assert limiter.rate == pytest.approx(50.0) and limiter.cuts == 2


def test_limiter_starts_unlimited_and_cuts_to_the_observed_rate() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(decrease=0.8, clock=clock)
    assert limiter.rate is None
    for _ in range(21):  # 20 intervals of 10 ms: 100 req/s observed
        limiter.acquire()
        clock.advance(0.01)
    limiter.on_throttle(clock.monotonic())
    assert limiter.rate == pytest.approx(80.0, rel=0.02)


def test_retry_policy_backoff_is_exponential_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5)
    rng = random.Random(0)
    delays = [policy.delay(k, rng) for k in range(1, 6)]
    for k, d in enumerate(delays, start=1):
        cap = min(5.0, 2.0 ** (k - 1))
        assert cap * 0.5 <= d <= cap


# ----------------------------------------------------------------------------------------------- retries
class Flaky:
    """Fails ``failures`` times per record with ``error`` before answering."""

    def __init__(self, error: type[Exception], failures: int) -> None:
        self.id = "flaky"
        self.error = error
        self.failures = failures
        self.calls: Counter[str] = Counter()

    def chat(self, messages=None, *, system=None, turns=None, config=None):  # type: ignore[no-untyped-def]
        text = turns[-1].text
        self.calls[text] += 1
        if self.calls[text] <= self.failures:
            raise self.error("boom", backend="fake")
        return ChatResponse(text=text.replace("question", "answer"), output_tokens=2)


def test_retries_then_succeeds_with_backoff_on_the_fake_clock() -> None:
    clock = FakeClock()
    model = Flaky(ServiceUnavailableError, failures=2)
    ev = Evaluator(
        ["exact_match"],
        concurrency=1,
        clock=clock,
        progress=False,
        retry=RetryPolicy(max_attempts=5, base_delay=1.0, jitter=0.0),
    )
    report = ev.evaluate(model, records(3))
    assert report.mean("exact_match") == 1.0
    assert report.errors == 0
    assert [e.attempts for e in report.examples["flaky"]] == [3, 3, 3]
    assert clock.sleeps == [1.0, 2.0] * 3  # exponential backoff, no jitter
    assert report.run.retries == 6


def test_exhausted_retries_become_an_error_in_the_report_not_a_crash() -> None:
    model = Flaky(ThrottlingError, failures=99)
    ev = Evaluator(
        ["exact_match"],
        concurrency=2,
        clock=FakeClock(),
        progress=False,
        retry=RetryPolicy(max_attempts=3, base_delay=0.5),
    )
    report = ev.evaluate(model, records(4))
    assert report.errors == 4
    row = report.examples["flaky"][0]
    assert row.prediction is None and row.attempts == 3 and row.error.startswith("ThrottlingError")
    assert report.summary("exact_match").n == 0 and report.mean("exact_match") is None
    assert sum(model.calls.values()) == 12
    assert "4/4" in report.to_markdown()  # errors column


def test_non_retryable_errors_are_not_retried() -> None:
    model = Flaky(ServiceValidationError, failures=1)
    report = Evaluator(["exact_match"], progress=False, clock=FakeClock()).evaluate(model, records(2))
    assert [e.attempts for e in report.examples["flaky"]] == [1, 1]
    assert report.errors == 2 and sum(model.calls.values()) == 2


# ----------------------------------------------------------------------------------------------- checkpoint
def task(i: int, key: str = "m") -> Task:
    return Task(key=key, index=i, fingerprint=f"fp{i}", system=None, turns=(Turn.of("user", f"q{i}"),))


def test_checkpoint_round_trip_and_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "ck.jsonl"
    ck = Checkpoint(path)
    ck.record_answer(task(0), ChatResponse(text="a0", output_tokens=1, raw={"big": "payload"}), attempts=2)
    ck.record_error(task(1), "ThrottlingError: slow down", "ThrottlingError", attempts=8)
    ck.close()
    with path.open("ab") as fh:
        fh.write(b'{"k": "m", "i": 2, "fp": "fp2", "ok": tr')  # killed mid-write
    done = Checkpoint(path).load()
    assert list(done) == [("m", 0, "fp0")]  # errors are retried on resume; the torn line is gone
    response, attempts = done[("m", 0, "fp0")]
    assert response.text == "a0" and attempts == 2 and response.raw == {}
    assert path.read_bytes().endswith(b"\n")  # truncated to the last complete line
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["ok"] is False


def test_checkpoint_rejects_a_file_that_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text("hello world\n")
    with pytest.raises(DataError, match="not an evaluation checkpoint"):
        Checkpoint(path).load()


def test_checkpoint_skips_a_changed_record(tmp_path: Path) -> None:
    path = tmp_path / "ck.jsonl"
    data = records(3)
    first = OracleChat("m", data, lambda i, r: f"answer {i}")
    Evaluator(["exact_match"], checkpoint=path, progress=False).evaluate(first, data)
    changed = [*data[:2], Conversation.from_pairs("question 2", "a different gold answer")]
    second = OracleChat("m", changed, lambda i, r: f"answer {i}")
    report = Evaluator(["exact_match"], checkpoint=path, progress=False).evaluate(second, changed)
    assert dict(second.calls) == {2: 1}  # only the record whose fingerprint changed is asked again
    assert report.run.resumed == 2


# ----------------------------------------------------------------------------------------------- ordering
def test_results_stay_in_dataset_order_with_random_completion_delays() -> None:
    data = records(48)
    model = OracleChat("slow", data, lambda i, r: f"answer {i}", delay=0.02, seed=3)
    report = Evaluator(["exact_match"], concurrency=8, progress=False).evaluate(model, data)
    assert [e.prediction for e in report.examples["slow"]] == [f"answer {i}" for i in range(48)]
    assert [e.index for e in report.examples["slow"]] == list(range(48))
    assert report.mean("exact_match") == 1.0


def test_runner_outcomes_follow_task_order_across_models() -> None:
    rng = random.Random(1)

    def make(name: str):  # type: ignore[no-untyped-def]
        def invoke(system, turns, config):  # type: ignore[no-untyped-def]
            time.sleep(rng.random() * 0.01)
            return ChatResponse(text=f"{name}:{turns[-1].text}")

        return invoke

    tasks = [task(i, key) for i in range(20) for key in ("a", "b")]
    outcomes = Runner(concurrency=6, progress=False).run(
        tasks, {"a": make("a"), "b": make("b")}, config=InferenceConfig()
    )
    assert [o.response.text for o in outcomes] == [f"{t.key}:q{t.index}" for t in tasks]


# ----------------------------------------------------------------------------------------------- throttling
class RateLimitedModel:
    """Throttles above ``rate`` requests per second (token bucket with a small burst); counts answers."""

    def __init__(self, rate: float, burst: int = 3, latency: float = 0.004) -> None:
        self.id = "limited"
        self.rate = rate
        self.burst = burst
        self.latency = latency
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.lock = threading.Lock()
        self.answered: Counter[str] = Counter()
        self.throttled = 0
        self.starts: deque[float] = deque()

    def chat(self, messages=None, *, system=None, turns=None, config=None):  # type: ignore[no-untyped-def]
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens < 1:
                self.throttled += 1
                raise ThrottlingError(
                    "Too many requests, please wait before trying again.",
                    backend="fake",
                    code="ThrottlingException",
                )
            self.tokens -= 1
        time.sleep(self.latency)
        text = turns[-1].text
        with self.lock:
            self.answered[text] += 1
        return ChatResponse(text=text.replace("question", "answer"), output_tokens=2)


def test_throttling_backs_off_and_every_record_is_answered_exactly_once() -> None:
    data = records(150)
    model = RateLimitedModel(rate=150.0)
    ev = Evaluator(
        ["exact_match"],
        concurrency=8,
        progress=False,
        retry=RetryPolicy(max_attempts=30, base_delay=0.01, max_delay=0.2),
    )
    started = time.perf_counter()
    report = ev.evaluate(model, data)
    elapsed = time.perf_counter() - started
    assert model.throttled > 0 and report.run.throttles == model.throttled  # the limit was hit and seen
    assert report.errors == 0 and report.mean("exact_match") == 1.0
    assert set(model.answered.values()) == {1} and len(model.answered) == 150  # no record answered twice
    assert elapsed < 10


# ----------------------------------------------------------------------------------------------- concurrency
def test_controller_sizes_in_flight_by_littles_law() -> None:
    from finetune_sdk.evaluation.runner import ConcurrencyController

    clock = FakeClock()
    ctl = ConcurrencyController()
    assert ctl.limit == 8  # nothing known yet
    a = AdaptiveRateLimiter(max_rps=200.0, clock=clock)
    b = AdaptiveRateLimiter(max_rps=10.0, clock=clock)
    for _ in range(30):
        ctl.observe("a", a, latency_s=0.5)
        ctl.observe("b", b, latency_s=0.02)
    # 1.5 x (200 x 0.5) + 1.5 x (10 x 0.02) rounded up, plus 2
    assert ctl.limit == 150 + 1 + 2 and ctl.latency("a") == pytest.approx(0.5)
    fixed = ConcurrencyController(4)
    fixed.observe("a", a, latency_s=0.5)
    assert fixed.limit == 4 and fixed.maximum == 4
    with pytest.raises(ConfigurationError):
        ConcurrencyController(0)


def test_controller_slow_starts_while_the_rate_is_unknown_and_stops_at_the_maximum() -> None:
    from finetune_sdk.evaluation.runner import ConcurrencyController

    stop = threading.Event()
    ctl = ConcurrencyController(initial=2, maximum=20)
    limiter = AdaptiveRateLimiter()  # unlimited until a throttle: the rate is unknown
    for _ in range(100):
        for _ in range(ctl.limit):
            ctl.enter(stop)
        for _ in range(ctl.limit):
            ctl.observe("m", limiter, latency_s=0.1)  # answered with every place taken: grow
            ctl.leave()
    assert ctl.limit == 20 and ctl.peak == 20


@pytest.mark.slow
def test_runner_without_a_concurrency_keeps_enough_in_flight_for_the_rate() -> None:
    """100 req/s at 50 ms needs ~5 in flight; a slow model at 0.2 s needs ~20: the runner finds both."""
    for latency, rate, expected_low in ((0.05, 100.0, 5), (0.2, 100.0, 20)):
        model = RateLimitedModel(rate=rate, burst=5, latency=latency)
        runner = Runner(progress=False, retry=RetryPolicy(max_attempts=40, base_delay=0.01, max_delay=0.1))
        tasks = [
            Task(key="m", index=i, fingerprint=str(i), system=None, turns=(Turn.of("user", f"question {i}"),))
            for i in range(120)
        ]
        outcomes = runner.run(
            tasks,
            {"m": lambda system, turns, config, model=model: model.chat(turns=turns)},
            config=InferenceConfig(),
        )
        assert all(o.response is not None for o in outcomes)
        assert set(model.answered.values()) == {1} and len(model.answered) == 120
        assert runner.controller.peak >= expected_low, (latency, runner.controller.peak)


def test_limiter_learns_the_delivered_rate_as_ceiling_recovers_fast_and_probes_above() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(max_rps=1000.0, clock=clock)

    def answer_for(seconds: float) -> None:  # 100 answers a second
        for _ in range(int(seconds * 100)):
            limiter.acquire()
            limiter.on_answer()
            clock.advance(0.01)

    answer_for(1.0)
    limiter.on_throttle(limiter.acquire())
    assert limiter.ceiling == pytest.approx(100.0, rel=0.05)  # what was delivered, not the 1000 allowed
    assert limiter.rate == pytest.approx(0.85 * limiter.ceiling)  # cut from the ceiling
    clock.advance(1.0)
    limiter.acquire()
    assert limiter.rate == pytest.approx(0.97 * limiter.ceiling)  # recovered within a second
    answer_for(1.0)  # the first ceiling of a run is unsure: it probed at once, and is throttled above it
    limiter.on_throttle(limiter.acquire())
    ceiling = limiter.ceiling
    assert ceiling == pytest.approx(100.0, rel=0.05) and limiter.rate == pytest.approx(0.85 * ceiling)
    clock.advance(1.0)
    limiter.acquire()
    assert limiter.rate == pytest.approx(0.97 * ceiling)  # back to 97% of the ceiling within a second
    clock.advance(1.0)
    limiter.acquire()
    assert 0.97 * ceiling < limiter.rate < ceiling  # a settled ceiling: a slow probe for a second...
    clock.advance(2.0)
    limiter.acquire()
    assert limiter.rate > 1.5 * ceiling  # ...then a fast one until the next throttle
