"""The notebook views (``_repr_html_``) of ValidationReport, EvaluationReport (with its plot) and Job, rendered
by a real browser: headless Chromium (Debian's ``chromium`` package).

Each view is wrapped in a page that records JavaScript errors and, once loaded, measures what a reader sees:
the visible text, every table's cells (drawn with a size, a legible font and enough contrast against the
background they sit on) and every image (decoded, not broken). A blank page, a JavaScript error, a broken
plot or an unreadable table fails the test. A screenshot of each view is written to the test's temporary
folder (the paths are printed; run with ``-s`` to see them) and, when ``FINETUNE_SDK_SCREENSHOT_DIR`` is set,
copied there too, for a person to open.

Without ``chromium`` on the PATH the test is skipped, except under CI (``CI=true``), where it fails:
``.ci/run`` installs the package.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation
from finetune_sdk.evaluation import Evaluator
from finetune_sdk.jobs import Job
from finetune_sdk.testing import FakeBackend

#: read at import: the autouse fixture of tests/conftest.py clears FINETUNE_SDK_* variables before each test
SCREENSHOT_DIR = os.environ.get("FINETUNE_SDK_SCREENSHOT_DIR")

BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

#: runs in the page: JavaScript errors from the first byte, then measurements once everything has loaded
PROBE_HEAD = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var what = e.message || ('failed to load ' + ((e.target && (e.target.src || e.target.href)) || 'a resource'));
  window.__errors.push(String(what));
}, true);
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('rejection: ' + e.reason); });
</script>"""

