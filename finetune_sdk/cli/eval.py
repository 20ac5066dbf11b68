"""``finetune eval``: evaluate one model, or compare several, on a JSONL test set.

The first ``--model`` is the baseline. The markdown report goes to stdout (``--json`` prints the JSON
report instead); ``-o report.json`` also writes the JSON report. Exit codes: 0 every example answered,
1 some examples ended in an error (they are in the report) or the run failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from finetune_sdk.cli._cloud import add_cloud_options
from finetune_sdk.cli._resources import backend_from

__all__ = ["register", "run"]

EXAMPLES = """examples:
  finetune eval --backend bedrock --data test.jsonl --metric token_f1 --metric tatqa_em \\
      --model anthropic.claude-3-haiku-20240307-v1:0 \\
      --model arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abc \\
      --checkpoint eval.ckpt.jsonl -o report.json
  finetune eval --data aqua.jsonl --metric accuracy --model my-local-model --json
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``eval`` command."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate and compare models on a test set",
        description="Run a JSONL test set through one or more models and score them; the first --model is "
        "the baseline of the comparison.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="ID",
        help="model id, ARN or deployment to evaluate (repeat to compare; the first is the baseline)",
    )
    p.add_argument("--backend", default=None, help="backend name (default: $FINETUNE_SDK_BACKEND or local)")
    add_cloud_options(p, default_backend="local")
    p.add_argument(
        "--data", required=True, type=Path, metavar="PATH", help="test set (JSONL, any supported format)"
    )
    p.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="metric name (repeatable; default exact_match). Built-in: exact_match, accuracy, token_f1, "
        "tatqa_em, tatqa_f1, rouge_l, output_tokens, latency_s, cost_usd, judge (needs --judge)",
    )
    p.add_argument("--judge", metavar="ID", help="judge model id for the 'judge' metric")
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="JSONL checkpoint: answers are appended as they arrive and a rerun resumes from it",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="requests in flight (default: sized from the measured latency and the learned rate)",
    )
    p.add_argument("--max-rps", type=float, metavar="R", help="ceiling on requests per second per model")
    p.add_argument("--max-tokens", type=int, default=512, metavar="N", help="max output tokens (default 512)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N records")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and permutation tests")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of markdown")
    p.add_argument("-o", "--output", type=Path, metavar="report.json", help="also write the JSON report here")
    p.set_defaults(func=run)


def _model(model_id: str, backend: Any) -> Any:
    from finetune_sdk import catalog

    # imported by name: finetune_sdk.models is the lead's module (Model / Deployment handles)
    model_cls = importlib.import_module("finetune_sdk.models").Model
    if catalog.resolve(model_id) is not None and hasattr(model_cls, "foundation"):
        return model_cls.foundation(model_id, backend=backend)
    return model_cls.get(model_id, backend=backend)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation described by ``args``; returns the exit code."""
    from finetune_sdk.backends.base import InferenceConfig
    from finetune_sdk.evaluation import Evaluator
    from finetune_sdk.evaluation.metrics import BUILTIN_METRICS

    names: list[str] = args.metric or ["exact_match"]
    unknown = [n for n in names if n not in BUILTIN_METRICS and n != "judge"]
    if unknown:
        print(
            f"error: unknown metric {', '.join(unknown)}; "
            f"choose from {', '.join([*BUILTIN_METRICS, 'judge'])}",
            file=sys.stderr,
        )
        return 2
    if "judge" in names and not args.judge:
        print("error: the 'judge' metric needs --judge MODEL_ID", file=sys.stderr)
        return 2
    if (args.concurrency is not None and args.concurrency < 1) or (args.limit is not None and args.limit < 1):
        print("error: --concurrency and --limit must be >= 1", file=sys.stderr)
        return 2
    if not args.data.exists():
        print(f"error: --data {args.data} does not exist", file=sys.stderr)
        return 2

    backend = backend_from(args)
    models = [_model(mid, backend) for mid in args.model]
    judge = _model(args.judge, backend) if args.judge else None
    dataset_cls = importlib.import_module("finetune_sdk.data.dataset").Dataset
    records = list(dataset_cls.from_jsonl(args.data))
    if args.limit is not None:
        records = records[: args.limit]

    evaluator = Evaluator(
        names,
        concurrency=args.concurrency,
        max_rps=args.max_rps,
        checkpoint=args.checkpoint,
        judge=judge,
        config=InferenceConfig(max_tokens=args.max_tokens, temperature=0.0),
        seed=args.seed,
    )
    report = (
        evaluator.evaluate(models[0], records) if len(models) == 1 else evaluator.compare(models, records)
    )
    if args.output is not None:
        report.to_json(args.output)
    print(report.to_json() if args.json else report.to_markdown())
    if report.errors:
        retry = (
            f"rerun with the same --checkpoint {args.checkpoint} to retry only them"
            if args.checkpoint is not None
            else "rerun the command to retry them"
        )
        print(f"{report.errors} example(s) ended in an error (listed in the report); {retry}", file=sys.stderr)
        return 1
    return 0
