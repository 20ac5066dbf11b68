"""Hostile input files through the API and the CLI: refused at once with the right message and exit code, no
traceback, no hang, bounded memory.

Paths: missing, a directory, a FIFO, a character device (/dev/zero, /dev/null), a symlink loop, a dangling
symlink. Contents: NaN and 1e999, nesting past the shared limit, over-long lines, a gzip "bomb" of invocation logs.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.cli.main import main
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.io import MAX_JSON_DEPTH, iter_jsonl, parse_line
from finetune_sdk.data.logs import read_invocation_logs
from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import (
    ConfigurationError,
    DataError,
    DatasetValidationError,
    FinetuneError,
    InputFileError,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"prompt": "What is 2 + 2?", "completion": "4"}


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it takes longer than ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"hung for more than {seconds}s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[dict[str, tuple[Path, str]]]:
    """name -> (path, a fragment the message must hold)."""
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    loop_a, loop_b = tmp_path / "loop_a.jsonl", tmp_path / "loop_b.jsonl"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "gone.jsonl")
    yield {
        "missing": (tmp_path / "missing.jsonl", "does not exist"),
        "directory": (folder, "is a directory"),
        "fifo": (fifo, "is a FIFO"),
        "dev_zero": (Path("/dev/zero"), "is a character device"),
        "dev_null": (Path("/dev/null"), "is a character device"),
        "symlink_loop": (loop_a, "symbolic link loop"),
        "dangling_symlink": (dangling, "does not exist"),
    }


CASES = ["missing", "directory", "fifo", "dev_zero", "dev_null", "symlink_loop", "dangling_symlink"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    "api",
    [
        lambda p: Dataset.from_jsonl(p),
        lambda p: list(iter_jsonl(p)),
        lambda p: Dataset.from_aqua(p),
        lambda p: Dataset.from_tatqa(p),
        lambda p: read_invocation_logs(str(p)),
    ],
    ids=["from_jsonl", "iter_jsonl", "from_aqua", "from_tatqa", "read_invocation_logs"],
)
def test_api_refuses_non_regular_paths_at_once(
    hostile: dict[str, tuple[Path, str]], case: str, api: Callable[[Path], Any]
) -> None:
    path, fragment = hostile[case]
    if case == "directory" and "read_invocation_logs" in api.__code__.co_names:
        assert within(20, lambda: api(path))[0] == []  # a folder of logs is what it reads
        return
    started = time.perf_counter()
    with pytest.raises(FinetuneError) as info:
        within(20, lambda: api(path))
    assert time.perf_counter() - started < 5
    err = info.value
    if isinstance(err, ConfigurationError):  # read_invocation_logs: a missing folder is a setting
        assert case == "missing" and "neither an s3:// URI" in str(err)
    else:
        assert isinstance(err, InputFileError), repr(err)
        assert fragment in str(err) and str(path) in str(err)


def test_read_invocation_logs_skips_fifos_in_a_log_folder(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "stuck.json.gz")
    records, report = within(20, lambda: read_invocation_logs(str(tmp_path)))
    assert records == [] and report.objects_read == 0


CLI_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, io, contextlib
    from finetune_sdk.cli.main import main
    out = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        out.append({"argv": argv, "code": code, "err": err.getvalue(), "s": time.perf_counter() - started})
    print(json.dumps(out))
    """
)


def _cli_commands(path: Path, out: Path) -> list[list[str]]:
    p = str(path)
    return [
        ["data", "validate", p],
        ["data", "validate", str(out.parent / "ok.jsonl"), "--validation", p],
        ["data", "stats", p],
        ["data", "split", p, "--ratios", "train=0.5,test=0.5", "--output", str(out.parent / "splits")],
        ["data", "dedupe", p, "-o", str(out)],
        ["data", "convert", p, "--to", "openai_chat", "-o", str(out)],
    ]


