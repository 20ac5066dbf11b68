"""Issue 14's service rules: Llama record totals, per-record mixed media, one format per file (no advice
flipping), unknown keys at every level, wording, the distillation prompt mode (library, CLI, Distiller)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.cli.main import main
from finetune_sdk.data import Dataset
from finetune_sdk.data.io import parse_line
from finetune_sdk.data.records import Conversation
from finetune_sdk.distillation.pairs import check_distillation_data
from finetune_sdk.errors import ConfigurationError

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0:200k"
NOVA_LITE = "amazon.nova-lite-v1:0:300k"
LLAMA31 = "meta.llama3-1-8b-instruct-v1:0:128k"
LLAMA32 = "meta.llama3-2-1b-instruct-v1:0:128k"
V = "bedrock-conversation-2024"


def _qa(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": f"A{i}."}]}


def _pc(i: int) -> dict[str, Any]:
    return {"prompt": f"q{i}", "completion": f"a{i}"}


def _rules(report: Any) -> list[tuple[int | None, str]]:
    return sorted(((i.line, i.rule) for i in report.issues), key=lambda p: (p[0] or 0, p[1]))


def _prompt(text: str = "Summarise the report.", **extra: Any) -> dict[str, Any]:
    return {"schemaVersion": V, "messages": [{"role": "user", "content": [{"text": text}]}], **extra}


# -- Llama record totals, checked without a validation file ---------------------------------------------------


def test_llama_training_total_is_checked_without_a_validation_file() -> None:
    report = Dataset.from_records([_pc(i) for i in range(10_001)]).validate(for_model=LLAMA31)
    assert _rules(report) == [(None, "records.max_train")]
    assert "10,001" in report.issues[0].message and "10,000" in report.issues[0].message
    assert Dataset.from_records([_pc(i) for i in range(10_000)]).validate(for_model=LLAMA31).ok


@pytest.mark.parametrize("model", [LLAMA31, LLAMA32, "meta.llama3-3-70b-instruct-v1:0:128k"])
def test_llama_limits_are_in_the_catalog(model: str) -> None:
    from finetune_sdk import catalog

    limits = catalog.get(model).limits
    assert (limits.max_train_records, limits.max_validation_records, limits.max_total_records) == (
        10_000,
        1_000,
        10_000,
    )


def test_llama_validation_over_1000_is_reported() -> None:
    train = Dataset.from_records([_pc(i) for i in range(200)])
    val = Dataset.from_records([_pc(i) for i in range(1_001)])
    report = train.validate(for_model=LLAMA31, validation=val)
    assert [i.rule for i in report.issues] == ["records.max_validation"]


# -- media -----------------------------------------------------------------------------------------------


def _media(kind: str, fmt: str, name: str) -> dict[str, Any]:
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://bucket/{name}"}}}}


def test_image_and_video_in_one_nova_record_is_reported_on_its_line() -> None:
    mixed = {
        "schemaVersion": V,
        "messages": [
            {
                "role": "user",
                "content": [{"text": "q"}, _media("image", "png", "a.png"), _media("video", "mp4", "v.mp4")],
            },
            {"role": "assistant", "content": [{"text": "a"}]},
        ],
    }
    text = {
        "schemaVersion": V,
        "messages": [{"role": "user", "content": [{"text": "q"}]}, {"role": "assistant", "content": [{"text": "a"}]}],
    }
    report = Dataset.from_records([text, mixed, *[text] * 8]).validate(for_model=NOVA_LITE)
    assert (2, "media.mixed_types") in _rules(report)
    line_issue = next(i for i in report.issues if i.line == 2)
    assert "1 image and 1 video" in line_issue.message and line_issue.hint


# -- one format per file: the advice stays the file's format's ---------------------------------------------


def test_list_system_on_haiku_is_judged_as_a_haiku_record(tmp_path: Path) -> None:
    odd = {"system": [{"text": "Be brief."}], **_qa(0)}
    report = Dataset.from_records([odd, *[_qa(i) for i in range(40)]]).validate(for_model=CLAUDE)
    assert _rules(report) == [(1, "schema.type")]
    issue = report.issues[0]
    assert issue.path == "system" and "must be a string, got a list" in issue.message
    assert "one system string" in issue.hint and "list of blocks" not in issue.message + issue.hint
    assert report.format_counts == {"bedrock_messages": 41}


def test_anthropic_image_block_on_text_only_haiku_is_media_unsupported() -> None:
    img = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    odd = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is this?"}, img]},
            {"role": "assistant", "content": "A cat."},
        ]
    }
    report = Dataset.from_records([odd, *[_qa(i) for i in range(40)]]).validate(for_model=CLAUDE)
    assert _rules(report) == [(1, "media.unsupported")]
    assert "image_url" not in report.issues[0].hint and "text only" in report.issues[0].message


def test_a_sound_record_of_another_format_is_still_a_mismatch() -> None:
    report = Dataset.from_records([_pc(0), *[_qa(i) for i in range(40)]]).validate(for_model=CLAUDE)
    assert (1, "format.mismatch") in _rules(report)


# -- unknown keys at every level -------------------------------------------------------------------------


def test_unknown_top_level_keys_are_reported() -> None:
    report = Dataset.from_records([{**_qa(0), "id": 7}, *[_qa(i) for i in range(40)]]).validate(for_model=CLAUDE)
    assert _rules(report) == [(1, "schema.unknown_key")]
    assert report.issues[0].path == "id" and report.ok  # a warning: Bedrock ignores it


def test_unknown_nested_keys_are_reported() -> None:
    rec = {
        "schemaVersion": V,
        "system": [{"text": "s", "cache": True}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "q"},
                    {
                        "image": {
                            "format": "png",
                            "detail": "hi",
                            "source": {"s3Location": {"uri": "s3://bucket/a.png", "region": "x"}, "bytes": ""},
                        }
                    },
                ],
            },
            {"role": "assistant", "content": [{"text": "a"}]},
        ],
    }
    paths = {i.path for i in Dataset.from_records([rec]).validate().issues if i.rule == "schema.unknown_key"}
    assert paths == {
        "system[0].cache",
        "messages[0].content[1].image.detail",
        "messages[0].content[1].image.source.bytes",
        "messages[0].content[1].image.source.s3Location.region",
    }


# -- wording ---------------------------------------------------------------------------------------------


def test_null_content_is_reported_as_null() -> None:
    rec = {"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "a"}]}
    issue = Dataset.from_records([rec]).validate(format="bedrock_messages").issues[0]
    assert "null" in issue.message and "has no" not in issue.message
    missing = {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}
    assert "has no 'content'" in Dataset.from_records([missing]).validate(format="bedrock_messages").issues[0].message
    pc = Dataset.from_records([{"prompt": None, "completion": "a"}]).validate(format="prompt_completion")
    assert "'prompt' is null" in pc.issues[0].message


def test_json_errors_say_the_column_once_and_cr_only_files_get_a_hint() -> None:
    msg = parse_line(b'{"a": "unterminated', 1).issues[0].message
    assert "at at" not in msg and msg.endswith("at column 7")
    cr = parse_line(b'{"a": 1}\r{"b": 2}\r{"c": 3}\r', 1).issues[0]
    assert "CR-only line ends" in cr.hint


def test_lone_surrogates_are_errors_but_pairs_are_fine() -> None:
    bad = parse_line(b'{"messages": [{"role": "user", "content": "x \\udc00"}]}', 2)
    assert [i.rule for i in bad.issues] == ["encoding.lone_surrogate"] and bad.kind == "invalid"
    assert "messages[0].content" in bad.issues[0].message
    good = parse_line(b'{"a": "\\ud83d\\ude00"}', 2)
    assert good.kind == "record" and good.value == {"a": "\U0001f600"}


# -- distillation mode -----------------------------------------------------------------------------------


def test_distillation_mode_accepts_prompts_with_and_without_answers() -> None:
    answered = _prompt()
    answered["messages"].append({"role": "assistant", "content": [{"text": "Done."}]})
    report = Dataset.from_records([_prompt(system=[{"text": "Be terse."}])] * 60 + [answered] * 40).validate(
        for_model=NOVA_LITE, purpose="distillation"
    )
    assert report.ok, report.to_text()


@pytest.mark.parametrize(
    ("record", "rule"),
    [
        ({"messages": [{"role": "user", "content": [{"text": "q"}]}]}, "schema.version"),
        (_prompt(extra_key=1), "schema.unknown_key"),
        (_prompt(system=[{"text": "a"}, {"text": "b"}]), "system.multiple_blocks"),
        (
            {"schemaVersion": V, "messages": [{"role": "user", "content": [{"text": "q"}], "name": "x"}]},
            "schema.unknown_key",
        ),
    ],
)
def test_distillation_rules_are_errors(record: dict[str, Any], rule: str) -> None:
    report = Dataset.from_records([record] + [_prompt()] * 100).validate(purpose="distillation")
    assert [(i.line, i.rule, i.severity) for i in report.issues] == [(1, rule, "error")]


def test_distillation_prompt_counts() -> None:
    few = Dataset.from_records([_prompt()] * 99).validate(purpose="distillation")
    assert [i.rule for i in few.issues] == ["records.min_train"] and "at least 100 prompts" in few.issues[0].message
    many = Dataset.from_records([_prompt()] * 15_001).validate(purpose="distillation")
    assert [i.rule for i in many.issues] == ["records.max_train"] and "15,000" in many.issues[0].message


def test_distillation_mode_ignores_the_students_fine_tuning_format() -> None:
    # Claude 3 Haiku fine-tunes on bedrock_messages, but its distillation prompts are bedrock_conversation
    report = Dataset.from_records([_prompt()] * 100).validate(for_model=CLAUDE, purpose="distillation")
    assert report.ok, report.to_text()
    haiku_rows = Dataset.from_records([_qa(i) for i in range(100)]).validate(purpose="distillation")
    assert "format.mismatch" in haiku_rows.counts_by_rule()


def test_distillation_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(_prompt(f"q{i}")) + "\n" for i in range(100)), encoding="utf-8")
    assert main(["data", "validate", str(path), "--model", NOVA_LITE, "--purpose", "distillation"]) == 0
    path.write_text(json.dumps(_prompt(extra=1)) + "\n", encoding="utf-8")
    assert main(["data", "validate", str(path), "--purpose", "distillation"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:1: error schema.unknown_key" in out and "records.min_train" in out


def test_distiller_check_uses_the_distillation_validator() -> None:
    prompts = [Conversation.from_pairs(f"q{i}", f"a{i}") for i in range(100)]
    check_distillation_data(prompts, student=NOVA_LITE)
    with pytest.raises(ConfigurationError, match=r"distillation\.messages"):
        check_distillation_data([*prompts, Conversation.from_pairs("a", "b", "c")], student=NOVA_LITE)


def test_unknown_purpose_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="purpose must be one of"):
        Dataset.from_records([_pc(0)]).validate(purpose="rlhf")  # type: ignore[arg-type]
