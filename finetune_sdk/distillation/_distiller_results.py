"""The values a :class:`~finetune_sdk.distillation.Distiller` returns: :class:`DistillationPlan` (what a run
would do and cost, before anything is sent) and :class:`DistillationResult` (what it did).

Private: import both from :mod:`finetune_sdk.distillation` (or :mod:`finetune_sdk.distillation.distiller`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from finetune_sdk.backends.base import CostEstimate
from finetune_sdk.data.records import Record
from finetune_sdk.distillation.gate import GateReport
from finetune_sdk.distillation.generate import GenerationResult, Via

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.evaluation.report import EvaluationReport
    from finetune_sdk.jobs import Job
    from finetune_sdk.models import Model

__all__ = ["DistillationPlan", "DistillationResult", "Method"]

#: how the student learns: fine-tuned on the teacher's answers, or a Bedrock distillation job
Method = Literal["fine_tune", "distill"]


def _as_dataset(records: Sequence[Record]) -> Dataset:
    from finetune_sdk.data.dataset import Dataset

    return Dataset(list(records))


class DistillationPlan(BaseModel):
    """What :meth:`Distiller.run` would do, and what the teacher would cost, before anything is sent.

    Attributes:
        teacher, student, backend: who teaches, who learns, where the student trains.
        method: ``"fine_tune"`` (teacher answers → fine-tuning job) or ``"distill"`` (Bedrock managed).
        via: how the teacher is asked (``"realtime"`` or ``"batch"``); ``None`` when no generation runs.
        source: where the prompts come from.
        prompts, unique_requests: prompt count and distinct teacher requests (``None`` when unknown).
        generation_estimate: the teacher's estimated cost (``None``: no generation, or no catalog price).
        confirm_needed: the batch estimate is above the confirmation threshold (pass ``confirm=True``).
        pair_check: ``"ok"``, or why Bedrock cannot distil this pair (``None`` for fine-tuning).
        gate_steps: the gate steps that will run.
        workdir: where the run keeps its stages.
        notes: anything else worth knowing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    teacher: str | None
    student: str
    backend: str
    method: Method
    via: Via | None
    source: str
    prompts: int | None = None
    unique_requests: int | None = None
    generation_estimate: CostEstimate | None = None
    confirm_needed: bool = False
    pair_check: str | None = None
    gate_steps: tuple[str, ...] = ()
    workdir: str | None = None
    notes: tuple[str, ...] = ()

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("teacher", self.teacher or "-"),
            ("student", self.student),
            ("backend", self.backend),
            ("method", self.method + (" (Bedrock managed distillation)" if self.method == "distill" else "")),
            ("prompts from", self.source),
            ("prompts / unique requests",
             f"{self.prompts if self.prompts is not None else '?'} / "
             f"{self.unique_requests if self.unique_requests is not None else '?'}"),
            ("teacher generation", "none (Bedrock invokes the teacher)" if self.via is None else self.via),
            ("estimated teacher cost", str(self.generation_estimate) if self.generation_estimate is not None
             else ("-" if self.via is None else "unknown (no catalog price)")),
            ("quality gate", ", ".join(self.gate_steps) if self.gate_steps else "-"),
        ]
        if self.pair_check is not None:
            rows.append(("teacher/student pair", self.pair_check))
        if self.confirm_needed:
            rows.append(("confirmation", "the batch estimate is above the threshold: pass confirm=True"))
        if self.workdir:
            rows.append(("work directory", self.workdir))
        return rows

    def to_markdown(self) -> str:
        """A two-column table of the plan, then its notes."""
        lines = ["| plan | |", "|---|---|", *(f"| {k} | {v} |" for k, v in self._rows())]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


