"""Teacher generation: every prompt answered by the teacher, resumably, in real time or as a batch job.

Real time (``via="realtime"``) reuses the Evaluator's runner (:mod:`finetune_sdk.evaluation.runner`):
concurrent requests, an adaptive rate limit that backs off on throttling, retries with jitter, and an
append-only checkpoint, so an interrupted generation resumes without asking the teacher again for answers
it already gave. Identical requests (same system prompt, turns and settings) are sent once.

A batch job (``via="batch"``) hands the whole set to the backend's batch inference (Bedrock
``CreateModelInvocationJob``: about half the on-demand price for large sets). Its cost is estimated first
from catalog prices and estimated tokens; above ``confirm_above`` dollars nothing is submitted unless the
caller passes ``confirm=True`` or a ``max_cost`` the estimate fits under. Answers land in the same
checkpoint, so a rerun after a crash does not pay twice.

The training record keeps the prompt's own system prompt and turns (a ``template`` only shapes what the
teacher sees, e.g. an instruction the student should learn to follow without being told) and appends the
teacher's answer as the final assistant turn. A gold answer the prompt already carried moves to
``metadata["reference"]``; ``teacher_model``, ``teacher_stop_reason`` and token counts are added too.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> prompts = [Conversation.from_pairs("2+2?"), Conversation.from_pairs("3+3?")]
    >>> result = generate_responses(prompts, teacher=lambda prompt: "4", progress=False)
    >>> [r.reference for r in result.records], result.sent
    (['4', '4'], 2)
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from finetune_sdk._clock import Clock
from finetune_sdk.backends.base import CanBatchInfer, ChatResponse, CostEstimate, InferenceConfig, require
from finetune_sdk.catalog import Prices
from finetune_sdk.data.records import Conversation, Record, TextRecord, Turn
from finetune_sdk.data.tokens import HeuristicCounter, TokenCounter, counter_for
from finetune_sdk.errors import ConfigurationError, CostLimitExceededError
from finetune_sdk.evaluation._targets import ModelLike, Target, resolve_target
from finetune_sdk.evaluation.runner import Checkpoint, Outcome, RetryPolicy, Runner, Task
from finetune_sdk.evaluation.templates import PromptTemplate

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_CONFIRM_ABOVE",
    "GenerationFailure",
    "GenerationResult",
    "count_requests",
    "estimate_generation_cost",
    "generate_responses",
]

logger = logging.getLogger(__name__)

#: batch inference price as a fraction of on-demand (AWS: "50% lower price compared to on-demand")
BATCH_DISCOUNT = 0.5
#: dollars above which a batch job needs ``confirm=True`` or a ``max_cost`` it fits under
DEFAULT_CONFIRM_ABOVE = 25.0

Via = Literal["realtime", "batch"]


class GenerationFailure(BaseModel):
    """A prompt the teacher did not answer (after retries): its input position and the final error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    error: str


