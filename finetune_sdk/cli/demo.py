"""``finetune demo``: the whole customisation lifecycle, offline, on this machine, in a few minutes.

It runs the same calls a real project makes, on the ``local`` backend:

1. data: a synthetic task with one right answer per prompt (rewrite an ISO date ``1987-04-12`` as
   ``12/04/1987``: a format conversion, the kind of job fine-tuning is for), as a ``Dataset`` →
   ``validate()`` → ``split()`` into train / validation / test;
2. a base model: a small Llama built on the spot with random weights (no weights ship offline, so the
   base model knows nothing and scores 0), and a smaller one to distil into;
3. ``Job.fine_tune(...).wait()`` with a progress bar, then the loss curve as a PNG;
4. ``Evaluator.compare([base, tuned], test)``: exact-match accuracy and output tokens;
5. distillation: the tuned model answers the training prompts (``Distiller.generate``), the quality gate
   filters the answers, the smaller student is fine-tuned on them and evaluated too;
6. the one-line change that runs the same script on Amazon Bedrock.

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
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

__all__ = ["DemoSettings", "make_task", "register", "run"]

BEDROCK_LINE = (
    'Job.fine_tune(model="amazon.nova-micro-v1:0:128k", backend="bedrock", train=splits.train, '
    'validation=splits.validation, hyperparameters={"epochCount": 2}, role_arn=ROLE_ARN, '
    'output_uri="s3://your-bucket/finetune/")'
)

EXAMPLES = """examples:
  finetune demo                        the full demo (about 2-3 minutes on 2 CPU cores)
  finetune demo --quick                a shorter run (smaller data, fewer steps)
  finetune demo --workdir ./demo --json
"""


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and hyperparameters of one demo run (``--quick`` uses smaller ones)."""

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

    def hyperparameters(self, steps: int, seed: int) -> dict[str, int | float | bool | str]:
        """Full fine-tuning: a randomly initialised model has nothing for a LoRA adapter to adapt."""
        return {"method": "full", "epochCount": 100, "maxSteps": steps, "batchSize": self.batch_size,
                "learningRate": self.learning_rate, "learningRateWarmupSteps": 20, "evalEverySteps": 50,
                "logEverySteps": 10, "saveEverySteps": 100, "maxSequenceLength": 64, "seed": seed}


QUICK = DemoSettings(train=1200, validation=60, test=60, distill_prompts=600, teacher_steps=200, student_steps=250)


