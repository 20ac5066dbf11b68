"""The quality gate between teacher generation and student training.

A :class:`QualityGate` is a value listing which checks run; each one is optional and every record's fate is
reported: :meth:`QualityGate.apply` returns the records that passed and a :class:`GateReport` with per-step
counts and one :class:`RecordDecision` per input record (accepted, or rejected by which step and why).

Steps, in the order they run (cheap and local first, the paid LLM judge last):

1. ``response``: the record ends with a non-empty assistant turn (the teacher's answer). Always on.
2. ``truncated``: the answer was not cut at the token limit (``stop_reason`` ``max_tokens``/``length``).
3. ``clean``: text cleaning and PII redaction (:func:`finetune_sdk.data.clean.clean_records`); records are
   rewritten, not rejected, unless nothing is left in them.
4. ``length``: response length limits in characters and/or tokens.
5. ``gold``: agreement with a gold answer when the record has one (``metadata[gold_field]``), scored with an
   Evaluator metric: ``"accuracy"`` extracts the option letter from the teacher's answer exactly as the
   Evaluator does (AQuA-style A-E), ``"exact_match"``, ``"tatqa_em"``... or any binary
   :class:`~finetune_sdk.evaluation.metrics.Metric`.
6. ``dedupe``: duplicate prompts (exact, or near with ``dedupe_near``) keep their first record
   (:func:`finetune_sdk.data.dedupe.dedupe_records`).
7. ``leakage``: prompts that also appear in the test set are dropped
   (:func:`finetune_sdk.data.dedupe.check_leakage`), so the student is never trained on the exam.
8. ``judge``: an LLM judge (:class:`~finetune_sdk.evaluation.judge.JudgeMetric`) grades each answer; answers
   under ``judge_threshold`` (0-1) are dropped. Requests go through the Evaluator's concurrent, rate-limited,
   resumable runner.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> records = [Conversation.from_pairs("2+2? A) 3 B) 4", "The answer is B", metadata={"answer": "B"}),
    ...            Conversation.from_pairs("3+3? A) 6 B) 7", "B) 7", metadata={"answer": "A"}),
    ...            Conversation.from_pairs("Say hi", "")]
    >>> kept, report = QualityGate(gold_field="answer").apply(records)
    >>> len(kept), [d.reason for d in report.rejected()]
    (1, ["teacher answered 'B', gold is 'A'", 'empty response'])
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from finetune_sdk._clock import Clock
from finetune_sdk.data.records import Conversation, Record
from finetune_sdk.data.tokens import HeuristicCounter, counter_for
from finetune_sdk.evaluation.judge import JudgeMetric
from finetune_sdk.evaluation.metrics import Metric, MultipleChoiceAccuracy, Sample, as_metric, extract_choice
from finetune_sdk.evaluation.runner import Checkpoint, RetryPolicy, Runner, Task

__all__ = [
    "GATE_STEPS",
    "GateReport",
    "GateStep",
    "QualityGate",
    "RecordDecision",
    "prompt_view",
    "response_of",
]

logger = logging.getLogger(__name__)

#: every step of the gate, in the order it runs
GATE_STEPS: tuple[str, ...] = (
    "response", "truncated", "clean", "length", "gold", "dedupe", "leakage", "judge",
)

_TRUNCATED_STOPS = frozenset({"max_tokens", "length", "max_length", "model_length"})


def response_of(record: Record) -> str | None:
    """The teacher's answer in a record: the text of its final assistant turn (``None`` without one)."""
    if isinstance(record, Conversation):
        return record.reference
    return None


def prompt_view(record: Conversation, *, gold_field: str | None = None) -> Conversation:
    """The record without its final assistant turn, so gold checks and judges never see the answer as gold.

    With ``gold_field``, ``metadata[gold_field]`` becomes ``metadata["answer"]`` and ``metadata["reference"]``
    is dropped, so metrics read that field as the gold answer.
    """
    update: dict[str, Any] = {"turns": record.prompt_turns}
    if gold_field is not None:
        meta = {k: v for k, v in record.metadata.items() if k not in ("answer", "reference")}
        if record.metadata.get(gold_field) is not None:
            meta["answer"] = record.metadata[gold_field]
        update["metadata"] = meta
    return record.model_copy(update=update)