class GenerationResult(BaseModel):
    """The teacher's answers and what they cost.

    Attributes:
        teacher: the teacher's id.
        via: ``"realtime"`` or ``"batch"``.
        records: answered prompts in input order, each ending with the teacher's answer.
        failures: prompts without an answer (re-running the generation retries them).
        prompts: prompts given; ``unique_requests``: distinct requests among them (duplicates are sent once).
        sent: requests sent by this call; ``resumed``: answers taken from the checkpoint instead.
        input_tokens, output_tokens: tokens of all answered requests (``tokens_estimated`` when any count
            was estimated rather than reported by the service).
        cost: the cost of the answered requests at catalog prices (``None`` without prices).
        estimate: the estimate made before sending (tokens estimated; output at ``max_tokens``).
        checkpoint: the checkpoint file, when there is one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    teacher: str
    via: Via
    records: tuple[Conversation, ...]
    failures: tuple[GenerationFailure, ...] = ()
    prompts: int
    unique_requests: int
    sent: int = 0
    resumed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_estimated: bool = False
    cost: CostEstimate | None = None
    estimate: CostEstimate | None = None
    checkpoint: str | None = None

    @property
    def dataset(self) -> Dataset:
        """The answered records as a :class:`~finetune_sdk.data.dataset.Dataset`."""
        from finetune_sdk.data.dataset import Dataset

        return Dataset.from_records(list(self.records))

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("teacher", self.teacher),
            ("via", self.via),
            ("prompts / unique requests", f"{self.prompts} / {self.unique_requests}"),
            ("answered / failed", f"{len(self.records)} / {len(self.failures)}"),
            ("sent / resumed from checkpoint", f"{self.sent} / {self.resumed}"),
            ("tokens in / out", f"{self.input_tokens:,} / {self.output_tokens:,}"
             + (" (estimated)" if self.tokens_estimated else "")),
            ("cost", str(self.cost) if self.cost is not None else "unknown (no catalog prices)"),
        ]

    def to_markdown(self) -> str:
        """A two-column table of the counts and cost, then the first failures."""
        lines = ["| generation | |", "|---|---|", *(f"| {k} | {v} |" for k, v in self._rows())]
        if self.failures:
            lines += ["", *(f"- prompt {f.index}: {f.error}" for f in self.failures[:10])]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                       for k, v in self._rows())
        return f"<table><caption>teacher generation</caption>{body}</table>"

    def __str__(self) -> str:
        cost = f", {self.cost}" if self.cost is not None else ""
        return (f"{self.teacher} answered {len(self.records)} of {self.prompts} prompts via {self.via} "
                f"({self.sent} sent, {self.resumed} resumed, {len(self.failures)} failed{cost})")


@dataclass(frozen=True)
class _Request:
    fingerprint: str
    system: str | None
    turns: tuple[Turn, ...]


def _as_conversation(record: Record) -> Conversation:
    if isinstance(record, TextRecord):
        return Conversation(turns=(Turn.of("user", record.text),), metadata=dict(record.metadata))
    return record


def _fingerprint(teacher_id: str, system: str | None, turns: Sequence[Turn], config: InferenceConfig) -> str:
    payload = {
        "teacher": teacher_id,
        "system": system,
        "turns": [t.model_dump(mode="json") for t in turns],
        "config": config.model_dump(mode="json"),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plan(
    prompts: Sequence[Record], template: PromptTemplate, config: InferenceConfig, teacher_id: str
) -> tuple[list[_Request], list[int]]:
    """Unique requests, and for each prompt the position of its request."""
    requests: list[_Request] = []
    where: dict[str, int] = {}
    owner: list[int] = []
    for record in prompts:
        system, turns = template.render(record)
        if not any(t.role == "user" and t.text.strip() for t in turns):
            raise ConfigurationError(
                "a prompt has no user text to send to the teacher; drop empty prompts first (Dataset.clean())"
            )
        fp = _fingerprint(teacher_id, system, turns, config)
        if fp not in where:
            where[fp] = len(requests)
            requests.append(_Request(fp, system, turns))
        owner.append(where[fp])
    return requests, owner


def count_requests(
    prompts: Sequence[Record],
    *,
    teacher: ModelLike,
    template: PromptTemplate | None = None,
    config: InferenceConfig | None = None,
) -> int:
    """How many distinct requests ``prompts`` make to ``teacher`` (identical requests are sent once).

    Raises:
        ConfigurationError: a prompt has no user text.

    Examples:
        >>> from finetune_sdk.data.records import Conversation
        >>> count_requests([Conversation.from_pairs("a"), Conversation.from_pairs("a")], teacher=lambda p: p)
        1
    """
    cfg = config or InferenceConfig(temperature=0.0)
    return len(_plan(list(prompts), template or PromptTemplate(), cfg, resolve_target(teacher).id)[0])


def _counter_for_target(target: Target) -> TokenCounter:
    return counter_for(target.pricing_model_id) if target.pricing_model_id else HeuristicCounter(4.0)


def estimate_generation_cost(
    prompts: Sequence[Record],
    *,
    teacher: ModelLike,
    via: Via = "realtime",
    template: PromptTemplate | None = None,
    config: InferenceConfig | None = None,
    expected_output_tokens: int | None = None,
) -> CostEstimate | None:
    """What generating answers for ``prompts`` would cost at the teacher's catalog prices.

    Input tokens are estimated from the rendered requests (the catalog's characters-per-token for the
    teacher's family); output tokens are ``expected_output_tokens`` per request, or ``config.max_tokens``
    (an upper bound) when not given. Batch jobs are priced at :data:`BATCH_DISCOUNT` of on-demand.

    Returns:
        The estimate, or ``None`` when the catalog has no prices for the teacher.

    Raises:
        ConfigurationError: a prompt has no user text.

    Examples:
        >>> from finetune_sdk.data.records import Conversation
        >>> from finetune_sdk.testing import FakeBackend
        >>> from finetune_sdk.models import Model
        >>> teacher = Model.foundation("anthropic.claude-3-5-sonnet-20240620-v1:0", backend=FakeBackend())
        >>> prompts = [Conversation.from_pairs(f"{i:03d}" + "x" * 2997) for i in range(10)]
        >>> est = estimate_generation_cost(prompts, teacher=teacher, via="batch",
        ...                                config=InferenceConfig(max_tokens=1000))
        >>> est.total, est.breakdown["output"]
        (0.086265, 0.075)
    """
    cfg = config or InferenceConfig(temperature=0.0)
    target = resolve_target(teacher)
    requests, _ = _plan(list(prompts), template or PromptTemplate(), cfg, target.id)
    return _estimate(requests, target, cfg, via=via, expected_output_tokens=expected_output_tokens)


def _estimate(
    requests: Sequence[_Request],
    target: Target,
    config: InferenceConfig,
    *,
    via: Via,
    expected_output_tokens: int | None,
) -> CostEstimate | None:
    prices: Prices | None = target.prices
    if prices is None or prices.input_per_1k_tokens is None or prices.output_per_1k_tokens is None:
        return None
    counter = _counter_for_target(target)
    input_tokens = sum(counter.count("\n".join([r.system or "", *(t.text for t in r.turns)]))
                       for r in requests)
    per_request = expected_output_tokens if expected_output_tokens is not None else config.max_tokens
    output_tokens = per_request * len(requests)
    factor = BATCH_DISCOUNT if via == "batch" else 1.0
    breakdown = {
        "input": round(input_tokens / 1000 * prices.input_per_1k_tokens * factor, 6),
        "output": round(output_tokens / 1000 * prices.output_per_1k_tokens * factor, 6),
    }
    assumptions = [
        f"{len(requests)} requests to {target.pricing_model_id or target.id}",
        f"{input_tokens:,} input tokens (estimated from characters)",
        f"{output_tokens:,} output tokens ({per_request} per request"
        + (", the max_tokens upper bound)" if expected_output_tokens is None else ")"),
    ]
    if via == "batch":
        assumptions.append(f"batch inference at {BATCH_DISCOUNT:.0%} of the on-demand price")
    return CostEstimate(total=round(sum(breakdown.values()), 6), breakdown=breakdown, price_date=prices.date,
                        assumptions=tuple(assumptions))


def _guard(
    estimate: CostEstimate | None,
    *,
    via: Via,
    confirm: bool,
    max_cost: float | None,
    confirm_above: float,
) -> None:
    if max_cost is not None:
        if estimate is None:
            raise ConfigurationError(
                f"max_cost={max_cost} was given but the catalog has no price for the teacher; "
                "drop max_cost (and pass confirm=True for a batch job) to generate anyway"
            )
        if estimate.total > max_cost:
            raise CostLimitExceededError(
                f"teacher generation is estimated at {estimate}, above max_cost=${max_cost:,.2f}; nothing "
                "was sent. Use fewer prompts, a lower max_tokens, or raise max_cost.",
                estimate=estimate.total, max_cost=max_cost,
            )
        return
    if via != "batch" or confirm:
        return
    if estimate is None:
        raise ConfigurationError(
            "the batch job's cost cannot be estimated (no catalog price for the teacher); "
            "pass confirm=True to submit it anyway"
        )
    if estimate.total > confirm_above:
        raise CostLimitExceededError(
            f"the batch job is estimated at {estimate}, above the ${confirm_above:,.2f} confirmation "
            "threshold; nothing was submitted. Pass confirm=True, or max_cost= at or above the estimate, "
            "to submit it.",
            estimate=estimate.total, max_cost=confirm_above,
        )


def _answered(record: Record, response: ChatResponse, teacher_id: str) -> Conversation:
    conv = _as_conversation(record)
    extra: dict[str, Any] = {"teacher_model": teacher_id}
    if conv.reference is not None and "reference" not in conv.metadata:
        extra["reference"] = conv.reference  # the prompt's own gold answer stays available to the gate
    if response.stop_reason:
        extra["teacher_stop_reason"] = response.stop_reason
    if response.output_tokens is not None and not response.tokens_estimated:
        extra["teacher_output_tokens"] = response.output_tokens
    return conv.with_response(response.text.strip()).with_metadata(**extra)


def generate_responses(
    prompts: Sequence[Record],
    *,
    teacher: ModelLike,
    via: Via = "realtime",
    template: PromptTemplate | None = None,
    config: InferenceConfig | None = None,
    checkpoint: str | Path | None = None,
    concurrency: int = 8,
    max_rps: float | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
    progress: bool | None = None,
    confirm: bool = False,
    max_cost: float | None = None,
    confirm_above: float = DEFAULT_CONFIRM_ABOVE,
    expected_output_tokens: int | None = None,
) -> GenerationResult:
    """Ask ``teacher`` to answer every prompt (see the module docstring).

    Args:
        prompts: records whose prompt turns (and system prompt) are sent; a final assistant turn is not sent.
        teacher: a ``Model`` / ``Deployment`` (anything with ``id`` and ``chat()``) or a callable
            ``(prompt: str) -> str | ChatResponse``. ``via="batch"`` needs a model whose backend can run batch
            inference.
        via: ``"realtime"`` (concurrent requests) or ``"batch"`` (one batch inference job).
        template: how a record becomes the teacher's request (default: the record as is).
        config: the teacher's inference settings (default: temperature 0, 512 max tokens).
        checkpoint: a JSONL file answers are appended to; rerunning with it skips answered requests.
        concurrency, max_rps, retry, clock, progress: real-time execution settings (the Evaluator's runner).
        confirm: submit a batch job even when its estimate is above ``confirm_above`` dollars.
        max_cost: refuse to send anything when the estimate is above this many dollars.
        confirm_above: the confirmation threshold of batch jobs, in dollars.
        expected_output_tokens: output tokens per answer for the estimate (default ``config.max_tokens``).

    Returns:
        A :class:`GenerationResult`.

    Raises:
        CostLimitExceededError: the estimate is above ``max_cost``, or a batch job's is above
            ``confirm_above`` without ``confirm``; nothing was sent.
        UnsupportedOperationError: ``via="batch"`` with a teacher whose backend cannot run batch inference.
        ConfigurationError: no prompts, an empty prompt, or an unknown ``via``.
        KeyboardInterrupt: re-raised once requests in flight are checkpointed; rerun to resume.
    """
    if via not in ("realtime", "batch"):
        raise ConfigurationError(f"via must be 'realtime' or 'batch', got {via!r}")
    records = list(prompts)
    if not records:
        raise ConfigurationError("no prompts to generate answers for")
    cfg = config or InferenceConfig(temperature=0.0)
    target = resolve_target(teacher)
    requests, owner = _plan(records, template or PromptTemplate(), cfg, target.id)
    ckpt = Checkpoint(checkpoint) if checkpoint is not None else None
    done = ckpt.load() if ckpt is not None else {}
    key = f"teacher:{target.id}"
    # index 0 for every task: a request is known by its fingerprint alone, so reordered or extended
    # prompt sets still resume from the checkpoint.
    tasks = [Task(key=key, index=0, fingerprint=r.fingerprint, system=r.system, turns=r.turns)
             for r in requests]
    pending = [n for n, t in enumerate(tasks) if (t.key, t.index, t.fingerprint) not in done]

    estimate = _estimate([requests[n] for n in pending], target, cfg, via=via,
                         expected_output_tokens=expected_output_tokens)
    if pending:
        _guard(estimate, via=via, confirm=confirm, max_cost=max_cost, confirm_above=confirm_above)
        logger.info("teacher generation: %d requests (%d answered before) via %s, estimated %s",
                    len(pending), len(requests) - len(pending), via, estimate or "at unknown cost")

    if via == "batch":
        outcomes = _run_batch(teacher, target, tasks, pending, done, cfg, ckpt)
        sent = len(pending)
    else:
        runner = Runner(concurrency=concurrency, max_rps=max_rps, retry=retry, checkpoint=ckpt, clock=clock,
                        progress=progress)
        outcomes = runner.run(tasks, {key: target.invoke}, config=cfg, desc="teacher")
        sent = sum(1 for o in outcomes if not o.resumed)

    answered: list[Conversation] = []
    failures: list[GenerationFailure] = []
    for i, record in enumerate(records):
        outcome = outcomes[owner[i]]
        if outcome.response is None:
            failures.append(GenerationFailure(index=i, error=outcome.error or "no answer"))
        else:
            answered.append(_answered(record, outcome.response, target.id))
    responses = [o.response for o in outcomes if o.response is not None]
    in_tokens = sum(r.input_tokens or 0 for r in responses)
    out_tokens = sum(r.output_tokens or 0 for r in responses)
    result = GenerationResult(
        teacher=target.id,
        via=via,
        records=tuple(answered),
        failures=tuple(failures),
        prompts=len(records),
        unique_requests=len(requests),
        sent=sent,
        resumed=sum(1 for o in outcomes if o.resumed),
        input_tokens=in_tokens,
        output_tokens=out_tokens,
        tokens_estimated=any(r.tokens_estimated or r.output_tokens is None for r in responses),
        cost=_actual_cost(responses, target, via),
        estimate=estimate,
        checkpoint=str(checkpoint) if checkpoint is not None else None,
    )
    logger.info("%s", result)
    return result


def _actual_cost(responses: Sequence[ChatResponse], target: Target, via: Via) -> CostEstimate | None:
    prices = target.prices
    if not responses or prices is None:
        return None
    if prices.input_per_1k_tokens is None or prices.output_per_1k_tokens is None:
        return None
    factor = BATCH_DISCOUNT if via == "batch" else 1.0
    counter = _counter_for_target(target)
    in_tokens = sum(r.input_tokens if r.input_tokens is not None else 0 for r in responses)
    out_tokens = sum(r.output_tokens if r.output_tokens is not None else counter.count(r.text)
                     for r in responses)
    breakdown = {
        "input": round(in_tokens / 1000 * prices.input_per_1k_tokens * factor, 6),
        "output": round(out_tokens / 1000 * prices.output_per_1k_tokens * factor, 6),
    }
    return CostEstimate(total=round(sum(breakdown.values()), 6), breakdown=breakdown, price_date=prices.date,
                        assumptions=(f"{len(responses)} answered requests, {in_tokens:,} in / {out_tokens:,} "
                                     "out tokens",))


def _run_batch(
    teacher: ModelLike,
    target: Target,
    tasks: Sequence[Task],
    pending: Sequence[int],
    done: dict[tuple[str, int, str], tuple[ChatResponse, int]],
    config: InferenceConfig,
    checkpoint: Checkpoint | None,
) -> list[Outcome]:
    """Send the pending tasks as one batch job; answers go to the checkpoint like real-time ones."""
    backend = getattr(teacher, "backend", None)
    if backend is None:
        raise ConfigurationError(
            "via='batch' needs a teacher Model on a backend (e.g. Model.foundation(id, backend='bedrock')); "
            "a plain callable can only answer in real time"
        )
    batcher: CanBatchInfer = require(backend, CanBatchInfer, "run batch inference (via='batch')")
    results: dict[str, ChatResponse] = {}
    if pending:
        requests = [(_record_id(tasks[n]), tasks[n].system, tasks[n].turns) for n in pending]
        results = batcher.batch_generate(target.id, requests, config=config, wait=True)
    outcomes: list[Outcome] = []
    pending_set = set(pending)
    # A batch answers everything at once: append every row, then fsync once (not once per row).
    sync = checkpoint.fsync if checkpoint is not None else False
    if checkpoint is not None:
        checkpoint.fsync = False
    try:
        for n, task in enumerate(tasks):
            if n not in pending_set:
                response, attempts = done[(task.key, task.index, task.fingerprint)]
                outcomes.append(Outcome(response=response, attempts=attempts, resumed=True))
                continue
            answer = results.get(_record_id(task))
            if answer is None:
                error = "the batch job returned no answer for this request"
                if checkpoint is not None:
                    checkpoint.record_error(task, error, "BatchRecordError", 1)
                outcomes.append(Outcome(response=None, error=error, error_type="BatchRecordError",
                                        attempts=1))
                continue
            if checkpoint is not None:
                checkpoint.record_answer(task, answer, 1)
            outcomes.append(Outcome(response=answer, attempts=1))
    finally:
        if checkpoint is not None:
            checkpoint.fsync = sync
            checkpoint.close()
            if sync and checkpoint.path.exists():
                with checkpoint.path.open("rb+") as fh:
                    os.fsync(fh.fileno())
    return outcomes


def _record_id(task: Task) -> str:
    return f"r{task.fingerprint[:24]}"