def make_task(n: int, *, seed: int) -> list[Any]:
    """``n`` distinct prompts "Rewrite 1987-04-12 as DD/MM/YYYY" with their answer ("12/04/1987").

    Dates are drawn uniformly from 1950-01-01 to 2049-12-31; the answer is also in ``metadata["answer"]``.

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
                                               metadata={"answer": answer}))
    return records


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` command."""
    p = subparsers.add_parser(
        "demo",
        help="run the offline end-to-end demo on this machine",
        description="Fine-tune, evaluate and distil a small model on a synthetic task, on the local backend, "
        "with no cloud account and no downloads.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", type=Path, default=None,
                   help="where models, runs and reports go (default: $FINETUNE_SDK_HOME/demo or "
                   "~/.cache/finetune_sdk/demo)")
    p.add_argument("--quick", action="store_true", help="smaller data and fewer steps")
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
    lines = ["| model | exact match | mean output tokens | parameters |", "|---|---:|---:|---:|"]
    for r in rows:
        tokens = f"{r['mean_output_tokens']:.1f}" if r["mean_output_tokens"] is not None else "n/a"
        lines.append(f"| {r['model']} | {100 * r['exact_match']:.1f}% | {tokens} | {r['parameters']:,} |")
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
    from finetune_sdk.backends.base import InferenceConfig
    from finetune_sdk.backends.local import LocalBackend
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.distillation import Distiller
    from finetune_sdk.evaluation import Evaluator
    from finetune_sdk.jobs import Job
    from finetune_sdk.models import Model
    from finetune_sdk.training._deps import require_local_deps
    from finetune_sdk.training.tiny import build_tiny_model

    settings = QUICK if args.quick else DemoSettings()
    seed = int(args.seed)
    workdir = (args.workdir or _default_workdir()).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    show = progress_enabled() and not args.json
    summary.update(workdir=str(workdir), quick=bool(args.quick), seed=seed)
    require_local_deps("run the demo")
    _quiet_libraries()

    out("finetune_sdk demo: fine-tune, evaluate and distil a model on this machine (backend 'local').")
    out(f"Work directory: {workdir}")

    out.step("1. Data: rewrite ISO dates as DD/MM/YYYY (a format conversion with one right answer per prompt)")
    total = settings.train + settings.validation + settings.test
    dataset = Dataset.from_records(make_task(total, seed=seed))
    report = dataset.validate()
    report.raise_for_errors()
    splits = dataset.split(counts={"train": settings.train, "validation": settings.validation,
                                   "test": settings.test}, seed=seed)
    example = splits.train[0]
    out(f"   {len(dataset)} records, validation ok={report.ok}; split train/validation/test = "
        f"{len(splits.train)}/{len(splits.validation)}/{len(splits.test)}")
    out(f"   e.g. {example.prompt_text!r} -> {example.reference!r}")  # type: ignore[union-attr]

    out.step("2. Base models: small Llama models with RANDOM weights, built offline")
    out("   No weights ship with the SDK and nothing is downloaded, so the base model starts from random "
        "initialisation:\n   it knows nothing and should score 0 before fine-tuning.")
    models_dir = workdir / "models"
    hidden, layers, heads = settings.teacher_model
    base_dir = build_tiny_model(models_dir / f"base-s{seed}", hidden_size=hidden, layers=layers, heads=heads,
                                seed=seed)
    hidden, layers, heads = settings.student_model
    student_dir = build_tiny_model(models_dir / f"student-base-s{seed}", hidden_size=hidden, layers=layers,
                                   heads=heads, seed=seed + 1)
    backend = LocalBackend(root=workdir / "runs")
    base = Model.foundation(str(base_dir), backend=backend)
    params = {"base": _count(base_dir), "student": _count(student_dir)}
    out(f"   base: {params['base']:,} parameters ({base_dir}); student: {params['student']:,} parameters")

    out.step(f"3. Fine-tune the base model ({settings.teacher_steps} steps, full fine-tuning, local worker process)")
    job = Job.fine_tune(model=str(base_dir), train=splits.train, validation=splits.validation, backend=backend,
                        hyperparameters=settings.hyperparameters(settings.teacher_steps, seed),
                        name=f"demo-dates-s{seed}{'-quick' if args.quick else ''}")
    out(f"   job {job.id} ({job.status.value}); follow it from anywhere with "
        f"Job.attach({job.id!r}, backend='local')")
    job.wait(progress=show)
    tuned = job.model
    points = job.metric_points()
    validation = [p.validation_loss for p in points if p.validation_loss is not None]
    curve = workdir / "loss_curve.png"
    job.plot_metrics(curve)
    out(f"   done: validation loss {validation[0]:.3f} -> {validation[-1]:.3f}; loss curve: {curve}")
    summary["fine_tune"] = {"job_id": job.id, "steps": job.record.raw.get("step"),
                            "validation_loss": [validation[0], validation[-1]], "loss_curve": str(curve),
                            "tokens_per_second": job.record.raw.get("tokens_per_second")}

    out.step(f"4. Evaluate base vs tuned on {len(splits.test)} held-out test prompts")
    config = InferenceConfig(max_tokens=12, temperature=0.0)
    evaluator = Evaluator(["exact_match", "output_tokens"], config=config, progress=show,
                          checkpoint=workdir / f"eval-s{seed}.ckpt.jsonl")
    first = evaluator.compare([base, tuned], splits.test)
    (workdir / "evaluation_base_vs_tuned.md").write_text(first.to_markdown() + "\n", encoding="utf-8")
    rows = _rows(first, {base.name: ("base (random init)", params["base"]),
                         tuned.name: ("tuned", params["base"])})
    out(_table(rows))
    base_acc, tuned_acc = rows[0]["exact_match"], rows[1]["exact_match"]

    out.step(f"5. Distil the tuned model into a smaller student ({params['student']:,} parameters)")
    distiller = Distiller(teacher=tuned, student=str(student_dir), backend=backend, config=config, progress=show,
                          concurrency=16)
    prompts = list(splits.train)[: settings.distill_prompts]
    answers = distiller.generate(prompts, checkpoint=workdir / f"distill-s{seed}.ckpt.jsonl")
    kept, gate = distiller.filter(answers, test=splits.test)
    out(f"   teacher answered {len(answers.records)} training prompts; the quality gate kept {len(kept)}")
    student_job = distiller.train(kept, hyperparameters=settings.hyperparameters(settings.student_steps, seed),
                                  name=f"demo-student-s{seed}{'-quick' if args.quick else ''}")
    student_job.wait(progress=show)
    student = student_job.model
    final = evaluator.compare([base, tuned, student], splits.test)
    (workdir / "evaluation.md").write_text(final.to_markdown() + "\n", encoding="utf-8")
    rows = _rows(final, {base.name: ("base (random init)", params["base"]),
                         tuned.name: ("tuned", params["base"]),
                         student.name: ("distilled student", params["student"])})

    out.step("Results on the held-out test set")
    out(_table(rows))
    summary["results"] = rows
    summary["distillation"] = {"answers": len(answers.records), "kept": len(kept), "job_id": student_job.id,
                               "gate": gate.rejection_counts() if hasattr(gate, "rejection_counts") else None}
    out(f"\nReports: {workdir / 'evaluation.md'}; runs: {backend.root}")
    out("\nThe same script on Amazon Bedrock: change the model and backend of the fine-tuning call, e.g.\n"
        f"    {BEDROCK_LINE}")
    better = tuned_acc > base_acc
    summary["ok"] = better
    if not better:
        out(f"\nFAILED: the tuned model ({100 * tuned_acc:.1f}%) is not better than the base ({100 * base_acc:.1f}%).")
        return 1
    out(f"\nOK: fine-tuning took exact match from {100 * base_acc:.1f}% to {100 * tuned_acc:.1f}% "
        f"in {time.perf_counter() - out.started:.0f}s.")
    return 0


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
    for key in report.model_keys:
        label, params = labels.get(key, (key, 0))
        rows.append({"model": label, "key": key, "exact_match": report.mean("exact_match", key) or 0.0,
                     "mean_output_tokens": report.mean("output_tokens", key), "parameters": params})
    return rows

