#!/usr/bin/env python3
"""CI guard: ``import finetune_sdk`` stays light.

Runs ``python -X importtime -c "import finetune_sdk"`` in fresh subprocesses and fails (exit 1) when

- any heavy package is imported: boto3, botocore, pandas, torch, transformers, sagemaker; or
- the cumulative time of ``import finetune_sdk`` is above the budget (300 ms by default; the best of
  ``--runs`` runs counts, so a busy CI machine does not fail the check by itself).

It prints the total and the ten modules with the largest self time either way. It does not need (or
import) any optional extra, so it gives the same answer whether or not ``finetune-sdk[sagemaker]`` is
installed.

Usage: ``python .ci/importtime.py [--budget-ms 300] [--runs 3] [--module finetune_sdk]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HEAVY = ("boto3", "botocore", "pandas", "torch", "transformers", "sagemaker")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Entry:
    """One ``-X importtime`` line: the module, its self and cumulative microseconds and nesting depth."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse(stderr: str) -> list[Entry]:
    """The entries of ``-X importtime`` output: ``import time: self [us] | cumulative | imported package``."""
    entries: list[Entry] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        stripped = name.lstrip(" ")
        depth = (len(name) - len(stripped) - 1) // 2
        entries.append(Entry(stripped, int(parts[0]), int(parts[1]), max(depth, 0)))
    return entries


def measure(module: str) -> list[Entry]:
    """Import ``module`` in a fresh interpreter with ``-X importtime`` and return the parsed entries."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"importing {module} failed (exit {out.returncode})")
    return parse(out.stderr)


def heavy_imports(entries: list[Entry]) -> list[str]:
    """The heavy packages among ``entries`` (each named once)."""
    found = {e.module.split(".")[0] for e in entries if e.module.split(".")[0] in HEAVY}
    return sorted(found)


def imported_by(entries: list[Entry], module: str) -> list[Entry]:
    """``module``'s own entry and everything its import pulled in (``-X importtime`` lists children first)."""
    for i in range(len(entries) - 1, -1, -1):
        if entries[i].module == module and entries[i].depth == 0:
            start = i
            while start > 0 and entries[start - 1].depth > 0:
                start -= 1
            return entries[start:i + 1]
    return []


def total_us(entries: list[Entry], module: str) -> int:
    """Cumulative microseconds of ``import module`` (everything it pulled in is nested under it)."""
    return max((e.cumulative_us for e in entries if e.module == module and e.depth == 0), default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--module", default="finetune_sdk")
    args = parser.parse_args(argv)

    runs = [measure(args.module) for _ in range(max(args.runs, 1))]
    best = min(runs, key=lambda entries: total_us(entries, args.module))
    total_ms = total_us(best, args.module) / 1000
    heavy = sorted({name for entries in runs for name in heavy_imports(entries)})

    print(f"import {args.module}: {total_ms:.1f} ms cumulative "
          f"(best of {len(runs)}; budget {args.budget_ms:.0f} ms)")
    print("top 10 modules by self time:")
    for e in sorted(imported_by(best, args.module), key=lambda e: e.self_us, reverse=True)[:10]:
        print(f"  {e.self_us / 1000:8.1f} ms self {e.cumulative_us / 1000:8.1f} ms cumulative  {e.module}")

    failed = False
    if heavy:
        print(f"FAIL: import {args.module} imports heavy packages: {', '.join(heavy)}; "
              "import them inside the functions that use them")
        failed = True
    if total_ms > args.budget_ms:
        print(f"FAIL: import {args.module} takes {total_ms:.1f} ms, over the {args.budget_ms:.0f} ms budget")
        failed = True
    if not failed:
        print("ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
