"""``Distiller``: teacher → data → student, from prompts or from production invocation logs.

One object chains the whole loop, on any backend::

    distiller = Distiller(teacher="us.amazon.nova-pro-v1:0", student="amazon.nova-micro-v1:0:128k",
                          backend="bedrock", gate=QualityGate(gold_field="answer", max_response_chars=4000))
    result = distiller.run(prompts, test=test_set)     # generate → filter → train → wait → evaluate
    print(result.to_markdown())                        # teacher vs student vs student base, cost and latency

or step by step: :meth:`Distiller.generate` (the teacher answers, resumably), :meth:`Distiller.filter` (the
:class:`~finetune_sdk.distillation.gate.QualityGate`), :meth:`Distiller.train` (a fine-tuning job on any
backend, or Bedrock's managed distillation when the pair is supported, including straight from invocation
logs). :meth:`Distiller.plan` shows what a run would do and what the teacher would cost, sending nothing.

``run()`` keeps every finished stage in a work directory (``workdir``): rerunning the same call skips what
is done (answers already paid for, the filtered data, the submitted job, the evaluation) and picks up where
it stopped; a stage whose inputs changed runs again, with every stage after it.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> from finetune_sdk.testing import FakeBackend
    >>> prompts = [Conversation.from_pairs(f"What is {i} + {i}?") for i in range(10)]
    >>> fake = FakeBackend(responder=lambda model, system, turns: "It is even.")
    >>> distiller = Distiller(teacher="amazon.nova-pro-v1:0", student="amazon.nova-micro-v1:0:128k",
    ...                       backend=fake, progress=False)
    >>> answers = distiller.generate(prompts)
    >>> data, report = distiller.filter(answers)
    >>> len(data), report.output_records
    (10, 10)
    >>> job = distiller.train(data, hyperparameters={"epochCount": 1})
    >>> job.wait(progress=False).status.value
    'completed'
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from finetune_sdk import backends as _backends
from finetune_sdk._clock import Clock
from finetune_sdk.backends.base import (
    Backend,
    BackendOptions,
    CostEstimate,
    InferenceConfig,
    InvocationLogSource,
    JobKind,
    UsesAwsSession,
)
from finetune_sdk.data.records import Record
from finetune_sdk.distillation._store import StageStore, stage_key
from finetune_sdk.distillation.gate import GateReport, QualityGate
from finetune_sdk.distillation.generate import (
    DEFAULT_CONFIRM_ABOVE,
    GenerationResult,
    Via,
    count_requests,
    estimate_generation_cost,
    generate_responses,
)
from finetune_sdk.distillation.pairs import check_distillation_data, check_distillation_pair
from finetune_sdk.distillation.sources import PromptSource, load_prompts
from finetune_sdk.errors import ConfigurationError, FinetuneError, UnsupportedOperationError
from finetune_sdk.evaluation._targets import ModelLike, record_fingerprint
from finetune_sdk.evaluation.runner import RetryPolicy
from finetune_sdk.evaluation.templates import PromptTemplate

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.evaluation.evaluator import Evaluator
    from finetune_sdk.evaluation.report import EvaluationReport
    from finetune_sdk.hyperparameters import Hyperparameters
    from finetune_sdk.jobs import Job
    from finetune_sdk.models import Model

__all__ = ["DistillationPlan", "DistillationResult", "Distiller", "Method"]

logger = logging.getLogger(__name__)

Method = Literal["fine_tune", "distill"]

#: labels of the three models in the evaluation, in report order (the student base is the baseline)
BASE_LABEL, STUDENT_LABEL, TEACHER_LABEL = "student base", "student", "teacher"


def _default_workdir(key: str) -> Path:
    home = os.environ.get("FINETUNE_SDK_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "finetune_sdk"
    return root / "distill" / key[:16]


def _backend_region(backend: Backend) -> str | None:
    if not isinstance(backend, UsesAwsSession):
        return None
    try:
        return backend.region or None
    except FinetuneError:
        return None


def _backend_session(backend: Backend | None) -> Any:
    return backend.session if isinstance(backend, UsesAwsSession) else None


def _records_of(data: Dataset | Sequence[Record] | GenerationResult) -> list[Record]:
    if isinstance(data, GenerationResult):
        return list(data.records)
    return list(data)


def _as_dataset(records: Sequence[Record]) -> Dataset:
    from finetune_sdk.data.dataset import Dataset

    return Dataset(list(records))


def _fingerprint_records(records: Sequence[Record]) -> str:
    return stage_key([record_fingerprint(r) for r in records])


class _Labelled:
    """A chat model under another name, so the report says "teacher" / "student" / "student base"."""

    def __init__(self, label: str, model: Any, *, pricing_model_id: str | None = None) -> None:
        self.name = label
        self.id: str = str(getattr(model, "id", label))
        self.backend = getattr(model, "backend", None)
        self.pricing_model_id = pricing_model_id or getattr(model, "pricing_model_id", None)
        self._model = model

    def chat(self, messages: Any = None, *, system: str | None = None, turns: Any = None,
             config: InferenceConfig | None = None) -> Any:
        return self._model.chat(messages, system=system, turns=turns, config=config)


def _labelled(label: str, model: ModelLike, *, pricing_model_id: str | None = None) -> ModelLike:
    if callable(getattr(model, "chat", None)) and isinstance(getattr(model, "id", None), str):
        return _Labelled(label, model, pricing_model_id=pricing_model_id)
    fn = model

    def call(prompt: str) -> Any:
        return fn(prompt)  # type: ignore[operator]

    call.__name__ = label
    return call


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


class Distiller:
    """Teacher → data → student on any backend.

    Args:
        teacher: the teacher: a model id (invoked on ``backend`` through ``Model.foundation``), a ``Model`` /
            ``Deployment`` on any backend, or a callable ``(prompt) -> str``.
        student: the base model id to train (a catalog id, a local model folder...).
        backend: where the student trains (a name or a ``Backend``; default: ``FINETUNE_SDK_BACKEND`` or
            ``local``).
        gate: the quality gate between generation and training (default: ``QualityGate()``: drops failed,
            empty and truncated answers and duplicate prompts, and prompts that leak into the test set).
        evaluator: how ``run()`` compares teacher, student and student base (default: an Evaluator with
            ``exact_match``, ``token_f1``, ``output_tokens``, ``latency_s`` and ``cost_usd``).
        workdir: where ``run()`` keeps its stages (default: ``$FINETUNE_SDK_HOME/distill/<run key>``, else
            ``~/.cache/finetune_sdk/distill/<run key>``).
        template: how a prompt becomes the teacher's request (default: the record as is).
        config: the teacher's inference settings (default: temperature 0, 512 max tokens).
        concurrency, max_rps, retry, clock, progress: how teacher (and judge) requests run: the
            Evaluator's concurrent, adaptively rate-limited, retrying runner.

    Raises:
        ConfigurationError: ``concurrency`` < 1.
    """

    def __init__(
        self,
        *,
        teacher: ModelLike | str | None = None,
        student: str | None = None,
        backend: str | Backend | None = None,
        gate: QualityGate | None = None,
        evaluator: Evaluator | None = None,
        workdir: str | Path | None = None,
        template: PromptTemplate | None = None,
        config: InferenceConfig | None = None,
        concurrency: int = 8,
        max_rps: float | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        progress: bool | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError(f"concurrency must be >= 1, got {concurrency}")
        self.teacher = teacher
        self.student = student
        self._backend_arg = backend
        self._backend: Backend | None = backend if isinstance(backend, Backend) else None
        self.gate = gate if gate is not None else QualityGate()
        self.evaluator = evaluator
        self.workdir = Path(workdir) if workdir is not None else None
        self.template = template or PromptTemplate()
        self.config = config or InferenceConfig(temperature=0.0)
        self.concurrency = concurrency
        self.max_rps = max_rps
        self.retry = retry
        self.clock = clock
        self.progress = progress
        self._teacher_model: ModelLike | None = None

    # ------------------------------------------------------------------------------------------ resolution
    @property
    def backend(self) -> Backend:
        """The backend the student trains on (resolved on first use)."""
        if self._backend is None:
            self._backend = _backends.resolve(self._backend_arg)
        return self._backend

    def _teacher(self, teacher: ModelLike | str | None = None) -> ModelLike:
        if teacher is not None:
            if isinstance(teacher, str):
                from finetune_sdk.models import Model

                return Model.foundation(teacher, backend=self.backend)
            return teacher
        if self._teacher_model is None:
            if self.teacher is None:
                raise ConfigurationError("no teacher: pass Distiller(teacher=...) or teacher= to this call")
            self._teacher_model = self._teacher(self.teacher)
        return self._teacher_model

    def _teacher_id(self, teacher: ModelLike | str | None = None) -> str:
        chosen = teacher if teacher is not None else self.teacher
        if chosen is None:
            raise ConfigurationError("no teacher: pass Distiller(teacher=...) or teacher= to this call")
        if isinstance(chosen, str):
            return chosen
        ident = getattr(chosen, "id", None)  # a foundation Model's id is the id it is invoked with
        if not isinstance(ident, str):
            raise ConfigurationError(
                "Bedrock managed distillation needs the teacher's model id; pass teacher='<model id>'"
            )
        return ident

    def _student(self, student: str | None) -> str:
        chosen = student or self.student
        if not chosen:
            raise ConfigurationError(
                "no student: pass Distiller(student='<base model id>') or student= to this call"
            )
        return chosen

    # ------------------------------------------------------------------------------------------ generate
    def estimate_cost(
        self,
        prompts: PromptSource,
        *,
        teacher: ModelLike | str | None = None,
        via: Via = "realtime",
        config: InferenceConfig | None = None,
        expected_output_tokens: int | None = None,
    ) -> CostEstimate | None:
        """The teacher's estimated cost for ``prompts`` (``None`` without catalog prices); sends nothing.

        See :func:`~finetune_sdk.distillation.generate.estimate_generation_cost` for the assumptions.
        """
        return estimate_generation_cost(
            load_prompts(prompts), teacher=self._teacher(teacher), via=via, template=self.template,
            config=config or self.config, expected_output_tokens=expected_output_tokens,
        )

    def generate(
        self,
        prompts: PromptSource,
        *,
        teacher: ModelLike | str | None = None,
        via: Via = "realtime",
        config: InferenceConfig | None = None,
        checkpoint: str | Path | None = None,
        confirm: bool = False,
        max_cost: float | None = None,
        confirm_above: float = DEFAULT_CONFIRM_ABOVE,
    ) -> GenerationResult:
        """Have the teacher answer every prompt (see :mod:`finetune_sdk.distillation.generate`).

        Args:
            prompts: a Dataset, records, strings or a JSONL path.
            teacher: overrides the Distiller's teacher for this call.
            via: ``"realtime"`` (concurrent requests through the Evaluator's runner) or ``"batch"`` (one
                batch inference job; the teacher's backend must be able to run one).
            config: overrides the Distiller's inference settings.
            checkpoint: a JSONL file answers are appended to; rerunning with it sends only unanswered prompts.
            confirm, max_cost, confirm_above: the cost guard (a batch job above ``confirm_above`` dollars
                needs ``confirm=True`` or a ``max_cost`` it fits under; ``max_cost`` applies to both ways).

        Returns:
            A :class:`~finetune_sdk.distillation.generate.GenerationResult` (its ``records`` end with the
            teacher's answers; ``.dataset`` gives them as a Dataset).

        Raises:
            CostLimitExceededError: the estimate is above ``max_cost`` (or the batch threshold); nothing sent.
            UnsupportedOperationError: ``via="batch"`` on a backend without batch inference.
            ConfigurationError: no teacher, no prompts, or an empty prompt.
        """
        return generate_responses(
            load_prompts(prompts), teacher=self._teacher(teacher), via=via, template=self.template,
            config=config or self.config, checkpoint=checkpoint, concurrency=self.concurrency,
            max_rps=self.max_rps, retry=self.retry, clock=self.clock, progress=self.progress, confirm=confirm,
            max_cost=max_cost, confirm_above=confirm_above,
        )

    # ------------------------------------------------------------------------------------------ filter
    def filter(
        self,
        data: Dataset | Sequence[Record] | GenerationResult,
        *,
        test: Dataset | Sequence[Record] | None = None,
        gate: QualityGate | None = None,
        checkpoint: str | Path | None = None,
    ) -> tuple[Dataset, GateReport]:
        """Run the quality gate over teacher-answered records.

        Args:
            data: the teacher's answers (a :class:`GenerationResult`, a Dataset or records).
            test: the held-out test set, for the leakage step.
            gate: overrides the Distiller's gate for this call.
            checkpoint: a JSONL file for the judge step's answers (resumable judging).

        Returns:
            The accepted records as a Dataset, and the :class:`~finetune_sdk.distillation.gate.GateReport`.

        Raises:
            ConfigurationError: the gate's judge has no model.
        """
        chosen = gate if gate is not None else self.gate
        kept, report = chosen.apply(
            _records_of(data), test=list(test) if test is not None else None, concurrency=self.concurrency,
            max_rps=self.max_rps, retry=self.retry, checkpoint=checkpoint, clock=self.clock,
            progress=self.progress,
        )
        return _as_dataset(kept), report

    # ------------------------------------------------------------------------------------------ train
    def train(
        self,
        data: Dataset | Sequence[Record] | GenerationResult | InvocationLogSource | str,
        *,
        student: str | None = None,
        backend: str | Backend | None = None,
        method: Method | None = None,
        teacher: ModelLike | str | None = None,
        validation: Dataset | str | None = None,
        hyperparameters: Mapping[str, Any] | Hyperparameters | None = None,
        max_response_length: int = 1000,
        name: str | None = None,
        output_model_name: str | None = None,
        output_uri: str | None = None,
        role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_cost: float | None = None,
        backend_options: BackendOptions | None = None,
    ) -> Job:
        """Train the student and return the job at once (call ``job.wait()``).

        ``method="fine_tune"`` (the default for data) submits the records, teacher answers included, as a
        fine-tuning job on any backend (:meth:`Job.fine_tune`). ``method="distill"`` (the default for an
        :class:`~finetune_sdk.backends.base.InvocationLogSource`) submits Bedrock's managed distillation
        (:meth:`Job.distill`): Bedrock invokes the teacher itself, from the prompts or straight from the
        invocation logs (optionally filtered by request metadata), after checking that Bedrock supports the
        teacher/student pair in the backend's Region and that the prompts meet its limits.

        Args:
            data: the training records, an ``s3://`` URI of staged data, or invocation logs.
            student, backend, teacher: override the Distiller's for this call.
            method: ``"fine_tune"`` or ``"distill"`` (see above).
            validation: validation data for fine-tuning.
            hyperparameters: checked against the backend's schema for the student.
            max_response_length: the teacher's token limit in a managed distillation job.
            name, output_model_name, output_uri, role_arn, tags, max_cost, backend_options: as for
                :meth:`Job.fine_tune`.

        Returns:
            The :class:`~finetune_sdk.jobs.Job`.

        Raises:
            ConfigurationError: no student; an unsupported teacher/student pair or Region for ``"distill"``
                (the message lists what works); too few or too many prompts; logs with ``"fine_tune"``.
            UnsupportedOperationError: the backend cannot run managed distillation.
            DatasetValidationError, HyperparameterError, CostLimitExceededError: as for :meth:`Job.fine_tune`.
        """
        from finetune_sdk.jobs import Job

        chosen_student = self._student(student)
        be = _backends.resolve(backend) if backend is not None else self.backend
        logs = data if isinstance(data, InvocationLogSource) else None
        chosen_method: Method = method or ("distill" if logs is not None else "fine_tune")
        if chosen_method not in ("fine_tune", "distill"):
            raise ConfigurationError(f"method must be 'fine_tune' or 'distill', got {chosen_method!r}")
        train: Dataset | str | None
        if isinstance(data, str) or logs is not None:
            train = data if isinstance(data, str) else None
        else:
            records = _records_of(data)  # type: ignore[arg-type]
            if not records:
                raise ConfigurationError(
                    "there is no training data: every record was rejected or none was given"
                )
            if chosen_method == "distill":
                check_distillation_data(records, student=chosen_student)
            train = _as_dataset(records)
        if chosen_method == "fine_tune":
            if logs is not None:
                raise ConfigurationError(
                    "fine-tuning cannot read invocation logs directly: use method='distill' (Bedrock managed "
                    "distillation), or read them with prompts_from_logs(...) and run generate/filter first"
                )
            assert train is not None
            return Job.fine_tune(
                model=chosen_student, train=train, validation=validation, hyperparameters=hyperparameters,
                backend=be, name=name, output_model_name=output_model_name, output_uri=output_uri,
                role_arn=role_arn, tags=tags, max_cost=max_cost, backend_options=backend_options,
            )
        if JobKind.DISTILLATION not in be.supported_kinds:
            raise UnsupportedOperationError(
                f"the {be.name!r} backend cannot run managed distillation jobs; use method='fine_tune' to "
                "train the student on the teacher's answers on this backend, or the 'bedrock' backend"
            )
        teacher_id = check_distillation_pair(chosen_student, self._teacher_id(teacher),
                                             region=_backend_region(be))
        return Job.distill(
            student=chosen_student, teacher=teacher_id, prompts=train, invocation_logs=logs,
            max_response_length=max_response_length, hyperparameters=hyperparameters, backend=be, name=name,
            output_model_name=output_model_name, output_uri=output_uri, role_arn=role_arn, tags=tags,
            max_cost=max_cost, backend_options=backend_options,
        )

    # ------------------------------------------------------------------------------------------ plan
    def _teacher_key(self) -> str:
        if isinstance(self.teacher, str):
            return self.teacher
        from finetune_sdk.evaluation._targets import resolve_target

        return resolve_target(self._teacher()).id

    def plan(
        self,
        prompts: PromptSource | InvocationLogSource,
        *,
        test: Dataset | Sequence[Record] | None = None,
        via: Via = "realtime",
        method: Method | None = None,
        confirm_above: float = DEFAULT_CONFIRM_ABOVE,
    ) -> DistillationPlan:
        """What :meth:`run` would do with these arguments, and the teacher's estimated cost. Sends nothing
        to any model; invocation logs are read (S3 reads only) to count their prompts.

        Raises:
            ConfigurationError: no student, no teacher for fine-tuning, or unreadable prompts.
        """
        student = self._student(None)
        logs = prompts if isinstance(prompts, InvocationLogSource) else None
        chosen: Method = method or ("distill" if logs is not None else "fine_tune")
        notes: list[str] = []
        records: list[Record] | None = None
        if logs is not None:
            where = f" where {logs.filter.to_request()}" if logs.filter else ""
            source = f"invocation logs {logs.s3_uri}{where}"
            if chosen == "fine_tune":
                from finetune_sdk.data.logs import read_invocation_logs

                records, report = read_invocation_logs(
                    logs.s3_uri, session=_backend_session(self.backend), metadata_filter=logs.filter,
                    use_responses=logs.use_prompt_response,
                )
                notes.append(str(report))
        else:
            records = load_prompts(prompts)  # type: ignore[arg-type]
            named = str(prompts) if isinstance(prompts, (str, os.PathLike)) else "records in memory"
            source = getattr(prompts, "source", None) or named
        estimate: CostEstimate | None = None
        unique: int | None = None
        generation_via: Via | None = None
        logged_answers = logs is not None and logs.use_prompt_response
        if chosen == "fine_tune" and records is not None and not logged_answers:
            generation_via = via
            teacher = self._teacher()
            estimate = estimate_generation_cost(records, teacher=teacher, via=via, template=self.template,
                                                config=self.config)
            unique = count_requests(records, teacher=teacher, template=self.template, config=self.config)
        elif chosen == "fine_tune":
            notes.append("answers come from the invocation logs (use_prompt_response=True); no teacher calls")
        pair: str | None = None
        if chosen == "distill":
            try:
                region = _backend_region(self.backend)
                pair = "ok: " + check_distillation_pair(student, self._teacher_id(), region=region)
                if records is not None:
                    check_distillation_data(records, student=student)
            except ConfigurationError as exc:
                pair = f"not possible: {exc}"
        confirm_needed = via == "batch" and generation_via is not None and (
            estimate is None or estimate.total > confirm_above)
        return DistillationPlan(
            teacher=self._teacher_key() if (self.teacher is not None) else None,
            student=student,
            backend=self.backend.name,
            method=chosen,
            via=generation_via,
            source=source,
            prompts=len(records) if records is not None else None,
            unique_requests=unique,
            generation_estimate=estimate,
            confirm_needed=confirm_needed,
            pair_check=pair,
            gate_steps=self.gate.enabled_steps(with_test=test is not None) if chosen == "fine_tune" else (),
            workdir=str(self.workdir) if self.workdir is not None else None,
            notes=tuple(notes),
        )

    # ------------------------------------------------------------------------------------------ run
    def run(
        self,
        prompts: PromptSource | InvocationLogSource,
        *,
        test: Dataset | Sequence[Record] | None = None,
        via: Via = "realtime",
        method: Method | None = None,
        evaluate: bool = True,
        deploy: bool = False,
        wait: bool = True,
        timeout: float | None = None,
        confirm: bool = False,
        max_cost: float | None = None,
        hyperparameters: Mapping[str, Any] | Hyperparameters | None = None,
        max_response_length: int = 1000,
        name: str | None = None,
        output_uri: str | None = None,
        role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        backend_options: BackendOptions | None = None,
        workdir: str | Path | None = None,
    ) -> DistillationResult:
        """generate → filter → train → wait → evaluate, each finished stage kept in the work directory.

        With ``method="fine_tune"`` (the default for prompts) the teacher answers the prompts (``via``
        real time or a batch job), the gate filters the answers, and the student is fine-tuned on them. With
        ``method="distill"`` (the default for an ``InvocationLogSource``) Bedrock's managed distillation job
        invokes the teacher itself, from the prompts or straight from the logs; an ``InvocationLogSource``
        with ``method="fine_tune"`` reads the logs' prompts (or, with ``use_prompt_response``, the logged
        answers) and goes through the local generation and gate.

        When the job completes and ``test`` is given, the Evaluator compares the student's base model
        (the baseline), the student and the teacher on it: quality metrics with confidence intervals, and
        tokens, latency and cost per 1,000 requests side by side (:meth:`DistillationResult.side_by_side`).
        A student that must be deployed to answer (Bedrock custom models) is evaluated only with
        ``deploy=True`` (the deployment is deleted afterwards).

        Rerunning the same call reuses every finished stage: answers already paid for are not requested
        again, a submitted job is re-attached rather than submitted twice, and a finished evaluation is read
        back.

        Args:
            prompts: a Dataset, records, strings, a JSONL path, or an ``InvocationLogSource``.
            test: the held-out test set (gate leakage check and evaluation).
            via: how the teacher is asked (``"realtime"`` or ``"batch"``).
            method: ``"fine_tune"`` or ``"distill"`` (see above).
            evaluate: run the three-way evaluation when ``test`` is given.
            deploy: deploy a student that needs a deployment for the evaluation, then delete it.
            wait: wait for the job (``False`` returns right after submission).
            timeout: seconds to wait for the job.
            confirm, max_cost: the teacher-generation cost guard (see :meth:`generate`).
            hyperparameters, max_response_length, name, output_uri, role_arn, tags, backend_options: for
                :meth:`train`.
            workdir: overrides the Distiller's work directory.

        Returns:
            A :class:`DistillationResult`.

        Raises:
            FinetuneError: whatever :meth:`generate`, :meth:`filter`, :meth:`train` and ``Job.wait`` raise. A
                failed stage leaves the earlier ones finished, so fixing the cause and rerunning continues there.
        """
        from finetune_sdk.data.logs import read_invocation_logs
        from finetune_sdk.jobs import Job

        student = self._student(None)
        be = self.backend
        logs = prompts if isinstance(prompts, InvocationLogSource) else None
        chosen: Method = method or ("distill" if logs is not None else "fine_tune")
        test_records = list(test) if test is not None else None
        test_fp = _fingerprint_records(test_records) if test_records else None
        records: list[Record] = []
        if logs is not None:
            source_key = stage_key("logs", logs.model_dump(mode="json"))
        else:
            records = load_prompts(prompts)  # type: ignore[arg-type]
            source_key = _fingerprint_records(records)
        teacher_key = self._teacher_key() if chosen == "fine_tune" else self._teacher_id()
        run_key = stage_key(source_key, teacher_key, student, chosen, be.name)
        root = Path(workdir) if workdir is not None else (self.workdir or _default_workdir(run_key))
        store = StageStore(root)
        reused: list[str] = []
        notes: list[str] = []
        generation: GenerationResult | None = None
        gate_report: GateReport | None = None
        kept: list[Record] = []
        train_input: Dataset | Sequence[Record] | InvocationLogSource

        if chosen == "fine_tune":
            if logs is not None:
                key = stage_key("prompts", source_key)
                if store.finished("prompts", key):
                    records = store.read_records("prompts.jsonl")
                    reused.append("prompts")
                else:
                    records, log_report = read_invocation_logs(
                        logs.s3_uri, session=_backend_session(be), metadata_filter=logs.filter,
                        use_responses=logs.use_prompt_response,
                    )
                    if not records:
                        raise ConfigurationError(f"no usable prompts in the invocation logs: {log_report}")
                    store.write_records("prompts.jsonl", records)
                    store.write_json("log_report.json", log_report.model_dump_json(indent=2))
                    store.finish("prompts", key, records=len(records))
            if logs is not None and logs.use_prompt_response:
                answered: list[Record] = records
                gen_key = stage_key("logged-answers", source_key)
                notes.append("answers come from the invocation logs (use_prompt_response=True); "
                             "the teacher was not invoked")
            else:
                gen_key = stage_key("generate", source_key, teacher_key, self.template.fingerprint,
                                    self.config.model_dump(mode="json"))
                if store.finished("generate", gen_key):
                    generation = GenerationResult.model_validate_json(store.read_text("generation.json"))
                    reused.append("generate")
                else:
                    generation = self.generate(records, via=via, checkpoint=store.path("generate.ckpt.jsonl"),
                                               confirm=confirm, max_cost=max_cost)
                    store.write_json("generation.json", generation.model_dump_json(indent=2))
                    store.finish("generate", gen_key, answered=len(generation.records),
                                 failed=len(generation.failures))
                answered = list(generation.records)
                if generation.failures:
                    notes.append(f"{len(generation.failures)} prompts got no teacher answer; "
                                 "rerun to retry them")
            filter_key = stage_key("filter", gen_key, self.gate.fingerprint, test_fp)
            if store.finished("filter", filter_key):
                kept = store.read_records("filtered.jsonl")
                gate_report = GateReport.model_validate_json(store.read_text("gate_report.json"))
                reused.append("filter")
            else:
                kept_conv, gate_report = self.gate.apply(
                    answered, test=test_records, concurrency=self.concurrency, max_rps=self.max_rps,
                    retry=self.retry, checkpoint=store.path("judge.ckpt.jsonl"), clock=self.clock,
                    progress=self.progress,
                )
                kept = list(kept_conv)
                store.write_records("filtered.jsonl", kept)
                store.write_json("gate_report.json", gate_report.model_dump_json(indent=2))
                store.finish("filter", filter_key, kept=len(kept))
            train_input = kept
            upstream = filter_key
        else:
            train_input = logs if logs is not None else records
            upstream = source_key
            notes.append("Bedrock managed distillation: the service invokes the teacher, so the local "
                         "generation and quality gate do not run")

        hp = (hyperparameters.model_dump() if isinstance(hyperparameters, BaseModel)
              else dict(hyperparameters or {}))
        train_key = stage_key("train", upstream, student, chosen, be.name, hp, max_response_length, name,
                              output_uri, teacher_key if chosen == "distill" else None)
        marker = store.finished("train", train_key)
        if marker is not None:
            job = Job.attach(str(marker["job_id"]), backend=be)
            reused.append("train")
        else:
            job = self.train(
                train_input, method=chosen, hyperparameters=hyperparameters,
                max_response_length=max_response_length, name=name, output_uri=output_uri, role_arn=role_arn,
                tags=tags, backend_options=backend_options,
            )
            store.finish("train", train_key, job_id=job.id, job_name=job.name, backend=be.name)

        result = DistillationResult(workdir=root, generation=generation, gate=gate_report, job=job,
                                    _data=tuple(kept))
        if not wait:
            notes.append("not waiting for the job: rerun to wait for it and evaluate")
            result.reused, result.notes = tuple(reused), tuple(notes)
            return result
        job.wait(timeout=timeout, progress=self.progress)
        student_model = job.model
        result.student = student_model

        if test_records and evaluate:
            from finetune_sdk.evaluation.report import EvaluationReport

            evaluator = self._evaluator()
            eval_key = stage_key("evaluate", train_key, job.id, test_fp,
                                 [m.info().model_dump(mode="json") for m in evaluator.metrics],
                                 evaluator.template.fingerprint, evaluator.config.model_dump(mode="json"),
                                 deploy)
            if store.finished("evaluate", eval_key):
                result.evaluation = EvaluationReport.from_json(store.read_text("evaluation.json"))
                reused.append("evaluate")
            else:
                result.evaluation = self._evaluate(evaluator, student_model, student, test_records,
                                                   checkpoint=store.path("evaluate.ckpt.jsonl"),
                                                   deploy=deploy, notes=notes)
                store.write_json("evaluation.json", result.evaluation.to_json())
                store.finish("evaluate", eval_key)
        elif evaluate:
            notes.append("no test set: pass test= to compare teacher, student and student base")
        result.reused, result.notes = tuple(reused), tuple(notes)
        (root / "summary.md").write_text(result.to_markdown() + "\n", encoding="utf-8")
        return result

    def _evaluator(self) -> Evaluator:
        if self.evaluator is not None:
            return self.evaluator
        from finetune_sdk.evaluation.evaluator import Evaluator

        self.evaluator = Evaluator(
            ["exact_match", "token_f1", "output_tokens", "latency_s", "cost_usd"],
            concurrency=self.concurrency, max_rps=self.max_rps, progress=self.progress, clock=self.clock,
            retry=self.retry,
        )
        return self.evaluator

    def _evaluate(
        self,
        evaluator: Evaluator,
        student_model: Model,
        student_id: str,
        test: Sequence[Record],
        *,
        checkpoint: Path,
        deploy: bool,
        notes: list[str],
    ) -> EvaluationReport:
        from finetune_sdk.models import Model

        base = _labelled(BASE_LABEL, Model.foundation(student_id, backend=self.backend))
        teacher = _labelled(TEACHER_LABEL, self._teacher())
        own_checkpoint = evaluator.checkpoint is None
        if own_checkpoint:
            # A borrowed Evaluator without a checkpoint gets the work directory's for this call only, so an
            # interrupted evaluation resumes too.
            evaluator.checkpoint = checkpoint
        try:
            if not student_model.record.needs_deployment:
                student = _labelled(STUDENT_LABEL, student_model)
                return evaluator.compare([base, student, teacher], test, baseline=0)
            if not deploy:
                notes.append(f"the student {student_model.name} must be deployed to answer, so it was not "
                             "evaluated; rerun with deploy=True (billed while it runs; deleted afterwards)")
                return evaluator.compare([base, teacher], test, baseline=0)
            with student_model.deploy() as deployment:
                pricing = student_model.pricing_model_id
                student = _labelled(STUDENT_LABEL, deployment, pricing_model_id=pricing)
                return evaluator.compare([base, student, teacher], test, baseline=0)
        finally:
            if own_checkpoint:
                evaluator.checkpoint = None

    def __repr__(self) -> str:
        teacher = self.teacher if isinstance(self.teacher, (str, type(None))) else type(self.teacher).__name__
        backend = self._backend.name if self._backend is not None else self._backend_arg
        return f"Distiller(teacher={teacher!r}, student={self.student!r}, backend={backend!r})"
