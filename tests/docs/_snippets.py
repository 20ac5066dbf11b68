"""Read the code blocks of the docs pages, so tests can run them.

Conventions in the Markdown (HTML comments render as nothing):

- a fenced ``python`` block runs, in order, in one namespace per page, in a fresh working directory;
- ``<!-- docs-test: skip (why) -->`` on the line before a fence: the block is only compiled (it needs an AWS
  account, say);
- ``<!-- docs-test: local -->`` before a fence: the block needs the ``[local]`` extra (torch, transformers,
  peft); the page's test is then slow and the rest of the page is skipped without the extra;
- ``<!-- docs-test-setup ... -->``: hidden Python that runs at that point (it creates the input files a reader
  would already have);
- a fence with ``title="path/to/file.py"`` is a file: it is written under the working directory (which is on
  ``sys.path``) before the page's blocks run, and not executed;
- ``bash`` blocks: each line starting with ``finetune `` must parse with the real CLI parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^\n`]*)$")
_MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<what>skip|local)\b.*-->\s*$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')


@dataclass(frozen=True)
class Block:
    """One code block (or hidden setup) of a page, with the 1-based line its code starts on."""

    page: str
    line: int
    lang: str
    code: str
    title: str | None = None
    mode: str = "run"  # run | skip | local | setup


def nav_pages() -> list[str]:
    """Every page path in mkdocs.yml's nav, relative to docs/."""
    import yaml  # PyYAML: installed with mkdocs and with moto[s3] (the testing extra)

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            pages.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    return pages


def blocks(page: str) -> list[Block]:
    """The code blocks and hidden setups of ``docs/<page>``, in order."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    pending: str | None = None
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("<!-- docs-test-setup"):
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "-->":
                j += 1
            out.append(Block(page, start + 1, "python", "\n".join(lines[start:j]) + "\n", mode="setup"))
            i = j + 1
            continue
        marker = _MARKER.match(line.strip())
        if marker:
            pending = marker.group("what")
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            info = fence.group("info").strip()
            indent, ticks = fence.group("indent"), fence.group("fence")
            j = i + 1
            while j < len(lines) and lines[j].strip() != ticks:
                j += 1
            code = "\n".join(x[len(indent) :] for x in lines[i + 1 : j]) + "\n"
            lang = info.split()[0] if info else ""
            title = _TITLE.search(info)
            out.append(Block(page, i + 2, lang, code, title.group("title") if title else None, pending or "run"))
            pending = None
            i = j + 1
            continue
        if line.strip():
            pending = None
        i += 1
    return out