class GateStep(BaseModel):
    """One step's counts. ``enabled=False`` steps did not run (their counts are 0)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    enabled: bool
    settings: str = ""
    records_in: int = 0
    accepted: int = 0
    rejected: int = 0
    modified: int = 0
    detail: str = ""


class RecordDecision(BaseModel):
    """What the gate decided for one input record (``index`` is its 0-based position in the input)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    accepted: bool
    step: str | None = None
    reason: str | None = None
    modified_by: tuple[str, ...] = ()
    judge_score: float | None = None


class GateReport(BaseModel):
    """Per-step counts and per-record decisions of one :meth:`QualityGate.apply`.

    Attributes:
        input_records: records that entered the gate.
        output_records: records that passed every step.
        steps: one :class:`GateStep` per step in :data:`GATE_STEPS`, enabled or not.
        decisions: one :class:`RecordDecision` per input record, in input order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_records: int
    output_records: int
    steps: tuple[GateStep, ...]
    decisions: tuple[RecordDecision, ...]

    def step(self, name: str) -> GateStep:
        """The counts of step ``name``.

        Raises:
            KeyError: no such step; the message lists them.
        """
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"no gate step {name!r}; steps: {', '.join(s.name for s in self.steps)}")

    @property
    def accepted_indexes(self) -> tuple[int, ...]:
        """Input positions of the records that passed."""
        return tuple(d.index for d in self.decisions if d.accepted)

    def rejected(self, step: str | None = None) -> list[RecordDecision]:
        """Decisions of rejected records, optionally only those of one step."""
        return [d for d in self.decisions if not d.accepted and (step is None or d.step == step)]

    def rejection_counts(self) -> dict[str, int]:
        """Rejected records per step (steps that rejected nothing are left out)."""
        return dict(Counter(d.step for d in self.decisions if not d.accepted and d.step is not None))

    def to_markdown(self, *, max_examples: int = 20) -> str:
        """A table of the steps, then up to ``max_examples`` rejected records with their reasons."""
        lines = [
            f"Quality gate: {self.output_records} of {self.input_records} records accepted.",
            "",
            "| step | on | in | accepted | rejected | modified | settings |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for s in self.steps:
            if s.enabled:
                lines.append(f"| {s.name} | yes | {s.records_in} | {s.accepted} | {s.rejected} "
                             f"| {s.modified} | {_md(s.settings)} |")
            else:
                lines.append(f"| {s.name} | no | - | - | - | - | |")
        rejected = self.rejected()
        if rejected:
            lines += ["", "| record | step | reason |", "|---:|---|---|"]
            lines += [f"| {d.index} | {d.step} | {_md(d.reason or '')} |" for d in rejected[:max_examples]]
            if len(rejected) > max_examples:
                lines.append(f"\n{len(rejected) - max_examples} more rejected records not shown.")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = ("step", "on", "in", "accepted", "rejected", "modified")
        head = "<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>"
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                s.name, "yes" if s.enabled else "no", s.records_in, s.accepted, s.rejected, s.modified,
            )) + "</tr>"
            for s in self.steps
        )
        caption = html.escape(f"quality gate: {self.output_records} of {self.input_records} accepted")
        return f"<table><caption>{caption}</caption><thead>{head}</thead><tbody>{rows}</tbody></table>"

    def __str__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.rejection_counts().items())
        return (f"quality gate: {self.output_records} of {self.input_records} records accepted"
                + (f"; rejected by {counts}" if counts else ""))


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


class QualityGate(BaseModel):
    """Which checks run between teacher generation and training (see the module docstring for the order).

    Args:
        drop_truncated: reject answers the teacher stopped at the token limit.
        clean: normalise text (Unicode NFC, whitespace, control characters).
        redact_pii: redact personal data (``True`` or kind names, see ``finetune_sdk.data.clean.PII_KINDS``).
        min_response_chars, max_response_chars: response length limits in characters.
        min_response_tokens, max_response_tokens: response length limits in tokens: the teacher's own count
            when the record has one (``metadata["teacher_output_tokens"]``), else an estimate for
            ``token_model`` (4 characters per token when unknown).
        gold_field: the metadata field holding the gold answer (``"answer"`` for AQuA letters); ``None``
            turns the step off. Records without a value in that field pass unless ``require_gold``.
        gold_metric: how answer and gold are compared: an Evaluator metric name (``"accuracy"``,
            ``"exact_match"``, ``"tatqa_em"``, ...) or a :class:`~finetune_sdk.evaluation.metrics.Metric`.
        gold_threshold: the least score that counts as agreement (1.0 for binary metrics).
        dedupe: drop records whose prompt duplicates an earlier record's prompt.
        dedupe_near: also drop near-duplicate prompts (MinHash; needs the ``dedupe`` extra).
        near_threshold: estimated Jaccard similarity at or above which prompts are near duplicates.
        leakage: drop records whose prompt appears in the test set passed to :meth:`apply`.
        leakage_near: also drop near matches of test prompts.
        judge: an LLM judge metric; ``None`` turns the step off.
        judge_threshold: the least normalised judge score (0-1) to keep a record.

    Raises:
        pydantic.ValidationError: a limit is negative or a minimum is above its maximum.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    drop_truncated: bool = True
    clean: bool = False
    redact_pii: bool | tuple[str, ...] = False
    min_response_chars: int | None = Field(default=None, ge=0)
    max_response_chars: int | None = Field(default=None, ge=1)
    min_response_tokens: int | None = Field(default=None, ge=0)
    max_response_tokens: int | None = Field(default=None, ge=1)
    token_model: str | None = None
    gold_field: str | None = None
    gold_metric: str | Metric = "accuracy"
    gold_threshold: float = 1.0
    require_gold: bool = False
    dedupe: bool = True
    dedupe_near: bool = False
    near_threshold: float = Field(default=0.85, gt=0.0, le=1.0)
    leakage: bool = True
    leakage_near: bool = False
    judge: JudgeMetric | None = None
    judge_threshold: float = Field(default=0.6, ge=0.0, le=1.0)

    @field_validator("redact_pii", mode="before")
    @classmethod
    def _pii_tuple(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, Collection) and not isinstance(value, (bool, tuple)):
            return tuple(value)
        return value

    @model_validator(mode="after")
    def _ranges(self) -> QualityGate:
        for low, high, unit in ((self.min_response_chars, self.max_response_chars, "chars"),
                                (self.min_response_tokens, self.max_response_tokens, "tokens")):
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_response_{unit}={low} is above max_response_{unit}={high}")
        if isinstance(self.gold_metric, str):
            as_metric(self.gold_metric)  # unknown names fail here, with the list of built-in metrics
        return self

    def enabled_steps(self, *, with_test: bool = False) -> tuple[str, ...]:
        """The steps that will run, in order (``leakage`` only ``with_test``).

        Examples:
            >>> QualityGate(gold_field="answer").enabled_steps()
            ('response', 'truncated', 'gold', 'dedupe')
        """
        limits = (self.min_response_chars, self.max_response_chars, self.min_response_tokens,
                  self.max_response_tokens)
        on = {
            "response": True,
            "truncated": self.drop_truncated,
            "clean": bool(self.clean or self.redact_pii),
            "length": any(v is not None for v in limits),
            "gold": self.gold_field is not None,
            "dedupe": self.dedupe,
            "leakage": self.leakage and with_test,
            "judge": self.judge is not None,
        }
        return tuple(step for step in GATE_STEPS if on[step])

    # ------------------------------------------------------------------------------------------ identity
    def settings(self) -> dict[str, Any]:
        """The gate's settings as JSON-able values (the judge and a custom metric by their definitions)."""
        data = self.model_dump(exclude={"judge", "gold_metric"})
        metric = self.gold_metric
        data["gold_metric"] = metric if isinstance(metric, str) else metric.info().model_dump(mode="json")
        data["judge"] = None if self.judge is None else {"name": self.judge.name, **self.judge.params()}
        return data

    @property
    def fingerprint(self) -> str:
        """sha256 of :meth:`settings`: two gates with equal fingerprints make the same decisions."""
        text = json.dumps(self.settings(), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # ------------------------------------------------------------------------------------------ running
    def apply(
        self,
        records: Sequence[Record],
        *,
        test: Sequence[Record] | None = None,
        concurrency: int = 8,
        max_rps: float | None = None,
        retry: RetryPolicy | None = None,
        checkpoint: str | Path | None = None,
        clock: Clock | None = None,
        progress: bool | None = None,
    ) -> tuple[list[Conversation], GateReport]:
        """Run the enabled steps over ``records``.

        Args:
            records: teacher-answered records (the answer is the final assistant turn).
            test: the held-out test set for the ``leakage`` step (the step is skipped without one).
            concurrency, max_rps, retry, checkpoint, clock, progress: how the judge's requests run (the
                Evaluator's runner); ``checkpoint`` makes an interrupted judging resume.

        Returns:
            The accepted records (cleaned where ``clean``/``redact_pii`` rewrote them), in input order, and
            the :class:`GateReport`.

        Raises:
            ConfigurationError: the judge has no model, or a setting is out of range.
            ModuleNotFoundError: near-duplicate checks without the ``dedupe`` extra.
        """
        run = _GateRun(self, list(records))
        run.step_response()
        run.step_truncated()
        run.step_clean()
        run.step_length()
        run.step_gold()
        run.step_dedupe()
        run.step_leakage(test)
        run.step_judge(concurrency=concurrency, max_rps=max_rps, retry=retry, checkpoint=checkpoint,
                       clock=clock, progress=progress)
        return run.finish()


class _GateRun:
    """The mutable state of one gate run: the current records and each one's decision so far."""

    def __init__(self, gate: QualityGate, records: list[Record]) -> None:
        self.gate = gate
        self.inputs = records
        self.current: dict[int, Conversation] = {}
        self.rejected: dict[int, tuple[str, str]] = {}
        self.modified: dict[int, list[str]] = {}
        self.judge_scores: dict[int, float | None] = {}
        self.steps: list[GateStep] = []
        for i, record in enumerate(records):
            if isinstance(record, Conversation):
                self.current[i] = record
            else:
                self.rejected[i] = ("response", "not a conversation (a text record has no teacher answer)")

    def _alive(self) -> list[int]:
        return sorted(self.current)

    def _reject(self, index: int, step: str, reason: str) -> None:
        self.current.pop(index, None)
        self.rejected[index] = (step, reason)

    def _off(self, name: str) -> None:
        self.steps.append(GateStep(name=name, enabled=False))

    def _record_step(self, name: str, before: list[int], *, settings: str = "", modified: int = 0,
                     detail: str = "") -> None:
        after = len(self.current)
        self.steps.append(GateStep(name=name, enabled=True, settings=settings, records_in=len(before),
                                   accepted=after, rejected=len(before) - after, modified=modified,
                                   detail=detail))

    # ------------------------------------------------------------------------------------------ steps
    def step_response(self) -> None:
        before = list(range(len(self.inputs)))  # text records were rejected up front, by this step
        for i in self._alive():
            record = self.current[i]
            error = record.metadata.get("teacher_error")
            answer = response_of(record)
            if error:
                self._reject(i, "response", f"teacher error: {error}")
            elif answer is None:
                self._reject(i, "response", "no teacher response (no final assistant turn)")
            elif not answer.strip():
                self._reject(i, "response", "empty response")
        self._record_step("response", before, settings="a non-empty final assistant turn")

    def step_truncated(self) -> None:
        if not self.gate.drop_truncated:
            self._off("truncated")
            return
        before = self._alive()
        for i in before:
            meta = self.current[i].metadata
            stop = meta.get("teacher_stop_reason", meta.get("stop_reason"))
            if isinstance(stop, str) and stop.lower() in _TRUNCATED_STOPS:
                self._reject(i, "truncated", f"the answer was cut at the token limit (stop_reason={stop})")
        self._record_step("truncated", before, settings="stop_reason not max_tokens/length")

    def step_clean(self) -> None:
        gate = self.gate
        if not gate.clean and not gate.redact_pii:
            self._off("clean")
            return
        from finetune_sdk.data.clean import clean_records

        before = self._alive()
        originals = [self.current[i] for i in before]
        cleaned, report = clean_records(
            originals,
            normalize_unicode=gate.clean,
            normalize_whitespace=gate.clean,
            strip_control=gate.clean,
            drop_empty=True,
            redact_pii=gate.redact_pii,
        )
        dropped = {before[j] for j in report.dropped_indexes}
        kept_positions = [i for i in before if i not in dropped]
        modified = 0
        for i, new in zip(kept_positions, cleaned, strict=True):
            if not isinstance(new, Conversation):  # pragma: no cover - cleaning keeps the record kind
                raise TypeError(f"clean_records turned record {i} into {type(new).__name__}")
            if new is not self.current[i]:
                modified += 1
                self.modified.setdefault(i, []).append("pii" if gate.redact_pii else "clean")
            self.current[i] = new
        for i in dropped:
            self._reject(i, "clean", "nothing left after cleaning")
        what = ["text normalised"] if gate.clean else []
        if gate.redact_pii:
            kinds = "all PII kinds" if isinstance(gate.redact_pii, bool) else ", ".join(gate.redact_pii)
            what.append(f"PII redacted ({kinds})")
        self._record_step("clean", before, settings="; ".join(what), modified=modified, detail=str(report))

    def step_length(self) -> None:
        gate = self.gate
        limits = (gate.min_response_chars, gate.max_response_chars,
                  gate.min_response_tokens, gate.max_response_tokens)
        if all(v is None for v in limits):
            self._off("length")
            return
        counter = counter_for(gate.token_model) if gate.token_model else HeuristicCounter(4.0)
        before = self._alive()
        for i in before:
            record = self.current[i]
            text = response_of(record) or ""
            chars = len(text)
            reason: str | None = None
            low, high = gate.min_response_chars, gate.max_response_chars
            if low is not None and chars < low:
                reason = f"response has {chars} characters, below min_response_chars={low}"
            elif high is not None and chars > high:
                reason = f"response has {chars} characters, above max_response_chars={high}"
            elif gate.min_response_tokens is not None or gate.max_response_tokens is not None:
                low, high = gate.min_response_tokens, gate.max_response_tokens
                counted = record.metadata.get("teacher_output_tokens")
                # The teacher's own count is exact, unless cleaning rewrote the text since.
                exact = isinstance(counted, int) and i not in self.modified
                tokens = counted if isinstance(counted, int) and exact else counter.count(text)
                if low is not None and tokens < low:
                    reason = f"response has {tokens} tokens, below min_response_tokens={low}"
                elif high is not None and tokens > high:
                    reason = f"response has {tokens} tokens, above max_response_tokens={high}"
            if reason is not None:
                self._reject(i, "length", reason)
        parts = [f"{name}={value}" for name, value in zip(
            ("min_chars", "max_chars", "min_tokens", "max_tokens"), limits, strict=True) if value is not None]
        self._record_step("length", before, settings=", ".join(parts))

    def step_gold(self) -> None:
        gate = self.gate
        if gate.gold_field is None:
            self._off("gold")
            return
        metric = as_metric(gate.gold_metric)
        before = self._alive()
        no_gold = 0
        for i in before:
            record = self.current[i]
            answer = response_of(record) or ""
            if record.metadata.get(gate.gold_field) is None:
                no_gold += 1
                if gate.require_gold:
                    self._reject(i, "gold", f"no gold answer in metadata[{gate.gold_field!r}]")
                continue
            view = prompt_view(record, gold_field=gate.gold_field)
            try:
                score = metric.compute(Sample(prediction=answer, record=view, index=i)).value
            except Exception as exc:  # a metric bug must not lose the run; the record is not trusted
                self._reject(i, "gold", f"gold metric {metric.name} failed: {type(exc).__name__}: {exc}")
                continue
            if score is None:
                no_gold += 1
                if gate.require_gold:
                    self._reject(i, "gold", f"{metric.name} found no usable gold answer")
                continue
            if score < gate.gold_threshold:
                self._reject(i, "gold", _gold_reason(metric, answer, view, score))
        settings = f"metadata[{gate.gold_field!r}] vs answer by {metric.name} >= {gate.gold_threshold:g}"
        self._record_step("gold", before, settings=settings,
                          detail=f"{no_gold} records had no gold answer" if no_gold else "")

    def step_dedupe(self) -> None:
        gate = self.gate
        if not gate.dedupe:
            self._off("dedupe")
            return
        from finetune_sdk.data.dedupe import dedupe_records

        before = self._alive()
        views: list[Record] = [prompt_view(self.current[i]) for i in before]
        _, report = dedupe_records(views, near=gate.dedupe_near, threshold=gate.near_threshold)
        for cluster in report.clusters:
            kept = before[cluster.kept]
            for j in cluster.dropped:
                how = ("same prompt" if cluster.kind == "exact"
                       else f"near-duplicate prompt (≥ {gate.near_threshold})")
                self._reject(before[j], "dedupe", f"{how} as record {kept}")
        settings = f"prompts, {'exact + near' if gate.dedupe_near else 'exact'}"
        self._record_step("dedupe", before, settings=settings, detail=str(report))

    def step_leakage(self, test: Sequence[Record] | None) -> None:
        gate = self.gate
        if not gate.leakage or test is None:
            self._off("leakage")
            return
        from finetune_sdk.data.dedupe import check_leakage

        before = self._alive()
        # Compared without system prompts: the same question under another system prompt still leaks.
        test_views: list[Record] = [_question(r) if isinstance(r, Conversation) else r for r in test]
        views: list[Record] = [_question(self.current[i]) for i in before]
        if views and test_views:
            report = check_leakage({"train": views, "test": test_views}, near=gate.leakage_near,
                                   threshold=gate.near_threshold)
            overlap = report.overlap("train", "test")
            if overlap is not None:
                partner: dict[int, int] = {}
                for a, b in overlap.pairs:
                    partner.setdefault(a, b)
                for j in overlap.first_indexes:
                    where = f" (test record {partner[j]})" if j in partner else ""
                    self._reject(before[j], "leakage", f"the prompt is in the test set{where}")
        self._record_step("leakage", before,
                          settings=f"against {len(test_views)} test prompts, "
                                   f"{'exact + near' if gate.leakage_near else 'exact'}")

    def step_judge(self, *, concurrency: int, max_rps: float | None, retry: RetryPolicy | None,
                   checkpoint: str | Path | None, clock: Clock | None, progress: bool | None) -> None:
        judge = self.gate.judge
        if judge is None:
            self._off("judge")
            return
        target = judge.bind(None)
        before = self._alive()
        tasks: list[Task] = []
        samples: list[tuple[int, Sample]] = []
        for i in before:
            record = self.current[i]
            sample = Sample(prediction=response_of(record) or "", record=prompt_view(record), index=i)
            system, turns = judge.request(sample)
            digest = hashlib.sha256(json.dumps(
                [system, [t.text for t in turns], judge.version, target.id], ensure_ascii=False,
            ).encode()).hexdigest()
            tasks.append(Task(key=f"judge:{judge.name}", index=0, fingerprint=digest, system=system,
                              turns=turns))
            samples.append((i, sample))
        if tasks:
            runner = Runner(concurrency=concurrency, max_rps=max_rps, retry=retry,
                            checkpoint=Checkpoint(checkpoint) if checkpoint is not None else None,
                            clock=clock, progress=progress)
            outcomes = runner.run(tasks, {tasks[0].key: target.invoke}, config=judge.config, desc="judging")
            for (i, _), outcome in zip(samples, outcomes, strict=True):
                if outcome.response is None:
                    self._reject(i, "judge", f"judge request failed: {outcome.error}")
                    continue
                result = judge.parse(outcome.response.text)
                self.judge_scores[i] = result.value
                if result.value is None:
                    self._reject(i, "judge", result.detail or "unparseable judge reply")
                elif result.value < self.gate.judge_threshold:
                    why = f": {result.detail}" if result.detail else ""
                    self._reject(i, "judge",
                                 f"judge score {result.value:.2f} below {self.gate.judge_threshold:g}{why}")
        settings = f"{judge.name} ({judge.version}, {target.id}) >= {self.gate.judge_threshold:g}"
        self._record_step("judge", before, settings=settings)

    # ------------------------------------------------------------------------------------------ result
    def finish(self) -> tuple[list[Conversation], GateReport]:
        decisions = []
        for i in range(len(self.inputs)):
            step, reason = self.rejected.get(i, (None, None))
            decisions.append(RecordDecision(
                index=i, accepted=i in self.current, step=step, reason=reason,
                modified_by=tuple(self.modified.get(i, ())), judge_score=self.judge_scores.get(i),
            ))
        kept = [self.current[i] for i in self._alive()]
        order = {name: n for n, name in enumerate(GATE_STEPS)}
        steps = tuple(sorted(self.steps, key=lambda s: order[s.name]))
        report = GateReport(input_records=len(self.inputs), output_records=len(kept), steps=steps,
                            decisions=tuple(decisions))
        logger.info("%s", report)
        return kept, report


def _question(record: Conversation) -> Conversation:
    return prompt_view(record).model_copy(update={"system": None})


def _gold_reason(metric: Metric, answer: str, view: Conversation, score: float) -> str:
    if isinstance(metric, MultipleChoiceAccuracy):
        options = view.metadata.get("options")
        opts = [str(o) for o in options] if isinstance(options, (list, tuple)) else None
        picked = extract_choice(answer, metric.choices, options=opts)
        gold = metric.gold_letter(view)
        if picked is None:
            return f"no option letter found in the answer (gold is {gold!r})"
        return f"teacher answered {picked!r}, gold is {gold!r}"
    return f"the answer disagrees with the gold answer ({metric.name}={score:g})"

