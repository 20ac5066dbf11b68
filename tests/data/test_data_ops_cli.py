"""``finetune data stats | split | dedupe`` (finetune_sdk.cli.data_ops)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from finetune_sdk.cli.data_ops import parse_ratios, register_ops
from finetune_sdk.errors import FinetuneError

pytest.importorskip("finetune_sdk.data.dataset")

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def run(argv: list[str]) -> int:
    """Parse and run like ``finetune data ...`` does, with the same exit-code rules as cli.main."""
    parser = argparse.ArgumentParser(prog="finetune")
    groups = parser.add_subparsers(dest="command")
    data = groups.add_parser("data").add_subparsers(dest="data_command")
    register_ops(data)
    try:
        args = parser.parse_args(["data", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except FinetuneError as exc:
        print(f"error: {exc}")
        return 1


def _row(i: int) -> dict:
    return {
        "system": "You are a careful maths tutor.",
        "messages": [
            {"role": "user", "content": f"Question number {i}: what is {i} plus {i}?"},
            {"role": "assistant", "content": f"The answer is {2 * i}."},
        ],
    }


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    rows = [_row(i) for i in range(40)]
    rows += [_row(3), _row(5)]  # two exact duplicates
    near = _row(7)
    near["messages"][0]["content"] = near["messages"][0]["content"] + " Thanks"
    rows.append(near)
    path = tmp_path / "all.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- stats -----------------------------------------------------------------------------------------------


def test_stats_json_has_estimate_with_model_defaults(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stats", str(data_file), "--model", HAIKU, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["records"] == 43 and out["conversations"] == 43 and out["with_system"] == 43
    assert out["epochs"] == 2 and out["model_id"] == HAIKU
    assert out["estimated_training_tokens"] == 2 * out["total_tokens"]
    assert out["price_date"] and out["estimated_cost"] > 0
    assert out["path"] == str(data_file)


def test_stats_text_output_and_epochs_override(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stats", str(data_file), "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "| records | 43 |" in out and "| epochs | 3 (given) |" in out
    assert "pass a model to estimate the cost" in out


def test_stats_usage_errors_exit_2(data_file: Path) -> None:
    assert run(["stats", str(data_file), "--epochs", "0"]) == 2
    assert run(["stats"]) == 2


def test_stats_unknown_model_exits_1(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stats", str(data_file), "--model", "no-such-model-xyz"]) == 1
    assert "not in the finetune_sdk catalog" in capsys.readouterr().out


# --- split -----------------------------------------------------------------------------------------------


def test_split_writes_files_in_the_input_format(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = tmp_path / "splits"
    argv = [
        "split",
        str(data_file),
        "--ratios",
        "train=0.8,validation=0.1,test=0.1",
        "--seed",
        "5",
        "-o",
        str(outdir),
    ]
    assert run([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: v["records"] for k, v in out["splits"].items()} == {
        "train": 35,
        "validation": 4,
        "test": 4,
    }  # 34.4, 4.3, 4.3
    assert out["format"] == "bedrock_messages" and out["seed"] == 5
    rows = {name: _read(outdir / f"all.{name}.jsonl") for name in ("train", "validation", "test")}
    assert sum(len(r) for r in rows.values()) == 43
    assert all(set(r) == {"system", "messages"} for part in rows.values() for r in part)
    # deterministic: the same command writes the same files
    first = {name: (outdir / f"all.{name}.jsonl").read_bytes() for name in rows}
    assert run(argv) == 2  # the files exist: refused without --force
    assert run([*argv, "--force"]) == 0
    assert {name: (outdir / f"all.{name}.jsonl").read_bytes() for name in rows} == first
    # a different seed gives a different split
    assert run([*argv[:-2], "--seed", "6", "-o", str(tmp_path / "other")]) == 0
    assert (tmp_path / "other" / "all.train.jsonl").read_bytes() != first["train"]


def test_split_defaults_to_beside_the_input_and_warns_about_leakage(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["split", str(data_file), "--ratios", "train=0.5,test=0.5", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert (data_file.parent / "all.train.jsonl").exists() and (data_file.parent / "all.test.jsonl").exists()
    assert "| train | 22 |" in captured.out
    # the file has exact duplicates; with this seed at least one pair straddles the split
    json_out = run(["split", str(data_file), "--ratios", "train=0.5,test=0.5", "--seed", "1", "--json", "--force"])
    assert json_out == 0
    leakage = json.loads(capsys.readouterr().out)["leakage"]
    if not leakage["ok"]:
        assert "Run `finetune data dedupe` before splitting" in captured.err


@pytest.mark.parametrize(
    "ratios",
    [
        "train=0.8,test=0.1",
        "train=0.8;test=0.2",
        "train=x,test=0.2",
        "train=0.5,train=0.5",
        "=1.0",
        "train=-1,test=2",
    ],
)
def test_split_bad_ratios_are_usage_errors(
    data_file: Path, ratios: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["split", str(data_file), "--ratios", ratios]) == 2
    assert "--ratios" in capsys.readouterr().err


def test_split_output_names_never_overwrite_the_input(tmp_path: Path) -> None:
    path = tmp_path / "x.train.jsonl"
    path.write_text(json.dumps(_row(1)) + "\n" + json.dumps(_row(2)) + "\n", encoding="utf-8")
    before = path.read_bytes()
    assert run(["split", str(path), "--ratios", "train=0.5,test=0.5"]) == 0
    assert path.read_bytes() == before
    assert (
        len(_read(tmp_path / "x.train.train.jsonl")) == 1 and len(_read(tmp_path / "x.train.test.jsonl")) == 1
    )


def test_parse_ratios() -> None:
    assert parse_ratios("train=0.8, validation=0.1 ,test=0.1") == {
        "train": 0.8,
        "validation": 0.1,
        "test": 0.1,
    }
    with pytest.raises(argparse.ArgumentTypeError, match="sum to 1"):
        parse_ratios("a=0.5,b=0.4")


# --- dedupe ----------------------------------------------------------------------------------------------


def test_dedupe_exact(data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dedup" / "all.jsonl"
    assert run(["dedupe", str(data_file), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["input_records"] == 43 and report["output_records"] == 41
    assert report["exact_duplicates"] == 2 and report["removed_indexes"] == [40, 41]
    assert [c["indexes"] for c in report["clusters"]] == [[3, 40], [5, 41]]
    rows = _read(out)
    assert len(rows) == 41 and rows[0] == _row(0)


def test_dedupe_near(data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("datasketch")
    out = tmp_path / "near.jsonl"
    assert run(["dedupe", str(data_file), "--near", "--threshold", "0.8", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "removed 2 exact and 1 near" in text and f"wrote 40 records to {out}" in text
    assert len(_read(out)) == 40


def test_dedupe_usage_errors(data_file: Path, tmp_path: Path) -> None:
    assert run(["dedupe", str(data_file)]) == 2  # -o is required
    assert run(["dedupe", str(data_file), "--threshold", "1.5", "-o", str(tmp_path / "o.jsonl")]) == 2
    assert run(["dedupe", str(data_file), "-o", str(data_file)]) == 2  # would overwrite the input


def test_missing_input_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["dedupe", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_commands_are_reachable_from_the_finetune_entry_point(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("finetune_sdk.cli.data")
    from finetune_sdk.cli.main import main

    assert main(["data", "stats", str(data_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 43
    assert main(["data", "split", str(data_file), "--ratios", "a=0.5,b=0.5", "-o", str(tmp_path / "s")]) == 0
    assert len(_read(tmp_path / "s" / "all.a.jsonl")) + len(_read(tmp_path / "s" / "all.b.jsonl")) == 43
    assert main(["data", "dedupe", str(data_file), "-o", str(tmp_path / "d.jsonl")]) == 0
    assert len(_read(tmp_path / "d.jsonl")) == 41
    capsys.readouterr()
    assert main(["data", "split", str(data_file), "--ratios", "a=0.5"]) == 2
    assert main(["data", "stats", str(data_file), "--model", "no-such-model-xyz"]) == 1
    assert "error:" in capsys.readouterr().err
