"""Dataset pipeline benchmark: finetune_sdk against the per-record pydantic validation of the AWS samples.

What it measures, on synthetic Claude 3 Haiku fine-tuning data (``bedrock_messages`` JSONL with a system
prompt on most records, one to three exchanges, about 2% exact duplicates and 1% near duplicates):

1. **validation**: ``Dataset.from_jsonl(p).validate(for_model=Claude 3 Haiku)`` against the baseline the
   AWS sample validators use (``json.loads`` per line and one pydantic model per record, with validators
   for role order, reserved strings and the token limit), and against the bare parse of the same file
   (``orjson.loads`` per line, nothing checked: the parse limit), in the same process. Targets (issue 14):
   at most 0.5x the baseline and at most 3x the bare parse;
1b. **iteration**: the time per record to iterate a loaded Dataset (target at most 5 us), and the first
   iteration of a file, ``list(Dataset.from_jsonl(p))``: its cost beyond reading and checking the rows
   (``iter_jsonl`` + the format's ``check``, measured alone) is the cost of building the records, target at
   most 5 us per record, against the named baseline of building each record with full pydantic validation
   (``Conversation.model_validate`` of the checked pieces: what the formats did before the trusted path);
2. **pipeline**: load + validate, ``stats()``, exact ``dedupe()``, ``split()`` and ``to_jsonl()`` of
   each part, through the public API;
3. **memory**: peak RSS (``ru_maxrss``) of a fresh process validating a large file (``--big-gb``),
   target < 300 MB, beside the same figure for the baseline;
4. **near duplicates**: ``Dataset.dedupe(near=True)`` over ``--near-records`` records, target < 60 s.

Usage::

    python benchmarks/dataset_pipeline.py                  # 100k records, 1 GB file, 100k near-dup
    python benchmarks/dataset_pipeline.py --quick          # CI smoke run, a few seconds
    python benchmarks/dataset_pipeline.py --big-gb 0 --json
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel, ValidationError, field_validator, model_validator

MODEL = "anthropic.claude-3-haiku-20240307-v1:0:200k"
RSS_TARGET_MB = 300
NEAR_TARGET_S = 60.0
BASELINE_RATIO_TARGET = 0.5  # sdk validation / json.loads + pydantic
BARE_RATIO_TARGET = 3.0  # sdk validation / bare orjson parse
ITERATE_US_TARGET = 5.0  # per record, iterating a loaded Dataset
BUILD_US_TARGET = 5.0  # per record, first iteration of a file beyond parse + check

# --- synthetic data ---------------------------------------------------------------------------------------

SYSTEMS = [
    "You are a helpful assistant for an online bookshop. Answer politely and briefly.",
    "You are a senior support engineer. Give step-by-step answers and name the command to run.",
    "You are a tutor for secondary school mathematics. Show the working, then the final answer.",
    "You summarise legal documents for non-lawyers in plain English.",
    "You are a travel agent. Suggest itineraries with times and prices in euros.",
    "Classify the customer message into billing, shipping, returns or other, and explain why.",
]


class Generator:
    """Deterministic synthetic Claude-messages rows, fast enough for a gigabyte (sentences are pooled)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        letters = "abcdefghijklmnopqrstuvwxyz"
        vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(8000)]
        self.sentences = []
        for _ in range(20000):
            words = [rng.choice(vocab) for _ in range(rng.randint(6, 22))]
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words)), str(rng.randint(0, 99999)))
            self.sentences.append(" ".join(words).capitalize() + rng.choice(".?!"))
        self.previous: list[dict[str, Any]] = []

    def _text(self, lo: int, hi: int) -> str:
        rng = self.rng
        return " ".join(rng.choice(self.sentences) for _ in range(rng.randint(lo, hi)))

    def row(self) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        if self.previous and r < 0.02:  # exact duplicate of an earlier row
            return rng.choice(self.previous)
        if self.previous and r < 0.03:  # near duplicate: an earlier row with a sentence appended
            src = rng.choice(self.previous)
            msgs = [dict(m) for m in src["messages"]]
            msgs[0]["content"] = msgs[0]["content"] + " " + rng.choice(self.sentences)
            return {**src, "messages": msgs}
        messages = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            messages.append({"role": "user", "content": self._text(1, 4)})
            messages.append({"role": "assistant", "content": self._text(1, 7)})
        row: dict[str, Any] = {"messages": messages}
        if rng.random() < 0.8:
            row = {"system": rng.choice(SYSTEMS), **row}
        if len(self.previous) < 5000:
            self.previous.append(row)
        elif rng.random() < 0.01:
            self.previous[rng.randrange(5000)] = row
        return row

    def rows(self, n: int) -> Iterator[dict[str, Any]]:
        for _ in range(n):
            yield self.row()


