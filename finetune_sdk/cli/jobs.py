"""``finetune jobs``: create, list, inspect, wait for, stop and chart training jobs.

Commands use the :class:`finetune_sdk.jobs.Job` handle, so they behave the same on every backend
(``--backend``, default ``$FINETUNE_SDK_BACKEND``, else ``bedrock``). Exit codes: 0 success, 1 the job failed
or the service refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from finetune_sdk.cli._cloud import CLOUD_BACKENDS, backend_name
from finetune_sdk.cli._resources import (
    add_backend_options,
    backend_from,
    parse_pairs,
    print_json,
    print_table,
    usage_error,
)

__all__ = ["register"]

EXAMPLES = """examples:
  finetune jobs create --type fine-tuning --model amazon.titan-text-lite-v1:0:4k --train train.jsonl \\
      --validation val.jsonl --hp epochCount=2 --hp learningRate=0.00001 \\
      --output-uri s3://my-bucket/finetune --role-arn arn:aws:iam::123456789012:role/BedrockJobs --max-cost 50
  finetune jobs create --type distillation --model amazon.nova-micro-v1:0:128k --teacher
  us.amazon.nova-pro-v1:0 \\
      --train s3://my-bucket/prompts.jsonl --output-uri s3://my-bucket/out --role-arn arn:aws:iam::...:role/x
  finetune jobs create --type import --source s3://my-bucket/llama-merged/ --role-arn arn:aws:iam::...:role/x
  finetune jobs list --status running --json
  finetune jobs wait arn:aws:bedrock:us-east-1:123456789012:model-customization-job/... --timeout 7200
  finetune jobs metrics ft-titan-demo
