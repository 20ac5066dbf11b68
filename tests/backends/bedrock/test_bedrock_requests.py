"""Exact request payloads, pinned with botocore Stubber (``expected_params``) and the pure builders."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from bedrock_helpers import OUTPUT, ROLE, body

from finetune_sdk.backends.base import (
    DeploymentSpec,
    InferenceConfig,
    InvocationLogSource,
    JobKind,
    JobSpec,
    JobStatus,
    MetadataFilter,
    TeacherConfig,
)
from finetune_sdk.backends.bedrock import BedrockOptions
from finetune_sdk.backends.bedrock import requests as rq
from finetune_sdk.data.records import MediaPart, TextPart, Turn
from finetune_sdk.errors import ConfigurationError

JOB_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-lite-v1:0:4k/abcdef123456"
)
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


def ft_spec(**overrides: object) -> JobSpec:
    fields: dict[str, object] = dict(
        kind=JobKind.FINE_TUNING,
        base_model="amazon.titan-text-lite-v1:0:4k",
        name="ft-titan-demo",
        output_model_name="titan-demo",
        training_data="s3://ft-bucket/data/train.jsonl",
        validation_data="s3://ft-bucket/data/validation.jsonl",
        hyperparameters={
            "epochCount": 2,
            "batchSize": 1,
            "learningRate": 0.00001,
            "learningRateWarmupSteps": 5,
        },
        tags={"team": "nlp", "project": "demo"},
    )
    fields.update(overrides)
    return JobSpec(**fields)  # type: ignore[arg-type]


def test_fine_tuning_payload_is_exact(backend, stub):
    spec = ft_spec()
    stubber = stub(backend)
    expected = {
        "jobName": "ft-titan-demo",
        "customModelName": "titan-demo",
        "roleArn": ROLE,
        "clientRequestToken": spec.client_token(),
        "baseModelIdentifier": "amazon.titan-text-lite-v1:0:4k",
        "customizationType": "FINE_TUNING",
        "trainingDataConfig": {"s3Uri": "s3://ft-bucket/data/train.jsonl"},
        "validationDataConfig": {"validators": [{"s3Uri": "s3://ft-bucket/data/validation.jsonl"}]},
        "outputDataConfig": {"s3Uri": OUTPUT},
        "hyperParameters": {
            "epochCount": "2",
            "batchSize": "1",
            "learningRate": "0.00001",
            "learningRateWarmupSteps": "5",
        },
        "jobTags": [{"key": "project", "value": "demo"}, {"key": "team", "value": "nlp"}],
        "customModelTags": [{"key": "project", "value": "demo"}, {"key": "team", "value": "nlp"}],
    }
    stubber.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, expected)
    record = backend.submit_job(spec)
    assert record.id == JOB_ARN
    assert record.status is JobStatus.RUNNING and record.raw_status == "InProgress"
    assert record.kind is JobKind.FINE_TUNING and record.output_uri == OUTPUT


def test_continued_pretraining_payload_is_exact(backend, stub):
    spec = ft_spec(
        kind=JobKind.CONTINUED_PRE_TRAINING,
        name="cpt-titan",
        validation_data=None,
        hyperparameters={"epochCount": 1},
        tags={},
        output_uri="s3://other-bucket/cpt/",
        role_arn="arn:aws:iam::123456789012:role/Other",
    )
    stubber = stub(backend)
    stubber.add_response(
        "create_model_customization_job",
        {"jobArn": JOB_ARN},
        {
            "jobName": "cpt-titan",
            "customModelName": "titan-demo",
            "roleArn": "arn:aws:iam::123456789012:role/Other",  # the spec's role wins over the backend's
            "clientRequestToken": spec.client_token(),
            "baseModelIdentifier": "amazon.titan-text-lite-v1:0:4k",
            "customizationType": "CONTINUED_PRE_TRAINING",
            "trainingDataConfig": {"s3Uri": "s3://ft-bucket/data/train.jsonl"},
            "outputDataConfig": {"s3Uri": "s3://other-bucket/cpt/"},
            "hyperParameters": {"epochCount": "1"},
        },
    )
    assert backend.submit_job(spec).kind is JobKind.CONTINUED_PRE_TRAINING


def test_distillation_from_prompts_payload_is_exact(backend, stub):
    spec = JobSpec(
        kind=JobKind.DISTILLATION,
        base_model="amazon.nova-micro-v1:0:128k",
        name="distill-micro",
        output_model_name="micro-distilled",
        training_data="s3://ft-bucket/prompts.jsonl",
        teacher=TeacherConfig(model_id="us.amazon.nova-pro-v1:0", max_response_length=1000),
    )
    stubber = stub(backend)
    stubber.add_response(
        "create_model_customization_job",
        {"jobArn": JOB_ARN},
        {
            "jobName": "distill-micro",
            "customModelName": "micro-distilled",
            "roleArn": ROLE,
            "clientRequestToken": spec.client_token(),
            "baseModelIdentifier": "amazon.nova-micro-v1:0:128k",
            "customizationType": "DISTILLATION",
            "trainingDataConfig": {"s3Uri": "s3://ft-bucket/prompts.jsonl"},
            "outputDataConfig": {"s3Uri": OUTPUT},
            "customizationConfig": {
                "distillationConfig": {
                    "teacherModelConfig": {
                        "teacherModelIdentifier": "us.amazon.nova-pro-v1:0",
                        "maxResponseLengthForInference": 1000,
                    }
                }
            },
        },
    )
    assert backend.submit_job(spec).kind is JobKind.DISTILLATION


def test_distillation_from_invocation_logs_payload_is_exact(make_backend, stub):
    backend = make_backend("us-west-2")
    spec = JobSpec(
        kind=JobKind.DISTILLATION,
        base_model="anthropic.claude-3-haiku-20240307-v1:0:200k",
        name="distill-logs",
        output_model_name="haiku-distilled",
        teacher=TeacherConfig(model_id="anthropic.claude-3-5-sonnet-20241022-v2:0", max_response_length=512),
        invocation_logs=InvocationLogSource(
            s3_uri="s3://log-bucket/AWSLogs/",
            use_prompt_response=True,
            filter=MetadataFilter.all_of(project="faq", stage="prod"),
        ),
    )
    stubber = stub(backend)
    stubber.add_response(
        "create_model_customization_job",
        {"jobArn": JOB_ARN},
        {
            "jobName": "distill-logs",
            "customModelName": "haiku-distilled",
            "roleArn": ROLE,
            "clientRequestToken": spec.client_token(),
            "baseModelIdentifier": "anthropic.claude-3-haiku-20240307-v1:0:200k",
            "customizationType": "DISTILLATION",
            "trainingDataConfig": {
                "invocationLogsConfig": {
                    "usePromptResponse": True,
                    "invocationLogSource": {"s3Uri": "s3://log-bucket/AWSLogs/"},
                    "requestMetadataFilters": {
                        "andAll": [{"equals": {"project": "faq"}}, {"equals": {"stage": "prod"}}]
                    },
                }
            },
            "outputDataConfig": {"s3Uri": OUTPUT},
            "customizationConfig": {
                "distillationConfig": {
                    "teacherModelConfig": {
                        "teacherModelIdentifier": "anthropic.claude-3-5-sonnet-20241022-v2:0",
                        "maxResponseLengthForInference": 512,
                    }
                }
            },
        },
    )
    assert backend.submit_job(spec).name == "distill-logs"


def test_import_job_payload_is_exact(backend, stub):
    spec = JobSpec(
        kind=JobKind.IMPORT,
        base_model="s3://models/llama/",
        name="import-llama",
        output_model_name="my-llama",
        model_source="s3://models/llama/",
        tags={"env": "dev"},
        backend_options=BedrockOptions(kms_key_id="alias/models"),
    )
    stubber = stub(backend)
    arn = "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcdefgh1234"
    stubber.add_response(
        "create_model_import_job",
        {"jobArn": arn},
        {
            "jobName": "import-llama",
            "importedModelName": "my-llama",
            "roleArn": ROLE,
            "modelDataSource": {"s3DataSource": {"s3Uri": "s3://models/llama/"}},
            "clientRequestToken": spec.client_token(),
            "jobTags": [{"key": "env", "value": "dev"}],
            "importedModelTags": [{"key": "env", "value": "dev"}],
            "importedModelKmsKeyId": "alias/models",
        },
    )
    record = backend.submit_job(spec)
    assert record.id == arn and record.kind is JobKind.IMPORT


def test_vpc_and_kms_options_reach_the_request():
    spec = ft_spec(
        backend_options=BedrockOptions(
            kms_key_id="alias/k", subnet_ids=("subnet-1",), security_group_ids=("sg-1",)
        )
    )
    req = rq.customization_job_request(spec, role_arn=ROLE, output_uri=OUTPUT)
    assert req["customModelKmsKeyId"] == "alias/k"
    assert req["vpcConfig"] == {"subnetIds": ["subnet-1"], "securityGroupIds": ["sg-1"]}


def test_runtime_id_becomes_the_customisation_id():
    req = rq.customization_job_request(
        ft_spec(base_model="amazon.titan-text-lite-v1:0"), role_arn=ROLE, output_uri=OUTPUT
    )
    assert req["baseModelIdentifier"] == "amazon.titan-text-lite-v1:0:4k"


def test_missing_role_and_output_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="role_arn"):
        rq.customization_job_request(ft_spec(), role_arn=None, output_uri=OUTPUT)
    with pytest.raises(ConfigurationError, match="output_uri"):
        rq.customization_job_request(ft_spec(), role_arn=ROLE, output_uri=None)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2, "2"),
        (2.0, "2"),
        (0.00005, "0.00005"),
        (1e-7, "0.0000001"),
        (0.1, "0.1"),
        (True, "true"),
        ("Auto", "Auto"),
    ],
)
def test_hyperparameters_are_strings_in_plain_notation(value, text):
    assert rq.format_hyperparameter(value) == text


def test_provisioned_throughput_payload_has_no_commitment_by_default(backend, stub):
    model_arn = (
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-lite-v1:0:4k/abcdef123456"
    )
    spec = DeploymentSpec(model_id=model_arn, name="titan-pt", tags={"env": "dev"})
    stubber = stub(backend)
    pt_arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456"
    stubber.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": pt_arn},
        {
            "modelUnits": 1,
            "provisionedModelName": "titan-pt",
            "modelId": model_arn,
            "clientRequestToken": spec.client_token(),
            "tags": [{"key": "env", "value": "dev"}],
        },
    )
    record = backend.create_deployment(spec)
    assert record.invoke_id == pt_arn and record.kind == "provisioned"
    assert record.hourly_cost == pytest.approx(7.1)  # catalog: Titan Lite no-commit MU price


def test_commitment_only_when_asked():
    spec = DeploymentSpec(model_id="m", name="pt", model_units=2, commitment="OneMonth")
    assert rq.provisioned_throughput_request(spec)["commitmentDuration"] == "OneMonth"
    assert "commitmentDuration" not in rq.provisioned_throughput_request(
        DeploymentSpec(model_id="m", name="pt")
    )


def test_on_demand_deployment_payload_is_exact(backend, stub):
    model_arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef123456"
    spec = DeploymentSpec(
        model_id=model_arn,
        name="micro-od",
        kind="on_demand",
        backend_options=BedrockOptions(deployment_description="eval"),
    )
    stubber = stub(backend)
    dep_arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
    stubber.add_response(
        "create_custom_model_deployment",
        {"customModelDeploymentArn": dep_arn},
        {
            "modelDeploymentName": "micro-od",
            "modelArn": model_arn,
            "clientRequestToken": spec.client_token(),
            "description": "eval",
        },
    )
    record = backend.create_deployment(spec)
    assert record.kind == "on_demand" and record.invoke_id == dep_arn and record.hourly_cost == 0.0


def test_on_demand_refused_where_the_catalog_says_no(backend):
    model_arn = (
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-lite-v1:0:4k/abcdef123456"
    )
    with pytest.raises(ConfigurationError, match="kind='provisioned'"):
        backend.create_deployment(DeploymentSpec(model_id=model_arn, name="x", kind="on_demand"))


def test_converse_payload_and_response(backend, stub):
    stubber = stub(backend, "bedrock-runtime")
    image = MediaPart(type="image", format="png", uri="s3://ft-bucket/img.png", bucket_owner="123456789012")
    turns = [Turn(role="user", content=(TextPart(text="What is this?"), image))]
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "A cat."}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
            "metrics": {"latencyMs": 120},
        },
        {
            "modelId": "us.amazon.nova-lite-v1:0",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "What is this?"},
                        {
                            "image": {
                                "format": "png",
                                "source": {
                                    "s3Location": {
                                        "uri": "s3://ft-bucket/img.png",
                                        "bucketOwner": "123456789012",
                                    }
                                },
                            }
                        },
                    ],
                }
            ],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        },
    )
    response = backend.chat(
        "us.amazon.nova-lite-v1:0",
        system="Be brief.",
        turns=turns,
        config=InferenceConfig(max_tokens=64, temperature=0.2, top_p=0.9, stop=("END",)),
    )
    assert (response.text, response.stop_reason, response.input_tokens, response.output_tokens) == (
        "A cat.",
        "end_turn",
        12,
        3,
    )
    assert response.tokens_estimated is False


UNSUPPORTED = (
    "This action doesn't support the model that you provided. Try again with a supported text or chat model."
)


@pytest.mark.parametrize(
    ("model_id", "expected_body", "reply", "text", "tokens"),
    [
        (
            "amazon.titan-text-lite-v1:0",
            {
                "inputText": "Be brief.\n\nHi",
                "textGenerationConfig": {"maxTokenCount": 50, "temperature": 0.0},
            },
            {
                "inputTextTokenCount": 4,
                "results": [{"tokenCount": 2, "outputText": "Hello", "completionReason": "FINISH"}],
            },
            "Hello",
            (4, 2),
        ),
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 50,
                "temperature": 0.0,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                "system": "Be brief.",
            },
            {
                "content": [{"type": "text", "text": "Hello"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 9, "output_tokens": 1},
            },
            "Hello",
            (9, 1),
        ),
        (
            "meta.llama3-1-8b-instruct-v1:0",
            {
                "prompt": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n",
                "max_gen_len": 50,
                "temperature": 0.0,
            },
            {
                "generation": "Hello",
                "prompt_token_count": 20,
                "generation_token_count": 2,
                "stop_reason": "stop",
            },
            "Hello",
            (20, 2),
        ),
        (
            "us.amazon.nova-micro-v1:0",
            {
                "schemaVersion": "messages-v1",
                "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                "inferenceConfig": {"maxTokens": 50, "temperature": 0.0},
                "system": [{"text": "Be brief."}],
            },
            {
                "output": {"message": {"content": [{"text": "Hello"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 7, "outputTokens": 1},
            },
            "Hello",
            (7, 1),
        ),
        (
            "cohere.command-text-v14:7",
            {"prompt": "Be brief.\n\nHi", "max_tokens": 50, "temperature": 0.0},
            {"generations": [{"text": "Hello", "finish_reason": "COMPLETE"}]},
            "Hello",
            (11, 3),  # Cohere's body has no counts: they come from the headers
        ),
    ],
)
def test_invoke_model_body_per_family(backend, stub, model_id, expected_body, reply, text, tokens):
    stubber = stub(backend, "bedrock-runtime")
    stubber.add_client_error("converse", "ValidationException", UNSUPPORTED, 400)
    stubber.add_response(
        "invoke_model",
        {
            "body": body(reply),
            "contentType": "application/json",
            "ResponseMetadata": {
                "HTTPHeaders": {
                    "x-amzn-bedrock-input-token-count": "11",
                    "x-amzn-bedrock-output-token-count": "3",
                }
            },
        },
        {
            "modelId": model_id,
            "body": json.dumps(expected_body, separators=(",", ":")).encode(),
            "contentType": "application/json",
            "accept": "application/json",
        },
    )
    config = InferenceConfig(max_tokens=50)
    response = backend.chat(model_id, system="Be brief.", turns=[Turn.of("user", "Hi")], config=config)
    assert response.text == text
    assert (response.input_tokens, response.output_tokens) == tokens
    # the fallback is remembered: the next call goes straight to InvokeModel
    stubber.add_response("invoke_model", {"body": body(reply), "contentType": "application/json"})
    assert (
        backend.chat(model_id, system="Be brief.", turns=[Turn.of("user", "Hi")], config=config).text == text
    )


def test_imported_model_without_chat_uses_bedrock_completion(backend, stub):
    arn = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef123456"
    control = stub(backend, "bedrock")
    control.add_response(
        "get_imported_model",
        {"modelArn": arn, "modelName": "m", "instructSupported": False},
        {"modelIdentifier": arn},
    )
    runtime = stub(backend, "bedrock-runtime")
    runtime.add_response(
        "invoke_model",
        {
            "body": body(
                {
                    "generation": "42",
                    "prompt_token_count": 5,
                    "generation_token_count": 1,
                    "stop_reason": "stop",
                }
            ),
            "contentType": "application/json",
        },
        {
            "modelId": arn,
            "body": b'{"prompt":"What is 6*7?","max_gen_len":16,"temperature":0.0}',
            "contentType": "application/json",
            "accept": "application/json",
        },
    )
    response = backend.chat(
        arn, system=None, turns=[Turn.of("user", "What is 6*7?")], config=InferenceConfig(max_tokens=16)
    )
    assert (response.text, response.input_tokens, response.output_tokens) == ("42", 5, 1)


def test_imported_chat_model_falls_back_to_openai_chat_completion(backend, stub):
    arn = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef123456"
    control = stub(backend, "bedrock")
    control.add_response(
        "get_imported_model",
        {"modelArn": arn, "modelName": "m", "instructSupported": True},
        {"modelIdentifier": arn},
    )
    runtime = stub(backend, "bedrock-runtime")
    runtime.add_client_error(
        "converse", "ValidationException", "The Converse API doesn't support imported models.", 400
    )
    runtime.add_response(
        "invoke_model",
        {
            "body": body(
                {
                    "choices": [
                        {"message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10},
                }
            ),
            "contentType": "application/json",
        },
        {
            "modelId": arn,
            "body": b'{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Hello"}],'
            b'"max_tokens":16,"temperature":0.0}',
            "contentType": "application/json",
            "accept": "application/json",
        },
    )
    response = backend.chat(
        arn, system="S", turns=[Turn.of("user", "Hello")], config=InferenceConfig(max_tokens=16)
    )
    assert (response.text, response.stop_reason, response.input_tokens) == ("Hi!", "stop", 8)


def test_tokens_are_estimated_when_the_service_gives_none():
    response = rq.parse_invoke_response(
        "cohere_command",
        {"generations": [{"text": "abcdefgh"}]},
        model_id="m",
        latency_s=0.0,
        prompt_text="abcd",
        chars_per_token=4.0,
    )
    assert (response.input_tokens, response.output_tokens, response.tokens_estimated) == (1, 2, True)


def test_converse_request_rejects_a_leading_assistant_turn():
    with pytest.raises(ConfigurationError, match="first turn"):
        rq.converse_request("m", system=None, turns=[Turn.of("assistant", "x")], config=InferenceConfig())
