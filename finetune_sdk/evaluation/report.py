"""The evaluation report: scores with confidence intervals, paired comparisons, usage and cost, per example.

An :class:`EvaluationReport` is a frozen value that records everything needed to trust and reproduce a
comparison: model ids, the prompt template each model got, metric definitions (with the judge prompt and
its version), dataset size and fingerprint, statistics settings, and every example's prediction and scores.
It renders as markdown (:meth:`~EvaluationReport.to_markdown`), HTML with plots in notebooks
(``_repr_html_``), pandas DataFrames (:meth:`~EvaluationReport.to_pandas`,
:meth:`~EvaluationReport.per_example`) and JSON that round-trips exactly
(:meth:`~EvaluationReport.to_json` / :meth:`~EvaluationReport.from_json`).

Statistics (see :mod:`finetune_sdk.evaluation.statistics`): each model's metric mean has a seeded percentile
bootstrap interval; each model is compared with the baseline on the examples both answered, with the
paired difference's bootstrap interval and a test suited to the metric (exact McNemar for binary
metrics, a paired sign-flip permutation test otherwise), plus win/tie/loss counts. Examples whose request
failed are left out of means and comparisons and counted as errors.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.evaluation._report_render import (
    _clip,
    _fmt_ci,
    _fmt_seconds,
    _hourly_note,
    _html_table,
    _md_table,
    _pandas,
    strip_timing,
)
from finetune_sdk.evaluation.metrics import MetricInfo
from finetune_sdk.evaluation.statistics import (
    bootstrap_ci,
    derive_seed,
    mcnemar_exact,
    paired_permutation_test,
    paired_proportion_ci,
    percentile,
    wilson_ci,
    win_tie_loss,
)
from finetune_sdk.evaluation.templates import PromptTemplate

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DatasetInfo",
    "EvaluationReport",
    "ExampleResult",
    "MetricSummary",
    "ModelInfo",
    "PairedComparison",
    "RunInfo",
    "StatisticsSettings",
    "UsageSummary",
    "build_report",
    "comparable_json",
]

SCHEMA_VERSION = 1


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelInfo(_Value):
    """One evaluated model: its report key, id, backend, prices used and the prompt template it got."""

    key: str
    id: str
    name: str
    kind: str = "chat"
    backend: str | None = None
    pricing_model_id: str | None = None
    input_price_per_1k: float | None = None
    output_price_per_1k: float | None = None
    price_date: str | None = None
    template: PromptTemplate
    #: ``per_token`` or ``hourly`` (provisioned throughput, endpoint instances); ``None`` when unknown
    billing: str | None = None
    hourly_price: float | None = None
    #: where the price came from, for the report's notes
    price_source: str | None = None
    #: answered by the fake backend or an AWS emulation: scores and costs are not the real service's
    emulated: bool = False


class DatasetInfo(_Value):
    """The test set: size, sha256 of its records (in order), and each record's prompt and reference."""

    size: int
    fingerprint: str
    record_fingerprints: tuple[str, ...]
    prompts: tuple[str, ...]
    references: tuple[str | None, ...]


class ExampleResult(_Value):
    """One model's result on one record."""

    index: int
    prediction: str | None
    error: str | None = None
    attempts: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    #: why generation ended (``"max_tokens"``: the answer was cut off, so its token count is a floor)
    stop_reason: str | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    scores: Mapping[str, float | None] = Field(default_factory=dict)
    details: Mapping[str, str] = Field(default_factory=dict)


class MetricSummary(_Value):
    """A model's mean on one metric with its interval; ``n`` examples had a score.

    The interval is a Wilson score interval for binary metrics (never zero-width at 0% or 100%) and a
    percentile bootstrap interval otherwise.
    """

    model: str
    metric: str
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    missing: int


class PairedComparison(_Value):
    """``model`` minus ``baseline`` on one metric, over the ``n`` examples both have a score for."""

    model: str
    baseline: str
    metric: str
    n: int
    mean_model: float | None
    mean_baseline: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    test: Literal["mcnemar_exact", "paired_permutation", "none"]
    p_value: float | None
    wins: int
    ties: int
    losses: int
    discordant: tuple[int, int] | None = None


class UsageSummary(_Value):
    """Tokens, latency and cost of one model's requests."""

    model: str
    requests: int
    answered: int
    errors: int
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    output_tokens_shorter_pct: float | None
    tokens_estimated: bool
    #: answers that ended at ``max_tokens`` (cut off): their output-token counts are floors, not lengths
    cut_off: int = 0
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    cost_per_1k_requests: float | None