"""

_TYPES = {
    "fine-tuning": "fine_tuning",
    "cpt": "continued_pre_training",
    "continued-pre-training": "continued_pre_training",
    "distillation": "distillation",
    "import": "import",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``jobs`` command group."""
    jobs = subparsers.add_parser(
        "jobs",
        help="create, list, watch and stop training jobs",
        description="Training jobs on any backend: fine-tuning, continued pre-training, distillation, import",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = jobs.add_subparsers(dest="jobs_command", metavar="COMMAND")
    jobs.set_defaults(func=lambda args: _help(jobs))

    create = sub.add_parser(
        "create", help="submit a job", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    create.add_argument("--type", required=True, choices=sorted(_TYPES), help="kind of job")
    create.add_argument("--model", help="base model id (the student for distillation)")
    create.add_argument(
        "--train", metavar="PATH|URI", help="training data: a local JSONL file or an s3:// URI"
    )
    create.add_argument("--validation", metavar="PATH|URI", help="validation data (local JSONL or s3:// URI)")
    create.add_argument("--hp", action="append", metavar="NAME=VALUE", help="hyperparameter (repeatable)")
    create.add_argument("--teacher", metavar="ID", help="distillation teacher model id or inference profile")
    create.add_argument(
        "--max-response-length",
        type=int,
        default=1000,
        metavar="N",
        help="distillation: max tokens the teacher writes per prompt (default 1000)",
    )
    create.add_argument("--invocation-logs", metavar="URI", help="distillation from invocation logs in S3")
    create.add_argument(
        "--use-prompt-response",
        action="store_true",
        help="distillation from logs: reuse the logged responses instead of asking the teacher",
    )
    create.add_argument(
        "--log-filter",
        action="append",
        metavar="KEY=VALUE",
        help="distillation from logs: keep records whose request metadata has KEY=VALUE (ANDed)",
    )
    create.add_argument(
        "--source", metavar="URI", help="import: folder with config.json, safetensors, tokenizer"
    )
    create.add_argument("--no-preflight", action="store_true", help="import: skip the local pre-flight check")
    create.add_argument("--name", help="job name (default: derived from the request, so reruns attach)")
    create.add_argument("--output-model-name", help="name of the customised model")
    create.add_argument(
        "--output-uri", metavar="URI", help="where the job writes its output (s3:// on Bedrock)"
    )
    create.add_argument("--role-arn", metavar="ARN", help="service role the job runs under (Bedrock)")
    create.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag (repeatable)")
    create.add_argument("--max-cost", type=float, metavar="USD", help="refuse to submit above this estimate")
    create.add_argument("--no-validate", action="store_true", help="skip local dataset validation")
    create.add_argument("--wait", action="store_true", help="wait for the job to end")
    create.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="with --wait: give up waiting after this"
    )
    add_backend_options(create)
    create.set_defaults(func=_create)

    listing = sub.add_parser("list", help="list jobs, newest first")
    listing.add_argument(
        "--status", choices=["pending", "running", "stopping", "completed", "failed", "stopped"]
    )
    listing.add_argument("--name-contains", metavar="TEXT")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N jobs (default 50)")
    add_backend_options(listing)
    listing.set_defaults(func=_list)

    for name, helptext, func in (
        ("status", "show one job", _status),
        ("wait", "wait until a job ends (exit 1 if it failed)", _wait),
        ("stop", "stop a job (a no-op if it already ended)", _stop),
        ("metrics", "print a job's loss curve", _metrics),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("job_id", metavar="JOB", help="job id, ARN or name")
        add_backend_options(p)
        if name == "wait":
            p.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting after this")
            p.add_argument("--poll-interval", type=float, metavar="SECONDS", help="seconds between polls")
        if name == "metrics":
            p.add_argument("--csv", action="store_true", help="print CSV instead of a table")
        p.set_defaults(func=func)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _job_cls() -> Any:
    return importlib.import_module("finetune_sdk.jobs").Job


def _data(value: str | None) -> Any:
    """A local JSONL path becomes a Dataset (validated and staged by the Job); URIs pass through."""
    if value is None or "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{value} is not a file (pass a local JSONL file or an s3:// URI)")
    dataset_cls = importlib.import_module("finetune_sdk.data.dataset").Dataset
    return dataset_cls.from_jsonl(path)


def _row(record: Any) -> list[Any]:
    created = record.created_at.strftime("%Y-%m-%d %H:%M") if record.created_at else ""
    return [record.name, record.kind.value, record.status.value, created, record.id]


def _show(job: Any, args: argparse.Namespace) -> None:
    record = job.record
    if args.json:
        print_json(record)
        return
    print(f"job      {record.name}")
    print(f"id       {record.id}")
    print(f"kind     {record.kind.value} on {record.backend}")
    print(f"status   {record.status.value} ({record.raw_status})")
    print(f"base     {record.base_model}")
    for label, value in (
        ("stages", " ".join(f"{k}={v}" for k, v in record.stages.items())),
        ("progress", f"{record.progress:.0%}" if record.progress is not None else None),
        ("train loss", record.training_loss),
        ("val loss", record.validation_loss),
        (
            "model",
            record.output_model_id
            or (record.output_model_name if record.status.value == "completed" else None),
        ),
        ("output", record.output_uri),
        ("failure", record.failure_message),
    ):
        if value not in (None, ""):
            print(f"{label:<8} {value}")
    if record.failure_message:
        hint_fn = getattr(job.backend, "failure_hint", None)
        hint = hint_fn(record) if callable(hint_fn) else None
        if hint:
            print(f"hint     {hint}")


def _create(args: argparse.Namespace) -> int:
    kind = _TYPES[args.type]
    try:
        hyperparameters = parse_pairs(args.hp, what="--hp", typed=True)
        tags = parse_pairs(args.tag, what="--tag")
        log_filter = parse_pairs(args.log_filter, what="--log-filter")
    except ValueError as exc:
        return usage_error(str(exc))
    if kind != "import" and not args.model:
        return usage_error(f"--type {args.type} needs --model")
    if kind == "distillation":
        if not args.teacher:
            return usage_error("--type distillation needs --teacher")
        if not args.train and not args.invocation_logs:
            return usage_error("--type distillation needs --train (prompts) or --invocation-logs")
    elif kind == "import":
        if not args.source:
            return usage_error("--type import needs --source (an s3:// folder with the model)")
    elif not args.train:
        return usage_error(f"--type {args.type} needs --train")
    if log_filter and not args.invocation_logs:
        return usage_error("--log-filter needs --invocation-logs")
    try:
        train, validation = _data(args.train), _data(args.validation)
    except FileNotFoundError as exc:
        return usage_error(str(exc))
    backend_label = backend_name(args)
    if backend_label in CLOUD_BACKENDS:
        if not args.role_arn:
            return usage_error(
                f"--type {args.type} on the {backend_label} backend needs --role-arn ARN "
                "(the IAM service role the job runs under)"
            )
        if not args.output_uri and (kind != "import" or backend_label == "sagemaker"):
            return usage_error(
                f"--type {args.type} on the {backend_label} backend needs --output-uri s3://BUCKET/PREFIX "
                "(where the job writes its output)"
            )

    backend = backend_from(args)
    job_cls = _job_cls()
    common: dict[str, Any] = {
        "backend": backend,
        "name": args.name,
        "role_arn": args.role_arn,
        "tags": tags or None,
    }
    if kind == "import":
        job = job_cls.import_model(source=args.source, preflight=not args.no_preflight, **common)
    else:
        common.update(
            output_model_name=args.output_model_name,
            output_uri=args.output_uri,
            max_cost=args.max_cost,
            validate=not args.no_validate,
            hyperparameters=hyperparameters or None,
        )
        if kind == "distillation":
            from finetune_sdk.backends.base import InvocationLogSource, MetadataFilter

            logs = None
            if args.invocation_logs:
                logs = InvocationLogSource(
                    s3_uri=args.invocation_logs,
                    use_prompt_response=args.use_prompt_response,
                    filter=MetadataFilter.all_of(**log_filter) if log_filter else None,
                )
            job = job_cls.distill(
                student=args.model,
                teacher=args.teacher,
                prompts=train,
                invocation_logs=logs,
                max_response_length=args.max_response_length,
                **common,
            )
        else:
            method = job_cls.fine_tune if kind == "fine_tuning" else job_cls.continue_pretraining
            job = method(model=args.model, train=train, validation=validation, **common)
    if not args.json:
        print(f"submitted {job.name} ({job.id})")
    if args.wait:
        job.wait(timeout=args.timeout)
    _show(job, args)
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        return usage_error("--limit must be at least 1")
    from finetune_sdk.backends.base import JobStatus

    status = JobStatus(args.status) if args.status else None
    jobs = list(
        _job_cls().list(
            backend=backend_from(args), status=status, name_contains=args.name_contains, limit=args.limit
        )
    )
    if args.json:
        print_json([j.record for j in jobs])
    elif jobs:
        print_table([_row(j.record) for j in jobs], ["NAME", "KIND", "STATUS", "CREATED", "ID"])
    else:
        print("no jobs")
    return 0


def _status(args: argparse.Namespace) -> int:
    _show(_job_cls().attach(args.job_id, backend=backend_from(args)), args)
    return 0


def _wait(args: argparse.Namespace) -> int:
    job = _job_cls().attach(args.job_id, backend=backend_from(args))
    job.wait(timeout=args.timeout, poll_interval=args.poll_interval)  # JobFailedError → exit 1 with the hint
    _show(job, args)
    return 0


def _stop(args: argparse.Namespace) -> int:
    job = _job_cls().attach(args.job_id, backend=backend_from(args)).stop()
    if args.json:
        print_json(job.record)
    else:
        print(f"{job.name}: {job.status.value}")
    return 0


def _metrics(args: argparse.Namespace) -> int:
    points = _job_cls().attach(args.job_id, backend=backend_from(args)).metric_points()
    columns = ["step", "epoch", "training_loss", "validation_loss", "perplexity"]
    if args.json:
        print_json(points)
    elif args.csv:
        print(",".join(columns))
        for p in points:
            print(",".join("" if getattr(p, c) is None else str(getattr(p, c)) for c in columns))
    elif points:
        print_table([[getattr(p, c) for c in columns] for p in points], [c.upper() for c in columns])
    else:
        print("no metrics yet (the job has not written any)")
    return 0
