"""Ownership of Bedrock batch inference jobs: an interrupt, a timeout or a failure while ``batch_generate`` waits
stops the job it created (or, with keep_on_failure, leaves it running and hands its ARN back on the exception);
a rerun after a stop starts a fresh job, a rerun while the job still runs attaches to it.

Wait points injected: every status poll and every sleep between polls, plus the timeout. Backend: the Bedrock
AWS emulation on its fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import Turn
from finetune_sdk.errors import JobTimeoutError

MODEL = "amazon.nova-micro-v1:0"
RUNNING = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping")


def on_nth(n: int, original: Callable[..., Any], exc: BaseException) -> Callable[..., Any]:
    count = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] == n:
            raise exc
        return original(*args, **kwargs)

    return wrapper


@pytest.fixture
def aws() -> Iterator[Any]:
    from finetune_sdk.testing.emulation import BedrockEmulation

    with BedrockEmulation(batch_duration_s=600.0, stop_duration_s=30.0) as emulation:
        yield emulation


def jobs(aws: Any) -> list[dict[str, Any]]:
    client = aws.session.client("bedrock")
    return list(client.list_model_invocation_jobs()["invocationJobSummaries"])


def running(aws: Any) -> list[dict[str, Any]]:
    return [j for j in jobs(aws) if j["status"] in RUNNING and j["status"] != "Stopping"]


def requests() -> list[tuple[str, str | None, list[Turn]]]:
    return [(f"q{i}", None, [Turn.of("user", f"question {i}")]) for i in range(3)]


def generate(backend: Any, **kwargs: Any) -> Any:
    return backend.batch_generate(MODEL, requests(), config=InferenceConfig(max_tokens=16), **kwargs)


def inject(monkeypatch: pytest.MonkeyPatch, backend: Any, point: str, exc: BaseException) -> None:
    kind, n = point.split("-")
    if kind == "poll":
        original = backend._call

        count = {"n": 0}

        def call(service: str, operation: str, *args: Any, **kwargs: Any) -> Any:
            if operation == "GetModelInvocationJob":
                count["n"] += 1
                if count["n"] == int(n):
                    raise exc
            return original(service, operation, *args, **kwargs)

        monkeypatch.setattr(backend, "_call", call)
    else:
        monkeypatch.setattr(backend.clock, "sleep", on_nth(int(n), backend.clock.sleep, exc))


POINTS = ["poll-1", "poll-2", "sleep-1", "sleep-3"]


@pytest.mark.parametrize("point", [*POINTS, "timeout"])
def test_interrupted_or_timed_out_batch_job_is_stopped(aws: Any, point: str, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = aws.backend()
    if point == "timeout":
        with pytest.raises(JobTimeoutError) as info:
            generate(backend, timeout=60)
    else:
        inject(monkeypatch, backend, point, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt) as info:
            generate(backend)
        monkeypatch.undo()
    assert len(aws.calls("CreateModelInvocationJob")) == 1
    assert info.value.batch_job == jobs(aws)[0]["jobArn"]
    assert len(aws.calls("StopModelInvocationJob")) == 1
    assert running(aws) == []
    backend.clock.advance(60)
    assert [j["status"] for j in jobs(aws)] == ["Stopped"]


@pytest.mark.parametrize("point", ["poll-2", "timeout"])
def test_keep_on_failure_leaves_the_job_running_and_hands_it_back(
    aws: Any, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = aws.backend()
    if point == "timeout":
        with pytest.raises(JobTimeoutError) as info:
            generate(backend, timeout=60, keep_on_failure=True)
    else:
        inject(monkeypatch, backend, point, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt) as info:
            generate(backend, keep_on_failure=True)
        monkeypatch.undo()
    assert aws.calls("StopModelInvocationJob") == []
    [job] = running(aws)
    assert info.value.batch_job == job["jobArn"]
    # a rerun while it still runs re-attaches to it and collects its answers
    answers = generate(backend)
    assert len(aws.calls("CreateModelInvocationJob")) == 2  # the second is answered idempotently (same token)
    assert {j["jobArn"] for j in jobs(aws)} == {job["jobArn"]}
    assert sorted(answers) == ["q0", "q1", "q2"]


def test_rerun_after_a_stop_starts_a_fresh_job(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = aws.backend()
    inject(monkeypatch, backend, "sleep-1", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as info:
        generate(backend)
    monkeypatch.undo()
    stopped = info.value.batch_job
    backend.clock.advance(60)
    answers = generate(backend)
    assert sorted(answers) == ["q0", "q1", "q2"]
    by_arn = {j["jobArn"]: j for j in jobs(aws)}
    assert len(by_arn) == 2
    assert by_arn[stopped]["status"] == "Stopped"
    [fresh] = [j for arn, j in by_arn.items() if arn != stopped]
    assert fresh["status"] == "Completed"
    assert fresh["jobName"] == by_arn[stopped]["jobName"] + "-r1"
    assert running(aws) == []
