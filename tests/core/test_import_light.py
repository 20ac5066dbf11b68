"""``import finetune_sdk`` stays light, and the SageMaker backend never imports the ``sagemaker`` package.

Each check runs in a fresh interpreter (``sys.modules`` of this process is full of test dependencies). The
``sagemaker`` check also runs with a booby-trapped ``sagemaker`` package on the path, so it holds whether or
not the real extra is installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "pandas", "torch", "transformers", "sagemaker")


def run_python(code: str, *, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    paths = [str(ROOT), *([str(extra_path)] if extra_path else []), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def test_import_finetune_sdk_loads_no_heavy_package() -> None:
    out = run_python(f"import sys, finetune_sdk\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_sagemaker_backend_import_does_not_import_the_sagemaker_package(tmp_path: Path) -> None:
    trap = tmp_path / "sagemaker"
    trap.mkdir()
    (trap / "__init__.py").write_text("raise RuntimeError('finetune_sdk imported the sagemaker package')\n")
    code = (
        "import sys\n"
        "import finetune_sdk.backends.sagemaker as sm\n"
        "from finetune_sdk import backends\n"
        "backends.get('sagemaker', region='us-east-1')\n"
        "print(sorted(m for m in ('sagemaker', 'torch', 'transformers', 'pandas') if m in sys.modules))\n"
    )
    for extra in (None, tmp_path):
        out = run_python(code, extra_path=extra)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]"


def test_importtime_script_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("ci_importtime", ROOT / ".ci" / "importtime.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ci_importtime", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    entries = module.parse(
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |     botocore.compat\n"
        "import time:       300 |        420 |   boto3\n"
        "import time:        50 |        470 | finetune_sdk\n"
    )
    assert module.heavy_imports(entries) == ["boto3", "botocore"]
    assert module.total_us(entries, "finetune_sdk") == 470
    assert [e.module for e in module.imported_by(entries, "finetune_sdk")] == [
        "botocore.compat",
        "boto3",
        "finetune_sdk",
    ]
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "importtime.py"), "--runs", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    if result.returncode != 0 and "over the" in result.stdout and "heavy" not in result.stdout:
        pytest.skip(f"the machine is too busy for the time budget: {result.stdout.splitlines()[0]}")
    assert result.returncode == 0, result.stdout + result.stderr