@dataclass
class DistillationResult:
    """Everything one :meth:`Distiller.run` produced.

    Attributes:
        workdir: where the stages are kept (rerun to resume).
        generation: the teacher's answers (``None`` for Bedrock managed distillation).
        gate: the quality gate's report (``None`` when no gate ran).
        job: the training job.
        student: the trained model (``None`` when the run did not wait for the job).
        evaluation: the three-way evaluation (student base, student, teacher) when a test set was given.
        reused: stages taken from the work directory instead of being run again.
        notes: what was skipped and why.
    """

    workdir: Path
    generation: GenerationResult | None = None
    gate: GateReport | None = None
    job: Job | None = None
    student: Model | None = None
    evaluation: EvaluationReport | None = None
    reused: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    _data: tuple[Record, ...] = field(default=(), repr=False)

    @property
    def training_data(self) -> Dataset:
        """The records the student was trained on (after the gate)."""
        return _as_dataset(self._data)

    def side_by_side(self) -> list[dict[str, Any]]:
        """One row per evaluated model: quality metric means, output tokens, latency, cost per 1,000 requests.

        Empty without an evaluation.
        """
        report = self.evaluation
        if report is None:
            return []
        quality = [m.name for m in report.metrics if m.category == "quality"]
        rows: list[dict[str, Any]] = []
        for info in report.models:
            usage = report.usage_of(info.key)
            row: dict[str, Any] = {"model": info.key, "id": info.id}
            for name in quality:
                row[name] = report.mean(name, info.key)
            row.update({
                "mean_output_tokens": usage.mean_output_tokens,
                "latency_p50_s": usage.latency_p50_s,
                "latency_p95_s": usage.latency_p95_s,
                "cost_per_1k_requests": usage.cost_per_1k_requests,
                "errors": usage.errors,
            })
            rows.append(row)
        return rows

    def to_markdown(self) -> str:
        """The run as markdown: generation, gate, job, and the side-by-side evaluation."""
        parts = [f"# Distillation ({self.workdir})"]
        if self.reused:
            parts.append(f"Reused from the work directory: {', '.join(self.reused)}.")
        if self.generation is not None:
            parts += ["## Teacher generation", self.generation.to_markdown()]
        if self.gate is not None:
            parts += ["## Quality gate", self.gate.to_markdown()]
        if self.job is not None:
            parts += ["## Training", f"{self.job!r}"]
        rows = self.side_by_side()
        if rows:
            metrics = [k for k in rows[0] if k not in ("model", "id", "mean_output_tokens", "latency_p50_s",
                                                       "latency_p95_s", "cost_per_1k_requests", "errors")]
            head = ["model", *metrics, "mean output tokens", "latency p50", "latency p95",
                    "cost / 1k requests"]
            lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
            for r in rows:
                cells = [r["model"], *(_fmt(r[m]) for m in metrics), _fmt(r["mean_output_tokens"], 1),
                         _fmt_s(r["latency_p50_s"]), _fmt_s(r["latency_p95_s"]),
                         "-" if r["cost_per_1k_requests"] is None else f"${r['cost_per_1k_requests']:,.4f}"]
                lines.append("| " + " | ".join(cells) + " |")
            parts += ["## Teacher vs student vs student base", "\n".join(lines)]
        if self.notes:
            parts += ["## Notes", "\n".join(f"- {n}" for n in self.notes)]
        return "\n\n".join(parts)

    def _repr_html_(self) -> str:
        rows = self.side_by_side()
        if not rows:
            return f"<pre>{html.escape(self.to_markdown())}</pre>"
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r.values()) + "</tr>"
                       for r in rows)
        return (f"<table><caption>distillation</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")

    def __str__(self) -> str:
        bits = [f"distillation in {self.workdir}"]
        if self.generation is not None:
            bits.append(f"{len(self.generation.records)} teacher answers")
        if self.gate is not None:
            bits.append(f"{self.gate.output_records} kept by the gate")
        if self.job is not None:
            bits.append(f"job {self.job.name} {self.job.status.value}")
        if self.evaluation is not None:
            bits.append("evaluated")
        return ", ".join(bits)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"
