"""`finetune reinforce`: validate, verify, zip, dry-run request (local GRPO and submission reuse tested APIs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_sdk.cli.main import main


def _write(path: Path, n: int) -> Path:
    rows = [
        {"id": f"q{i}", "messages": [{"role": "user", "content": f"{i}: A) x B) y"}], "reference_answer": "AB"[i % 2]}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_verify_zip_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = _write(tmp_path / "rft.jsonl", 100)
    base = tmp_path / "base.jsonl"
    base.write_text("".join(json.dumps({"completion": "no idea"}) + "\n" for _ in range(100)), encoding="utf-8")
    code = main(
        [
            "reinforce",
            "--reward",
            "rft_rewards:answer_letter",
            "--train",
            str(train),
            "--completions",
            str(base),
            "--zip",
            str(tmp_path / "g.zip"),
            "--verify-only",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["validation"]["valid_records"] == 100
    assert out["verification"]["references"]["mean"] == 1.0
    assert any("supervised fine-tuning" in w for w in out["verification"]["warnings"])
    assert (tmp_path / "g.zip").is_file() and out["zip"]["code_sha256"]
    assert (
        main(
            [
                "reinforce",
                "--reward",
                "rft_rewards:answer_letter",
                "--train",
                str(train),
                "--completions",
                str(base),
                "--verify-only",
                "--strict",
            ]
        )
        == 1
    )
    capsys.readouterr()
    code = main(
        [
            "reinforce",
            "--reward",
            "rft_rewards:answer_letter",
            "--train",
            str(train),
            "--dry-run",
            "--hp",
            "epochCount=2",
            "--hp",
            "reasoningEffort=low",
            "--json",
        ]
    )
    request = json.loads(capsys.readouterr().out)["request"]
    assert code == 0 and request["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    assert request["customizationConfig"]["rftConfig"]["hyperParameters"] == {"epochCount": 2, "reasoningEffort": "low"}


def test_bad_data_and_bad_reward(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    few = _write(tmp_path / "few.jsonl", 50)
    assert main(["reinforce", "--reward", "rft_rewards:answer_letter", "--train", str(few)]) == 1
    assert "rft.min_prompts" in capsys.readouterr().out
    assert main(["reinforce", "--reward", "rft_rewards:nope", "--train", str(few)]) == 2
    assert main(["reinforce", "--reward", "no_colon", "--train", str(few)]) == 2
    assert "MODULE:NAME" in capsys.readouterr().err
