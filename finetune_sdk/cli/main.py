"""Entry point of the ``finetune`` command.

Each command group lives in its own module listed in ``COMMAND_MODULES`` and registers itself through
``register(subparsers)``. Exit codes: 0 success, 1 problems found or the operation failed, 2 usage error
(including a cloud command without AWS credentials or Region: :mod:`finetune_sdk.cli._cloud` checks those
before the command runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from finetune_sdk._version import __version__
from finetune_sdk.errors import FinetuneError, InputFileError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: modules under ``finetune_sdk.cli`` that add command groups, in help order
COMMAND_MODULES: tuple[str, ...] = ("demo", "data", "jobs", "models", "eval", "distill", "reinforce", "completion")

EXAMPLES = """examples:
  finetune demo                                   run the offline end-to-end demo on this machine
  finetune data validate train.jsonl --model anthropic.claude-3-haiku-20240307-v1:0:200k
  finetune jobs list --backend bedrock --json
"""


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every installed command group."""
    parser = argparse.ArgumentParser(
        prog="finetune",
        description="Customise foundation models on Amazon Bedrock, Amazon SageMaker or this machine.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"finetune_sdk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"finetune_sdk.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"finetune_sdk.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (also used by the console script)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    from finetune_sdk.cli import _cloud

    try:
        if hasattr(args, "cloud_default_backend"):
            _cloud.preflight(args)  # before any work: credentials, Region, profile (exit 2 with the fix)
        return func(args)
    except _cloud.CloudSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except InputFileError as exc:  # a missing or unreadable input path is a usage error (docs/cli.md)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FinetuneError as exc:
        hint = _cloud.cli_credential_hint(exc, args)
        if hint is not None:
            print(f"error: {hint}", file=sys.stderr)
            return 2
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an output path that cannot be written (no space, a symlink loop...): no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
