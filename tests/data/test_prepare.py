"""Issue 14: the data goes to the model as it is sent. Jobs render a Dataset in the model's wire format when the
conversion is lossless (report kept on the job), and refuse a lossy one unless allow_lossy=True."""

from __future__ import annotations

import json
from typing import Any

import pytest

from finetune_sdk import Dataset, Job
from finetune_sdk.data.prepare import prepare_for_model
from finetune_sdk.data.records import Conversation, MediaPart, TextPart, Turn
from finetune_sdk.errors import DatasetValidationError, LossyConversionError
from finetune_sdk.testing import FakeBackend
from finetune_sdk.testing.emulation import BedrockEmulation as AwsEmulation

NOVA = "amazon.nova-lite-v1:0:300k"
LLAMA32 = "meta.llama3-2-1b-instruct-v1:0:128k"
TITAN = "amazon.titan-text-express-v1:0:8k"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def _chat(n: int, *, system: str | None = None, turns: int = 1) -> Dataset:
    rows = []
    for i in range(n):
        msgs: list[dict[str, Any]] = []
        for t in range(turns):
            msgs += [{"role": "user", "content": f"Q{i}.{t}?"}, {"role": "assistant", "content": f"A{i}.{t}."}]
        rows.append({"system": system, "messages": msgs} if system else {"messages": msgs})
    return Dataset.from_records(rows)


@pytest.mark.parametrize(
    ("model", "wire"), [(NOVA, "bedrock_conversation"), (LLAMA32, "bedrock_conversation"), (TITAN, "prompt_completion")]
)
def test_a_chat_dataset_is_converted_losslessly_for_the_model(model: str, wire: str) -> None:
    backend = FakeBackend()
    job = Job.fine_tune(model=model, train=_chat(120), backend=backend)
    report = job.conversions["train"]
    assert report.lossless and report.records_in == report.records_out == 120
    assert (report.source_format, report.target_format) == ("bedrock_messages", wire)
    uri = job.spec.training_data if job.spec else None
    assert uri is not None and backend.staged_formats[uri] == wire
    assert [r.reference for r in backend.staged[uri]][:2] == ["A0.0.", "A1.0."]


def test_data_already_in_the_models_format_is_sent_as_given() -> None:
    job = Job.fine_tune(model=HAIKU, train=_chat(40, system="Be brief."), backend=FakeBackend())
    assert job.conversions == {}


def test_a_lossy_conversion_is_refused_with_the_report_unless_allowed() -> None:
    data = _chat(120, system="Be brief.", turns=2)  # Titan is single-turn prompt/completion
    backend = FakeBackend()
    with pytest.raises(LossyConversionError) as info:
        Job.fine_tune(model=TITAN, train=data, backend=backend)
    conversion = info.value.conversion
    assert conversion is not None and conversion.losses == {
        "multi_turn_flattened": 120,
        "system_merged_into_prompt": 120,
    }
    assert "allow_lossy=True" in str(info.value) and "records 1, 2, 3" in str(info.value)
    assert not backend.staged  # nothing was uploaded
    job = Job.fine_tune(model=TITAN, train=data, backend=backend, allow_lossy=True)
    assert job.conversions["train"].losses["multi_turn_flattened"] == 120


def test_media_dropped_for_a_text_only_model_is_refused() -> None:
    image = MediaPart(type="image", format="png", uri="s3://bucket/a.png")
    rec = Conversation(
        turns=(
            Turn(role="user", content=(TextPart(text="What?"), image)),
            Turn(role="assistant", content=(TextPart(text="A cat."),)),
        )
    )
    with pytest.raises(LossyConversionError, match="media_dropped"):
        prepare_for_model(Dataset([rec] * 40), HAIKU)


def test_validation_data_is_converted_too_and_validated_after_conversion() -> None:
    backend = FakeBackend()
    job = Job.fine_tune(model=NOVA, train=_chat(50), validation=_chat(10), backend=backend)
    assert set(job.conversions) == {"train", "validation"}
    # a conversion does not hide a real error: Nova takes at least 8 training records
    with pytest.raises(DatasetValidationError, match=r"records\.min_train"):
        Job.fine_tune(model=NOVA, train=_chat(3), backend=backend)


def test_continued_pretraining_converts_to_text_only_when_lossless() -> None:
    text_rows = Dataset.from_records([{"input": f"Document {i}."} for i in range(50)])
    job = Job.continue_pretraining(model=TITAN, train=text_rows, backend=FakeBackend())
    assert job.conversions == {}
    with pytest.raises(LossyConversionError, match="conversation_flattened_to_text"):
        Job.continue_pretraining(model=TITAN, train=_chat(50), backend=FakeBackend())


def test_distillation_prompts_are_rendered_and_checked_with_the_prompt_rules() -> None:
    prompts = Dataset([Conversation.from_pairs(f"Summarise item {i}.") for i in range(120)])
    with AwsEmulation(region="us-east-1") as aws:
        job = Job.distill(
            student="amazon.nova-micro-v1:0:128k",
            teacher="amazon.nova-pro-v1:0",
            prompts=prompts,
            backend=aws.backend(),
        )
        assert job.conversions["train"].target_format == "bedrock_conversation"
        (create,) = aws.calls("CreateModelCustomizationJob")
        body = aws.read_object(create["trainingDataConfig"]["s3Uri"]).decode()
        first = json.loads(body.splitlines()[0])
        assert first == {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [{"role": "user", "content": [{"text": "Summarise item 0."}]}],
        }
        with pytest.raises(DatasetValidationError, match="at least 100 prompts"):
            Job.distill(
                student="amazon.nova-micro-v1:0:128k",
                teacher="amazon.nova-pro-v1:0",
                prompts=Dataset(prompts.records[:20]),
                backend=aws.backend(),
            )


def test_the_uploaded_file_is_in_the_models_wire_format() -> None:
    with AwsEmulation(region="us-west-2") as aws:
        job = Job.fine_tune(model=LLAMA32, train=_chat(100, system="Be brief."), backend=aws.backend())
        (create,) = aws.calls("CreateModelCustomizationJob")
        lines = aws.read_object(create["trainingDataConfig"]["s3Uri"]).decode().splitlines()
        assert len(lines) == 100 and job.conversions["train"].lossless
        row = json.loads(lines[0])
        assert row["schemaVersion"] == "bedrock-conversation-2024" and row["system"] == [{"text": "Be brief."}]
        assert Dataset.from_records([json.loads(x) for x in lines]).validate(for_model=LLAMA32).ok
