"""The `finetune` command as a whole: consistent options, help with examples, exit codes, completion."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from finetune_sdk.cli.completion import command_tree, render
from finetune_sdk.cli.main import build_parser, main

LEAVES = [path for path, subs, _ in command_tree(build_parser()) if path and not subs]


def test_every_command_group_exists() -> None:
    top = {path[0] for path in LEAVES}
    assert {"demo", "data", "jobs", "models", "eval", "distill", "completion"} <= top


@pytest.mark.parametrize("path", [p for p in LEAVES if p != ("completion",)], ids=" ".join)
def test_every_command_takes_json(path: tuple[str, ...]) -> None:
    opts = dict((p, o) for p, _, o in command_tree(build_parser()))[path]
    assert "--json" in opts, f"finetune {' '.join(path)} has no --json"


@pytest.mark.parametrize("group", ["data", "jobs", "models", "eval", "distill", "demo", "completion"])
def test_help_shows_examples_and_exits_zero(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([group, "--help"]) == 0
    assert "examples:" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert main([]) == 2
    assert main(["data", "validate"]) == 2  # missing PATH
    capsys.readouterr()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_cover_the_tree(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert script == render(shell, build_parser())
    option = "-l json" if shell == "fish" else "--json"
    for word in ("validate", "create", "deploy", option):
        assert word in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_completes_commands_and_options(tmp_path) -> None:
    script = tmp_path / "finetune.bash"
    script.write_text(render("bash", build_parser()))
    probe = (
        f"source {script}\n"
        'COMP_WORDS=(finetune jobs cr); COMP_CWORD=2; _finetune; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(finetune data validate --mo); COMP_CWORD=3; _finetune; echo "${COMPREPLY[*]}"\n'
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["create", "--model"]
