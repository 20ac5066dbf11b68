"""The Bedrock evaluation-job adapter: request checked against botocore's service model and our patterns."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import RequestValidationError, ServiceValidationError
from finetune_sdk.evaluation import JudgeMetric, PromptTemplate
from finetune_sdk.evaluation.bedrock_job import (
    BedrockEvaluationJobAdapter,
    build_evaluation_job_request,
    build_prompt_dataset,
    job_name_from,
)

ROLE = "arn:aws:iam::123456789012:role/bedrock-eval"
BASE = "anthropic.claude-3-haiku-20240307-v1:0"
TUNED = "arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abcdef123456"


def shape() -> Any:
    return (
        botocore.session.get_session()
        .get_service_model("bedrock")
        .operation_model("CreateEvaluationJob")
        .input_shape
    )


def constraint_errors(value: Any, sh: Any, path: str = "") -> list[str]:
    """Patterns, max lengths/counts and unions, which botocore's ParamValidator does not check."""
    errors: list[str] = []
    meta = sh.metadata
    if sh.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: longer than {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            errors.append(f"{path}: {value!r} !~ {meta['pattern']}")
        if sh.enum and value not in sh.enum:
            errors.append(f"{path}: {value!r} not in {sh.enum}")
    elif sh.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: more than {meta['max']} items")
        for i, item in enumerate(value):
            errors.extend(constraint_errors(item, sh.member, f"{path}[{i}]"))
    elif sh.type_name == "structure":
        if meta.get("union") and len(value) != 1:
            errors.append(f"{path}: a union needs exactly one member, got {sorted(value)}")
        for key, item in value.items():
            errors.extend(constraint_errors(item, sh.members[key], f"{path}.{key}" if path else key))
    return errors


def assert_valid(request: dict[str, Any]) -> None:
    report = ParamValidator().validate(request, shape())
    assert not report.has_errors(), report.generate_report()
    assert constraint_errors(request, shape()) == []


def test_prompt_dataset_lines() -> None:
    records = [
        Conversation.from_pairs("2+2?", "4", metadata={"category": "math"}),
        Conversation.from_pairs("Capital of France?", system="Be brief."),
    ]
    lines = build_prompt_dataset(records, template=PromptTemplate(instruction="Q: {prompt}"))
    assert [json.loads(x) for x in lines] == [
        {"prompt": "Q: 2+2?", "referenceResponse": "4", "category": "math"},
        {"prompt": "Be brief.\n\nQ: Capital of France?"},
    ]
    with pytest.raises(RequestValidationError, match="at most 1000 prompts"):
        build_prompt_dataset(Conversation.from_pairs(f"q{i}", "a") for i in range(1001))


def test_algorithmic_request_is_valid_for_botocore_and_patterns() -> None:
    request = build_evaluation_job_request(
        job_name="base-vs-tuned-2025",
        role_arn=ROLE,
        model_ids=[BASE, TUNED],
        dataset_s3_uri="s3://my-eval-bucket/tatqa/prompts.jsonl",
        output_s3_uri="s3://my-eval-bucket/out/",
        metric_names=["Builtin.Accuracy", "Builtin.Robustness", "Builtin.Toxicity"],
        tags={"team": "ml"},
        description="TAT-QA base vs tuned",
    )
    assert_valid(request)
    assert [m["bedrockModel"]["modelIdentifier"] for m in request["inferenceConfig"]["models"]] == [
        BASE,
        TUNED,
    ]
    params = json.loads(request["inferenceConfig"]["models"][0]["bedrockModel"]["inferenceParams"])
    assert params == {"inferenceConfig": {"maxTokens": 512, "temperature": 0.0}}
    # the idempotency token is derived from the request: the same comparison gives the same token
    again = build_evaluation_job_request(
        job_name="base-vs-tuned-2025",
        role_arn=ROLE,
        model_ids=[BASE, TUNED],
        dataset_s3_uri="s3://my-eval-bucket/tatqa/prompts.jsonl",
        output_s3_uri="s3://my-eval-bucket/out/",
        metric_names=["Builtin.Accuracy", "Builtin.Robustness", "Builtin.Toxicity"],
        tags={"team": "ml"},
        description="TAT-QA base vs tuned",
    )
    assert again["clientRequestToken"] == request["clientRequestToken"]


def test_judge_request_with_builtin_and_custom_metrics_is_valid() -> None:
    judge = JudgeMetric(
        lambda p: "", name="tatqa-correctness", rubric="Same figure and unit as the reference?"
    )
    adapter = BedrockEvaluationJobAdapter(
        role_arn=ROLE,
        dataset_s3_uri="s3://my-eval-bucket/p.jsonl",
        output_s3_uri="s3://my-eval-bucket/out/",
        metric_names=["Builtin.Correctness", "Builtin.Completeness"],
        judge_metrics=[judge],
        evaluator_model_id="anthropic.claude-3-5-sonnet-20240620-v1:0",
    )
    request = adapter.request([BASE, TUNED], job_name="TAT-QA: Base vs Tuned (judge)")
    assert_valid(request)
    assert request["jobName"] == "tat-qa-base-vs-tuned-judge"
    automated = request["evaluationConfig"]["automated"]
    assert automated["datasetMetricConfigs"][0]["metricNames"] == [
        "Builtin.Correctness",
        "Builtin.Completeness",
        "tatqa-correctness",
    ]
    custom = automated["customMetricConfig"]["customMetrics"][0]["customMetricDefinition"]
    assert "{{prediction}}" in custom["instructions"] and "{{ground_truth}}" in custom["instructions"]
    assert [r["value"]["floatValue"] for r in custom["ratingScale"]] == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"job_name": "Base_vs_Tuned"}, "jobName"),
        ({"job_name": "a" * 64}, "jobName"),
        ({"job_name": "-starts-with-hyphen"}, "jobName"),
        ({"model_ids": [BASE, TUNED, BASE]}, "inferenceConfig.models"),
        ({"model_ids": []}, "inferenceConfig.models"),
        ({"metric_names": ["Builtin.BLEU"]}, "metricNames"),
        ({"metric_names": ["Builtin.Correctness"]}, "evaluationConfig.automated.evaluatorModelConfig"),
        (
            {"metric_names": ["Builtin.Accuracy", "Builtin.Correctness"], "evaluator_model_id": BASE},
            "metricNames",
        ),
        ({"role_arn": "bedrock-eval"}, "roleArn"),
        ({"output_s3_uri": "https://bucket/out"}, "outputDataConfig.s3Uri"),
    ],
)
def test_invalid_requests_are_refused_before_sending(changes: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = dict(
        job_name="ok-name",
        role_arn=ROLE,
        model_ids=[BASE],
        dataset_s3_uri="s3://my-eval-bucket/p.jsonl",
        output_s3_uri="s3://my-eval-bucket/o/",
    )
    args.update(changes)
    with pytest.raises(RequestValidationError) as info:
        build_evaluation_job_request(**args)
    assert info.value.field == field


def test_job_name_from_any_text_matches_the_service_pattern() -> None:
    for text in ["Base vs Tuned!", "__x__", "UPPER_case 2025/11", "-" * 10, "a" * 100]:
        name = job_name_from(text)
        assert re.fullmatch(r"[a-z0-9](-*[a-z0-9]){0,62}", name), name


def test_submit_sends_the_request_and_translates_errors() -> None:
    client = botocore.session.get_session().create_client(
        "bedrock", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    adapter = BedrockEvaluationJobAdapter(
        role_arn=ROLE, dataset_s3_uri="s3://my-eval-bucket/p.jsonl", output_s3_uri="s3://my-eval-bucket/out/"
    )
    request = adapter.request([BASE], job_name="one-model")
    arn = "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/abcdef123456"
    with Stubber(client) as stub:
        stub.add_response("create_evaluation_job", {"jobArn": arn}, expected_params=request)
        assert adapter.submit(client, request) == arn
        stub.add_client_error(
            "create_evaluation_job",
            service_error_code="ValidationException",
            service_message="bad model",
            http_status_code=400,
        )
        with pytest.raises(ServiceValidationError, match="bad model"):
            adapter.submit(client, request)
