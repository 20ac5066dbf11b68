"""LLM-as-judge: a model grades each answer against the question and the reference.

The prompt is a visible, versioned template (:attr:`JudgeMetric.prompt_template`, :attr:`JudgeMetric.version`)
recorded in the report. The judge's reply is parsed for ``Score: N`` and ``Reason: ...``; the score is
normalised to 0-1 over ``scale`` and the reason is kept per example. Inside an :class:`Evaluator` the
judge's requests go through the same concurrency, rate limit, retries and checkpoint as the models'.

Examples:
    >>> judge = JudgeMetric(lambda prompt: "Score: 4\\nReason: mostly right", rubric="Is it correct?")
    >>> judge.parse("Score: 4\\nReason: mostly right")
    MetricResult(value=0.75, detail='mostly right')
    >>> judge.parse("**Score:** 5/5 - Reason: exact").value
    1.0
"""

from __future__ import annotations

import re
from typing import Any

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import TextRecord, Turn
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.evaluation._targets import ModelLike, Target, resolve_target
from finetune_sdk.evaluation.metrics import Metric, MetricResult, Sample, reference_of

__all__ = ["DEFAULT_RUBRIC", "JUDGE_PROMPT_V1", "JudgeMetric"]

#: the judge prompt, version ``judge-v1``; placeholders: rubric, question, reference, answer, low, high
JUDGE_PROMPT_V1 = """You are an impartial grader. Grade the answer to the question below.

Rubric:
{rubric}

Question:
{question}

Reference answer:
{reference}

Answer to grade:
{answer}

Score the answer with an integer from {low} (worst) to {high} (best), following the rubric and using the
reference answer as the ground truth. Reply in exactly this format and nothing else:
Score: <an integer from {low} to {high}>
Reason: <one or two sentences>"""

DEFAULT_RUBRIC = (
    "Correctness: does the answer state the same facts, figures and conclusion as the reference answer? "
    "Ignore style and length; penalise wrong numbers, missing parts and unsupported claims."
)

_SCORE = re.compile(
    r"(?:score|rating|grade)\s*[*_]*\s*(?:\(\s*\d+\s*[-–]\s*\d+\s*\))?\s*[:=]?\s*[*_]*\s*"
    r"(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)|out of\s*(\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_REASON = re.compile(
    r"(?:reason|reasoning|explanation|rationale)\s*[*_]*\s*[:=]\s*[*_]*\s*(.+)", re.IGNORECASE | re.DOTALL
)


