"""Helpers shared by the AWS emulation tests: valid requests whose data exists in the emulated S3."""

from __future__ import annotations

import re
from typing import Any

from finetune_sdk.testing.emulation import BedrockEmulation

JOB_ARN = re.compile(
    r"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/"
    r"amazon\.nova-micro-v1:0:128k/[a-z0-9]{12}"
)
MODEL_ARN = re.compile(
    r"arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon\.nova-micro-v1:0:128k/[a-z0-9]{12}"
)


def conversation(i: int, *, answer: bool = True) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": f"question {i}"}]}]
    if answer:
        messages.append({"role": "assistant", "content": [{"text": f"answer {i}"}]})
    return {"schemaVersion": "bedrock-conversation-2024", "messages": messages}


def put_training_data(aws: BedrockEmulation, name: str = "train", n: int = 16) -> str:
    uri = f"s3://{aws.bucket}/data/{name}.jsonl"
    aws.put_jsonl(uri, [conversation(i) for i in range(n)])
    return uri


def create_job(aws: BedrockEmulation, name: str = "job-1", **changes: Any) -> str:
    """Create a Nova Micro fine-tuning job with real data; returns its ARN."""
    params: dict[str, Any] = {
        "jobName": name,
        "customModelName": f"{name}-model",
        "roleArn": aws.role_arn,
        "baseModelIdentifier": "amazon.nova-micro-v1:0:128k",
        "trainingDataConfig": {"s3Uri": put_training_data(aws, f"{name}-train")},
        "outputDataConfig": {"s3Uri": f"{aws.output_uri}/{name}"},
        "hyperParameters": {"epochCount": "2"},
    }
    params.update(changes)
    arn: str = aws.session.client("bedrock").create_model_customization_job(**params)["jobArn"]
    return arn