def write_rows(
    path: Path, *, records: int | None = None, target_bytes: int | None = None, seed: int = 0
) -> tuple[int, int]:
    """Write rows until ``records`` rows or ``target_bytes`` bytes; returns (rows, bytes)."""
    gen = Generator(seed)
    n = size = 0
    with path.open("w", encoding="utf-8") as fh:
        while (records is None or n < records) and (target_bytes is None or size < target_bytes):
            line = json.dumps(gen.row(), ensure_ascii=False) + "\n"
            fh.write(line)
            n += 1
            size += len(line.encode("utf-8")) if not line.isascii() else len(line)
    return n, size


# --- the baseline: what the AWS sample validators do ------------------------------------------------------

RESERVED = ("\nHuman:", "\nAssistant:")
MAX_TOKENS = 32000
CHARS_PER_TOKEN = 3


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be empty")
        for reserved in RESERVED:
            if reserved in value:
                raise ValueError(f"content contains the reserved string {reserved!r}")
        return value


class ClaudeRecord(BaseModel):
    system: str | None = None
    messages: list[Message]

    @model_validator(mode="after")
    def _conversation(self) -> ClaudeRecord:
        msgs = self.messages
        if len(msgs) < 2:
            raise ValueError("at least one user and one assistant message are needed")
        if msgs[0].role != "user" or msgs[-1].role != "assistant":
            raise ValueError("the first message must be from the user and the last from the assistant")
        for a, b in itertools.pairwise(msgs):
            if a.role == b.role:
                raise ValueError("roles must alternate")
        chars = len(self.system or "") + sum(len(m.content) for m in msgs)
        if chars / CHARS_PER_TOKEN > MAX_TOKENS:
            raise ValueError("record is longer than 32,000 tokens")
        return self


def baseline_validate(path: Path) -> dict[str, int]:
    records = errors = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            records += 1
            try:
                ClaudeRecord.model_validate(json.loads(line))
            except (ValidationError, json.JSONDecodeError):
                errors += 1
    return {"records": records, "invalid": errors}


def bare_parse(path: Path) -> int:
    """The parse limit: ``orjson.loads`` of every line, nothing checked."""
    import orjson

    n = 0
    with path.open("rb") as fh:
        for line in fh:
            orjson.loads(line)
            n += 1
    return n


def parse_and_check(path: Path) -> int:
    """What the first iteration of a file does besides building records: read and parse each line, detect
    its format and run the format's ``check`` (nothing is built or kept)."""
    from finetune_sdk.data import formats
    from finetune_sdk.data.io import iter_jsonl

    n = 0
    for jl in iter_jsonl(path):
        if jl.kind != "blank":
            fmt = formats.get(formats.detect_format(jl.value) or "")
            facts, _ = fmt.check(jl.value)
            n += facts is not None
    return n


