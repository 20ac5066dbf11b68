"""Every docstring example in the package runs (they use the offline FakeBackend where a backend is needed)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import finetune_sdk

# Modules whose import needs an optional extra that may be absent are skipped, not failed.
OPTIONAL = ("torch", "transformers", "peft", "sagemaker", "datasketch", "pandas", "matplotlib", "moto", "pytest")


def _modules() -> list[str]:
    names = ["finetune_sdk"]
    for info in pkgutil.walk_packages(finetune_sdk.__path__, prefix="finetune_sdk."):
        if ".worker" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated shims warn on import, by design
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"{module_name} needs {exc.name}")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
