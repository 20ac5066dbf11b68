"""``finetune distill``: teacher → student from a prompt file or from Bedrock invocation logs.

``--dry-run`` prints the plan and the teacher's estimated cost and sends nothing. Otherwise the run
generates the teacher's answers, filters them, trains the student, waits, and (with ``--test``) compares
teacher, student and student base; every finished stage is kept in ``--workdir``, so rerunning the same
command resumes. Exit codes: 0 success, 1 the run failed (the message says why; rerun to resume), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from finetune_sdk.cli._cloud import add_cloud_options
from finetune_sdk.cli._resources import backend_from

__all__ = ["parse_filters", "register", "run"]

EXAMPLES = """examples:
  finetune distill --teacher us.amazon.nova-pro-v1:0 --student amazon.nova-micro-v1:0:128k \\
      --backend bedrock --prompts prompts.jsonl --test test.jsonl --gold-field answer --via batch --dry-run
  finetune distill --teacher us.amazon.nova-pro-v1:0 --student amazon.nova-micro-v1:0:128k \\
      --backend bedrock --logs s3://my-logs/bedrock --filter project=faq --filter stage=prod --workdir runs
  finetune distill --teacher ./teacher-model --student ./student-base --backend local \\
      --prompts prompts.jsonl --test test.jsonl --max-response-length 256 --json
"""


def parse_filters(pairs: list[str], *, any_of: bool = False) -> Any:
    """``["k=v", "k2!=v2"]`` → a :class:`~finetune_sdk.backends.base.MetadataFilter` (``None`` when empty).

    One pair gives ``equals`` / ``notEquals``; several give ``andAll`` (``orAll`` with ``any_of``).

    Raises:
        argparse.ArgumentTypeError: a pair is not ``key=value`` / ``key!=value``, or more than 16 pairs.

    Examples:
        >>> parse_filters(["project=faq", "stage!=dev"]).to_request()
        {'andAll': [{'equals': {'project': 'faq'}}, {'notEquals': {'stage': 'dev'}}]}
    """
    from finetune_sdk.backends.base import MetadataFilter

    items: list[MetadataFilter] = []
    for pair in pairs:
        negate = "!=" in pair
        key, sep, value = pair.partition("!=" if negate else "=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"--filter takes KEY=VALUE or KEY!=VALUE, got {pair!r}")
        one = {key.strip(): value.strip()}
        items.append(MetadataFilter(not_equals=one) if negate else MetadataFilter(equals=one))
    if not items:
        return None
    if len(items) > 16:
        raise argparse.ArgumentTypeError(f"Bedrock takes at most 16 metadata filters, got {len(items)}")
    if len(items) == 1:
        return items[0]
    return MetadataFilter(or_all=tuple(items)) if any_of else MetadataFilter(and_all=tuple(items))


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``distill`` command."""
    p = subparsers.add_parser(
        "distill",
        help="teacher → student from prompts or Bedrock invocation logs",
        description="Generate teacher answers, filter them, train the student and compare teacher, student "
        "and student base. Finished stages are kept in --workdir: rerun the same command to resume.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher", required=True, metavar="ID", help="teacher model id (or a local folder)")
    p.add_argument("--student", required=True, metavar="ID", help="student base model id (or local folder)")
    p.add_argument("--backend", default=None, help="backend name (default: $FINETUNE_SDK_BACKEND or local)")
    add_cloud_options(p, default_backend="local")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompts", metavar="PATH", help="prompts as JSONL (any known format, or s3://)")
    source.add_argument("--logs", metavar="S3_URI", help="Bedrock invocation logs: s3://bucket/prefix")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="request-metadata filter on --logs (repeatable: all must match; KEY!=VALUE negates)")
    p.add_argument("--filter-any", action="store_true", help="with several --filter, any one may match")
    p.add_argument("--use-responses", action="store_true",
                   help="with --logs: train on the logged answers instead of asking the teacher again")
    p.add_argument("--method", choices=("fine_tune", "distill"), default=None,
                   help="fine_tune: train on the teacher's answers (any backend); distill: Bedrock managed "
                   "distillation (default: distill for --logs, fine_tune for --prompts)")
    p.add_argument("--test", metavar="PATH", help="held-out test set (JSONL): leakage check and evaluation")
    p.add_argument("--gold-field", metavar="FIELD",
                   help="metadata field with the gold answer; answers that disagree are dropped")
    p.add_argument("--gold-metric", default="accuracy", metavar="NAME",
                   help="how answers are compared with the gold field (default accuracy: option letters)")
    p.add_argument("--max-response-length", type=_positive_int, default=1000, metavar="TOKENS",
                   help="the teacher's max output tokens (answers cut at it are dropped); default 1000")
    p.add_argument("--min-response-chars", type=int, default=None, metavar="N", help="drop shorter answers")
    p.add_argument("--max-response-chars", type=_positive_int, default=None, metavar="N",
                   help="drop longer answers")
    p.add_argument("--redact-pii", action="store_true", help="redact e-mails, phones, card numbers, AWS keys")
    p.add_argument("--no-dedupe", action="store_true", help="keep duplicate prompts")
    p.add_argument("--via", choices=("realtime", "batch"), default="realtime",
                   help="ask the teacher request by request, or as one batch inference job")
    p.add_argument("--confirm", action="store_true", help="submit a batch job above the cost threshold")
    p.add_argument("--max-cost", type=float, default=None, metavar="USD",
                   help="refuse teacher generation (and training) estimated above this")
    p.add_argument("--hp", action="append", default=[], type=_key_value, metavar="NAME=VALUE",
                   help="training hyperparameter (repeatable), e.g. --hp epochCount=2")
    p.add_argument("--role-arn", default=None, help="service role for the training job (bedrock)")
    p.add_argument("--output-uri", default=None, help="where the job writes its output")
    p.add_argument("--concurrency", type=_positive_int, default=8, metavar="N",
                   help="teacher requests in flight")
    p.add_argument("--max-rps", type=float, default=None, metavar="R", help="ceiling on teacher requests/s")
    p.add_argument("--deploy", action="store_true",
                   help="deploy the student for the evaluation when it needs a deployment (deleted after)")
    p.add_argument("--no-wait", action="store_true", help="return once the job is submitted")
    p.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                   help="where stages are kept (default: under $FINETUNE_SDK_HOME or ~/.cache/finetune_sdk)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--dry-run", action="store_true", help="print the plan and cost estimate; send nothing")
    p.set_defaults(func=run)


