"""The Evaluator: run a blind test set through one or more models and score them.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> from finetune_sdk.evaluation import Evaluator
    >>> data = [Conversation.from_pairs("Capital of France?", "Paris"),
    ...         Conversation.from_pairs("Capital of Italy?", "Rome")]
    >>> def model(prompt): return "Paris"
    >>> report = Evaluator(["exact_match", "token_f1"], progress=False).evaluate(model, data)
    >>> report.mean("exact_match")
    0.5
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from finetune_sdk._clock import Clock
from finetune_sdk._version import __version__
from finetune_sdk.backends.base import ChatResponse, CostEstimate, InferenceConfig
from finetune_sdk.data.records import Record, TextRecord
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.evaluation._checkpoint import model_identity
from finetune_sdk.evaluation._targets import ModelLike, Target, record_fingerprint, resolve_targets
from finetune_sdk.evaluation.judge import JudgeMetric
from finetune_sdk.evaluation.metrics import (
    Metric,
    MetricLike,
    MetricResult,
    Sample,
    as_metrics,
    reference_of,
    request_cost,
)
from finetune_sdk.evaluation.pricing import Pricing
from finetune_sdk.evaluation.report import (
    DatasetInfo,
    EvaluationReport,
    ExampleResult,
    ModelInfo,
    RunInfo,
    StatisticsSettings,
    build_report,
)
from finetune_sdk.evaluation.runner import Checkpoint, Outcome, RetryPolicy, Runner, Task
from finetune_sdk.evaluation.templates import PromptTemplate

__all__ = ["Evaluator"]

logger = logging.getLogger(__name__)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Evaluator:
    """Runs a test set through models and scores the answers.

    Args:
        metrics: metric names (see ``finetune_sdk.evaluation.metrics.BUILTIN_METRICS``), ``Metric``
            objects, ``JudgeMetric`` objects, or callables ``(prediction, record) -> float``.
        template: the prompt template for every model (default: each record's own system prompt and turns).
        concurrency: requests in flight at most; ``None`` (the default) sizes it as the run goes from the
            measured latency and the rate each model's limiter learned (Little's law: in flight = rate x
            latency), up to ``max_concurrency``.
        max_rps: ceiling on requests per second per model; the adaptive limiter stays below it.
        checkpoint: a JSONL file where every answer is appended as it arrives; rerunning with the same
            file resumes without sending answered requests again.
        judge: default judge model for ``JudgeMetric`` objects created without one (or the name ``"judge"``).
        config: inference settings for every request (default: ``InferenceConfig(temperature=0)``).
        progress: show a progress bar (``None``: follow ``FINETUNE_SDK_DISABLE_PROGRESS_BARS``).
        retry: retry policy for throttling / unavailable / not-ready errors.
        n_resamples, confidence, seed, alpha: statistics settings of the report.
        clock: time source for pacing and backoff (a fake one in tests).
        prices: :class:`~finetune_sdk.evaluation.pricing.Pricing` by model name or id, winning over what
            the SDK knows (catalog token prices, a deployment's hourly cost); for a SageMaker endpoint,
            ``Pricing.hourly(instances × instance-hour price)``.

    Raises:
        ConfigurationError: no metrics, duplicate metric names, or settings out of range.
    """

    def __init__(
        self,
        metrics: Sequence[MetricLike] = ("exact_match",),
        *,
        template: PromptTemplate | None = None,
        concurrency: int | None = None,
        max_rps: float | None = None,
        checkpoint: str | Path | None = None,
        judge: ModelLike | None = None,
        config: InferenceConfig | None = None,
        progress: bool | None = None,
        retry: RetryPolicy | None = None,
        n_resamples: int = 2000,
        confidence: float = 0.95,
        seed: int = 0,
        alpha: float = 0.05,
        clock: Clock | None = None,
        prices: Mapping[str, Pricing] | None = None,
        max_concurrency: int = 256,
    ) -> None:
        metric_list = [JudgeMetric() if m == "judge" else m for m in metrics]
        self.metrics: list[Metric] = as_metrics(metric_list)
        if concurrency is not None and concurrency < 1:
            raise ConfigurationError(f"concurrency must be >= 1, got {concurrency}")
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_rps is not None and max_rps <= 0:
            raise ConfigurationError(f"max_rps must be > 0 requests per second, got {max_rps}")
        if n_resamples < 1 or not 0 < confidence < 1 or not 0 < alpha < 1:
            raise ConfigurationError("need n_resamples >= 1, 0 < confidence < 1 and 0 < alpha < 1")
        self.template = template or PromptTemplate()
        self.concurrency = concurrency
        self.max_concurrency = max_concurrency
        self.max_rps = max_rps
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.judge = judge
        self.config = config or InferenceConfig(temperature=0.0)
        self.progress = progress
        self.retry = retry or RetryPolicy()
        self.settings = StatisticsSettings(
            n_resamples=n_resamples, confidence=confidence, seed=seed, alpha=alpha
        )
        self.clock = clock
        self.prices: dict[str, Pricing] = dict(prices or {})
        for m in self.metrics:
            if isinstance(m, JudgeMetric):
                m.bind(judge)  # fail now, not after the paid generation step

    def evaluate(
        self, model: ModelLike, dataset: Iterable[Record], *, template: PromptTemplate | None = None
    ) -> EvaluationReport:
        """Run ``dataset`` through ``model`` and score it.

        Returns:
            An :class:`EvaluationReport` with one model (no comparisons).

        Raises:
            ConfigurationError: the dataset is empty or ``model`` cannot be invoked.
            KeyboardInterrupt: re-raised after in-flight answers are checkpointed; rerun to resume.
        """
        targets = resolve_targets([model])
        templates = {targets[0].key: template} if template is not None else None
        return self._run(targets, dataset, baseline=None, templates=templates)

    def compare(
        self,
        models: Sequence[ModelLike],
        dataset: Iterable[Record],
        *,
        baseline: int | str = 0,
        templates: Mapping[str, PromptTemplate] | None = None,
    ) -> EvaluationReport:
        """Run ``dataset`` through every model and compare each with ``baseline``.

        Args:
            models: two or more models (``Model``, ``Deployment``, any object with ``chat()``, or callables).
            dataset: the test records (a ``Dataset`` or any iterable of records).
            baseline: the reference model, by position or by name/id.
            templates: per-model prompt templates by model name (or id); others use the Evaluator's.

        Returns:
            An :class:`EvaluationReport`: summaries, paired comparisons with the baseline, usage and cost.

        Raises:
            ConfigurationError: fewer than one model, an unknown baseline or template key, an empty dataset.
            KeyboardInterrupt: re-raised after in-flight answers are checkpointed; rerun to resume.
        """
        if not models:
            raise ConfigurationError("compare() needs at least one model")
        targets = resolve_targets(models)
        if isinstance(baseline, int):
            if not 0 <= baseline < len(targets):
                raise ConfigurationError(
                    f"baseline index {baseline} is out of range for {len(targets)} models"
                )
            base_key = targets[baseline].key
        else:
            match = [t.key for t in targets if baseline in (t.key, t.id, t.name)]
            if not match:
                raise ConfigurationError(
                    f"baseline {baseline!r} is not one of the models: {', '.join(t.key for t in targets)}"
                )
            base_key = match[0]
        return self._run(targets, dataset, baseline=base_key, templates=templates)

    # ------------------------------------------------------------------------------------------ internals
    def _template_for(self, target: Target, templates: Mapping[str, PromptTemplate] | None) -> PromptTemplate:
        if templates:
            for key in (target.key, target.name, target.id):
                if key in templates:
                    return templates[key]
        return self.template

    def _run(
        self,
        targets: list[Target],
        dataset: Iterable[Record],
        *,
        baseline: str | None,
        templates: Mapping[str, PromptTemplate] | None,
    ) -> EvaluationReport:
        started_wall = time.perf_counter()
        records = list(dataset)
        if not records:
            raise ConfigurationError("the dataset is empty: nothing to evaluate")
        if templates:
            known = {k for t in targets for k in (t.key, t.name, t.id)}
            unknown = sorted(set(templates) - known)
            if unknown:
                raise ConfigurationError(
                    f"templates= names unknown models {', '.join(unknown)}; "
                    f"models: {', '.join(t.key for t in targets)}"
                )
        record_fps = [record_fingerprint(r) for r in records]
        dataset_fp = _sha("\n".join(record_fps))
        config_json = json.dumps(self.config.model_dump(mode="json"), sort_keys=True)
        chosen = {t.key: self._template_for(t, templates) for t in targets}

        tasks: list[Task] = []
        for i, record in enumerate(records):
            for t in targets:
                system, turns = chosen[t.key].render(record)
                # keyed by the model's identity (backend, kind, id/ARN/path), not its display name
                ident = model_identity(backend=t.backend, kind=t.kind, model_id=t.id)
                fp = _sha(f"{record_fps[i]}|{chosen[t.key].fingerprint}|{config_json}|{ident}")
                tasks.append(Task(key=t.key, index=i, fingerprint=fp, system=system, turns=turns))

        runner = Runner(
            concurrency=self.concurrency,
            max_concurrency=self.max_concurrency,
            max_rps=self.max_rps,
            retry=self.retry,
            checkpoint=Checkpoint(self.checkpoint) if self.checkpoint is not None else None,
            clock=self.clock,
            progress=self.progress,
            seed=self.settings.seed,
        )
        generation_started = time.perf_counter()
        outcomes = runner.run(
            tasks, {t.key: t.invoke for t in targets}, config=self.config, desc="generating"
        )
        generation_s = time.perf_counter() - generation_started
        billing = {t.key: self._pricing(t) for t in targets}
        by_model: dict[str, list[Outcome]] = {t.key: [] for t in targets}
        for task, outcome in zip(tasks, outcomes, strict=True):
            by_model[task.key].append(outcome)

        scores: dict[str, list[dict[str, float | None]]] = {t.key: [{} for _ in records] for t in targets}
        details: dict[str, list[dict[str, str]]] = {t.key: [{} for _ in records] for t in targets}
        judge_metrics = [m for m in self.metrics if isinstance(m, JudgeMetric)]
        for t in targets:
            for i, record in enumerate(records):
                outcome = by_model[t.key][i]
                if outcome.response is None:
                    for m in self.metrics:
                        scores[t.key][i][m.name] = None
                    continue
                sample = Sample(
                    prediction=outcome.response.text,
                    record=record,
                    response=outcome.response,
                    prices=t.prices,
                    index=i,
                )
                for m in self.metrics:
                    if isinstance(m, JudgeMetric):
                        continue
                    result = self._score(m, sample)
                    scores[t.key][i][m.name] = result.value
                    if result.detail:
                        details[t.key][i][m.name] = result.detail

        if judge_metrics:
            self._judge(judge_metrics, targets, records, record_fps, by_model, runner, scores, details)

        examples: dict[str, list[ExampleResult]] = {}
        for t in targets:
            rows: list[ExampleResult] = []
            for i in range(len(records)):
                o = by_model[t.key][i]
                r = o.response
                rows.append(
                    ExampleResult(
                        index=i,
                        prediction=None if r is None else r.text,
                        error=o.error,
                        attempts=o.attempts,
                        input_tokens=None if r is None else r.input_tokens,
                        output_tokens=None if r is None else r.output_tokens,
                        tokens_estimated=False if r is None else r.tokens_estimated,
                        stop_reason=None if r is None else r.stop_reason,
                        latency_s=None if r is None else r.latency_s,
                        cost_usd=self._cost(r, t, billing[t.key], generation_s, len(records)),
                        scores={m.name: scores[t.key][i].get(m.name) for m in self.metrics},
                        details=details[t.key][i],
                    )
                )
            examples[t.key] = rows

        model_infos = [
            ModelInfo(
                key=t.key,
                id=t.id,
                name=t.name,
                kind=t.kind,
                backend=t.backend,
                pricing_model_id=t.pricing_model_id,
                input_price_per_1k=t.prices.input_per_1k_tokens if t.prices else None,
                output_price_per_1k=t.prices.output_per_1k_tokens if t.prices else None,
                price_date=t.prices.date if t.prices else None,
                template=chosen[t.key],
                billing=None if (bt := billing[t.key]) is None else bt.billing,
                hourly_price=None if bt is None else bt.per_hour,
                price_source=None if bt is None else bt.source,
                emulated=t.emulated,
            )
            for t in targets
        ]
        dataset_info = DatasetInfo(
            size=len(records),
            fingerprint=dataset_fp,
            record_fingerprints=tuple(record_fps),
            prompts=tuple(r.text if isinstance(r, TextRecord) else r.prompt_text for r in records),
            references=tuple(reference_of(r) for r in records),
        )
        stats = runner.stats
        run = RunInfo(
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            duration_s=time.perf_counter() - started_wall,
            sdk_version=__version__,
            requests_sent=stats.requests,
            resumed=stats.resumed,
            retries=stats.retries,
            throttles=stats.throttles,
            checkpoint=str(self.checkpoint) if self.checkpoint is not None else None,
            peak_in_flight=runner.controller.peak,
        )
        return build_report(
            dataset=dataset_info,
            models=model_infos,
            metrics=[m.info() for m in self.metrics],
            examples=examples,
            baseline=baseline,
            settings=self.settings,
            run=run,
        )

    def _pricing(self, target: Target) -> Pricing | None:
        for key in (target.key, target.name, target.id):
            if key in self.prices:
                return self.prices[key]
        return target.pricing

    @staticmethod
    def _cost(
        response: ChatResponse | None, target: Target, pricing: Pricing | None, seconds: float, requests: int
    ) -> float | None:
        if response is None:
            return None
        if pricing is None:
            return request_cost(response, target.prices)
        return pricing.request_cost(response, seconds=seconds, requests=requests)

    def estimate_cost(
        self,
        models: Sequence[ModelLike],
        dataset: Iterable[Record],
        *,
        output_tokens: int | None = None,
        latency_s: float = 1.0,
    ) -> CostEstimate:
        """What :meth:`compare` (or :meth:`evaluate`) of ``models`` on ``dataset`` would cost; sends nothing.

        Token-billed models: the rendered prompts' tokens (about 4 characters per token) plus
        ``output_tokens`` per answer (default: the Evaluator's ``max_tokens``, an upper bound) at their
        prices. Hour-billed deployments: the hours the run would hold them, from ``latency_s`` per request
        and the Evaluator's concurrency (8 in flight assumed when it sizes itself). Models without a known
        price are listed in ``assumptions`` and counted as 0. Judge calls are not included.

        Returns:
            A :class:`~finetune_sdk.backends.base.CostEstimate` with one ``breakdown`` entry per model.

        Raises:
            ConfigurationError: no models, an empty dataset, or ``latency_s`` <= 0.

        Examples:
            >>> from finetune_sdk.data.records import Conversation
            >>> from finetune_sdk.evaluation.pricing import Pricing
            >>> data = [Conversation.from_pairs("What is 2+2?", "4")] * 100
            >>> def tuned(prompt): return "4"
            >>> ev = Evaluator(["exact_match"], prices={"tuned": Pricing.hourly(36.0)}, concurrency=10)
            >>> ev.estimate_cost([tuned], data).total  # 100 requests x 1 s / 10 in flight = 10 s of $36/h
            0.1
        """
        from finetune_sdk.data.tokens import HeuristicCounter

        if not models:
            raise ConfigurationError("estimate_cost() needs at least one model")
        if latency_s <= 0:
            raise ConfigurationError(f"latency_s must be > 0 seconds, got {latency_s}")
        records = list(dataset)
        if not records:
            raise ConfigurationError("the dataset is empty: nothing to estimate")
        counter = HeuristicCounter(4.0)
        out_tokens = self.config.max_tokens if output_tokens is None else output_tokens
        targets = resolve_targets(models)
        breakdown: dict[str, float] = {}
        assumptions: list[str] = []
        dates: set[str] = set()
        for t in targets:
            pricing = self._pricing(t)
            if pricing is None:
                breakdown[t.key] = 0.0
                assumptions.append(f"{t.key}: no known price (pass prices={{{t.key!r}: Pricing(...)}}); counted as $0")
                continue
            if pricing.date:
                dates.add(pricing.date)
            if pricing.billing == "hourly":
                in_flight = self.concurrency or 8
                hours = len(records) * latency_s / in_flight / 3600.0
                breakdown[t.key] = (pricing.per_hour or 0.0) * hours
                assumptions.append(
                    f"{t.key}: {pricing.describe()} for {hours * 3600:,.0f} s ({len(records)} requests x "
                    f"{latency_s:g} s / {in_flight} in flight)"
                )
                continue
            template = self.template
            input_tokens = 0
            for record in records:
                system, turns = template.render(record)
                input_tokens += counter.count((system or "") + "".join(turn.text for turn in turns))
            output_total = out_tokens * len(records)
            breakdown[t.key] = (
                input_tokens * (pricing.input_per_1k_tokens or 0.0)
                + output_total * (pricing.output_per_1k_tokens or 0.0)
            ) / 1000.0
            assumptions.append(
                f"{t.key}: ~{input_tokens:,} input + {output_total:,} output tokens (at most {out_tokens} per "
                f"answer) at {pricing.describe()}"
            )
        if any(isinstance(m, JudgeMetric) for m in self.metrics):
            assumptions.append("judge calls are not included")
        return CostEstimate(
            total=sum(breakdown.values()),
            breakdown=breakdown,
            price_date=max(dates) if dates else None,
            assumptions=tuple(assumptions),
        )

    @staticmethod
    def _score(metric: Metric, sample: Sample) -> MetricResult:
        try:
            return metric.compute(sample)
        except Exception as exc:  # a metric bug must not throw away paid-for answers
            logger.warning("metric %s failed on example %d: %s", metric.name, sample.index, exc)
            return MetricResult(None, f"metric error: {type(exc).__name__}: {exc}")

    def _judge(
        self,
        judge_metrics: list[JudgeMetric],
        targets: list[Target],
        records: list[Record],
        record_fps: list[str],
        by_model: Mapping[str, list[Outcome]],
        runner: Runner,
        scores: dict[str, list[dict[str, float | None]]],
        details: dict[str, list[dict[str, str]]],
    ) -> None:
        tasks: list[Task] = []
        samples: list[tuple[JudgeMetric, str, int]] = []
        invokers = {}
        limiter_keys: dict[str, str] = {}
        configs = {m.config for m in judge_metrics}
        for m in judge_metrics:
            judge = m.bind(self.judge)
            for t in targets:
                key = f"judge:{m.name}@{t.key}"
                invokers[key] = judge.invoke
                limiter_keys[key] = f"judge-model:{judge.id}"
                for i, record in enumerate(records):
                    outcome = by_model[t.key][i]
                    if outcome.response is None:
                        continue
                    sample = Sample(
                        prediction=outcome.response.text, record=record, response=outcome.response, index=i
                    )
                    system, turns = m.request(sample)
                    fp = _sha(
                        f"{record_fps[i]}|{_sha(outcome.response.text)}|{m.version}|{_sha(m.prompt_template)}"
                        f"|{_sha(m.rubric)}|{m.scale}|{judge.id}"
                    )
                    tasks.append(Task(key=key, index=i, fingerprint=fp, system=system, turns=turns))
                    samples.append((m, t.key, i))
        if not tasks:
            return
        # one config per run; judges with different configs are run one config at a time
        for config in configs:
            chosen = [(task, s) for task, s in zip(tasks, samples, strict=True) if s[0].config == config]
            outcomes = runner.run(
                [c[0] for c in chosen], invokers, config=config, limiter_keys=limiter_keys, desc="judging"
            )
            for (_, (metric, model_key, i)), outcome in zip(chosen, outcomes, strict=True):
                if outcome.response is None:
                    scores[model_key][i][metric.name] = None
                    details[model_key][i][metric.name] = f"judge error: {outcome.error}"
                    continue
                result = metric.parse(outcome.response.text)
                scores[model_key][i][metric.name] = result.value
                if result.detail:
                    details[model_key][i][metric.name] = result.detail

    def __repr__(self) -> str:
        return (
            f"Evaluator(metrics={[m.name for m in self.metrics]}, concurrency={self.concurrency}, "
            f"max_rps={self.max_rps}, checkpoint={str(self.checkpoint) if self.checkpoint else None!r})"
        )
