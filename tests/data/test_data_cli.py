"""``finetune data validate`` and ``finetune data convert``: output lines and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.cli import data as cli_data
from finetune_sdk.cli.main import main
from finetune_sdk.data import FORMATS, Dataset, ValidationReport

NOVA = "amazon.nova-micro-v1:0:128k"


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def _pc(i: int) -> dict[str, str]:
    return {"prompt": f"q{i}", "completion": f"a{i}"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_format_choices_match_the_registry() -> None:
    assert set(cli_data._FORMATS) == set(FORMATS)


def test_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path / "good.jsonl", [_pc(i) for i in range(3)] + ["\n"])
    code, out, _ = _run(capsys, "data", "validate", str(good))
    assert code == 0  # a blank line is only a warning
    assert (
        out.splitlines()[0]
        == f"{good}:4: warning line.blank: blank line (remove empty lines; a blank line is "
        "not a record and some readers reject it)"
    )
    assert out.splitlines()[-1].startswith("OK: ")

    code, out, _ = _run(capsys, "data", "validate", str(good), "--model", NOVA)
    assert code == 1 and f"{good}: error format.wrong_for_model: " in out

    code, _, err = _run(capsys, "data", "validate", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such file" in err
    code, _, err = _run(capsys, "data", "validate", str(good), "--model", "not-a-model")
    assert code == 2 and "not in the finetune_sdk catalog" in err
    code, _, err = _run(capsys, "data", "validate", str(good), "--format", "yaml")
    assert code == 2 and "invalid choice" in err
    code, _, err = _run(capsys, "data", "validate", str(good), "--validation", str(tmp_path / "nope.jsonl"))
    assert code == 2


def test_validate_json_is_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "d.jsonl", [_pc(1), {"prompt": "", "completion": "x"}])
    val = _write(tmp_path / "v.jsonl", [_pc(2)])
    code, out, _ = _run(capsys, "data", "validate", str(path), "--json", "--validation", str(val))
    report = ValidationReport.from_json(out)
    assert code == 1 and report == Dataset.from_jsonl(path).validate(validation=val)
    assert [(i.line, i.rule) for i in report.issues] == [(2, "content.empty")]
    assert report.validation is not None and report.validation.source == str(val)


def test_data_group_alone_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data")
    assert code == 2 and "validate" in out and "convert" in out
    try:
        import finetune_sdk.cli.data_ops  # noqa: F401
    except ModuleNotFoundError:
        return
    assert "stats" in out and "split" in out and "dedupe" in out


def test_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(
        tmp_path / "msgs.jsonl",
        [
            {
                "system": "Be brief.",
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            },
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        ],
    )
    out_path = tmp_path / "pc.jsonl"
    code, out, _ = _run(capsys, "data", "convert", str(src), "--to", "prompt_completion", "-o", str(out_path))
    assert code == 0
    assert out.splitlines()[0] == (
        "bedrock_messages -> prompt_completion: 2 records in, 2 written; losses: system_merged_into_prompt x1"
    )
    assert out.splitlines()[-1] == f"wrote 2 records to {out_path}"
    assert [json.loads(x) for x in out_path.read_text().splitlines()] == [
        {"prompt": "Be brief.\n\nq", "completion": "a"},
        {"prompt": "q", "completion": "a"},
    ]

    code, out, _ = _run(
        capsys,
        "data",
        "convert",
        str(src),
        "--to",
        "bedrock_conversation",
        "-o",
        str(tmp_path / "c.jsonl"),
        "--json",
    )
    assert code == 0 and json.loads(out)["losses"] == {} and json.loads(out)["records_out"] == 2


def test_convert_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "bad.jsonl", [_pc(1), "{nope\n"])
    out_path = tmp_path / "out.jsonl"
    code, out, err = _run(capsys, "data", "convert", str(src), "--to", "text", "-o", str(out_path))
    assert code == 1 and f"{src}:2: error json.malformed" in out and "nothing written" in err
    assert not out_path.exists()
    code, _, err = _run(capsys, "data", "convert", str(src), "--to", "text", "-o", str(src))
    assert code == 2 and "input file" in err
    code, _, err = _run(
        capsys, "data", "convert", str(tmp_path / "none.jsonl"), "--to", "text", "-o", str(out_path)
    )
    assert code == 2
