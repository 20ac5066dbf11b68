from __future__ import annotations

import subprocess
import sys

import finetune_sdk


def test_import_is_light_and_quiet() -> None:
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"
        "import finetune_sdk\n"
        "heavy = [m for m in ('boto3', 'botocore', 'pandas', 'torch', 'transformers', 'sagemaker', 'datasketch',"
        " 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_every_public_name_resolves_without_heavy_imports() -> None:
    code = (
        "import sys, finetune_sdk\n"
        "for name in finetune_sdk.__all__: getattr(finetune_sdk, name)\n"
        "heavy = [m for m in ('boto3', 'pandas', 'torch', 'transformers', 'sagemaker') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_public_names_have_docstrings() -> None:
    for name in finetune_sdk.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(finetune_sdk, name)
        assert (getattr(obj, "__doc__", None) or "").strip(), f"finetune_sdk.{name} has no docstring"
