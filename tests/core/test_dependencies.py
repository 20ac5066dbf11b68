"""Declared dependencies are the truth.

- Every third-party module that ``finetune_sdk`` imports (anywhere, lazily or not) belongs to a distribution
  that ``pyproject.toml`` declares: as a core dependency, or in an extra.
- Every public module imports with only the core dependencies: optional packages are blocked in a fresh
  interpreter and each module is imported there, so a top-level import of an optional package fails here
  rather than on a user's machine that did not install that extra.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "finetune_sdk"

# import name -> distribution, for the optional packages that may be absent from the test environment
# (packages_distributions() only knows what is installed)
KNOWN_DISTRIBUTIONS = {
    "sagemaker": "sagemaker",
    "torch": "torch",
    "transformers": "transformers",
    "peft": "peft",
    "accelerate": "accelerate",
    "safetensors": "safetensors",
    "datasets": "datasets",
    "datasketch": "datasketch",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "moto": "moto",
    "hypothesis": "hypothesis",
    "gguf": "gguf",
    "trl": "trl",
    "orjson": "orjson",
    "yaml": "pyyaml",
    "botocore": "botocore",
    "boto3": "boto3",
    "jsonlines": "jsonlines",
    "tenacity": "tenacity",
    "tqdm": "tqdm",
    "numpy": "numpy",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "pytest": "pytest",
    "nbclient": "nbclient",
    "nbformat": "nbformat",
    "werkzeug": "werkzeug",
    "flask": "flask",
}
# distributions that come with a declared one (botocore with boto3, pydantic_core with pydantic)
IMPLIED = {"botocore": "boto3", "pydantic-core": "pydantic", "werkzeug": "moto", "flask": "moto"}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = {name: {_requirement_name(r) for r in reqs} for name, reqs in project["optional-dependencies"].items()}
    return core, extras


def _third_party_imports() -> dict[str, list[str]]:
    """Top-level third-party import names used anywhere in the package -> the files that import them."""
    stdlib = set(sys.stdlib_module_names)
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in {"finetune_sdk", "__future__"}:
                    continue
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def _distribution(import_name: str) -> str:
    installed = importlib.metadata.packages_distributions().get(import_name)
    if import_name in KNOWN_DISTRIBUTIONS:
        return KNOWN_DISTRIBUTIONS[import_name]
    if installed:
        return installed[0].lower().replace("_", "-")
    raise AssertionError(
        f"finetune_sdk imports {import_name!r}, whose distribution is unknown: add it to KNOWN_DISTRIBUTIONS "
        "in this test and declare it in pyproject.toml"
    )


def test_every_third_party_import_is_declared() -> None:
    core, extras = _declared()
    everything = core.union(*extras.values())
    undeclared = {}
    for name, files in _third_party_imports().items():
        dist = IMPLIED.get(_distribution(name), _distribution(name))
        if dist not in everything:
            undeclared[name] = sorted(set(files))[:3]
    assert not undeclared, f"imported but declared nowhere in pyproject.toml: {undeclared}"


def test_fast_paths_are_core_dependencies() -> None:
    core, _ = _declared()
    # the validator's fast JSON path is part of the product, not an accident of the machine
    assert "orjson" in core


def test_every_public_module_imports_with_only_core_dependencies() -> None:
    core, _ = _declared()
    core_imports = {"boto3", "botocore", "pydantic", "pydantic_core", "jsonlines", "tenacity", "tqdm", "numpy",
                    "orjson", "s3transfer", "jmespath", "dateutil", "urllib3", "attr", "attrs",
                    "typing_extensions", "annotated_types", "typing_inspection"}
    assert {_requirement_name(c) for c in core} <= {"pydantic", "boto3", "jsonlines", "tenacity", "tqdm", "numpy",
                                                    "orjson"}, "a new core dependency: add its import names here"
    optional = sorted(set(_third_party_imports()) - core_imports)
    # finetune_sdk.testing is the `testing` extra's own package: it may need that extra (pytest, moto)
    testing_extra = {"pytest", "moto", "hypothesis", "werkzeug", "flask"}
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts):
            continue  # private modules are imported through their public package
        modules.append(".".join(p for p in parts if p != "__init__"))
    script = textwrap.dedent(
        """
        import importlib, importlib.abc, json, sys, traceback
        BLOCKED = set(json.loads(sys.argv[1]))
        TESTING_EXTRA = set(json.loads(sys.argv[3]))
        current = [""]

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                top = name.split(".")[0]
                allowed = current[0].startswith("finetune_sdk.testing") and top in TESTING_EXTRA
                if top in BLOCKED and not allowed:
                    raise ModuleNotFoundError(f"No module named {name!r} (blocked: not a core dependency)",
                                              name=name)
                return None

        sys.meta_path.insert(0, Block())
        failures = {}
        for module in json.loads(sys.argv[2]):
            current[0] = module
            try:
                importlib.import_module(module)
            except BaseException:
                failures[module] = traceback.format_exc(limit=3)[-600:]
        print(json.dumps(failures))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(optional), json.dumps(modules), json.dumps(sorted(testing_extra))],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    failures = json.loads(out.stdout.strip().splitlines()[-1])
    assert not failures, "modules that need an optional extra at import time:\n" + "\n".join(
        f"{name}:\n{tb}" for name, tb in failures.items()
    )
    assert len(modules) > 40  # the walk found the package
