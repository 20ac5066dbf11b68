"""Run the code blocks of one docs page: ``python tests/docs/_run_page.py PAGE`` (in a scratch directory).

Used by ``test_snippets.py`` in a subprocess, so each page gets a fresh interpreter (moto, the backend registry
and the local backend's model cache never leak between pages). Exit codes: 0 every block ran, 1 a block failed
(the traceback names the page and line), 3 the page needs the ``[local]`` extra, which is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _snippets import blocks

NEEDS_LOCAL = 3


def main(page: str) -> int:
    workdir = Path.cwd()
    sys.path.insert(0, str(workdir))
    found = blocks(page)
    for block in found:  # files first: later blocks import them
        if block.title and block.lang == "python":
            target = workdir / block.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in found:
        if block.lang != "python" or block.title:
            continue
        code = compile(block.code, f"docs/{page}:{block.line}", "exec")
        if block.mode == "skip":
            continue
        if block.mode == "local" and not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft")):
            print(f"docs/{page}:{block.line} needs the [local] extra; the rest of the page is not run")
            return NEEDS_LOCAL
        print(f"--- docs/{page}:{block.line} ({block.mode})", flush=True)
        try:
            exec(code, namespace)
        except BaseException:
            traceback.print_exc()
            return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "1")
    sys.exit(main(sys.argv[1]))
