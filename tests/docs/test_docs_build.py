"""The documentation builds with ``mkdocs build --strict`` and every page in the nav exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _snippets import DOCS, ROOT, nav_pages

#: the markers docs/hooks.py replaces with tables generated from the code
HOOK_MARKERS = (
    "capability-matrix",
    "cli-help",
    "catalog-table",
    "rules-table",
    "formats-table",
    "metrics-table",
    "local-hyperparameters",
    "gate-steps",
)


def test_every_nav_page_exists() -> None:
    pages = nav_pages()
    assert len(pages) >= 25
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"pages in mkdocs.yml's nav that do not exist: {missing}"


def test_every_marker_is_one_the_hook_knows() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    known = {m.strip("<!-> ") for m in hooks._MARKERS}
    assert known == set(HOOK_MARKERS)
    for page in nav_pages():
        for marker in re.findall(r"<!-- ([a-z][a-z-]*) -->", (DOCS / page).read_text(encoding="utf-8")):
            assert marker in known, f"docs/{page}: <!-- {marker} --> is not a marker docs/hooks.py replaces"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the docs extra is not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    for page in nav_pages():
        html_path = site / (page.removesuffix(".md").removesuffix("index") + "/index.html").lstrip("/")
        if page == "index.md":
            html_path = site / "index.html"
        assert html_path.is_file(), f"{page} was not built ({html_path})"
        html = html_path.read_text(encoding="utf-8")
        for marker in HOOK_MARKERS:
            assert f"<!-- {marker} -->" not in html, f"{page}: <!-- {marker} --> was not replaced"
    matrix = (site / "backends" / "index.html").read_text(encoding="utf-8")
    assert "batch inference" in matrix and "sagemaker" in matrix
    rules = (site / "guides" / "data" / "index.html").read_text(encoding="utf-8")
    assert "records.min_train" in rules and "encoding.invalid_utf8" in rules
