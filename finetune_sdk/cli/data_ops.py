"""``finetune data stats | split | dedupe | import``: dataset operations on a JSONL file.

``finetune_sdk.cli.data`` adds the ``data`` command group and calls :func:`register_ops` on its
sub-parsers. Output files keep the input's wire format. Exit codes: 0 success, 1 the operation failed,
2 usage error.

Examples::

    finetune data stats train.jsonl --model anthropic.claude-3-haiku-20240307-v1:0:200k
    finetune data split all.jsonl --ratios train=0.8,validation=0.1,test=0.1 --seed 7 -o splits/
    finetune data dedupe all.jsonl --near --threshold 0.9 -o all.dedup.jsonl --json
    finetune data import tatqa tatqa_dataset_dev.json -o tatqa.jsonl --model anthropic.claude-3-haiku-20240307-v1:0:200k
    finetune data split tatqa.jsonl --ratios train=0.9,test=0.1 --group-by @context -o splits/
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from finetune_sdk.errors import ConfigurationError

__all__ = ["parse_ratios", "register_ops"]


def parse_ratios(text: str) -> dict[str, float]:
    """Parse ``train=0.8,validation=0.1,test=0.1`` into a dict, checking that the ratios sum to 1.

    Raises:
        argparse.ArgumentTypeError: a part is not ``name=number`` or the ratios are invalid.

    Examples:
        >>> parse_ratios("train=0.9, validation=0.1")
        {'train': 0.9, 'validation': 0.1}
    """
    from finetune_sdk.data.io import check_name_part
    from finetune_sdk.data.split import split_sizes

    ratios: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise argparse.ArgumentTypeError(
                "expected NAME=RATIO pairs separated by commas, e.g. train=0.8,validation=0.1,test=0.1; "
                f"got {part!r}"
            )
        if name in ratios:
            raise argparse.ArgumentTypeError(f"split {name!r} is named twice in --ratios")
        try:
            check_name_part(name)  # it becomes part of a file name
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        try:
            ratios[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"ratio of {name!r} is not a number: {value!r}") from None
    try:
        split_sizes(0, ratios=ratios)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return ratios


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a number in (0, 1], got {text!r}") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise argparse.ArgumentTypeError(f"threshold must be in (0, 1], got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def _load(path: str) -> Any:
    from finetune_sdk.data.dataset import Dataset

    return Dataset.from_jsonl(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return False


def _cmd_stats(args: argparse.Namespace) -> int:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.report import ValidationReport

    ds = Dataset.from_jsonl(args.path, on_error="skip")
    stats = ds.stats(for_model=args.model, epochs=args.epochs)
    # Unreadable lines are left out of the statistics and summarised in one line (validate lists them).
    skipped = next((h for h in ds.history if isinstance(h, ValidationReport)), None)
    unreadable = skipped.error_count if skipped is not None else 0
    by_rule = skipped.counts_by_rule() if skipped is not None else {}
    if args.json:
        extra = {"unreadable_lines": unreadable, "unreadable_by_rule": by_rule}
        _print_json({"path": args.path, **stats.to_dict(), **extra})
    else:
        print(f"{args.path}\n")
        print(stats.to_markdown())
    if unreadable:
        rules = ", ".join(f"{r}: {n}" for r, n in sorted(by_rule.items(), key=lambda kv: -kv[1]))
        first = skipped.issues[0].line if skipped is not None and skipped.issues else None
        print(
            f"warning: {unreadable} line(s) could not be read and are not counted ({rules}; first at line "
            f"{first}); `finetune data validate {args.path}` lists them",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_split(args: argparse.Namespace) -> int:
    from finetune_sdk.data.dedupe import check_leakage

    source = Path(args.path)
    ds = _load(args.path)
    fmt = ds.format
    try:
        parts = ds.split(args.ratios, seed=args.seed, stratify_by=args.stratify_by, group_by=args.group_by)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outdir = Path(args.output) if args.output else source.parent
    # <stem>.<split>.jsonl can never be the input <stem>.jsonl itself
    targets = {name: outdir / f"{source.stem}.{name}.jsonl" for name in parts}
    existing = [str(t) for t in targets.values() if t.exists() or t.is_symlink()]
    if existing and not args.force:
        print(f"error: {', '.join(existing)} already exist(s); pass --force to replace", file=sys.stderr)
        return 2
    outdir.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.to_jsonl(targets[name], format=fmt, overwrite=args.force)
    leakage = check_leakage({name: part.records for name, part in parts.items()})
    if args.json:
        _print_json(
            {
                "path": args.path,
                "format": fmt,
                "seed": args.seed,
                "ratios": args.ratios,
                "splits": {
                    name: {"records": len(part), "path": str(targets[name])} for name, part in parts.items()
                },
                "leakage": leakage.model_dump(mode="json") | {"ok": leakage.ok},
            }
        )
    else:
        print(f"split {args.path} ({sum(len(p) for p in parts.values())} records, seed {args.seed})\n")
        print("| split | records | file |\n|---|---:|---|")
        for name, part in parts.items():
            print(f"| {name} | {len(part)} | {targets[name]} |")
        if not leakage.ok:
            fixes = []
            if any(o.count for o in leakage.overlaps):
                fixes.append("run `finetune data dedupe` before splitting")
            if any(o.shared_contexts for o in leakage.overlaps):
                fixes.append("split with --group-by @context to keep each table or document in one split")
            print(f"\nwarning: {leakage}. To fix: {'; '.join(fixes)}.", file=sys.stderr)
    return 0


def _cmd_dedupe(args: argparse.Namespace) -> int:
    source = Path(args.path)
    out = Path(args.output)
    if _same_file(out, source):
        print(f"error: -o {out} is the input file; write the result somewhere else", file=sys.stderr)
        return 2
    if (out.exists() or out.is_symlink()) and not args.force:
        print(f"error: -o {out} already exists; pass --force to replace it", file=sys.stderr)
        return 2
    ds = _load(args.path)
    fmt = ds.format
    try:
        deduped = ds.dedupe(near=args.near, threshold=args.threshold)
    except ModuleNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = deduped.last_report
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    deduped.to_jsonl(out, format=fmt, overwrite=args.force)
    if args.json:
        payload = report.model_dump(mode="json")
        payload["removed_indexes"] = list(report.removed_indexes)
        _print_json({"path": args.path, "output": str(out), "format": fmt, **payload})
    else:
        print(f"{report}\nwrote {report.output_records} records to {out}\n")
        print(report.to_markdown())
    return 0


def register_ops(data_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stats``, ``split`` and ``dedupe`` to the ``data`` command group's sub-parsers.

    Each sub-parser sets ``func`` to a callable taking the parsed namespace and returning the exit code.

    Examples:
        >>> parser = argparse.ArgumentParser(prog="finetune data")
        >>> register_ops(parser.add_subparsers())
        >>> args = parser.parse_args(["split", "all.jsonl", "--ratios", "train=0.9,test=0.1"])
        >>> args.ratios, args.seed, args.output
        ({'train': 0.9, 'test': 0.1}, 0, None)
    """
    p = data_subparsers.add_parser(
        "stats",
        help="records, tokens per role, turns, and the training cost estimate",
        description="Count records and estimate tokens per role; with --model, estimate the training cost "
        "from the catalog price (dated) and the model's default epochs.",
    )
    p.add_argument("path", metavar="PATH", help="a JSONL dataset file")
    p.add_argument("--model", metavar="ID", help="catalog model id (or a unique fragment of it)")
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="epochs (default: the model's default)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_stats)

    p = data_subparsers.add_parser(
        "split",
        help="seeded, reproducible split into train/validation/test files",
        description="Split a JSONL file by ratios. The same file and seed give the same split on any "
        "machine. Writes OUTDIR/<stem>.<split>.jsonl in the input's format.",
    )
    p.add_argument("path", metavar="PATH", help="a JSONL dataset file")
    p.add_argument(
        "--ratios",
        type=parse_ratios,
        required=True,
        metavar="NAME=R,...",
        help="e.g. train=0.8,validation=0.1,test=0.1 (must sum to 1)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="shuffle seed (default 0)")
    p.add_argument(
        "--stratify-by",
        metavar="KEY",
        help="keep the proportions of this record key's values (a top-level key every line has) in every split",
    )
    p.add_argument(
        "--group-by",
        metavar="KEY",
        help="keep records with one value of this key in one split; '@context' groups records that share "
        "a table or document (e.g. TAT-QA questions)",
    )
    p.add_argument("-o", "--output", metavar="OUTDIR", help="output folder (default: beside PATH)")
    p.add_argument("--force", action="store_true", help="replace split files that already exist")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_split)

    p = data_subparsers.add_parser(
        "dedupe",
        help="drop exact (and with --near, near) duplicates",
        description="Drop duplicate records, keeping the first of each cluster. Exact duplicates compare "
        "normalised text; --near adds MinHash near-duplicate detection (needs finetune-sdk[dedupe]).",
    )
    p.add_argument("path", metavar="PATH", help="a JSONL dataset file")
    p.add_argument("--near", action="store_true", help="also drop near duplicates (MinHash LSH)")
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=0.85,
        metavar="F",
        help="Jaccard similarity for near duplicates (default 0.85)",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write the kept records")
    p.add_argument("--force", action="store_true", help="replace OUT if it already exists")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_dedupe)

    p = data_subparsers.add_parser(
        "import",
        help="read a raw public dataset (AQuA-RAT, TAT-QA) into training JSONL",
        description="Read the raw public format of AQuA-RAT (JSON Lines of question/options/rationale/correct) "
        "or TAT-QA (a JSON array of table contexts with questions) and write one conversation per question.",
    )
    p.add_argument("kind", choices=("aqua", "tatqa"), help="the dataset's raw format")
    p.add_argument("path", metavar="PATH", help="the raw file (e.g. dev.json, tatqa_dataset_dev.json)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the JSONL file to write")
    p.add_argument("--format", choices=_FORMATS, help="wire format to write (default: --model's, else "
                   "bedrock_conversation)")
    p.add_argument("--model", metavar="ID", help="write in this catalog model's wire format")
    p.add_argument("--no-table", action="store_true", help="TAT-QA: leave the table out of the prompt")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_import)


_FORMATS = (
    "prompt_completion",
    "bedrock_messages",
    "bedrock_conversation",
    "openai_chat",
    "text",
    "jumpstart_instruction",
)


def _cmd_import(args: argparse.Namespace) -> int:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.errors import CatalogError, DataError

    source, out = Path(args.path), Path(args.output)
    if not source.is_file():
        print(f"error: {args.path}: no such file", file=sys.stderr)
        return 2
    if _same_file(out, source):
        print(f"error: -o {out} is the input file; write the result somewhere else", file=sys.stderr)
        return 2
    try:
        fmt = args.format
        if fmt is None and args.model:
            from finetune_sdk import catalog

            fmt = catalog.get(args.model).format
        ds = Dataset.from_aqua(source) if args.kind == "aqua" else Dataset.from_tatqa(
            source, include_table=not args.no_table
        )
        report = ds.to_jsonl(out, format=fmt or "bedrock_conversation")
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DataError as exc:  # includes DatasetValidationError: lines that are not records of that dataset
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json({"path": args.path, "kind": args.kind, **report.model_dump(mode="json")})
    else:
        print(report.to_text())
        print(f"wrote {report.records_out} records to {out}")
    return 0
