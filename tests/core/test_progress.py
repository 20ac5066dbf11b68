"""Progress bars appear where a person watches, and never in logs, pipes or files."""

from __future__ import annotations

import io
import sys

import pytest

from finetune_sdk import _progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "_override", None)
    monkeypatch.delenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not _progress.progress_enabled()
    bar = _progress.progress_bar(total=3, desc="x")
    bar.update(3)
    bar.close()
    assert sys.stderr.getvalue() == ""


def test_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert _progress.progress_enabled()


def test_environment_forces_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty())
    monkeypatch.setenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "1")
    assert not _progress.progress_enabled()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "0")
    assert _progress.progress_enabled()


def test_explicit_call_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    _progress.enable_progress_bars()
    assert _progress.progress_enabled()
    _progress.disable_progress_bars()
    assert not _progress.progress_enabled()
