"""Reading Bedrock model invocation logs: every request family, malformed input, gzip, filters, S3."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.backends.base import MetadataFilter
from finetune_sdk.data.logs import SKIP_REASONS, LogReadReport, parse_invocation_log, read_invocation_logs
from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import ConfigurationError, DataError

LLAMA3_PROMPT = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def entry(
    input_body: Any,
    output_body: Any,
    *,
    model_id: str = "us.amazon.nova-pro-v1:0",
    operation: str = "InvokeModel",
    timestamp: str = "2025-03-01T10:00:00Z",
    metadata: Mapping[str, str] | None = None,
    request_id: str = "req-1",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": timestamp,
        "accountId": "123456789012",
        "region": "us-east-1",
        "requestId": request_id,
        "operation": operation,
        "modelId": model_id,
        "input": {"inputContentType": "application/json", "inputBodyJson": input_body, "inputTokenCount": 5},
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": output_body,
            "outputTokenCount": 3,
        },
    }
    if metadata:
        record["requestMetadata"] = dict(metadata)
    return record


def converse_entry(prompt: str, answer: str, **kw: Any) -> dict[str, Any]:
    return entry(
        {
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 100},
        },
        {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
        },
        operation="Converse",
        **kw,
    )


FAMILIES: dict[str, tuple[dict[str, Any], tuple[str | None, list[tuple[str, str]]]]] = {
    "converse": (
        converse_entry("What is 2+2?", "4"),
        ("Be brief.", [("user", "What is 2+2?"), ("assistant", "4")]),
    ),
    "anthropic": (
        entry(
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 200,
                "system": "You are a poet.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "A haiku on rain"}]}],
            },
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "stop_reason": "end_turn",
                "content": [{"type": "text", "text": "Soft rain on the roof"}],
                "usage": {"input_tokens": 9, "output_tokens": 6},
            },
            model_id="anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        ("You are a poet.", [("user", "A haiku on rain"), ("assistant", "Soft rain on the roof")]),
    ),
    "anthropic-string-content": (
        entry(
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 50,
                "system": [{"type": "text", "text": "Sys."}],
                "messages": [{"role": "user", "content": "Plain string content"}],
            },
            {"content": [{"type": "text", "text": "ok"}]},
            model_id="anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("Sys.", [("user", "Plain string content"), ("assistant", "ok")]),
    ),
    "nova": (
        entry(
            {
                "schemaVersion": "messages-v1",
                "system": [{"text": "Answer in French."}],
                "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
                "inferenceConfig": {"maxTokens": 50},
            },
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "Bonjour"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 4, "outputTokens": 2},
            },
            model_id="amazon.nova-lite-v1:0",
        ),
        ("Answer in French.", [("user", "Hello"), ("assistant", "Bonjour")]),
    ),
    "llama3": (
        entry(
            {"prompt": LLAMA3_PROMPT, "max_gen_len": 64, "temperature": 0.1},
            {
                "generation": " 7",
                "prompt_token_count": 20,
                "generation_token_count": 1,
                "stop_reason": "stop",
            },
            model_id="meta.llama3-1-70b-instruct-v1:0",
        ),
        ("You are terse.", [("user", "Name a prime."), ("assistant", "7")]),
    ),
    "llama-plain": (
        entry(
            {"prompt": "Complete: the sky is", "max_gen_len": 16},
            {"generation": "blue"},
            model_id="meta.llama3-1-8b-instruct-v1:0",
        ),
        (None, [("user", "Complete: the sky is"), ("assistant", "blue")]),
    ),
    "llama2-inst": (
        entry(
            {"prompt": "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi there [/INST]"},
            {"generation": "Hello!"},
            model_id="meta.llama2-13b-chat-v1",
        ),
        ("Be kind.", [("user", "Hi there"), ("assistant", "Hello!")]),
    ),
    "titan": (
        entry(
            {"inputText": "User: Capital of Peru?\nBot:", "textGenerationConfig": {"maxTokenCount": 50}},
            {
                "inputTextTokenCount": 6,
                "results": [{"tokenCount": 2, "outputText": " Lima.", "completionReason": "FINISH"}],
            },
            model_id="amazon.titan-text-express-v1",
        ),
        (None, [("user", "Capital of Peru?"), ("assistant", "Lima.")]),
    ),
    "anthropic-text": (
        entry(
            {"prompt": "\n\nHuman: Say yes\n\nAssistant:", "max_tokens_to_sample": 10},
            {"completion": " Yes.", "stop_reason": "stop_sequence"},
            model_id="anthropic.claude-v2",
        ),
        (None, [("user", "Say yes"), ("assistant", "Yes.")]),
    ),
    "mistral": (
        entry(
            {"prompt": "<s>[INST] Translate 'cat' to German [/INST]"},
            {"outputs": [{"text": "Katze", "stop_reason": "stop"}]},
            model_id="mistral.mistral-7b-instruct-v0:2",
        ),
        (None, [("user", "Translate 'cat' to German"), ("assistant", "Katze")]),
    ),
    "cohere": (
        entry(
            {"prompt": "Write a tagline", "max_tokens": 20},
            {"generations": [{"text": "Just do it"}]},
            model_id="cohere.command-text-v14",
        ),
        (None, [("user", "Write a tagline"), ("assistant", "Just do it")]),
    ),
    "openai": (
        entry(
            {"messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}]},
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hey"}}]},
            model_id="openai.gpt-oss-20b-1:0",
        ),
        ("Sys", [("user", "Hi"), ("assistant", "Hey")]),
    ),
    "converse-stream": (
        entry(
            {"messages": [{"role": "user", "content": [{"text": "Count"}]}]},
            [
                {"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": "one "}}},
                {"contentBlockDelta": {"delta": {"text": "two"}}},
                {"messageStop": {"stopReason": "end_turn"}},
            ],
            operation="ConverseStream",
        ),
        (None, [("user", "Count"), ("assistant", "one two")]),
    ),
    "anthropic-stream": (
        entry(
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "Go"}],
            },
            [
                {"type": "message_start"},
                {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Go"}},
                {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "ne"}},
            ],
            model_id="anthropic.claude-3-haiku-20240307-v1:0",
            operation="InvokeModelWithResponseStream",
        ),
        (None, [("user", "Go"), ("assistant", "Gone")]),
    ),
}


def turns_of(record: Conversation) -> list[tuple[str, str]]:
    return [(t.role, t.text) for t in record.turns]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_parses_prompt_and_response(family: str) -> None:
    log, (system, expected) = FAMILIES[family]
    with_answer = parse_invocation_log(log, use_responses=True)
    assert with_answer.system == system
    assert turns_of(with_answer) == expected
    prompt_only = parse_invocation_log(log)
    assert turns_of(prompt_only) == expected[:-1]
    assert prompt_only.metadata["model_id"] == log["modelId"]
    assert prompt_only.metadata["source"] == "invocation_logs"


def test_metadata_carries_request_facts() -> None:
    record = parse_invocation_log(
        converse_entry("q", "a", metadata={"project": "faq"}, request_id="abc"), use_responses=True
    )
    assert record.metadata["request_metadata"] == {"project": "faq"}
    assert record.metadata["request_id"] == "abc"
    assert record.metadata["timestamp"] == "2025-03-01T10:00:00Z"
    assert record.metadata["operation"] == "Converse"
    assert record.metadata["stop_reason"] == "end_turn"


def test_multi_turn_converse_is_kept_in_order() -> None:
    log = entry(
        {
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {"role": "assistant", "content": [{"text": "Hello"}]},
                {"role": "user", "content": [{"text": "Bye"}]},
            ]
        },
        {"output": {"message": {"role": "assistant", "content": [{"text": "Ciao"}]}}},
        operation="Converse",
    )
    record = parse_invocation_log(log, use_responses=True)
    assert turns_of(record) == [
        ("user", "Hi"),
        ("assistant", "Hello"),
        ("user", "Bye"),
        ("assistant", "Ciao"),
    ]


@pytest.mark.parametrize(
    ("log", "reason"),
    [
        (
            entry(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"image": {"format": "png", "source": {"bytes": ""}}},
                                {"text": "what is this"},
                            ],
                        }
                    ]
                },
                {},
                operation="Converse",
            ),
            "multimodal",
        ),
        (
            entry(
                {
                    "messages": [
                        {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": []}}]}
                    ]
                },
                {},
                operation="Converse",
            ),
            "tool_use",
        ),
        (
            entry(
                {"inputText": "embed me"}, {"embedding": [0.1, 0.2]}, model_id="amazon.titan-embed-text-v2:0"
            ),
            "embedding_request",
        ),
        (entry({"weird": True}, {"x": 1}), "unsupported_body"),
        (
            entry({"messages": [{"role": "user", "content": [{"text": "   "}]}]}, {}, operation="Converse"),
            "empty_prompt",
        ),
        (
            entry(
                {
                    "messages": [
                        {"role": "assistant", "content": [{"text": "hi"}]},
                        {"role": "user", "content": [{"text": "x"}]},
                    ]
                },
                {},
                operation="Converse",
            ),
            "bad_turn_order",
        ),
        (
            entry(
                {
                    "messages": [
                        {"role": "user", "content": [{"text": "x"}]},
                        {"role": "assistant", "content": [{"text": "The answer is"}]},
                    ]
                },
                {},
                operation="Converse",
            ),
            "prefilled_response",
        ),
        ({"schemaType": "SomethingElse"}, "not_an_invocation_log"),
        (
            {"schemaType": "ModelInvocationLog", "modelId": "m", "operation": "Converse", "input": {}},
            "missing_input",
        ),
    ],
)
def test_unusable_entries_raise_with_a_stable_reason(log: dict[str, Any], reason: str) -> None:
    assert reason in SKIP_REASONS
    with pytest.raises(DataError) as info:
        parse_invocation_log(log)
    assert str(info.value) == reason


def test_missing_response_only_matters_with_use_responses() -> None:
    log = entry({"messages": [{"role": "user", "content": [{"text": "q"}]}]}, None, operation="Converse")
    assert turns_of(parse_invocation_log(log)) == [("user", "q")]
    with pytest.raises(DataError, match="missing_response"):
        parse_invocation_log(log, use_responses=True)


def test_body_logged_as_json_string_is_read() -> None:
    log = converse_entry("q", "a")
    log["input"]["inputBodyJson"] = json.dumps(log["input"]["inputBodyJson"])
    assert parse_invocation_log(log).prompt_text == "q"


def write_log_folder(root: Path) -> Path:
    """A Bedrock-like log layout: gz and plain files, malformed lines, a permission-check object."""
    base = root / "logs" / "AWSLogs" / "123456789012" / "BedrockModelInvocationLogs" / "us-east-1"
    hour1 = base / "2025" / "03" / "01" / "10"
    hour2 = base / "2025" / "03" / "02" / "14"
    hour1.mkdir(parents=True)
    hour2.mkdir(parents=True)
    lines1 = [
        json.dumps(
            converse_entry(
                "alpha", "A", metadata={"project": "faq", "stage": "prod"}, timestamp="2025-03-01T10:05:00Z"
            )
        ),
        "{not json",
        json.dumps(
            converse_entry(
                "beta", "B", metadata={"project": "faq", "stage": "dev"}, timestamp="2025-03-01T10:06:00Z"
            )
        ),
        "",
        json.dumps(FAMILIES["titan"][0] | {"timestamp": "2025-03-01T10:07:00Z"}),
    ]
    (hour1 / "20250301T100500-a.json.gz").write_bytes(gzip.compress(("\n".join(lines1) + "\n").encode()))
    lines2 = [
        json.dumps(
            converse_entry(
                "gamma",
                "G",
                metadata={"project": "search"},
                timestamp="2025-03-02T14:00:00Z",
                model_id="arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
            )
        ),
        json.dumps(FAMILIES["anthropic"][0] | {"timestamp": "2025-03-02T14:01:00Z"}),
        json.dumps([1, 2, 3]),
    ]
    (hour2 / "20250302T140000-b.json").write_text("\n".join(lines2) + "\n")
    (hour2 / "20250302T140000-c.json.gz").write_bytes(b"\x1f\x8b this is not gzip")
    (root / "logs" / "amazon-bedrock-logs-permission-check").write_text("check")
    return root / "logs"


def test_folder_read_counts_every_line(tmp_path: Path) -> None:
    folder = write_log_folder(tmp_path)
    records, report = read_invocation_logs(str(folder), use_responses=True)
    assert [r.prompt_text for r in records] == [
        "alpha",
        "beta",
        "Capital of Peru?",
        "gamma",
        "A haiku on rain",
    ]
    assert isinstance(report, LogReadReport)
    assert report.objects_listed == 4
    assert report.objects_ignored == 1  # the permission-check object
    assert report.objects_read == 2
    assert report.skipped == {"invalid_json": 1, "unreadable_object": 1, "not_an_invocation_log": 3}
    assert report.entries == 9  # 3 values + 1 bad line in file 1; 2 values + 3 array items in file 2
    assert report.records == 5
    assert report.families == {"converse": 3, "titan": 1, "anthropic": 1}
    assert report.examples["invalid_json"][0].endswith("20250301T100500-a.json.gz:2")
    markdown = report.to_markdown()
    assert "invalid_json" in markdown and "| records returned | 5 |" in markdown


def test_filters_by_model_time_and_metadata(tmp_path: Path) -> None:
    folder = str(write_log_folder(tmp_path))
    by_model, report = read_invocation_logs(folder, model_id="amazon.nova-pro-v1:0")
    # "us." profile ids and foundation-model ARNs of the same model match
    assert [r.prompt_text for r in by_model] == ["alpha", "beta", "gamma"]
    assert report.filtered["model_id"] == 2

    in_range, report = read_invocation_logs(folder, start="2025-03-01T10:06:00Z", end="2025-03-02T00:00:00")
    assert [r.prompt_text for r in in_range] == ["beta", "Capital of Peru?"]
    assert report.filtered["time_range"] == 1
    assert report.objects_ignored == 3  # the check object, and the March 2 hour folder (outside the range)

    prod = MetadataFilter.all_of(project="faq", stage="prod")
    records, report = read_invocation_logs(folder, metadata_filter=prod)
    assert [r.prompt_text for r in records] == ["alpha"]
    assert report.filtered["metadata_filter"] == 4

    either = MetadataFilter.any_of(stage="dev", project="search")
    records, _ = read_invocation_logs(folder, metadata_filter=either)
    assert [r.prompt_text for r in records] == ["beta", "gamma"]

    not_faq = MetadataFilter(not_equals={"project": "faq"})
    records, _ = read_invocation_logs(folder, metadata_filter=not_faq)
    assert [r.prompt_text for r in records] == ["Capital of Peru?", "gamma", "A haiku on rain"]

    mixed = MetadataFilter(
        and_all=(MetadataFilter(equals={"project": "faq"}), MetadataFilter(not_equals={"stage": "prod"}))
    )
    records, _ = read_invocation_logs(folder, metadata_filter=mixed)
    assert [r.prompt_text for r in records] == ["beta"]


def test_bad_arguments_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="neither an s3:// URI"):
        read_invocation_logs(str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="must be before end"):
        read_invocation_logs(str(tmp_path), start="2025-02-01", end="2025-01-01")
    with pytest.raises(ConfigurationError, match="ISO 8601"):
        read_invocation_logs(str(tmp_path), start="yesterday")


def test_time_filter_skips_entries_without_timestamp(tmp_path: Path) -> None:
    log = converse_entry("q", "a")
    del log["timestamp"]
    (tmp_path / "x.json").write_text(json.dumps(log) + "\n")
    records, report = read_invocation_logs(str(tmp_path), start="2025-01-01")
    assert records == [] and report.skipped == {"bad_timestamp": 1}


def test_reads_from_s3_with_pagination_and_large_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("moto")
    import boto3
    from moto import mock_aws

    from finetune_sdk.data import logs

    monkeypatch.setattr(logs, "_LIST_PAGE_SIZE", 4)  # several list_objects_v2 pages
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        s3 = session.client("s3")
        s3.create_bucket(Bucket="my-invocation-logs")
        for i in range(10):
            body = json.dumps(converse_entry(f"q{i}", f"a{i}")) + "\n"
            s3.put_object(
                Bucket="my-invocation-logs",
                Key=f"bedrock/AWSLogs/1/x/{i:05d}.json.gz",
                Body=gzip.compress(body.encode()),
            )
        big = converse_entry("ignored", "ignored")
        big["input"] = {"inputBodyS3Path": "s3://my-invocation-logs/large/in.json"}
        s3.put_object(
            Bucket="my-invocation-logs",
            Key="large/in.json",
            Body=json.dumps({"messages": [{"role": "user", "content": [{"text": "from S3"}]}]}),
        )
        s3.put_object(Bucket="my-invocation-logs", Key="bedrock/AWSLogs/1/x/big.json", Body=json.dumps(big))
        s3.put_object(
            Bucket="my-invocation-logs", Key="bedrock-other/AWSLogs/skip.json", Body=json.dumps(big)
        )
        records, report = read_invocation_logs("s3://my-invocation-logs/bedrock", session=session)
    assert report.objects_listed == 11  # "bedrock-other/" is not under "bedrock/"
    assert len(records) == 11
    assert records[-1].prompt_text == "from S3"
    assert records[0].metadata["log"] == "s3://my-invocation-logs/bedrock/AWSLogs/1/x/00000.json.gz:1"


def test_s3_errors_are_translated() -> None:
    pytest.importorskip("moto")
    import boto3
    from moto import mock_aws

    from finetune_sdk.errors import ResourceNotFoundError

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        with pytest.raises(ResourceNotFoundError, match="NoSuchBucket"):
            read_invocation_logs("s3://no-such-bucket/x", session=session)