class StatisticsSettings(_Value):
    """How the intervals and tests were computed."""

    n_resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0
    alpha: float = 0.05


class RunInfo(_Value):
    """How the run went (not part of the results): times, retries, resumed requests."""

    created_at: str
    duration_s: float
    sdk_version: str
    requests_sent: int = 0
    resumed: int = 0
    retries: int = 0
    throttles: int = 0
    checkpoint: str | None = None
    #: the most requests in flight at once (the Evaluator sizes it from latency and rate by default)
    peak_in_flight: int | None = None


class EvaluationReport(_Value):
    """Scores, comparisons, usage and per-example results of one evaluation.

    Examples:
        >>> from finetune_sdk.evaluation import Evaluator
        >>> from finetune_sdk.data.records import Conversation
        >>> data = [Conversation.from_pairs(f"{i}+1?", str(i + 1)) for i in range(4)]
        >>> def right(prompt): return str(int(prompt.split("+")[0]) + 1)
        >>> def wrong(prompt): return "0"
        >>> report = Evaluator(["exact_match"], progress=False).compare([wrong, right], data)
        >>> report.mean("exact_match", "right"), report.comparison("exact_match", "right").wins
        (1.0, 4)
        >>> EvaluationReport.from_json(report.to_json()) == report
        True
    """

    schema_version: int = SCHEMA_VERSION
    dataset: DatasetInfo
    models: tuple[ModelInfo, ...]
    baseline: str | None
    metrics: tuple[MetricInfo, ...]
    examples: Mapping[str, tuple[ExampleResult, ...]]
    summaries: tuple[MetricSummary, ...]
    comparisons: tuple[PairedComparison, ...]
    usage: tuple[UsageSummary, ...]
    settings: StatisticsSettings
    run: RunInfo

    # ------------------------------------------------------------------------------------------ access
    @property
    def model_keys(self) -> list[str]:
        """Model keys in evaluation order (the baseline first in comparisons)."""
        return [m.key for m in self.models]

    @property
    def metric_names(self) -> list[str]:
        """Metric names in the order given."""
        return [m.name for m in self.metrics]

    def _model_key(self, model: str | None) -> str:
        if model is None:
            return self.models[0].key
        for m in self.models:
            if model in (m.key, m.id, m.name):
                return m.key
        raise KeyError(f"no model {model!r} in this report; models: {', '.join(self.model_keys)}")

    def summary(self, metric: str, model: str | None = None) -> MetricSummary:
        """The summary of ``metric`` for ``model`` (default: the first model).

        Raises:
            KeyError: unknown metric or model.
        """
        key = self._model_key(model)
        for s in self.summaries:
            if s.metric == metric and s.model == key:
                return s
        raise KeyError(f"no metric {metric!r} in this report; metrics: {', '.join(self.metric_names)}")

    def mean(self, metric: str, model: str | None = None) -> float | None:
        """Mean of ``metric`` for ``model`` (``None`` if no example had a score)."""
        return self.summary(metric, model).mean

    def comparison(self, metric: str, model: str) -> PairedComparison:
        """``model`` versus the baseline on ``metric``.

        Raises:
            KeyError: no such comparison (a single-model report has none).
        """
        key = self._model_key(model)
        for c in self.comparisons:
            if c.metric == metric and c.model == key:
                return c
        raise KeyError(f"no comparison of {model!r} on {metric!r} (baseline: {self.baseline})")

    def usage_of(self, model: str) -> UsageSummary:
        """Usage summary of ``model``."""
        key = self._model_key(model)
        return next(u for u in self.usage if u.model == key)

    @property
    def emulated(self) -> list[str]:
        """Keys of the models answered by the fake backend or an AWS emulation (empty for a real run)."""
        return [m.key for m in self.models if m.emulated]

    def _emulation_note(self) -> str | None:
        if not self.emulated:
            return None
        return (
            "EMULATED: " + ", ".join(self.emulated) + " answered by an emulation (finetune_sdk.testing), not "
            "the real service; scores, latencies and costs are not those of the real models"
        )

    @property
    def errors(self) -> int:
        """Examples (over all models) whose request failed after retries."""
        return sum(u.errors for u in self.usage)

    def disagreements(self, metric: str | None = None) -> list[int]:
        """Record indices where models' scores on ``metric`` differ (default: the first quality metric)."""
        name = metric or self._primary_metric()
        if name is None or len(self.models) < 2:
            return []
        out: list[int] = []
        for i in range(self.dataset.size):
            values = [self.examples[m.key][i].scores.get(name) for m in self.models]
            present = [v for v in values if v is not None]
            if len(present) >= 2 and max(present) - min(present) > 1e-12:
                out.append(i)
        return out

    def _primary_metric(self) -> str | None:
        quality = [m.name for m in self.metrics if m.category == "quality"]
        return quality[0] if quality else (self.metrics[0].name if self.metrics else None)

    # ------------------------------------------------------------------------------------------ JSON
    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The report as JSON (also written to ``path``); :meth:`from_json` reads it back exactly."""
        text = self.model_dump_json(indent=indent)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | bytes | Path) -> EvaluationReport:
        """A report from :meth:`to_json` output, or from a path to a file holding it."""
        if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
            source = Path(source).read_text(encoding="utf-8")
        return cls.model_validate_json(source)  # str or bytes of JSON

    # ------------------------------------------------------------------------------------------ pandas
    def to_pandas(self) -> pd.DataFrame:
        """One row per (model, metric): mean, interval, n, and the comparison with the baseline.

        Raises:
            ModuleNotFoundError: pandas is missing (``pip install 'finetune-sdk[pandas]'``).
        """
        pd_ = _pandas()
        rows: list[dict[str, Any]] = []
        for s in self.summaries:
            row: dict[str, Any] = s.model_dump()
            cmp = next((c for c in self.comparisons if c.model == s.model and c.metric == s.metric), None)
            row.update(
                {
                    "diff_vs_baseline": cmp.diff if cmp else None,
                    "diff_ci_low": cmp.ci_low if cmp else None,
                    "diff_ci_high": cmp.ci_high if cmp else None,
                    "p_value": cmp.p_value if cmp else None,
                    "test": cmp.test if cmp else None,
                    "wins": cmp.wins if cmp else None,
                    "ties": cmp.ties if cmp else None,
                    "losses": cmp.losses if cmp else None,
                }
            )
            rows.append(row)
        frame: pd.DataFrame = pd_.DataFrame(rows)
        return frame

    def per_example(self) -> pd.DataFrame:
        """One row per record: prompt, reference, and each model's prediction, error and scores.

        Columns are ``prompt``, ``reference``, then ``<model>/prediction``, ``<model>/error``,
        ``<model>/<metric>`` for every model, and ``disagree`` (models differ on the primary metric).

        Raises:
            ModuleNotFoundError: pandas is missing (``pip install 'finetune-sdk[pandas]'``).
        """
        pd_ = _pandas()
        disagree = set(self.disagreements())
        rows: list[dict[str, Any]] = []
        for i in range(self.dataset.size):
            row: dict[str, Any] = {
                "index": i,
                "prompt": self.dataset.prompts[i],
                "reference": self.dataset.references[i],
            }
            for m in self.models:
                ex = self.examples[m.key][i]
                row[f"{m.key}/prediction"] = ex.prediction
                row[f"{m.key}/error"] = ex.error
                for name in self.metric_names:
                    row[f"{m.key}/{name}"] = ex.scores.get(name)
                for name, detail in ex.details.items():
                    row[f"{m.key}/{name}_detail"] = detail
            row["disagree"] = i in disagree
            rows.append(row)
        frame: pd.DataFrame = pd_.DataFrame(rows).set_index("index")
        return frame

    # ------------------------------------------------------------------------------------------ markdown
    def to_markdown(self, *, max_examples: int = 10) -> str:
        """The report as GitHub markdown: scores, comparisons, usage and cost, and where models disagree."""
        conf = round(self.settings.confidence * 100)
        lines: list[str] = ["## Evaluation report", ""]
        note = self._emulation_note()
        if note:
            lines.extend([f"> **{note}.**", ""])
        lines.append(
            f"Dataset: {self.dataset.size} records (sha256 `{self.dataset.fingerprint[:16]}`)"
            + (f"; baseline: **{self.baseline}**" if self.baseline else "")
            + f"; {conf}% intervals: Wilson score for binary metrics (Newcombe's paired score interval for "
            f"their differences), otherwise {self.settings.n_resamples:,} bootstrap resamples "
            f"(seed {self.settings.seed})."
        )
        lines.append("")
        for m in self.models:
            t = m.template
            lines.append(
                f"- **{m.key}**: `{m.id}`"
                + (f" on {m.backend}" if m.backend else "")
                + f"; prompt template `{t.name}` v{t.version} (`{t.fingerprint[:12]}`)"
            )
        judge_lines = [
            f"- metric `{mi.name}`: judge `{mi.params.get('judge_model')}`, "
            f"prompt {mi.params.get('prompt_version')}"
            for mi in self.metrics
            if "prompt_version" in mi.params
        ]
        lines.extend(judge_lines)
        lines.append("")

        lines.append("### Scores")
        lines.append("")
        headers = ["model", *self.metric_names, "errors"]
        rows: list[list[str]] = []
        for m in self.models:
            u = self.usage_of(m.key)
            cells = [m.key]
            for name in self.metric_names:
                s = self.summary(name, m.key)
                cells.append(_fmt_ci(s.mean, s.ci_low, s.ci_high))
            cells.append(f"{u.errors}/{u.requests}")
            rows.append(cells)
        lines.extend(_md_table(headers, rows))
        lines.append("")

        if self.comparisons:
            lines.append(f"### Versus baseline ({self.baseline})")
            lines.append("")
            headers = [
                "model",
                "metric",
                "n",
                f"difference [{conf}% CI]",
                "p-value",
                "test",
                "win / tie / loss",
            ]
            rows = []
            for c in self.comparisons:
                star = " *" if c.p_value is not None and c.p_value < self.settings.alpha else ""
                rows.append(
                    [
                        c.model,
                        c.metric,
                        str(c.n),
                        _fmt_ci(c.diff, c.ci_low, c.ci_high, signed=True),
                        ("-" if c.p_value is None else f"{c.p_value:.4g}") + star,
                        {"mcnemar_exact": "exact McNemar", "paired_permutation": "paired permutation"}.get(
                            c.test, "-"
                        ),
                        f"{c.wins} / {c.ties} / {c.losses}",
                    ]
                )
            lines.extend(_md_table(headers, rows))
            lines.append("")
            lines.append(f"\\* p < {self.settings.alpha}")
            lines.append("")

        lines.append("### Usage and cost")
        lines.append("")
        headers = [
            "model",
            "mean output tokens",
            "vs baseline",
            "latency p50",
            "latency p95",
            "cost / 1k requests",
        ]
        rows = []
        for u in self.usage:
            shorter = (
                "-"
                if u.output_tokens_shorter_pct is None
                else (
                    f"{abs(u.output_tokens_shorter_pct):.1f}% "
                    + ("shorter" if u.output_tokens_shorter_pct >= 0 else "longer")
                )
            )
            rows.append(
                [
                    u.model,
                    "-"
                    if u.mean_output_tokens is None
                    else f"{u.mean_output_tokens:.1f}" + (" (est.)" if u.tokens_estimated else "")
                    + (f" ({u.cut_off}/{u.answered} cut off)" if u.cut_off else ""),
                    shorter if u.model != self.baseline else "baseline",
                    _fmt_seconds(u.latency_p50_s),
                    _fmt_seconds(u.latency_p95_s),
                    "-" if u.cost_per_1k_requests is None else f"${u.cost_per_1k_requests:,.4f}",
                ]
            )
        lines.extend(_md_table(headers, rows))
        if any(u.cut_off for u in self.usage):
            lines.append("")
            lines.append(
                "Cut off: answers that stopped at max_tokens; their token counts are floors, so a model "
                "with cut-off answers is at least that long (raise max_tokens to compare lengths fairly)."
            )
        price_notes = [
            f"{m.key}: {m.pricing_model_id} prices of {m.price_date}"
            for m in self.models
            if m.price_date and m.billing != "hourly"
        ]
        if price_notes:
            lines.append("")
            lines.append("Prices from the finetune_sdk catalog (" + "; ".join(price_notes) + ").")
        hourly_notes = [_hourly_note(m) for m in self.models if m.billing == "hourly"]
        if hourly_notes:
            lines.append("")
            lines.append(
                "Billed by the hour (" + "; ".join(hourly_notes) + "): cost per request is the hours this "
                "run's generation held the deployment, spread over its requests."
            )
        lines.append("")

        primary = self._primary_metric()
        disagree = self.disagreements(primary)
        if primary and disagree:
            shown = disagree[:max_examples]
            lines.append(f"### Where models disagree on {primary} ({len(shown)} of {len(disagree)})")
            lines.append("")
            headers = ["#", "prompt", "reference", *[f"{m.key}" for m in self.models]]
            rows = []
            for i in shown:
                cells = [
                    str(i),
                    _clip(self.dataset.prompts[i], 60),
                    _clip(self.dataset.references[i] or "", 30),
                ]
                for m in self.models:
                    ex = self.examples[m.key][i]
                    score = ex.scores.get(primary)
                    text = ex.error if ex.prediction is None else ex.prediction
                    cells.append(f"{_clip(text or '', 40)} ({'-' if score is None else f'{score:.2f}'})")
                rows.append(cells)
            lines.extend(_md_table(headers, rows))
            lines.append("")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return (
            f"EvaluationReport(models={self.model_keys}, metrics={self.metric_names}, "
            f"records={self.dataset.size}, errors={self.errors}"
            + (f", emulated={self.emulated}" if self.emulated else "")
            + ")"
        )

    # ------------------------------------------------------------------------------------------ HTML
    def _repr_html_(self) -> str:
        parts = ["<div class='finetune-eval-report'><h3>Evaluation report</h3>"]
        note = self._emulation_note()
        if note:
            parts.append(
                "<p class='finetune-emulated' style='border:2px solid #b35c00;padding:4px 8px;"
                f"background:#fff4e5;color:#5c2e00'><b>{html.escape(note)}.</b></p>"
            )
        parts.append(
            f"<p>{self.dataset.size} records (sha256 <code>{self.dataset.fingerprint[:16]}</code>); "
            f"baseline: <b>{html.escape(self.baseline or '-')}</b></p>"
        )
        headers = ["model", *self.metric_names, "errors"]
        rows = []
        for m in self.models:
            u = self.usage_of(m.key)
            rows.append(
                [
                    m.key,
                    *[
                        _fmt_ci(
                            self.summary(n, m.key).mean,
                            self.summary(n, m.key).ci_low,
                            self.summary(n, m.key).ci_high,
                        )
                        for n in self.metric_names
                    ],
                    f"{u.errors}/{u.requests}",
                ]
            )
        parts.append(_html_table(headers, rows))
        if self.comparisons:
            rows = [
                [
                    c.model,
                    c.metric,
                    _fmt_ci(c.diff, c.ci_low, c.ci_high, signed=True),
                    "-" if c.p_value is None else f"{c.p_value:.4g}",
                    f"{c.wins}/{c.ties}/{c.losses}",
                ]
                for c in self.comparisons
            ]
            parts.append(f"<h4>Versus baseline ({html.escape(self.baseline or '')})</h4>")
            parts.append(_html_table(["model", "metric", "difference [CI]", "p-value", "W/T/L"], rows))
        rows = [
            [
                u.model,
                "-" if u.mean_output_tokens is None else f"{u.mean_output_tokens:.1f}",
                _fmt_seconds(u.latency_p50_s),
                _fmt_seconds(u.latency_p95_s),
                "-" if u.cost_per_1k_requests is None else f"${u.cost_per_1k_requests:,.4f}",
            ]
            for u in self.usage
        ]
        parts.append("<h4>Usage and cost</h4>")
        parts.append(
            _html_table(["model", "mean output tokens", "p50 latency", "p95 latency", "cost / 1k"], rows)
        )
        hourly_notes = [_hourly_note(m) for m in self.models if m.billing == "hourly"]
        if hourly_notes:
            parts.append(f"<p>Billed by the hour: {html.escape('; '.join(hourly_notes))}.</p>")
        png = self._plot_png()
        if png is not None:
            parts.append(
                f"<img alt='metric means with confidence intervals' src='data:image/png;base64,{png}'/>"
            )
        parts.append("</div>")
        return "".join(parts)

    def plot(self) -> Any:
        """A matplotlib Figure: metric means with intervals per model, and output-token distributions.

        Raises:
            ModuleNotFoundError: matplotlib is missing (``pip install 'finetune-sdk[pandas]'``).
        """
        try:
            from matplotlib.figure import Figure
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                "plots need matplotlib. Fix: pip install 'finetune-sdk[pandas]'"
            ) from exc
        quality = [m.name for m in self.metrics if m.category == "quality"] or self.metric_names
        fig = Figure(figsize=(4 + 1.2 * len(quality) * max(1, len(self.models)) / 2, 3.4))
        ax_scores, ax_tokens = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(2, len(quality)), 2]})
        width = 0.8 / max(1, len(self.models))
        for j, m in enumerate(self.models):
            means: list[float] = []
            errs: list[list[float]] = [[], []]
            for name in quality:
                s = self.summary(name, m.key)
                mean = s.mean if s.mean is not None else 0.0
                means.append(mean)
                errs[0].append(max(0.0, mean - (s.ci_low if s.ci_low is not None else mean)))
                errs[1].append(max(0.0, (s.ci_high if s.ci_high is not None else mean) - mean))
            xs = [i + j * width for i in range(len(quality))]
            ax_scores.bar(xs, means, width, yerr=errs, capsize=3, label=m.key)
        ax_scores.set_xticks([i + width * (len(self.models) - 1) / 2 for i in range(len(quality))])
        ax_scores.set_xticklabels(quality, rotation=15)
        ax_scores.set_title(f"mean with {int(self.settings.confidence * 100)}% CI")
        ax_scores.legend(fontsize="small")
        token_data = [
            [float(e.output_tokens) for e in self.examples[m.key] if e.output_tokens is not None] or [0.0]
            for m in self.models
        ]
        ax_tokens.boxplot(token_data)
        ax_tokens.set_xticks(range(1, len(self.models) + 1))
        ax_tokens.set_xticklabels(self.model_keys, rotation=15)
        ax_tokens.set_title("output tokens")
        fig.tight_layout()
        return fig

    def _plot_png(self) -> str | None:
        try:
            fig = self.plot()
        except ModuleNotFoundError:
            return None
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        return base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------------------------- building
def _is_binary(mi: MetricInfo, values: Sequence[float]) -> bool:
    """A binary metric whose scores are all 0 or 1 gets score intervals (Wilson, Newcombe)."""
    return bool(mi.binary) and all(v in (0.0, 1.0) for v in values)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def build_report(
    *,
    dataset: DatasetInfo,
    models: Sequence[ModelInfo],
    metrics: Sequence[MetricInfo],
    examples: Mapping[str, Sequence[ExampleResult]],
    baseline: str | None,
    settings: StatisticsSettings,
    run: RunInfo,
) -> EvaluationReport:
    """Compute summaries, paired comparisons and usage from per-example results and assemble the report."""
    summaries: list[MetricSummary] = []
    for m in models:
        rows = examples[m.key]
        for mi in metrics:
            values = [r.scores[mi.name] for r in rows if r.scores.get(mi.name) is not None]
            vals = [float(v) for v in values if v is not None]
            if vals and _is_binary(mi, vals):
                low, high = wilson_ci(sum(1 for v in vals if v > 0.5), len(vals), confidence=settings.confidence)
            if vals and not _is_binary(mi, vals):
                low, high = bootstrap_ci(
                    vals,
                    n_resamples=settings.n_resamples,
                    confidence=settings.confidence,
                    seed=derive_seed(settings.seed, "mean", m.key, mi.name),
                )
            if vals:
                summaries.append(
                    MetricSummary(
                        model=m.key,
                        metric=mi.name,
                        mean=_mean(vals),
                        ci_low=low,
                        ci_high=high,
                        n=len(vals),
                        missing=len(rows) - len(vals),
                    )
                )
            else:
                summaries.append(
                    MetricSummary(
                        model=m.key,
                        metric=mi.name,
                        mean=None,
                        ci_low=None,
                        ci_high=None,
                        n=0,
                        missing=len(rows),
                    )
                )

    comparisons: list[PairedComparison] = []
    if baseline is not None and len(models) > 1:
        base_rows = examples[baseline]
        for m in models:
            if m.key == baseline:
                continue
            rows = examples[m.key]
            for mi in metrics:
                pairs = [
                    (float(a), float(b))
                    for r, br in zip(rows, base_rows, strict=True)
                    if (a := r.scores.get(mi.name)) is not None and (b := br.scores.get(mi.name)) is not None
                ]
                comparisons.append(_compare(m.key, baseline, mi, pairs, settings))

    usage: list[UsageSummary] = []
    base_tokens: float | None = None
    if baseline is not None:
        base_tokens = _mean(
            [float(r.output_tokens) for r in examples[baseline] if r.output_tokens is not None]
        )
    for m in models:
        rows = examples[m.key]
        answered = [r for r in rows if r.prediction is not None]
        out_tokens = [float(r.output_tokens) for r in answered if r.output_tokens is not None]
        in_tokens = [float(r.input_tokens) for r in answered if r.input_tokens is not None]
        latencies = [r.latency_s for r in answered if r.latency_s is not None]
        cut_off = sum(1 for r in answered if r.stop_reason == "max_tokens")
        costs = [r.cost_usd for r in answered if r.cost_usd is not None]
        mean_out = _mean(out_tokens)
        shorter = None
        if base_tokens and mean_out is not None and baseline is not None and m.key != baseline:
            shorter = (base_tokens - mean_out) / base_tokens * 100.0
        cost_mean = _mean(costs)
        usage.append(
            UsageSummary(
                model=m.key,
                requests=len(rows),
                answered=len(answered),
                errors=sum(1 for r in rows if r.error is not None),
                mean_input_tokens=_mean(in_tokens),
                mean_output_tokens=mean_out,
                output_tokens_shorter_pct=shorter,
                tokens_estimated=any(r.tokens_estimated for r in answered),
                cut_off=cut_off,
                latency_mean_s=_mean(latencies),
                latency_p50_s=percentile(latencies, 50),
                latency_p95_s=percentile(latencies, 95),
                cost_per_1k_requests=None if cost_mean is None else cost_mean * 1000.0,
            )
        )

    return EvaluationReport(
        dataset=dataset,
        models=tuple(models),
        baseline=baseline if len(models) > 1 else None,
        metrics=tuple(metrics),
        examples={k: tuple(v) for k, v in examples.items()},
        summaries=tuple(summaries),
        comparisons=tuple(comparisons),
        usage=tuple(usage),
        settings=settings,
        run=run,
    )


def _compare(
    model: str,
    baseline: str,
    mi: MetricInfo,
    pairs: Sequence[tuple[float, float]],
    settings: StatisticsSettings,
) -> PairedComparison:
    if not pairs:
        return PairedComparison(
            model=model,
            baseline=baseline,
            metric=mi.name,
            n=0,
            mean_model=None,
            mean_baseline=None,
            diff=None,
            ci_low=None,
            ci_high=None,
            test="none",
            p_value=None,
            wins=0,
            ties=0,
            losses=0,
        )
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    diffs = [x - y for x, y in pairs]
    if _is_binary(mi, [*a, *b]):  # Newcombe's paired score interval: has width even when all pairs agree
        both = sum(1 for x, y in pairs if x > 0.5 and y > 0.5)
        neither = sum(1 for x, y in pairs if x <= 0.5 and y <= 0.5)
        low, high = paired_proportion_ci(
            both,
            sum(1 for x, y in pairs if x > 0.5 >= y),
            sum(1 for x, y in pairs if y > 0.5 >= x),
            neither,
            confidence=settings.confidence,
        )
    else:
        low, high = bootstrap_ci(
            diffs,
            n_resamples=settings.n_resamples,
            confidence=settings.confidence,
            seed=derive_seed(settings.seed, "diff", model, baseline, mi.name),
        )
    wins, ties, losses = win_tie_loss(a, b, higher_is_better=mi.higher_is_better)
    discordant: tuple[int, int] | None = None
    if mi.binary:
        only_model = sum(1 for x, y in pairs if x > 0.5 >= y)
        only_base = sum(1 for x, y in pairs if y > 0.5 >= x)
        discordant = (only_model, only_base)
        p = mcnemar_exact(only_model, only_base)
        test: Literal["mcnemar_exact", "paired_permutation", "none"] = "mcnemar_exact"
    else:
        p = paired_permutation_test(
            a,
            b,
            n_resamples=settings.n_resamples,
            seed=derive_seed(settings.seed, "perm", model, baseline, mi.name),
        )
        test = "paired_permutation"
    return PairedComparison(
        model=model,
        baseline=baseline,
        metric=mi.name,
        n=len(pairs),
        mean_model=_mean(a),
        mean_baseline=_mean(b),
        diff=_mean(diffs),
        ci_low=low,
        ci_high=high,
        test=test,
        p_value=p,
        wins=wins,
        ties=ties,
        losses=losses,
        discordant=discordant,
    )


def comparable_json(report: EvaluationReport) -> Any:
    """The report's JSON as Python objects without timing fields (what two equivalent runs share)."""
    return strip_timing(json.loads(report.to_json()))