def test_cli_refuses_non_regular_paths_with_exit_2(hostile: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    """Every data command, every hostile path, in one child process (so a hang cannot hang the suite)."""
    (tmp_path / "ok.jsonl").write_text(json.dumps(GOOD) + "\n")
    argvs = [argv for case in CASES for argv in _cli_commands(hostile[case][0], tmp_path / "out.jsonl")]
    script = tmp_path / "cli_cases.py"
    script.write_text(CLI_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(argvs)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(CASES) * 6
    for case, chunk in zip(CASES, (results[i:i + 6] for i in range(0, len(results), 6)), strict=True):
        fragment = hostile[case][1]
        for r in chunk:
            assert r["code"] == 2, (case, r)
            assert "Traceback" not in r["err"] and r["err"].startswith("error: "), (case, r)
            assert fragment in r["err"], (case, r)
            assert r["s"] < 5, (case, r)


def test_fifo_is_refused_in_milliseconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "p.jsonl"
    os.mkfifo(fifo)
    started = time.perf_counter()
    assert within(20, lambda: main(["data", "stats", str(fifo)])) == 2
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed
    assert "is a FIFO" in capsys.readouterr().err


def test_symlink_loop_at_the_output_path_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({**GOOD, "prompt": f"q{i}"}) + "\n" for i in range(4)))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.symlink_to(b)
    b.symlink_to(a)
    for argv in (
        ["data", "dedupe", str(src), "-o", str(a)],
        ["data", "convert", str(src), "--to", "text", "-o", str(a)],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert "Traceback" not in err, (argv, code, err)
        if code == 0:  # the atomic rename replaced the link itself: nothing was written through it
            assert not a.is_symlink() and a.is_file() and b.is_symlink()
            a.unlink()
            a.symlink_to(b)
        else:
            assert code in (1, 2) and err.startswith("error: "), (argv, code, err)


# --- contents ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1E+400"])
def test_overflowing_numbers_are_reported_like_nan(number: bytes, tmp_path: Path) -> None:
    line = parse_line(b'{"prompt": "q", "completion": "a", "score": ' + number + b"}", 1)
    assert line.kind == "invalid" and [i.rule for i in line.issues] == ["json.malformed"]
    path = tmp_path / "n.jsonl"
    path.write_bytes(b'{"prompt": "q", "completion": ' + number + b"}\n" + (json.dumps(GOOD) + "\n").encode())
    report = Dataset.from_jsonl(path, on_error="skip").validate()
    assert report.counts_by_rule().get("json.malformed") == 1
    assert main(["data", "validate", str(path)]) == 1


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 255, 300, 5000])
def test_nesting_past_the_shared_limit_is_reported(depth: int, tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    deep = json.dumps({**GOOD, "extra": _nested(depth)}) if depth < 900 else (
        '{"prompt": "q", "completion": "a", "extra": ' + "[" * depth + "]" * depth + "}"
    )
    path.write_text(deep + "\n" + json.dumps(GOOD) + "\n")
    report = Dataset.from_jsonl(path, on_error="skip").validate()
    assert report.counts_by_rule().get("json.too_deep") == 1
    assert main(["data", "validate", str(path)]) == 1
    assert main(["data", "stats", str(path)]) in (0, 1)


def test_nesting_limit_is_shared_by_fine_tune_and_the_evaluator() -> None:
    from finetune_sdk.evaluation import Evaluator
    from finetune_sdk.jobs import Job
    from finetune_sdk.testing import FakeBackend

    # already in Nova's own format, so no automatic conversion (which keeps only what the format holds) runs first
    deep_wire = {"schemaVersion": "bedrock-conversation-2024",
                 "messages": [{"role": "user", "content": [{"text": "q"}]},
                              {"role": "assistant", "content": [{"text": "a"}]}],
                 "extra": _nested(300)}
    ds = Dataset.from_records([deep_wire] * 40) if hasattr(Dataset, "from_records") else None
    assert ds is not None
    with pytest.raises(DatasetValidationError, match=r"json\.too_deep|nested"):
        Job.fine_tune(model="amazon.nova-micro-v1:0:128k", train=ds, backend=FakeBackend())

    record = Conversation.from_pairs("q", "a", metadata={"deep": _nested(300)})
    with pytest.raises(DataError, match=f"more than {MAX_JSON_DEPTH} levels"):
        Evaluator(["exact_match"], progress=False).evaluate(lambda prompt: "a", [record])


def test_a_long_line_is_reported_with_bounded_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.jsonl"
    with path.open("wb") as fh:
        fh.write((json.dumps(GOOD) + "\n").encode())
        fh.write(b'{"prompt": "' + b"x" * 3_000_000 + b'", "completion": "a"}\n')
        fh.write((json.dumps(GOOD) + "\n").encode())
    monkeypatch.setenv("FINETUNE_SDK_MAX_LINE_BYTES", str(1_000_000))
    lines = list(iter_jsonl(path))
    assert [ln.kind for ln in lines] == ["record", "invalid", "record"]
    assert lines[1].issues[0].rule == "line.too_long" and "3,000,0" in lines[1].issues[0].message
    report = Dataset.from_jsonl(path, on_error="skip").validate()
    assert report.counts_by_rule().get("line.too_long") == 1 and report.total_lines == 3
    assert [ln.kind for ln in iter_jsonl(path, max_line_bytes=10_000_000)] == ["record"] * 3


def test_dev_zero_as_an_open_file_stops_with_bounded_memory() -> None:
    """Even handed an open /dev/zero (the path itself is refused), lines are read in bounded pieces and
    reading stops once a "line" runs past 16x the limit."""
    with open("/dev/zero", "rb") as fh, pytest.raises(DataError, match="not a JSONL file"):
        within(30, lambda: list(iter_jsonl(fh, max_line_bytes=1 << 20)))


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    from finetune_sdk.cli.main import main
    from finetune_sdk.data.dataset import Dataset
    path, mode = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    if mode == "cli":
        code = main(["data", "validate", path, "--json"])
    else:
        report = Dataset.from_jsonl(path, on_error="skip").validate()
        code = 0 if report.ok else 1
        print(json.dumps(report.counts_by_rule()), file=sys.stderr)
    # VmHWM is this program's own peak (ru_maxrss would also count the forking parent's before exec)
    with open("/proc/self/status") as fh:
        hwm = [line for line in fh if line.startswith("VmHWM:")]
    rss = int(hwm[0].split()[1]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rss": rss, "code": code, "s": time.perf_counter() - started}), file=sys.stderr)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("limit", [None, 128 * 1024 * 1024], ids=["default-limit", "raised-limit"])
@pytest.mark.parametrize("mode", ["cli", "api"])
def test_80mb_line_stays_well_under_1gb_rss(tmp_path: Path, limit: int | None, mode: str) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as fh:
        fh.write((json.dumps(GOOD) + "\n").encode())
        fh.write(b'{"prompt": "' + b"y" * (80 * 1000 * 1000) + b'", "completion": "a"}\n')
    script = tmp_path / "mem.py"
    script.write_text(MEMORY_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if limit is not None:
        env["FINETUNE_SDK_MAX_LINE_BYTES"] = str(limit)
    proc = subprocess.run([sys.executable, str(script), str(path), mode], capture_output=True, text=True,
                          timeout=60, env=env)
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert "Traceback" not in proc.stderr
    # the default limit reports the line (exit 1); a raised one reads it (valid without a model: exit 0)
    assert result["code"] == (1 if limit is None else 0), result
    assert result["rss"] < 1024**3 / 2, f"peak RSS {result['rss'] / 1e6:.0f} MB"
    print(f"peak RSS {result['rss'] / 1e6:.0f} MB in {result['s']:.1f}s ({mode}, limit={limit})")


def _gzip_bomb(path: Path, size: int) -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    line = (json.dumps({"modelId": "m", "input": {"inputBodyJson": {}}}) + "\n").encode()
    chunk = line * (1_000_000 // len(line))
    with path.open("wb") as fh:
        written = 0
        while written < size:
            fh.write(comp.compress(chunk))
            written += len(chunk)
        fh.write(comp.flush())


def test_gzip_bomb_of_invocation_logs_is_capped(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _gzip_bomb(logs / "bomb.json.gz", 64 * 1_000_000)
    assert (logs / "bomb.json.gz").stat().st_size < 2_000_000
    ok = {"schemaType": "ModelInvocationLog", "modelId": "amazon.nova-micro-v1:0", "timestamp": "2025-01-01T00:00:00Z",
          "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}}
    (logs / "ok.json.gz").write_bytes(gzip.compress((json.dumps(ok) + "\n").encode()))
    _, report = read_invocation_logs(str(logs), max_object_bytes=8 * 1_000_000)
    assert report.skipped.get("object_too_large") == 1
    assert report.objects_read == 1


def test_decompress_cap_counts_every_gzip_member() -> None:
    from finetune_sdk.data.logs import _decompress, _TooLargeError

    two = gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600)
    assert _decompress(two, 2000) == b"a" * 600 + b"b" * 600
    with pytest.raises(_TooLargeError):
        _decompress(two, 1000)
    with pytest.raises(EOFError):
        _decompress(gzip.compress(b"c" * 5000)[:-12], 100_000)


def test_other_commands_refuse_hostile_paths_with_exit_2(
    hostile: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    argvs = []
    for case in CASES:
        p = str(hostile[case][0])
        argvs += [
            ["distill", "--prompts", p, "--teacher", "amazon.nova-pro-v1:0",
             "--student", "amazon.nova-micro-v1:0:128k", "--backend", "local"],
            ["jobs", "create", "--type", "fine-tuning", "--model", "amazon.nova-micro-v1:0:128k", "--train", p,
             "--backend", "local"],
        ]
    script = tmp_path / "cli_cases.py"
    script.write_text(CLI_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(argvs)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    for r in json.loads(proc.stdout):
        assert r["code"] == 2 and "Traceback" not in r["err"] and r["s"] < 5, r
