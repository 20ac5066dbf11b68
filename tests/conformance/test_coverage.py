"""Every backend the package declares runs the conformance suite: one ``test_<name>.py`` here per backend."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

import pytest

from finetune_sdk import backends

HERE = Path(__file__).parent


def _declared() -> dict[str, str]:
    """Backend name -> target, from this package's entry points and the registry's built-ins."""
    declared = dict(backends._BUILTIN_TARGETS)
    for ep in metadata.entry_points(group=backends.ENTRY_POINT_GROUP):
        if ep.value.startswith("finetune_sdk."):  # third-party plugins prove themselves in their own repos
            declared[ep.name] = ep.value
    return declared


def test_the_declared_backends_are_found() -> None:
    assert {"bedrock", "sagemaker", "local"} <= set(_declared())


@pytest.mark.parametrize("name", sorted(_declared()))
def test_each_declared_backend_has_a_conformance_module(name: str) -> None:
    module = _declared()[name].partition(":")[0]
    path = HERE / f"test_{name}.py"
    spec = importlib.util.find_spec(module)
    if not path.exists() and (spec is None or spec.origin is None):  # absent, or an empty namespace folder
        pytest.skip(f"backend {name!r} is declared but {module} is not written yet")
    assert path.exists(), (
        f"the {name!r} backend has no tests/conformance/test_{name}.py; add one that subclasses "
        "finetune_sdk.testing.conformance.BackendConformance (see test_fake.py)"
    )
    text = path.read_text(encoding="utf-8")
    assert "BackendConformance" in text, f"{path.name} must subclass BackendConformance"
    assert f"pytest.mark.{name}" in text, f"{path.name} must set pytestmark = pytest.mark.{name}"


def test_the_fake_backend_runs_the_suite_too() -> None:
    assert "BackendConformance" in (HERE / "test_fake.py").read_text(encoding="utf-8")
