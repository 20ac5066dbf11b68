"""The code in the docs is real: every Python block compiles, runnable ones run, CLI lines parse.

See ``_snippets.py`` for the comment markers a page uses to skip a block, mark it as needing the ``[local]``
extra, or run hidden setup code.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from finetune_sdk.cli.main import build_parser

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _snippets import DOCS, blocks, nav_pages

HERE = Path(__file__).resolve().parent
PAGES = [p for p in nav_pages() if (DOCS / p).is_file()]
RUNNABLE = [p for p in PAGES if any(b.lang == "python" and not b.title and b.mode != "skip" for b in blocks(p))]


def _param(page: str) -> object:
    """Pages that train locally or start an AWS emulation take more than a few seconds."""
    code = [b for b in blocks(page) if b.lang == "python"]
    slow = any(b.mode == "local" or "Emulation(" in b.code for b in code)
    return pytest.param(page, id=page, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_compile(page: str) -> None:
    for block in blocks(page):
        if block.lang == "python":
            compile(block.code, f"docs/{page}:{block.line}", "exec")


def _cli_lines(code: str) -> list[str]:
    joined = code.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("finetune ")]


@pytest.mark.parametrize("page", PAGES)
def test_cli_lines_parse(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    for block in blocks(page):
        if block.lang not in ("bash", "sh", "console"):
            continue
        for line in _cli_lines(block.code):
            argv = shlex.split(line.split("&&")[0].split("||")[0].split(">")[0])[1:]
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:
                if exc.code != 0:  # --help exits 0
                    pytest.fail(f"docs/{page}:{block.line}: `{line}` does not parse: {capsys.readouterr().err}")
                continue
            assert getattr(args, "func", None) is not None, f"docs/{page}:{block.line}: `{line}` runs no command"


def test_some_pages_have_runnable_code() -> None:
    assert {"getting-started.md", "guides/data.md", "backends/writing-a-backend.md"} <= set(RUNNABLE)


@pytest.mark.parametrize("page", [_param(p) for p in RUNNABLE])
def test_page_code_runs(page: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(HERE / "_run_page.py"), page],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, f"docs/{page}:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
