"""The wire formats build records on a trusted path (no pydantic re-validation after ``check``): the records
must be exactly those full validation makes, for every format and for the real AQuA-RAT and TAT-QA data,
while records built from user input keep full validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from finetune_sdk.data import FORMATS, Dataset
from finetune_sdk.data import formats as _formats
from finetune_sdk.data.records import Conversation, MediaPart, Record, TextPart, TextRecord, Turn

S3 = "s3://bucket/img.png"

# Rows of every wire format, including media, several system blocks/messages and extra (metadata) keys.
ROWS: dict[str, list[dict[str, Any]]] = {
    "bedrock_messages": [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "d"},
            ],
            "id": 7,
        },
        {"system": "", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "   "}]},
    ],
    "bedrock_conversation": [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": "one"}, {"text": "two"}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "what is this?"},
                        {"image": {"format": "png", "source": {"s3Location": {"uri": S3, "bucketOwner": "123"}}}},
                    ],
                },
                {"role": "assistant", "content": [{"text": "a cat"}]},
            ],
        },
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                {
                    "role": "user",
                    "content": [{"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/v.mp4"}}}}],
                },
                {"role": "assistant", "content": [{"text": "a dog"}]},
            ],
            "label": "x",
        },
    ],
    "openai_chat": [
        {
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "there"},
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "seen"}]},
            ],
            "group": 3,
        },
    ],
    "prompt_completion": [{"prompt": "2+2?", "completion": "4"}, {"prompt": "p", "completion": "c", "tag": [1]}],
    "jumpstart_instruction": [
        {"instruction": "Sum", "context": "2 and 2", "response": "4"},
        {"instruction": "Say hi", "response": "hi", "extra": None},
    ],
    "text": [{"input": "Plain text for continued pre-training."}, {"input": "more", "source": "wiki"}],
}


def _validated(record: Record) -> Record:
    """The same record through full pydantic validation of the fields it was given: the dict the formats
    passed to ``model_validate`` before the trusted path (no ``kind``; every part's fields)."""
    return type(record).model_validate(record.model_dump(exclude_unset=True))


def _assert_same_models(a: BaseModel, b: BaseModel) -> None:
    """Equal, and equal in what equality does not compare: the concrete types and the fields-sets."""
    assert type(a) is type(b)
    assert a == b
    assert a.model_fields_set == b.model_fields_set
    for name in type(a).model_fields:
        va, vb = getattr(a, name), getattr(b, name)
        assert type(va) is type(vb), name
        if isinstance(va, tuple):
            assert len(va) == len(vb)
            for x, y in zip(va, vb, strict=True):
                if isinstance(x, BaseModel):
                    assert isinstance(y, BaseModel)
                    _assert_same_models(x, y)


def _assert_trusted_equals_validated(records: list[Record]) -> None:
    assert records
    for r in records:
        v = _validated(r)
        _assert_same_models(r, v)
        assert r.model_dump() == v.model_dump()
        assert r.model_dump_json() == v.model_dump_json()
        assert type(r).model_validate_json(r.model_dump_json()) == r
        if isinstance(r, Conversation):
            for turn in r.turns:
                assert hash(turn) == hash(_validated_turn(turn))
                for part in turn.content:
                    assert hash(part) == hash(type(part).model_validate(part.model_dump(exclude_unset=True)))


def _validated_turn(turn: Turn) -> Turn:
    return Turn.model_validate(turn.model_dump(exclude_unset=True))


def test_every_format_has_rows() -> None:
    assert set(ROWS) == set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_each_wire_format_builds_what_validation_builds(fmt: str, tmp_path: Path) -> None:
    module = _formats.get(fmt)
    for row in ROWS[fmt]:
        record, issues = module.parse(row, 1)
        assert record is not None, (fmt, row, issues)
        _assert_trusted_equals_validated([record])
    # The same rows read from a file, through the Dataset's reading path.
    path = tmp_path / f"{fmt}.jsonl"
    Dataset.from_records(ROWS[fmt], format=fmt).to_jsonl(path, format=fmt)
    _assert_trusted_equals_validated(list(Dataset.from_jsonl(path)))


def test_media_and_metadata_survive_the_trusted_path() -> None:
    record, _ = _formats.get("bedrock_conversation").parse(ROWS["bedrock_conversation"][0], 1)
    assert isinstance(record, Conversation)
    assert record.system == "one\ntwo"
    (media,) = record.turns[0].media
    assert media == MediaPart(type="image", format="png", uri=S3, bucket_owner="123")
    record, _ = _formats.get("openai_chat").parse(ROWS["openai_chat"][1], 1)
    assert isinstance(record, Conversation)
    assert record.metadata == {"group": 3}
    assert record.turns[0].media[0].format == "jpeg"
    text, _ = _formats.get("text").parse(ROWS["text"][1], 1)
    assert isinstance(text, TextRecord) and text.metadata == {"source": "wiki"}


@pytest.mark.parametrize("kind", ["aqua", "tatqa"])
def test_real_datasets_in_every_format_build_what_validation_builds(
    kind: str, shared_datasets: Path, tmp_path: Path
) -> None:
    if kind == "aqua":
        source = Dataset.from_aqua(shared_datasets / "aqua" / "test.json")
    else:
        source = Dataset.from_tatqa(shared_datasets / "tatqa" / "tatqa_dataset_dev.json").head(300)
    canonical = list(source)
    for fmt in FORMATS:
        path = tmp_path / f"{kind}-{fmt}.jsonl"
        if fmt == "text":
            Dataset([TextRecord(text=r.prompt_text) for r in canonical if isinstance(r, Conversation)]).to_jsonl(
                path, format="text"
            )
        else:
            source.to_jsonl(path, format=fmt)
        loaded = list(Dataset.from_jsonl(path))
        assert len(loaded) == len(canonical), fmt
        _assert_trusted_equals_validated(loaded)
        if fmt in ("bedrock_messages", "bedrock_conversation", "openai_chat"):  # lossless for these records
            assert [(r.system, r.turns) for r in loaded] == [  # type: ignore[union-attr]
                (r.system, r.turns) for r in canonical  # type: ignore[union-attr]
            ]


def test_shared_fields_set_is_not_changed_by_copies() -> None:
    a, _ = _formats.get("prompt_completion").parse(ROWS["prompt_completion"][0], 1)
    b, _ = _formats.get("prompt_completion").parse(ROWS["prompt_completion"][1], 1)
    assert isinstance(a, Conversation) and isinstance(b, Conversation)
    before = set(b.model_fields_set)
    a.model_copy(update={"system": "x"})
    a.with_metadata(k=1)
    a.with_response("5")
    a.turns[0].model_copy(update={"role": "assistant"})
    assert b.model_fields_set == before == {"system", "turns", "metadata"}
    assert b.turns[0].model_fields_set == {"role", "content"}
    assert b.turns[0].content[0].model_fields_set == {"type", "text"}
    with pytest.raises(ValidationError):
        a.turns[0].content[0].text = "changed"  # type: ignore[misc]
    assert a.turns[0].content[0] == TextPart(text="2+2?")


def test_user_built_records_keep_full_validation() -> None:
    with pytest.raises(ValidationError):
        Turn(role="system", content=(TextPart(text="x"),))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Conversation.model_validate({"turns": [{"role": "user", "content": [{"type": "text", "text": 5}]}]})
    with pytest.raises(ValidationError):
        TextRecord(text="x", metadata={"k": 1}, extra=1)  # type: ignore[call-arg]
    # Rows from_records reads are checked before anything is built: a bad row is reported, not built.
    bad = {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]}
    record, issues = _formats.get("bedrock_messages").parse(bad, 3)
    assert record is None and [i.rule for i in issues] == ["schema.type"]


