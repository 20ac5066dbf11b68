"""docs/backends/writing-a-backend.md is real code: its toy backend passes the conformance suite and its
``pyproject.toml`` entry point makes ``backends.get("toy")`` work.

The backend module and the conformance test module are extracted from the page's code blocks (by their
``title="..."``) and executed here, so the page cannot drift from what actually works.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from finetune_sdk import backends
from finetune_sdk.backends.base import capabilities_of

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _snippets import blocks

PAGE = "backends/writing-a-backend.md"
FILES = {b.title: b.code for b in blocks(PAGE) if b.title}


def _load_toy_backend() -> types.ModuleType:
    module = types.ModuleType("toy_backend")
    module.__file__ = f"<docs/{PAGE}: toy_backend/__init__.py>"
    sys.modules["toy_backend"] = module
    exec(compile(FILES["toy_backend/__init__.py"], module.__file__, "exec"), module.__dict__)
    return module


toy_backend = _load_toy_backend()

# The page's conformance module, run as part of this one: it defines TestToyBackend here.
exec(compile(FILES["tests/test_toy_conformance.py"], f"<docs/{PAGE}: tests/test_toy_conformance.py>", "exec"))


def test_the_page_has_the_three_files() -> None:
    assert set(FILES) == {"toy_backend/__init__.py", "pyproject.toml", "tests/test_toy_conformance.py"}
    assert "TestToyBackend" in globals()


@pytest.fixture
def installed_toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Install the page's pyproject entry points as a distribution's metadata on sys.path (no pip needed)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(FILES["pyproject.toml"])["project"]
    entry_points = project["entry-points"]["finetune_sdk.backends"]
    dist = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    lines = ["[finetune_sdk.backends]", *(f"{name} = {target}" for name, target in entry_points.items())]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    backends._registry.pop("toy", None)
    yield entry_points
    backends._registry.pop("toy", None)


def test_entry_point_in_pyproject_registers_the_backend(installed_toy: dict[str, str]) -> None:
    from finetune_sdk.testing import FakeClock

    assert installed_toy == {"toy": "toy_backend:ToyBackend"}
    assert "toy" in backends.available()
    backend = backends.get("toy", clock=FakeClock())
    assert isinstance(backend, toy_backend.ToyBackend)
    assert backends.capability_matrix()["toy"] == capabilities_of(toy_backend.ToyBackend)
    assert backends.capability_matrix()["toy"]["invoke"] is True
