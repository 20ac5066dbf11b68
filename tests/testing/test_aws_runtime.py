"""BedrockEmulation, runtime: Converse, InvokeModel body dialects, batch inference, invocation logging."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from aws_helpers import create_job
from botocore.exceptions import ClientError

from finetune_sdk.testing.emulation import BedrockEmulation

USER = [{"role": "user", "content": [{"text": "What is 2+2?"}]}]


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_converse_uses_the_responder_and_reports_usage(aws_emulation: BedrockEmulation) -> None:
    seen: list[tuple[str, str | None, list[dict[str, Any]]]] = []

    def responder(model_id: str, system: str | None, messages: list[dict[str, Any]]) -> str:
        seen.append((model_id, system, messages))
        return "Four. STOP and then a long digression about arithmetic"

    aws_emulation.responder = responder
    runtime = aws_emulation.session.client("bedrock-runtime")
    answer = runtime.converse(
        modelId="us.amazon.nova-micro-v1:0",
        messages=USER,
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 100},
    )
    assert answer["output"]["message"]["content"][0]["text"].startswith("Four.")
    assert answer["stopReason"] == "end_turn"
    usage = answer["usage"]
    assert usage["inputTokens"] > 0 and usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert answer["metrics"]["latencyMs"] > 0
    assert seen == [("us.amazon.nova-micro-v1:0", "Be brief.", USER)]
    stopped = runtime.converse(
        modelId="amazon.nova-micro-v1:0", messages=USER, inferenceConfig={"stopSequences": ["STOP"]}
    )
    assert (stopped["output"]["message"]["content"][0]["text"], stopped["stopReason"]) == (
        "Four. ",
        "stop_sequence",
    )
    short = runtime.converse(
        modelId="amazon.nova-micro-v1:0", messages=USER, inferenceConfig={"maxTokens": 2}
    )
    assert short["stopReason"] == "max_tokens" and short["usage"]["outputTokens"] == 2


@pytest.mark.parametrize(
    ("model_id", "messages", "message"),
    [
        ("amazon.nova-micro-v1:0:128k", USER, "doesn't support on-demand throughput"),
        ("amazon.no-such-model-v1:0", USER, "identifier is invalid"),
        ("amazon.nova-micro-v1:0", [{"role": "assistant", "content": [{"text": "hi"}]}], "start with a user"),
        ("amazon.nova-micro-v1:0", USER + USER, "alternate between user and assistant"),
    ],
)
def test_converse_refuses_what_bedrock_refuses(
    aws_emulation: BedrockEmulation, model_id: str, messages: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ClientError) as refused:
        aws_emulation.session.client("bedrock-runtime").converse(modelId=model_id, messages=messages)
    assert _code(refused) == "ValidationException" and message in str(refused.value)


def test_custom_models_answer_only_through_provisioned_throughput(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    runtime = aws_emulation.session.client("bedrock-runtime")
    seen: list[str] = []
    aws_emulation.responder = lambda model_id, system, messages: seen.append(model_id) or "tuned answer"
    arn = create_job(aws_emulation)
    aws_emulation.complete_job(arn)
    model_arn = bedrock.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]
    with pytest.raises(
        ClientError
    ) as by_pattern:  # the runtime modelId pattern has no room for ":0:128k" ARNs
        runtime.converse(modelId=model_arn, messages=USER)
    assert _code(by_pattern) == "ValidationException"
    assert [(v.operation, v.field, v.rule) for v in aws_emulation.violations] == [
        ("Converse", "modelId", "pattern")
    ]
    pt = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt", modelId=model_arn
    )["provisionedModelArn"]
    with pytest.raises(ClientError) as creating:
        runtime.converse(modelId=pt, messages=USER)
    assert "not ready" in str(creating.value)
    aws_emulation.clock.advance(aws_emulation.deployment_duration_s)
    answer = runtime.converse(modelId=pt, messages=USER)
    assert answer["output"]["message"]["content"][0]["text"] == "tuned answer"
    assert seen == [model_arn]  # the responder sees the model behind the provisioned throughput


def _invoke(aws: BedrockEmulation, model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    response = aws.session.client("bedrock-runtime").invoke_model(
        modelId=model_id, body=json.dumps(body), contentType="application/json"
    )
    assert response["contentType"] == "application/json"
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


@pytest.mark.parametrize(
    ("model_id", "body", "text_of"),
    [
        (
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 50,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]}],
            },
            lambda out: out["content"][0]["text"],
        ),
        (
            "meta.llama3-1-405b-instruct-v1:0",
            {
                "prompt": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n",
                "max_gen_len": 50,
            },
            lambda out: out["generation"],
        ),
        (
            "us.amazon.nova-pro-v1:0",
            {
                "schemaVersion": "messages-v1",
                "system": [{"text": "Be brief."}],
                "messages": [{"role": "user", "content": [{"text": "What is 2+2?"}]}],
                "inferenceConfig": {"maxTokens": 50},
            },
            lambda out: out["output"]["message"]["content"][0]["text"],
        ),
        (
            "amazon.titan-text-express-v1",
            {"inputText": "What is 2+2?", "textGenerationConfig": {"maxTokenCount": 50}},
            lambda out: out["results"][0]["outputText"],
        ),
        (
            "cohere.command-text-v14",
            {"prompt": "What is 2+2?", "max_tokens": 50},
            lambda out: out["generations"][0]["text"],
        ),
    ],
)
def test_invoke_model_speaks_each_family_dialect(
    aws_emulation: BedrockEmulation, model_id: str, body: dict[str, Any], text_of: Any
) -> None:
    seen: list[tuple[str | None, str]] = []

    def responder(model: str, system: str | None, messages: list[dict[str, Any]]) -> str:
        seen.append((system, messages[-1]["content"][0]["text"]))
        return "4"

    aws_emulation.responder = responder
    out, headers = _invoke(aws_emulation, model_id, body)
    assert text_of(out) == "4"
    assert int(headers["x-amzn-bedrock-input-token-count"]) > 0
    assert headers["x-amzn-bedrock-output-token-count"] == "1"
    assert seen[0][1] == "What is 2+2?"
    if "system" in body or "<|start_header_id|>system" in str(body):
        assert seen[0][0] == "Be brief."


def test_invoke_model_rejects_a_body_in_the_wrong_dialect(aws_emulation: BedrockEmulation) -> None:
    with pytest.raises(ClientError) as refused:
        _invoke(aws_emulation, "anthropic.claude-3-5-sonnet-20241022-v2:0", {"prompt": "hi"})
    assert _code(refused) == "ValidationException"
    assert "Malformed input request" in str(refused.value) and "extraneous key [prompt]" in str(refused.value)


def test_imported_models_take_completion_and_chat_bodies(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    folder = f"s3://{aws_emulation.bucket}/models/m/"
    aws_emulation.put_model_folder(folder, chat_template=False)
    job = bedrock.create_model_import_job(
        jobName="imp",
        importedModelName="imp",
        roleArn=aws_emulation.role_arn,
        modelDataSource={"s3DataSource": {"s3Uri": folder}},
    )["jobArn"]
    aws_emulation.complete_job(job)
    arn = bedrock.get_model_import_job(jobIdentifier=job)["importedModelArn"]
    out, _ = _invoke(aws_emulation, arn, {"prompt": "hello", "max_gen_len": 20})
    assert out["generation"] == "echo: hello" and out["stop_reason"] == "stop"
    chat, _ = _invoke(aws_emulation, arn, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 20})
    assert chat["choices"][0]["message"]["content"] == "echo: hi"
    with pytest.raises(ClientError) as no_template:
        aws_emulation.session.client("bedrock-runtime").converse(modelId=arn, messages=USER)
    assert "does not support the Converse API" in str(no_template.value)


def _batch_input(aws: BedrockEmulation, n: int, *, bad: int = 0) -> str:
    uri = f"s3://{aws.bucket}/batch/input/records.jsonl"
    lines = [
        {
            "recordId": f"r{i:03d}",
            "modelInput": {
                "schemaVersion": "messages-v1",
                "messages": [{"role": "user", "content": [{"text": f"q{i}"}]}],
            },
        }
        for i in range(n)
    ]
    lines += [{"recordId": f"bad{i}", "modelInput": {"nope": True}} for i in range(bad)]
    aws.put_jsonl(uri, lines)
    return uri


def test_batch_inference_writes_shuffled_output_and_a_manifest(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    source = _batch_input(aws_emulation, 12, bad=2)
    arn = bedrock.create_model_invocation_job(
        jobName="batch-1",
        roleArn=aws_emulation.role_arn,
        modelId="amazon.nova-micro-v1:0",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": source}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{aws_emulation.bucket}/batch/output/"}},
        timeoutDurationInHours=24,
    )["jobArn"]
    job_id = arn.rsplit("/", 1)[1]
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] in ("Submitted", "InProgress")
    aws_emulation.clock.advance(aws_emulation.batch_duration_s)
    job = bedrock.get_model_invocation_job(jobIdentifier=job_id)
    assert (job["status"], job["successRecordCount"], job["errorRecordCount"]) == (
        "PartiallyCompleted",
        12,
        2,
    )
    out_uri = f"s3://{aws_emulation.bucket}/batch/output/{job_id}/records.jsonl.out"
    rows = [json.loads(line) for line in aws_emulation.read_object(out_uri).decode().splitlines()]
    ids = [r["recordId"] for r in rows]
    assert sorted(ids) == sorted([f"r{i:03d}" for i in range(12)] + ["bad0", "bad1"])
    assert ids != sorted(ids), "batch output order must not follow the input order"
    by_id = {r["recordId"]: r for r in rows}
    assert by_id["r005"]["modelOutput"]["output"]["message"]["content"][0]["text"] == "echo: q5"
    assert by_id["bad0"]["error"]["errorCode"] == 400 and "modelOutput" not in by_id["bad0"]
    manifest = json.loads(
        aws_emulation.read_object(f"s3://{aws_emulation.bucket}/batch/output/{job_id}/manifest.json.out")
    )
    assert manifest["totalRecordCount"] == 14 and manifest["successRecordCount"] == 12
    assert manifest["inputTokenCount"] > 0 and manifest["outputTokenCount"] > 0
    listed = bedrock.list_model_invocation_jobs(nameContains="batch")["invocationJobSummaries"]
    assert [j["jobArn"] for j in listed] == [arn]


def test_batch_converse_records_and_stop(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    source = f"s3://{aws_emulation.bucket}/batch/converse/"
    aws_emulation.put_jsonl(source + "part-1.jsonl", [{"recordId": "a", "modelInput": {"messages": USER}}])
    out = f"s3://{aws_emulation.bucket}/batch/converse-out"
    arn = bedrock.create_model_invocation_job(
        jobName="batch-2",
        roleArn=aws_emulation.role_arn,
        modelId="amazon.nova-micro-v1:0",
        modelInvocationType="Converse",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": source}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": out}},
    )["jobArn"]
    aws_emulation.complete_job(arn)
    row = json.loads(aws_emulation.read_object(f"{out}/{arn.rsplit('/', 1)[1]}/part-1.jsonl.out"))
    assert row["modelOutput"]["output"]["message"]["content"][0]["text"] == "echo: What is 2+2?"
    stoppable = bedrock.create_model_invocation_job(
        jobName="batch-3",
        roleArn=aws_emulation.role_arn,
        modelId="amazon.nova-micro-v1:0",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": source}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": out}},
    )["jobArn"]
    bedrock.stop_model_invocation_job(jobIdentifier=stoppable)
    assert bedrock.get_model_invocation_job(jobIdentifier=stoppable)["status"] == "Stopping"
    aws_emulation.clock.advance(aws_emulation.stop_duration_s)
    assert bedrock.get_model_invocation_job(jobIdentifier=stoppable)["status"] == "Stopped"


def test_invocation_logging_writes_converse_calls_with_request_metadata(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()
    with pytest.raises(ClientError) as no_bucket:
        bedrock.put_model_invocation_logging_configuration(
            loggingConfig={"s3Config": {"bucketName": "no-such-bucket-xyz"}, "textDataDeliveryEnabled": True}
        )
    assert _code(no_bucket) == "ValidationException"
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={
            "s3Config": {"bucketName": aws_emulation.bucket, "keyPrefix": "logs"},
            "textDataDeliveryEnabled": True,
        }
    )
    assert (
        bedrock.get_model_invocation_logging_configuration()["loggingConfig"]["s3Config"]["keyPrefix"]
        == "logs"
    )
    runtime = aws_emulation.session.client("bedrock-runtime")
    runtime.converse(modelId="amazon.nova-pro-v1:0", messages=USER, requestMetadata={"project": "faq"})
    files = aws_emulation.list_objects(f"s3://{aws_emulation.bucket}/logs/AWSLogs/")
    assert len(files) == 1 and "/BedrockModelInvocationLogs/us-east-1/2025/01/01/00/" in files[0]
    record = json.loads(gzip.decompress(aws_emulation.read_object(files[0])))
    assert record["schemaType"] == "ModelInvocationLog" and record["operation"] == "Converse"
    assert record["requestMetadata"] == {"project": "faq"} and record["modelId"] == "amazon.nova-pro-v1:0"
    assert (
        record["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"] == "echo: What is 2+2?"
    )
    bedrock.delete_model_invocation_logging_configuration()
    runtime.converse(modelId="amazon.nova-pro-v1:0", messages=USER)
    assert len(aws_emulation.list_objects(f"s3://{aws_emulation.bucket}/logs/AWSLogs/")) == 1