def test_list_of_an_unread_file_reads_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # list(ds) asks len(ds) (which reads the file) after iter(ds): the iterator must reuse those records.
    path = tmp_path / "d.jsonl"
    Dataset.from_records(ROWS["prompt_completion"]).to_jsonl(path, format="prompt_completion")
    module = _formats.get("prompt_completion")
    calls: list[int | None] = []
    real = module.parse

    def counting(obj: dict[str, Any], line: int | None = None) -> Any:
        calls.append(line)
        return real(obj, line)

    monkeypatch.setattr(module, "parse", counting)
    ds = Dataset.from_jsonl(path)
    records = list(ds)
    assert calls == [1, 2]
    assert records == ds.records and len(records) == 2


def test_streaming_keeps_the_collector_state_and_closes_the_file(tmp_path: Path) -> None:
    import gc

    path = tmp_path / "d.jsonl"
    Dataset.from_records(ROWS["bedrock_messages"][:2] * 3).to_jsonl(path, format="bedrock_messages")
    assert gc.isenabled()
    seen = []
    for r in Dataset.from_jsonl(path):  # no len(): streams
        seen.append(gc.isenabled())  # the caller's code runs with the collector as it was
        assert isinstance(r, Conversation)
    assert seen == [True] * 6 and gc.isenabled()
    gc.disable()
    try:
        assert sum(1 for _ in Dataset.from_jsonl(path)) == 6
        assert not gc.isenabled()  # a collector the caller disabled stays disabled
    finally:
        gc.enable()
    it = iter(Dataset.from_jsonl(path))
    next(it)
    it.close()  # type: ignore[attr-defined]  # stopping early closes the file reader
    assert gc.isenabled()
