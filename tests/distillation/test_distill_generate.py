"""Teacher generation: resumable real-time runs, batch jobs, the cost guard, failures."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from finetune_sdk.backends.base import CanBatchInfer, ChatResponse, InferenceConfig
from finetune_sdk.data.records import Conversation, Turn
from finetune_sdk.distillation import Distiller, generate_responses
from finetune_sdk.errors import (
    ConfigurationError,
    CostLimitExceededError,
    ServiceValidationError,
    UnsupportedOperationError,
)
from finetune_sdk.evaluation.templates import PromptTemplate
from finetune_sdk.models import Model
from finetune_sdk.testing import FakeBackend

SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def prompts(n: int) -> list[Conversation]:
    return [Conversation.from_pairs(f"Question number {i}: what is {i} squared?") for i in range(n)]


class CountingTeacher:
    """A callable teacher that counts calls per prompt and can raise once on its n-th call."""

    def __init__(self, *, interrupt_on: int | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.interrupt_on = interrupt_on
        self.interrupted: str | None = None
        self._lock = threading.Lock()

    def __call__(self, prompt: str) -> str:
        with self._lock:
            self.calls[prompt] += 1
            n = sum(self.calls.values())
            if self.interrupt_on is not None and n == self.interrupt_on:
                self.interrupt_on = None
                self.interrupted = prompt
                raise KeyboardInterrupt
        return f"The square is {prompt.split()[2].rstrip(':')} squared."


def test_interrupted_generation_resumes_without_reasking(tmp_path: Path) -> None:
    data = prompts(40)
    teacher = CountingTeacher(interrupt_on=15)
    ckpt = tmp_path / "teacher.jsonl"
    with pytest.raises(KeyboardInterrupt):
        generate_responses(data, teacher=teacher, checkpoint=ckpt, concurrency=4, progress=False)
    first_run = dict(teacher.calls)
    assert teacher.interrupted is not None
    answered_before = {p for p in first_run if p != teacher.interrupted}
    assert 0 < len(answered_before) < 40

    result = generate_responses(data, teacher=teacher, checkpoint=ckpt, concurrency=4, progress=False)
    assert len(result.records) == 40 and not result.failures
    assert result.resumed == len(answered_before)
    assert result.sent == 40 - len(answered_before)
    # every prompt answered before the interruption was asked exactly once, across both runs
    for prompt in answered_before:
        assert teacher.calls[prompt] == 1, prompt
    assert teacher.calls[teacher.interrupted] == 2  # its answer never arrived, so it was asked again
    assert set(teacher.calls) == {p.prompt_text for p in data}

    again = generate_responses(list(reversed(data)), teacher=teacher, checkpoint=ckpt, progress=False)
    assert again.sent == 0 and again.resumed == 40  # order does not matter to the checkpoint
    assert sum(teacher.calls.values()) == 41


def test_identical_requests_are_sent_once() -> None:
    teacher = CountingTeacher()
    data = [*prompts(3), *prompts(3)]
    result = generate_responses(data, teacher=teacher, progress=False)
    assert result.prompts == 6 and result.unique_requests == 3 and result.sent == 3
    assert len(result.records) == 6
    assert sum(teacher.calls.values()) == 3


def test_template_shapes_the_request_but_not_the_record() -> None:
    seen: list[str] = []

    def teacher(prompt: str) -> str:
        seen.append(prompt)
        return "B"

    record = Conversation.from_pairs(
        "2+2? A) 3 B) 4", "B) 4 is right", system="Be brief.", metadata={"answer": "B"}
    )
    result = generate_responses(
        [record],
        teacher=teacher,
        progress=False,
        template=PromptTemplate(system="", instruction="Answer with one letter.\n{prompt}"),
    )
    assert seen == ["Answer with one letter.\n2+2? A) 3 B) 4"]
    out = result.records[0]
    assert out.system == "Be brief."
    assert [t.text for t in out.turns] == ["2+2? A) 3 B) 4", "B"]
    assert out.metadata["answer"] == "B" and out.metadata["reference"] == "B) 4 is right"


def test_model_teacher_records_tokens_cost_and_stop_reason() -> None:
    fake = FakeBackend(responder=lambda model, system, turns: "x" * 2000)
    teacher = Model.foundation(SONNET, backend=fake)
    result = generate_responses(
        prompts(4), teacher=teacher, config=InferenceConfig(max_tokens=100), progress=False
    )
    assert result.teacher == SONNET
    assert all(r.metadata["teacher_stop_reason"] == "max_tokens" for r in result.records)
    assert result.output_tokens > 0 and result.tokens_estimated
    assert result.cost is not None and result.cost.total > 0
    assert result.estimate is not None and result.estimate.breakdown["output"] == pytest.approx(
        4 * 100 * 0.015 / 1000
    )
    assert "teacher_output_tokens" not in result.records[0].metadata  # estimated counts are not kept


def test_failures_are_reported_and_retried_on_rerun(tmp_path: Path) -> None:
    fake = FakeBackend()
    fake.inject("chat", ServiceValidationError("bad request", backend="fake"), times=2)
    teacher = Model.foundation("amazon.nova-pro-v1:0", backend=fake)
    ckpt = tmp_path / "t.jsonl"
    first = generate_responses(prompts(5), teacher=teacher, checkpoint=ckpt, concurrency=1, progress=False)
    assert len(first.records) == 3 and [f.index for f in first.failures] == [0, 1]
    assert "ServiceValidationError: bad request" in first.failures[0].error
    second = generate_responses(prompts(5), teacher=teacher, checkpoint=ckpt, concurrency=1, progress=False)
    assert len(second.records) == 5 and second.sent == 2 and second.resumed == 3


def test_max_cost_refuses_before_sending() -> None:
    fake = FakeBackend()
    teacher = Model.foundation(SONNET, backend=fake)
    with pytest.raises(CostLimitExceededError, match="above max_cost"):
        generate_responses(prompts(50), teacher=teacher, max_cost=0.01, progress=False)
    assert fake.calls["chat"] == 0
    result = generate_responses(prompts(2), teacher=teacher, max_cost=1.0, progress=False)
    assert len(result.records) == 2
    with pytest.raises(ConfigurationError, match="no price"):
        generate_responses(prompts(2), teacher=lambda p: "x", max_cost=1.0, progress=False)


class BatchFake(FakeBackend, CanBatchInfer):
    """The fake backend plus batch inference that can lose records."""

    def __init__(self, *, drop: int = 0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.batches: list[list[str]] = []
        self.drop = drop

    def batch_generate(
        self,
        model_id: str,
        requests: Sequence[tuple[str, str | None, Sequence[Turn]]],
        *,
        config: InferenceConfig,
        wait: bool = True,
    ) -> dict[str, ChatResponse]:
        self.batches.append([rid for rid, _, _ in requests])
        out = {rid: self.chat(model_id, system=s, turns=t, config=config) for rid, s, t in requests}
        for rid in list(out)[: self.drop]:
            del out[rid]
        self.drop = 0
        return out


def test_batch_needs_confirmation_above_the_threshold(tmp_path: Path) -> None:
    fake = BatchFake(drop=1)
    distiller = Distiller(
        teacher=Model.foundation(SONNET, backend=fake),
        progress=False,
        config=InferenceConfig(max_tokens=4000),
    )
    data = prompts(1000)
    estimate = distiller.estimate_cost(data, via="batch")
    assert estimate is not None and estimate.total > 25
    assert any("50% of the on-demand price" in a for a in estimate.assumptions)
    assert distiller.estimate_cost(data).total == pytest.approx(2 * estimate.total, rel=1e-3)
    with pytest.raises(CostLimitExceededError, match="confirmation threshold") as info:
        distiller.generate(data, via="batch")
    assert info.value.estimate == estimate.total
    assert fake.batches == []
    with pytest.raises(CostLimitExceededError, match="above max_cost"):
        distiller.generate(data, via="batch", max_cost=estimate.total / 2)
    assert fake.batches == []

    ckpt = tmp_path / "batch.jsonl"
    result = distiller.generate(data, via="batch", max_cost=estimate.total, checkpoint=ckpt)
    assert len(fake.batches) == 1 and len(fake.batches[0]) == 1000
    assert result.via == "batch" and len(result.records) == 999 and len(result.failures) == 1
    assert result.cost is not None and result.cost.total < estimate.total

    again = distiller.generate(data, via="batch", checkpoint=ckpt)  # one request left: under the threshold
    assert len(fake.batches) == 2 and len(fake.batches[1]) == 1
    assert len(again.records) == 1000 and again.resumed == 999


def test_batch_needs_a_batch_capable_backend() -> None:
    with pytest.raises(UnsupportedOperationError, match="BatchInfer"):
        generate_responses(
            prompts(2),
            teacher=Model.foundation(SONNET, backend=FakeBackend()),
            via="batch",
            confirm=True,
            progress=False,
        )
    with pytest.raises(ConfigurationError, match="needs a teacher Model on a backend"):
        generate_responses(prompts(2), teacher=lambda p: "x", via="batch", confirm=True, progress=False)
    with pytest.raises(ConfigurationError, match="cannot be estimated"):
        generate_responses(
            prompts(2),
            teacher=Model.foundation("unknown-model", backend=BatchFake()),
            via="batch",
            progress=False,
        )
    with pytest.raises(ConfigurationError, match="via must be"):
        generate_responses(prompts(2), teacher=lambda p: "x", via="bulk", progress=False)  # type: ignore[arg-type]


def test_bad_prompts_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="no prompts"):
        generate_responses([], teacher=lambda p: "x")
    with pytest.raises(ConfigurationError, match="no user text"):
        generate_responses([Conversation.from_pairs("  ")], teacher=lambda p: "x")
    result = Distiller(teacher=lambda p: p.upper(), progress=False).generate(["plain string prompt"])
    assert result.records[0].reference == "PLAIN STRING PROMPT"