class JudgeMetric(Metric):
    """A model grades each answer on ``scale`` following ``rubric``; the score is normalised to 0-1.

    Args:
        judge_model: the grading model (anything with ``chat()``, or a callable); ``None`` uses the
            Evaluator's ``judge=``.
        rubric: what a good answer is.
        scale: the inclusive integer range the judge scores on, e.g. ``(1, 5)``.
        name: the metric's name in the report.
        prompt_template: the judge prompt (placeholders ``{rubric} {question} {reference} {answer} {low}
            {high}``); change ``version`` whenever you change it.
        config: the judge's inference settings (temperature 0 by default).

    Raises:
        ConfigurationError: ``scale`` is not two increasing integers, or the template lacks a placeholder.
    """

    binary = False
    higher_is_better = True
    category = "quality"

    def __init__(
        self,
        judge_model: ModelLike | None = None,
        *,
        rubric: str = DEFAULT_RUBRIC,
        scale: tuple[int, int] = (1, 5),
        name: str = "judge",
        prompt_template: str = JUDGE_PROMPT_V1,
        version: str = "judge-v1",
        config: InferenceConfig | None = None,
    ) -> None:
        low, high = scale
        if int(low) != low or int(high) != high or not low < high:
            raise ConfigurationError(f"scale must be two increasing integers like (1, 5), got {scale!r}")
        missing = [p for p in ("{question}", "{answer}") if p not in prompt_template]
        if missing:
            raise ConfigurationError(f"the judge prompt_template must contain {', '.join(missing)}")
        self.judge_model = judge_model
        self.rubric = rubric
        self.scale = (int(low), int(high))
        self.name = name
        self.prompt_template = prompt_template
        self.version = version
        self.config = config or InferenceConfig(max_tokens=300, temperature=0.0)
        self.description = f"LLM-as-judge ({version}) on a {low}-{high} scale, normalised to 0-1: {rubric}"
        self._target: Target | None = None

    def bind(self, default_judge: ModelLike | None) -> Target:
        """The judge as a resolved target (this metric's own judge, else ``default_judge``).

        Raises:
            ConfigurationError: neither is set.
        """
        model = self.judge_model if self.judge_model is not None else default_judge
        if model is None:
            raise ConfigurationError(
                f"JudgeMetric {self.name!r} has no judge model: pass JudgeMetric(judge_model, ...) "
                "or Evaluator(judge=...)"
            )
        if self._target is None or self.judge_model is None:
            self._target = resolve_target(model)
        return self._target

    def params(self) -> dict[str, Any]:
        target_id = None
        if self.judge_model is not None:
            target_id = self._target.id if self._target is not None else resolve_target(self.judge_model).id
        elif self._target is not None:
            target_id = self._target.id
        return {
            "judge_model": target_id,
            "rubric": self.rubric,
            "scale": list(self.scale),
            "prompt_version": self.version,
            "prompt_template": self.prompt_template,
        }

    def prompt(self, sample: Sample) -> str:
        """The judge prompt for one example."""
        record = sample.record
        if isinstance(record, TextRecord):
            question = record.text
        else:
            question = (
                "\n\n".join(t.text for t in record.prompt_turns)
                if len(record.prompt_turns) > 1
                else (record.prompt_text)
            )
        reference = reference_of(record)
        return self.prompt_template.format(
            rubric=self.rubric,
            question=question,
            reference=reference if reference is not None else "(none given)",
            answer=sample.prediction,
            low=self.scale[0],
            high=self.scale[1],
        )

    def request(self, sample: Sample) -> tuple[str | None, tuple[Turn, ...]]:
        """The ``(system, turns)`` sent to the judge for one example."""
        return None, (Turn.of("user", self.prompt(sample)),)

    def parse(self, text: str) -> MetricResult:
        """Score (normalised to 0-1) and reason from the judge's reply; ``None`` score when unparseable."""
        low, high = self.scale
        reason_match = _REASON.search(text)
        reason = reason_match.group(1).strip() if reason_match else None
        head = text[: reason_match.start()] if reason_match else text
        value: float | None = None
        denominator: float | None = None
        m = _SCORE.search(head) or _SCORE.search(text)
        if m:
            value = float(m.group(1))
            den = m.group(2) or m.group(3)
            denominator = float(den) if den else None
        else:
            f = _FRACTION.search(head)
            if f:
                value, denominator = float(f.group(1)), float(f.group(2))
            else:
                bare = re.fullmatch(r"\s*[*_]*\s*(-?\d+(?:\.\d+)?)\s*[*_.]*\s*", head)
                if bare:
                    value = float(bare.group(1))
        if reason is None:
            rest = text[m.end() :] if m else ""
            reason = rest.strip(" \n\t-:.*") or None
        if value is None:
            snippet = " ".join(text.split())[:120]
            return MetricResult(None, f"unparseable judge reply: {snippet!r}")
        if denominator is not None and denominator != high and denominator > 0:
            value = low + (value / denominator) * (high - low)  # "8/10" on a 1-5 scale
        if not low <= value <= high:
            return MetricResult(
                None, f"judge score {value:g} outside {low}-{high}" + (f"; {reason}" if reason else "")
            )
        return MetricResult((value - low) / (high - low), reason)

    def compute(self, sample: Sample) -> MetricResult:
        """Ask the judge about one example right away (the Evaluator batches these instead)."""
        target = self.bind(None)
        system, turns = self.request(sample)
        response = target.invoke(system, turns, self.config)
        return self.parse(response.text)

    def __repr__(self) -> str:
        return f"JudgeMetric(name={self.name!r}, version={self.version!r}, scale={self.scale})"