@contextlib.contextmanager
def validated_build() -> Iterator[None]:
    """The baseline for building records: while active, ``bedrock_messages`` builds each record as it did
    before the trusted path, one ``Conversation.model_validate`` of the checked pieces (full pydantic
    validation of every nested model), through the same ``Dataset`` code."""
    from finetune_sdk.data.formats import bedrock_messages
    from finetune_sdk.data.formats._base import extra_metadata
    from finetune_sdk.data.records import Conversation

    def build(obj: Any) -> Any:
        return Conversation.model_validate(
            {
                "system": obj.get("system") or None,
                "turns": [
                    {"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in obj["messages"]
                ],
                "metadata": extra_metadata(obj, bedrock_messages._KNOWN),
            }
        )

    saved = bedrock_messages.build
    bedrock_messages.build = build  # type: ignore[assignment]
    try:
        yield
    finally:
        bedrock_messages.build = saved


def validated_first_iteration(path: Path) -> int:
    """``len(list(Dataset.from_jsonl(path)))`` with records built by full validation (the baseline)."""
    from finetune_sdk.data.dataset import Dataset

    with validated_build():
        return len(list(Dataset.from_jsonl(path)))


# --- measurements -----------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_timed(fn: Callable[[], Any]) -> float:
    """CPU seconds of this process for ``fn()``: on a shared machine, steadier than wall time (time spent
    waiting for a core is left out; the collector's passes are in)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        seconds, result = timed(fn)
        best = min(best, seconds)
    return best, result


def run_pipeline(path: Path, outdir: Path) -> dict[str, float]:
    from finetune_sdk.data.dataset import Dataset

    stages: dict[str, float] = {}
    t = time.perf_counter()
    ds = Dataset.from_jsonl(path)
    report = ds.validate(for_model=MODEL)
    stages["validate"] = time.perf_counter() - t
    t = time.perf_counter()
    n = len(ds.records)
    stages["load records"] = time.perf_counter() - t
    t = time.perf_counter()
    stats = ds.stats(for_model=MODEL)
    stages["stats"] = time.perf_counter() - t
    t = time.perf_counter()
    deduped = ds.dedupe()
    stages["exact dedupe"] = time.perf_counter() - t
    t = time.perf_counter()
    parts = deduped.split({"train": 0.9, "validation": 0.05, "test": 0.05}, seed=0)
    stages["split"] = time.perf_counter() - t
    t = time.perf_counter()
    for name, part in parts.items():
        part.to_jsonl(outdir / f"{name}.jsonl", format="bedrock_messages")
    stages["write"] = time.perf_counter() - t
    stages["total"] = sum(stages.values())
    assert stats.records == n and deduped.last_report.input_records == n
    _ = report
    return stages


_RSS_SCRIPT = """
import resource, sys, json
mode, path = sys.argv[1], sys.argv[2]
if mode == "sdk":
    from finetune_sdk.data.dataset import Dataset
    report = Dataset.from_jsonl(path).validate(for_model=sys.argv[3])
    records = report.records if hasattr(report, "records") else None
else:
    sys.path.insert(0, sys.argv[4])
    from dataset_pipeline import baseline_validate
    records = baseline_validate(__import__("pathlib").Path(path))["records"]
hwm = None
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
except OSError:
    pass
print(json.dumps({"max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "vmhwm_kb": hwm,
                  "records": str(records)}))
"""


def _self_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb(mode: str, path: Path) -> dict[str, float | None]:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "FINETUNE_SDK_DISABLE_PROGRESS_BARS": "1"}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, mode, str(path), MODEL, str(Path(__file__).resolve().parent)],
        capture_output=True, text=True, env=env, check=True,
    )
    seconds = time.perf_counter() - start
    got = json.loads(out.stdout.strip().splitlines()[-1])
    hwm = got.get("vmhwm_kb")
    return {
        "ru_maxrss_mb": got["max_rss_kb"] / 1024,
        "vmhwm_mb": hwm / 1024 if hwm else None,
        "seconds": seconds,
    }


def near_dedupe(n: int) -> dict[str, Any]:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.records import Conversation

    gen = Generator(seed=1)
    records = []
    for row in gen.rows(n):
        texts = [m["content"] for m in row["messages"]]
        records.append(Conversation.from_pairs(*texts, system=row.get("system")))
    ds = Dataset(records)
    seconds, out = timed(lambda: ds.dedupe(near=True))
    report = out.last_report
    return {
        "records": n,
        "seconds": seconds,
        "exact_removed": report.exact_duplicates,
        "near_removed": report.near_duplicates,
        "kept": report.output_records,
    }


# --- main -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records for validation and pipeline")
    parser.add_argument("--near-records", type=int, default=100_000, help="records for near-duplicate search")
    parser.add_argument("--big-gb", type=float, default=1.0, help="size of the peak-RSS file in GB (0: skip)")
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--repeats", type=int, default=1, help="best of N for the validation timings")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.near_records, args.big_gb = 3000, 3000, min(args.big_gb, 0.005)
    os.environ.setdefault("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "1")

    results: dict[str, Any] = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs",
        "model": MODEL,
    }
    with tempfile.TemporaryDirectory(prefix="ft-bench-") as tmp:
        tmpdir = Path(tmp)
        # Memory first, while this process is still small: ru_maxrss survives fork+exec on Linux, so a
        # child started from a big parent would report the parent's size. The child also reports VmHWM,
        # the high-water mark of its own address space only.
        if args.big_gb > 0:
            big = tmpdir / "big.jsonl"
            big_gen_s, (big_rows, big_size) = timed(
                lambda: write_rows(big, target_bytes=int(args.big_gb * 1e9), seed=2)
            )
            parent_mb = _self_rss_mb()
            sdk_mem = peak_rss_mb("sdk", big)
            base_mem = peak_rss_mb("baseline", big)
            results["memory"] = {
                "records": big_rows,
                "bytes": big_size,
                "generate_s": big_gen_s,
                "parent_rss_mb_at_spawn": parent_mb,
                "sdk_peak_rss_mb": sdk_mem["ru_maxrss_mb"],
                "sdk_vmhwm_mb": sdk_mem["vmhwm_mb"],
                "sdk_s": sdk_mem["seconds"],
                "baseline_peak_rss_mb": base_mem["ru_maxrss_mb"],
                "baseline_vmhwm_mb": base_mem["vmhwm_mb"],
                "baseline_s": base_mem["seconds"],
                "target_mb": RSS_TARGET_MB,
                "ok": sdk_mem["ru_maxrss_mb"] < RSS_TARGET_MB,
            }
            big.unlink()

        data = tmpdir / "train.jsonl"
        gen_s, (rows, size) = timed(lambda: write_rows(data, records=args.records))
        results["file"] = {"records": rows, "bytes": size, "generate_s": gen_s}

        # Warm up: imports and first-call costs are paid once here, not inside the timings.
        warm = tmpdir / "warm.jsonl"
        write_rows(warm, records=50, seed=9)
        baseline_validate(warm)
        from finetune_sdk.data.dataset import Dataset

        Dataset.from_jsonl(warm).validate(for_model=MODEL)
        run_pipeline(warm, tmpdir / "warm-out")
        with contextlib.suppress(ModuleNotFoundError):
            import datasketch  # noqa: F401  (scipy behind it takes seconds to import)

        base_s, base = best_of(args.repeats, lambda: baseline_validate(data))

        def sdk() -> Any:
            from finetune_sdk.data.dataset import Dataset

            return Dataset.from_jsonl(data).validate(for_model=MODEL)

        sdk_s, _ = best_of(args.repeats, sdk)
        bare_s, _ = best_of(args.repeats, lambda: bare_parse(data))
        results["validation"] = {
            "baseline_s": base_s,
            "sdk_s": sdk_s,
            "bare_orjson_s": bare_s,
            "ratio_sdk_over_baseline": sdk_s / base_s,
            "ratio_sdk_over_bare_parse": sdk_s / bare_s,
            "baseline_target": BASELINE_RATIO_TARGET,
            "bare_target": BARE_RATIO_TARGET,
            "ok": sdk_s / base_s <= BASELINE_RATIO_TARGET and sdk_s / bare_s <= BARE_RATIO_TARGET,
            "baseline_invalid": base["invalid"],
        }
        loaded = Dataset.from_jsonl(data)
        first_s, n_loaded = timed(lambda: len(loaded.records))
        iter_s, _ = best_of(max(3, args.repeats), lambda: sum(1 for _ in loaded))
        # First iteration of the file: CPU time, best of 3 each (the machine is shared; the best is the least
        # disturbed), interleaved so that load changes hit every variant alike.
        first_list = first_stream = parse_check = baseline_first = float("inf")
        for _ in range(max(3, args.repeats)):
            first_list = min(first_list, cpu_timed(lambda: len(list(Dataset.from_jsonl(data)))))
            first_stream = min(first_stream, cpu_timed(lambda: len([r for r in Dataset.from_jsonl(data)])))
            parse_check = min(parse_check, cpu_timed(lambda: parse_and_check(data)))
            baseline_first = min(baseline_first, cpu_timed(lambda: validated_first_iteration(data)))
        us = 1e6 / n_loaded
        build_us = (first_list - parse_check) * us
        results["iteration"] = {
            "records": n_loaded,
            "iterate_us_per_record": iter_s * us,
            "first_read_us_per_record": first_s * us,
            "target_us": ITERATE_US_TARGET,
            "ok": iter_s * us <= ITERATE_US_TARGET,
            "first_iteration_us_per_record": first_list * us,
            "first_stream_kept_us_per_record": first_stream * us,
            "parse_and_check_us_per_record": parse_check * us,
            "build_us_per_record": build_us,
            "baseline_first_iteration_us_per_record": baseline_first * us,
            "baseline_build_us_per_record": (baseline_first - parse_check) * us,
            "build_target_us": BUILD_US_TARGET,
            "build_ok": build_us <= BUILD_US_TARGET,
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        }
        results["pipeline"] = run_pipeline(data, tmpdir / "out")
        results["pipeline"]["ratio_total_over_baseline_validation"] = results["pipeline"]["total"] / base_s

        near = near_dedupe(args.near_records)
        near["target_s"] = NEAR_TARGET_S
        near["ok"] = near["seconds"] < NEAR_TARGET_S
        results["near_dedupe"] = near

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results))
    return 0


def render(r: dict[str, Any]) -> str:
    v, p = r["validation"], r["pipeline"]
    f = r["file"]
    lines = [
        f"Dataset pipeline benchmark ({r['machine']}; model {r['model']})",
        "",
        f"File: {f['records']:,} bedrock_messages records, {f['bytes'] / 1e6:,.1f} MB",
        "",
        "| measurement | value | notes |",
        "|---|---:|---|",
        f"| baseline validation (json.loads + pydantic per record) | {v['baseline_s']:.2f} s | "
        f"{f['records'] / v['baseline_s']:,.0f} records/s |",
        f"| finetune_sdk validate(for_model=...) | {v['sdk_s']:.2f} s "
        f"| {f['records'] / v['sdk_s']:,.0f} records/s |",
        f"| ratio: sdk / baseline (validation) | {v['ratio_sdk_over_baseline']:.2f}× | "
        f"target ≤ {v['baseline_target']}×: "
        f"{'met' if v['ratio_sdk_over_baseline'] <= v['baseline_target'] else 'MISSED'}; "
        f"{1 / v['ratio_sdk_over_baseline']:.2f}× as fast as the baseline |",
        f"| bare parse (orjson.loads per line, nothing checked) | {v['bare_orjson_s']:.2f} s | the parse limit |",
        f"| ratio: sdk / bare parse | {v['ratio_sdk_over_bare_parse']:.2f}× | target ≤ {v['bare_target']}×: "
        f"{'met' if v['ratio_sdk_over_bare_parse'] <= v['bare_target'] else 'MISSED'} |",
    ]
    it = r["iteration"]
    lines.append(
        f"| iterate a loaded Dataset | {it['iterate_us_per_record']:.2f} µs/record | target ≤ {it['target_us']} µs: "
        f"{'met' if it['ok'] else 'MISSED'} |"
    )
    lines.append(
        f"| first read of the file into records (`.records`) | {it['first_read_us_per_record']:.1f} µs/record "
        "| parse, checks, build (once; collector paused) |"
    )
    lines.append(
        "| first iteration `list(Dataset.from_jsonl(p))` (CPU time) "
        f"| {it['first_iteration_us_per_record']:.1f} µs/record "
        f"| baseline (records built with full pydantic validation): "
        f"{it['baseline_first_iteration_us_per_record']:.1f} µs/record |"
    )
    lines.append(
        f"| first iteration streamed, every record kept (`[r for r in ds]`, no `len()`) "
        f"| {it['first_stream_kept_us_per_record']:.1f} µs/record | collector paused only inside the SDK |"
    )
    lines.append(
        f"| of which parse + check (`iter_jsonl` + format `check`, nothing built) "
        f"| {it['parse_and_check_us_per_record']:.1f} µs/record | the same in both |"
    )
    lines.append(
        "| first iteration beyond parse + check (building the records; CPU time) "
        f"| {it['build_us_per_record']:.1f} µs/record "
        f"| target ≤ {it['build_target_us']} µs: {'met' if it['build_ok'] else 'MISSED'}; baseline "
        f"{it['baseline_build_us_per_record']:.1f} µs/record |"
    )
    if it.get("load_average"):
        load = " / ".join(f"{x:.1f}" for x in it["load_average"])
        lines.append(f"| load average during the run (1/5/15 min) | {load} | {r['machine']} |")
    for stage in ("validate", "load records", "stats", "exact dedupe", "split", "write"):
        lines.append(f"| pipeline: {stage} | {p[stage]:.2f} s | |")
    ratio = p["ratio_total_over_baseline_validation"]
    lines.append(f"| pipeline: total | {p['total']:.2f} s | {ratio:.2f}× the baseline's validation alone |")
    if "memory" in r:
        m = r["memory"]
        lines.append(
            f"| peak RSS validating {m['bytes'] / 1e9:.2f} GB ({m['records']:,} records) "
            f"| {m['sdk_peak_rss_mb']:.0f} MB "
            f"| target < {m['target_mb']} MB: {'met' if m['ok'] else 'MISSED'}; {m['sdk_s']:.1f} s |"
        )
        lines.append(
            f"| baseline peak RSS, same file | {m['baseline_peak_rss_mb']:.0f} MB | {m['baseline_s']:.1f} s |"
        )
        if m["sdk_vmhwm_mb"] is not None:
            lines.append(
                f"| VmHWM (own address space) sdk / baseline | {m['sdk_vmhwm_mb']:.0f} / "
                f"{m['baseline_vmhwm_mb']:.0f} MB | launcher was {m['parent_rss_mb_at_spawn']:.0f} MB |"
            )
    n = r["near_dedupe"]
    lines.append(
        f"| near-duplicate dedupe, {n['records']:,} records | {n['seconds']:.1f} s "
        f"| target < {n['target_s']:.0f} s: {'met' if n['ok'] else 'MISSED'}; "
        f"removed {n['exact_removed']:,} exact + {n['near_removed']:,} near |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
