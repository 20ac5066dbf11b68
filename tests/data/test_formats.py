"""Wire formats: detection, parse/render round trips, and what each conversion loses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.data import FORMATS, Dataset
from finetune_sdk.data import formats as fmts
from finetune_sdk.data.formats import Converter, detect_format
from finetune_sdk.data.records import Conversation, MediaPart, TextPart, TextRecord, Turn
from finetune_sdk.errors import ConfigurationError, DataError, DatasetValidationError

SAMPLES: dict[str, dict[str, Any]] = {
    "prompt_completion": {"prompt": "2+2?", "completion": "4"},
    "bedrock_messages": {
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
    },
    "bedrock_conversation": {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Be brief."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "What is shown?"},
                    {
                        "image": {
                            "format": "png",
                            "source": {
                                "s3Location": {"uri": "s3://bucket/a.png", "bucketOwner": "111122223333"}
                            },
                        }
                    },
                ],
            },
            {"role": "assistant", "content": [{"text": "A cat."}]},
        ],
    },
    "openai_chat": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
        ]
    },
    "text": {"input": "AWS stands for Amazon Web Services."},
    "jumpstart_instruction": {"instruction": "Summarise.", "context": "A long text.", "response": "Short."},
}


def test_registry_lists_every_format() -> None:
    assert set(FORMATS) == set(SAMPLES)
    with pytest.raises(ConfigurationError, match="known formats"):
        fmts.get("csv")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_detect_and_round_trip(name: str) -> None:
    obj = SAMPLES[name]
    module = fmts.get(name)
    assert detect_format(obj) == name
    assert module.detect(obj)
    assert [n for n in FORMATS if fmts.get(n).detect(obj)] == [name]
    record, issues = module.parse(obj, 3)
    assert record is not None and issues == []
    rendered, losses = module.render(record)
    assert rendered == obj and losses == []


def test_detection_settles_overlaps() -> None:
    plain = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    assert detect_format(plain) == "bedrock_messages"  # also valid openai_chat
    typed = {"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}]}
    assert detect_format(typed) == "openai_chat"
    assert detect_format({"messages": [], "schemaVersion": "x"}) == "bedrock_conversation"
    assert detect_format({"foo": 1}) is None


def test_openai_file_without_system_in_some_records_is_not_mixed(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    lines = [SAMPLES["openai_chat"], {"messages": SAMPLES["openai_chat"]["messages"][1:]}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = Dataset.from_jsonl(path).validate()
    assert report.ok and report.issues == () and report.format == "openai_chat"
    assert report.format_counts == {"openai_chat": 2}


def test_openai_top_level_system_is_flagged() -> None:
    _, issues = fmts.get("openai_chat").parse({**SAMPLES["bedrock_messages"]}, 1)
    assert [i.rule for i in issues] == ["format.mismatch"]


def test_openai_image_parts_become_media() -> None:
    obj = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.JPG"}},
                ],
            },
            {"role": "assistant", "content": "a dog"},
        ]
    }
    record, issues = fmts.get("openai_chat").parse(obj)
    assert issues == [] and isinstance(record, Conversation)
    assert record.turns[0].media == (MediaPart(type="image", format="jpeg", uri="https://x/y.JPG"),)
    assert fmts.get("openai_chat").render(record) == (obj, [])


MULTI = Conversation(
    system="Be brief.",
    turns=(
        Turn(
            role="user",
            content=(TextPart(text="Look:"), MediaPart(type="image", format="png", uri="s3://bucket/i.png")),
        ),
        Turn.of("assistant", "A cat."),
        Turn.of("user", "And now?"),
        Turn.of("assistant", "A dog."),
    ),
)


_LOSSY = {"media_dropped": 2, "multi_turn_flattened": 2, "system_merged_into_prompt": 2}


@pytest.mark.parametrize(
    ("target", "losses"),
    [
        ("prompt_completion", _LOSSY),
        ("jumpstart_instruction", _LOSSY),
        ("bedrock_messages", {"media_dropped": 2}),
        ("openai_chat", {}),
        ("bedrock_conversation", {}),
        ("text", {"conversation_flattened_to_text": 3, "media_dropped": 2}),
    ],
)
def test_conversion_reports_what_is_lost(target: str, losses: dict[str, int]) -> None:
    ds = Dataset([MULTI, MULTI, Conversation.from_pairs("q", "a")]).convert(target)
    report = ds.last_report
    assert report.losses == losses
    assert report.records_in == report.records_out == 3 and report.dropped == 0
    assert report.lossless is (not losses)
    assert all(report.examples[k] == (1, 2, 3)[: min(n, 3)] for k, n in losses.items())
    assert ds.format == target and len(ds) == 3
    assert ds.validate().ok, ds.validate().to_text()


def test_flattened_prompt_text() -> None:
    out, losses = fmts.get("prompt_completion").render(MULTI)
    assert out == {
        "prompt": "Be brief.\n\nUser: Look:\n\nAssistant: A cat.\n\nUser: And now?",
        "completion": "A dog.",
    }
    assert sorted(losses) == ["media_dropped", "multi_turn_flattened", "system_merged_into_prompt"]


def test_text_records_cannot_be_conversations() -> None:
    ds = Dataset([TextRecord(text="raw"), Conversation.from_pairs("q", "a")])
    conv = ds.convert("bedrock_messages")
    assert len(conv) == 1 and conv.last_report.dropped == 1
    assert conv.last_report.losses == {"text_record_not_conversational": 1}
    assert ds.convert("text").last_report.losses == {"conversation_flattened_to_text": 1}
    report = ds.validate(format="bedrock_messages")
    assert [(i.line, i.rule) for i in report.issues] == [(1, "format.mismatch")]


def test_jumpstart_writes_template(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    report = Dataset([Conversation.from_pairs("Summarise.", "Short.")]).to_jsonl(
        out, format="jumpstart_instruction"
    )
    assert report.records_out == 1 and report.path == str(out)
    template = json.loads((tmp_path / "template.json").read_text())
    assert "{instruction}" in template["prompt"] and "{context}" in template["prompt"]
    assert template["completion"] == " {response}"
    assert json.loads(out.read_text()) == {"instruction": "Summarise.", "context": "", "response": "Short."}


def test_converter_counts_kinds_once_per_record() -> None:
    conv = Converter("bedrock_messages")
    conv.render(MULTI, 10)
    conv.render(TextRecord(text="t"), 11)
    report = conv.report()
    assert report.losses == {"media_dropped": 1, "text_record_not_conversational": 1}
    assert report.examples == {"media_dropped": (10,), "text_record_not_conversational": (11,)}
    assert "media_dropped x1" in report.summary()


def test_to_jsonl_needs_a_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="pass format="):
        Dataset([MULTI]).to_jsonl(tmp_path / "x.jsonl")


def test_every_format_round_trips_through_files(tmp_path: Path) -> None:
    for name, obj in SAMPLES.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text(json.dumps(obj) + "\n")
        ds = Dataset.from_jsonl(path)
        assert ds.format == name
        out = tmp_path / f"{name}.out.jsonl"
        assert ds.to_jsonl(out).lossless
        assert json.loads(out.read_text()) == obj


def test_unparseable_records_raise_with_every_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": 1, "completion": "b"}\n\nnope\n')
    ds = Dataset.from_jsonl(path)
    with pytest.raises(DatasetValidationError) as exc:
        ds.records
    assert exc.value.report is not None
    assert [(i.line, i.rule) for i in exc.value.report.issues] == [(2, "schema.type"), (4, "json.malformed")]
    skipped = Dataset.from_jsonl(path, on_error="skip")
    assert len(skipped) == 1 and skipped.last_report.counts_by_rule() == {
        "schema.type": 1,
        "json.malformed": 1,
    }
