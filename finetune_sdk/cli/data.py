"""``finetune data validate | convert``; ``stats | split | dedupe`` come from :mod:`.data_ops`.

``validate`` prints one line per issue, ``PATH:LINE: severity rule: message (hint)`` (no ``:LINE`` for
file-level issues), then a summary line. Exit codes: 0 no errors (warnings allowed), 1 errors found or
the operation failed, 2 usage error (missing file, unknown model or format).

Examples::

    finetune data validate train.jsonl --model anthropic.claude-3-haiku-20240307-v1:0:200k
    finetune data validate train.jsonl --model amazon.nova-lite-v1:0:300k --validation val.jsonl --json
    finetune data validate prompts.jsonl --model amazon.nova-lite-v1:0:300k --purpose distillation
    finetune data convert train.jsonl --to bedrock_conversation -o train.nova.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from finetune_sdk.errors import CatalogError, ConfigurationError, DatasetValidationError

__all__ = ["register"]

_FORMATS = (
    "prompt_completion",
    "bedrock_messages",
    "bedrock_conversation",
    "openai_chat",
    "text",
    "jumpstart_instruction",
)  # kept literal so building the parser imports nothing heavy; a test checks it matches FORMATS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``data`` command group with ``validate`` and ``convert`` (plus ``data_ops`` when present)."""
    group = subparsers.add_parser(
        "data",
        help="validate, convert and prepare datasets",
        description="Validate, convert and prepare JSONL training data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:" + __doc__.split("Examples::", 1)[1].rstrip() if __doc__ else None,
    )
    group.set_defaults(func=lambda _args: _usage(group))
    sub = group.add_subparsers(dest="data_command", metavar="COMMAND")

    v = sub.add_parser(
        "validate",
        help="check a JSONL file against its format and a model's limits",
        description="Check every line of a JSONL dataset; prints PATH:LINE: severity rule: message (hint).",
    )
    v.add_argument("path", help="JSONL file (or s3:// URI)")
    v.add_argument("--model", help="catalog model id to check limits for (e.g. amazon.nova-lite-v1:0:300k)")
    v.add_argument("--format", choices=_FORMATS, help="wire format the records must be in (default: detect)")
    v.add_argument("--validation", metavar="PATH", help="validation JSONL, checked with the training file")
    v.add_argument(
        "--purpose",
        choices=("fine_tuning", "distillation"),
        default="fine_tuning",
        help="what the data is for: fine-tuning records (default) or Bedrock distillation prompts",
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=_cmd_validate)

    c = sub.add_parser(
        "convert",
        help="convert a JSONL file to another wire format, reporting what is lost",
        description="Convert a JSONL dataset to another wire format and report what the format cannot hold.",
    )
    c.add_argument("path", help="input JSONL file (or s3:// URI)")
    c.add_argument("--to", required=True, choices=_FORMATS, help="target wire format")
    c.add_argument("-o", "--output", required=True, help="output JSONL path")
    c.add_argument("--force", action="store_true", help="replace the output (and template.json) if they exist")
    c.add_argument("--from", dest="from_format", choices=_FORMATS, help="input wire format (default: detect)")
    c.add_argument("--json", action="store_true", help="print the conversion report as JSON")
    c.set_defaults(func=_cmd_convert)

    try:
        from finetune_sdk.cli import data_ops
    except ModuleNotFoundError as exc:
        if exc.name != "finetune_sdk.cli.data_ops":
            raise
        data_ops = None  # type: ignore[assignment]
    if data_ops is not None:
        data_ops.register_ops(sub)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _bad_input(path: str | None) -> str | None:
    """Why a local input path cannot be read (missing, a directory, FIFO or device, a symlink loop), or None."""
    if path is None or path.startswith("s3://"):
        return None
    from finetune_sdk.data.io import open_regular_file
    from finetune_sdk.errors import InputFileError

    try:
        open_regular_file(path).close()
    except InputFileError as exc:
        return str(exc)
    return None


def _same_path(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return False


def _cmd_validate(args: argparse.Namespace) -> int:
    from finetune_sdk.data.dataset import Dataset

    for p in (args.path, args.validation):
        problem = _bad_input(p)
        if problem:
            _err(problem)
            return 2
    try:
        report = Dataset.from_jsonl(args.path, format=args.format).validate(
            for_model=args.model, validation=args.validation, purpose=args.purpose
        )
    except (CatalogError, ConfigurationError) as exc:
        _err(str(exc))
        return 2
    if args.json:
        print(report.to_json(indent=2))
    else:
        print(report.to_text())
    return 0 if report.ok else 1


def _cmd_convert(args: argparse.Namespace) -> int:
    from finetune_sdk.data.dataset import Dataset

    problem = _bad_input(args.path)
    if problem:
        _err(problem)
        return 2
    if not args.path.startswith("s3://") and _same_path(args.output, args.path):
        _err("the output path is the input file; write to another path")
        return 2
    out = Path(args.output)
    if (out.exists() or out.is_symlink()) and not args.force:
        _err(f"{args.output} already exists; pass --force to replace it")
        return 2
    try:
        report = Dataset.from_json(args.path, format=args.from_format).to_jsonl(
            args.output, format=args.to, overwrite=args.force
        )
    except DatasetValidationError as exc:
        if exc.report is not None:
            print(exc.report.to_json(indent=2) if args.json else exc.report.to_text())
        _err(f"nothing written: {exc}")
        return 1
    if args.json:
        print(report.to_json(indent=2))
    else:
        print(report.to_text())
        print(f"wrote {report.records_out} records to {args.output}")
    return 0
