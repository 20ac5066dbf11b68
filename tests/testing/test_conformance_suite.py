"""The conformance suite itself: known gaps become strict xfails, and it catches a broken backend."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from finetune_sdk.testing.conformance import BackendConformance, GenericJobSpecs


def _marks(func: object) -> list[pytest.Mark]:
    return list(getattr(func, "pytestmark", []))


def test_known_gaps_become_strict_xfails_on_the_subclass_only() -> None:
    class WithGap(BackendConformance):
        known_gaps = {"test_stop_is_idempotent_and_ends_stopped": "notimpl: the service cannot stop jobs"}

    (mark,) = _marks(WithGap.test_stop_is_idempotent_and_ends_stopped)
    assert mark.name == "xfail" and mark.kwargs == {
        "reason": "notimpl: the service cannot stop jobs",
        "strict": True,
    }
    assert _marks(BackendConformance.test_stop_is_idempotent_and_ends_stopped) == []
    assert _marks(WithGap.test_submit_is_idempotent) == []

    class GapFixed(WithGap):
        known_gaps: dict[str, str] = {}

    assert _marks(GapFixed.test_stop_is_idempotent_and_ends_stopped) == []


def test_a_gap_that_names_no_test_is_refused() -> None:
    with pytest.raises(TypeError, match="test_cancel_is_idempotent"):
        type("Typo", (BackendConformance,), {"known_gaps": {"test_cancel_is_idempotent": "notimpl"}})


def test_generic_specs_have_fresh_names() -> None:
    specs = GenericJobSpecs()
    assert specs().name != specs().name


@pytest.mark.slow
def test_the_suite_fails_a_broken_backend_and_a_fixed_gap(tmp_path: Path) -> None:
    (tmp_path / "test_broken.py").write_text(
        textwrap.dedent("""
        import pytest
        from finetune_sdk.backends.base import JobSpec
        from finetune_sdk.testing import FakeBackend
        from finetune_sdk.testing.conformance import BackendConformance

        class NotIdempotent(FakeBackend):
            def submit_job(self, spec):
                renamed = spec.model_copy(update={"name": f"{spec.name}-{len(list(self.list_jobs()))}"})
                return super().submit_job(renamed)

        class TestBroken(BackendConformance):
            @pytest.fixture
            def backend(self):
                return NotIdempotent()

        class TestFixedGap(BackendConformance):
            known_gaps = {"test_unknown_job_raises_resource_not_found": "notyet: pretend it is missing"}

            @pytest.fixture
            def backend(self):
                return FakeBackend()
    """)
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rfX",
            str(tmp_path / "test_broken.py"),
            "-k",
            "idempotent or unknown_job",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 1, out
    assert "FAILED test_broken.py::TestBroken::test_submit_is_idempotent" in out
    assert "FAILED test_broken.py::TestFixedGap::test_unknown_job_raises_resource_not_found" in out
    assert "XPASS(strict)" in out and "notyet: pretend it is missing" in out
    assert "TestBroken::test_unknown_job_raises_resource_not_found" not in out  # that one passed
