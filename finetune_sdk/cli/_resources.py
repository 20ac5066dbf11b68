"""Helpers shared by ``finetune jobs`` and ``finetune models``: backend options, ``k=v`` parsing, output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from finetune_sdk.cli._cloud import add_cloud_options, backend_name, session_options

__all__ = ["add_backend_options", "backend_from", "parse_pairs", "parse_value", "print_json", "print_table"]


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--backend``, ``--region``, ``--profile`` and ``--json``, shared by every job and model command.

    The command is checked by :func:`finetune_sdk.cli._cloud.preflight` before it runs.
    """
    parser.add_argument(
        "--backend",
        default=None,
        help="backend name (default: $FINETUNE_SDK_BACKEND, else bedrock)",
    )
    add_cloud_options(parser, default_backend="bedrock")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def backend_from(args: argparse.Namespace, **options: Any) -> Any:
    """The backend named by ``--backend`` (default ``$FINETUNE_SDK_BACKEND``, else the command's default).

    AWS backends get the session :func:`~finetune_sdk.cli._cloud.preflight` checked (``--profile``,
    ``--region``); other backends get ``region=`` only when ``--region`` was given, so backends that take
    no Region (``local``) still work.
    """
    from finetune_sdk import backends

    given = {k: v for k, v in {**session_options(args), **options}.items() if v is not None}
    return backends.get(backend_name(args), **given)


def parse_value(text: str) -> int | float | bool | str:
    """``"2"`` → 2, ``"1e-5"`` → 1e-05, ``"true"`` → True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_pairs(items: Sequence[str] | None, *, what: str, typed: bool = False) -> dict[str, Any]:
    """``["a=1", "b=x"]`` → ``{"a": 1, "b": "x"}`` (values typed with :func:`parse_value` when ``typed``).

    Raises:
        ValueError: an item without ``=``; the message names the option.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} takes NAME=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value) if typed else value
    return out


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """Print records (pydantic models), lists or dicts as indented JSON on stdout."""
    print(json.dumps(_jsonable(value), indent=2, default=str, ensure_ascii=False))


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A plain, aligned text table on stdout."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def usage_error(message: str) -> int:
    """Print ``error: message`` on stderr and return the usage-error exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2