def _hyperparameter(value: str) -> int | float | bool | str:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def run(args: argparse.Namespace) -> int:
    """Run (or plan) the distillation described by ``args``; returns the exit code."""
    from finetune_sdk.backends.base import InferenceConfig, InvocationLogSource
    from finetune_sdk.distillation import Distiller, QualityGate
    from finetune_sdk.evaluation.metrics import BUILTIN_METRICS

    if args.filter and not args.logs:
        print("error: --filter applies to --logs only", file=sys.stderr)
        return 2
    if args.use_responses and not args.logs:
        print("error: --use-responses applies to --logs only", file=sys.stderr)
        return 2
    if args.gold_metric not in BUILTIN_METRICS:
        print(f"error: unknown --gold-metric {args.gold_metric!r}; choose from {', '.join(BUILTIN_METRICS)}",
              file=sys.stderr)
        return 2
    if args.min_response_chars is not None and args.min_response_chars < 0:
        print("error: --min-response-chars must be >= 0", file=sys.stderr)
        return 2
    try:
        metadata_filter = parse_filters(args.filter, any_of=args.filter_any)
    except argparse.ArgumentTypeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for label, path in (("--prompts", args.prompts), ("--test", args.test)):
        if path and not str(path).startswith("s3://") and not Path(path).exists():
            print(f"error: {label} {path} does not exist", file=sys.stderr)
            return 2

    backend = backend_from(args)
    gate = QualityGate(
        redact_pii=args.redact_pii,
        min_response_chars=args.min_response_chars,
        max_response_chars=args.max_response_chars,
        gold_field=args.gold_field,
        gold_metric=args.gold_metric,
        dedupe=not args.no_dedupe,
    )
    distiller = Distiller(
        teacher=args.teacher, student=args.student, backend=backend, gate=gate, workdir=args.workdir,
        config=InferenceConfig(max_tokens=args.max_response_length, temperature=0.0),
        concurrency=args.concurrency, max_rps=args.max_rps,
    )
    prompts: Any
    if args.logs:
        prompts = InvocationLogSource(s3_uri=args.logs, use_prompt_response=args.use_responses,
                                      filter=metadata_filter)
    else:
        prompts = args.prompts
    test = None
    if args.test:
        from finetune_sdk.data.dataset import Dataset

        test = list(Dataset.from_jsonl(args.test))

    if args.dry_run:
        plan = distiller.plan(prompts, test=test, via=args.via, method=args.method)
        print(plan.model_dump_json(indent=2) if args.json else plan.to_markdown())
        return 0

    result = distiller.run(
        prompts, test=test, via=args.via, method=args.method, deploy=args.deploy, wait=not args.no_wait,
        confirm=args.confirm, max_cost=args.max_cost,
        hyperparameters={k: _hyperparameter(v) for k, v in args.hp} or None,
        max_response_length=args.max_response_length, role_arn=args.role_arn, output_uri=args.output_uri,
    )
    if args.json:
        job = result.job
        payload = {
            "workdir": str(result.workdir),
            "reused": list(result.reused),
            "generation": None if result.generation is None else json.loads(
                result.generation.model_dump_json(exclude={"records"})),
            "gate": None if result.gate is None else {
                "input_records": result.gate.input_records,
                "output_records": result.gate.output_records,
                "rejected_by": result.gate.rejection_counts(),
            },
            "job": None if job is None else {"id": job.id, "name": job.name, "status": job.status.value},
            "student": None if result.student is None else result.student.id,
            "evaluation": result.side_by_side(),
            "notes": list(result.notes),
        }
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(result.to_markdown())
    return 0