PROBE_TAIL = """<script>
function rgb(text) {
  var m = text.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  var p = m[1].split(',').map(parseFloat);
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
}
function luminance(c) {
  var f = function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
function background(el) {
  for (var node = el; node && node.nodeType === 1; node = node.parentElement) {
    var c = rgb(getComputedStyle(node).backgroundColor);
    if (c && c.a > 0.5) return c;
  }
  return {r: 255, g: 255, b: 255, a: 1};
}
function contrast(el) {
  var fg = luminance(rgb(getComputedStyle(el).color)), bg = luminance(background(el));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}
window.addEventListener('load', function () {
  var body = document.getElementById('view');
  var tables = Array.prototype.map.call(body.querySelectorAll('table'), function (t) {
    var cells = t.querySelectorAll('th, td');
    var bad = [];
    Array.prototype.forEach.call(cells, function (c, i) {
      var box = c.getBoundingClientRect(), style = getComputedStyle(c);
      var text = c.innerText.trim();
      if (!text) return;  // an empty cell is allowed (no line number, no path)
      if (box.width < 4 || box.height < 4 || style.visibility === 'hidden' || style.display === 'none')
        bad.push('cell ' + i + ' not drawn: ' + text.slice(0, 40));
      else if (parseFloat(style.fontSize) < 9) bad.push('cell ' + i + ' font ' + style.fontSize);
      else if (contrast(c) < 3)
        bad.push('cell ' + i + ' contrast ' + contrast(c).toFixed(2) + ': ' + text.slice(0, 40));
      else if (c.scrollWidth > box.width + 2 && style.overflow === 'hidden') bad.push('cell ' + i + ' clipped');
    });
    var box = t.getBoundingClientRect();
    return {rows: t.rows.length, cells: cells.length, width: box.width, height: box.height,
            text: t.innerText.trim().length, bad: bad};
  });
  var images = Array.prototype.map.call(body.querySelectorAll('img'), function (img) {
    return {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
            shown: img.getBoundingClientRect().width};
  });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.style.display = 'none';  // read from the DOM, kept out of the screenshot
  out.textContent = JSON.stringify({errors: window.__errors, text: body.innerText.trim().length,
                                    height: body.getBoundingClientRect().height, tables: tables, images: images});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is not installed; .ci/run installs it with apt-get install -y chromium")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")


def page(view_html: str, title: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>{PROBE_HEAD}</head>"
        # the font and colours of a notebook: JupyterLab's light theme draws outputs in 13px sans-serif
        "<body style='font: 13px sans-serif; color: rgba(0,0,0,0.87); background: #fff; margin: 16px'>"
        f"<div id='view'>{view_html}</div>{PROBE_TAIL}</body></html>"
    )


def render(browser: str, html_text: str, folder: Path, name: str) -> tuple[dict[str, Any], Path]:
    """Load the page in Chromium: the probe's measurements, and a screenshot."""
    source = folder / f"{name}.html"
    source.write_text(html_text, encoding="utf-8")
    shot = folder / f"{name}.png"

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        profile = folder / f"profile-{name}-{len(extra)}"  # a fresh profile per launch
        return subprocess.run(
            [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *extra,
             source.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )

    dom = run("--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r"<pre id=\"probe\"[^>]*>(.*?)</pre>", dom.stdout, re.S)
    assert found, f"{name}: the page never finished loading (no probe output):\n{dom.stdout[:500]}"
    probe = json.loads(html.unescape(found.group(1)))
    shooting = run(f"--screenshot={shot}", "--window-size=1280,1400")
    assert shooting.returncode == 0 and shot.is_file(), shooting.stderr[-2000:]
    return probe, shot


def check(name: str, probe: dict[str, Any], shot: Path, *, tables: int, images: int = 0) -> None:
    assert probe["errors"] == [], f"{name}: JavaScript errors: {probe['errors']}"
    assert probe["text"] > 40 and probe["height"] > 40, f"{name}: blank page: {probe}"
    assert len(probe["tables"]) >= tables, f"{name}: {len(probe['tables'])} tables, expected {tables}"
    for t in probe["tables"]:
        assert t["rows"] >= 1 and t["text"] > 0 and t["width"] > 50 and t["height"] > 10, f"{name}: {t}"
        assert t["bad"] == [], f"{name}: unreadable table cells: {t['bad']}"
    assert len(probe["images"]) >= images, f"{name}: expected {images} image(s): {probe['images']}"
    for img in probe["images"]:
        assert img["complete"] and img["width"] > 100 and img["height"] > 100 and img["shown"] > 100, img
    from PIL import Image

    with Image.open(shot) as picture:
        grey = picture.convert("L")
        low, high = grey.getextrema()
        dark = sum(grey.histogram()[:128])
    assert high - low > 100 and dark > 500, f"{name}: the screenshot is blank ({low}-{high}, {dark} dark pixels)"


@pytest.fixture(scope="module")
def browser() -> str:
    return chromium()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def _keep(shot: Path) -> None:
    print(f"\nscreenshot: {shot}")
    target = SCREENSHOT_DIR
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


@pytest.mark.slow
def test_validation_report_renders(browser: str, shots: Path) -> None:
    rows = [{"prompt": f"What is {i} + {i}?", "completion": str(2 * i)} for i in range(20)]
    rows[3] = {"prompt": "", "completion": "0"}
    rows[7] = {"prompt": "no answer here"}
    report = Dataset.from_records(rows).validate(for_model="amazon.titan-text-lite-v1:0:4k")
    assert not report.ok and report.issues
    probe, shot = render(browser, page(report._repr_html_(), "ValidationReport"), shots, "validation_report")
    _keep(shot)
    check("ValidationReport", probe, shot, tables=1)


@pytest.mark.slow
def test_evaluation_report_with_its_plot_renders(browser: str, shots: Path) -> None:
    pytest.importorskip("matplotlib")
    data = [Conversation.from_pairs(f"Double of {i}?", str(2 * i)) for i in range(30)]

    def base(prompt: str) -> str:
        n = int(prompt.split()[2].rstrip("?"))
        return str(2 * n + n % 3)

    def tuned(prompt: str) -> str:
        return str(2 * int(prompt.split()[2].rstrip("?")))

    report = Evaluator(["exact_match", "token_f1"], progress=False).compare([base, tuned], data)
    view = report._repr_html_()
    assert "data:image/png;base64," in view
    probe, shot = render(browser, page(view, "EvaluationReport"), shots, "evaluation_report")
    _keep(shot)
    check("EvaluationReport", probe, shot, tables=3, images=1)


@pytest.mark.slow
def test_job_renders(browser: str, shots: Path) -> None:
    backend = FakeBackend()
    data = Dataset.from_records([{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)])
    job = Job.fine_tune(model="amazon.titan-text-lite-v1:0:4k", train=data, backend=backend)
    probe, shot = render(browser, page(job._repr_html_(), "Job"), shots, "job")
    _keep(shot)
    check("Job", probe, shot, tables=1)


def test_a_broken_view_is_caught(browser: str, shots: Path) -> None:
    """The checks can fail: a script error, a white-on-white table and a broken image are all reported."""
    broken = (
        "<table><tr><td style='color:#fafafa'>invisible text on white</td></tr></table>"
        "<img src='data:image/png;base64,AAAA'><script>undefined_function();</script>"
    )
    probe, _ = render(browser, page(broken, "broken"), shots, "broken")
    assert any("undefined_function" in e for e in probe["errors"])
    assert probe["tables"][0]["bad"] and "contrast" in probe["tables"][0]["bad"][0]
    assert probe["images"][0]["width"] == 0
