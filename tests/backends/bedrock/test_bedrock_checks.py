"""The local request validator (every botocore constraint) and the SDK's catalog checks."""

from __future__ import annotations

import time

import pytest
from bedrock_helpers import OUTPUT, ROLE

from finetune_sdk.backends.base import (
    InvocationLogSource,
    JobKind,
    JobSpec,
    TeacherConfig,
)
from finetune_sdk.backends.bedrock.checks import (
    find_request_problems,
    hyperparameter_schema,
    model_id_from_arn,
    validate_request,
)
from finetune_sdk.backends.bedrock.requests import customization_job_request
from finetune_sdk.errors import ConfigurationError, HyperparameterError, RequestValidationError


def valid_request(**overrides: object) -> dict[str, object]:
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="amazon.titan-text-lite-v1:0:4k",
        name="ft-job",
        output_model_name="my-model",
        training_data="s3://bucket/train.jsonl",
        hyperparameters={"epochCount": 2},
    )
    request = customization_job_request(spec, role_arn=ROLE, output_uri=OUTPUT)
    request.update(overrides)
    return request


def fields(**overrides: object) -> list[str]:
    return [
        p.field
        for p in find_request_problems("bedrock", "CreateModelCustomizationJob", valid_request(**overrides))
    ]


def test_a_valid_request_has_no_problems():
    assert fields() == []


def test_job_name_with_underscore_names_the_field_pattern_and_a_fix():
    with pytest.raises(RequestValidationError) as info:
        validate_request("bedrock", "CreateModelCustomizationJob", valid_request(jobName="my_job"))
    assert info.value.field == "jobName"
    message = str(info.value)
    assert "'my_job'" in message and "pattern" in message and "'_'" in message and "'my-job'" in message


def test_eleven_validators_break_the_list_maximum():
    validators = [{"s3Uri": f"s3://bucket/v{i}.jsonl"} for i in range(11)]
    with pytest.raises(RequestValidationError, match="at most 10") as info:
        validate_request(
            "bedrock",
            "CreateModelCustomizationJob",
            valid_request(validationDataConfig={"validators": validators}),
        )
    assert info.value.field == "validationDataConfig.validators"


def test_tag_characters_are_checked_per_item():
    tags = [
        {"key": "a", "value": "1"},
        {"key": "b", "value": "2"},
        {"key": "c", "value": "3"},
        {"key": "cost#center", "value": "4"},
    ]
    assert fields(jobTags=tags) == ["jobTags[3].key"]


def test_s3_uri_with_a_space():
    problems = find_request_problems(
        "bedrock",
        "CreateModelCustomizationJob",
        valid_request(trainingDataConfig={"s3Uri": "s3://bucket/my data.jsonl"}),
    )
    assert [p.field for p in problems] == ["trainingDataConfig.s3Uri"]
    assert "no spaces" in problems[0].message


def test_customization_type_enum():
    problems = find_request_problems(
        "bedrock", "CreateModelCustomizationJob", valid_request(customizationType="FOO")
    )
    assert [p.field for p in problems] == ["customizationType"]
    assert "FINE_TUNING" in problems[0].message


def test_union_with_both_members():
    both = {
        "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": "amazon.nova-pro-v1:0"}},
        "rftConfig": {},
    }
    problems = find_request_problems(
        "bedrock", "CreateModelCustomizationJob", valid_request(customizationConfig=both)
    )
    assert problems[0].field == "customizationConfig"
    assert "exactly one" in problems[0].message and "distillationConfig, rftConfig" in problems[0].message


def test_equals_filter_with_two_keys():
    logs = {
        "invocationLogSource": {"s3Uri": "s3://logs/x/"},
        "requestMetadataFilters": {"equals": {"a": "1", "b": "2"}},
    }
    problems = find_request_problems(
        "bedrock",
        "CreateModelCustomizationJob",
        valid_request(trainingDataConfig={"invocationLogsConfig": logs}),
    )
    assert [p.field for p in problems] == [
        "trainingDataConfig.invocationLogsConfig.requestMetadataFilters.equals"
    ]
    assert "andAll" in problems[0].message


def test_required_type_length_and_unknown_members():
    request = valid_request(jobName="x" * 64, hyperParameters={"epochCount": 2}, bogus=1)
    del request["roleArn"]
    found = {
        p.field: p.message for p in find_request_problems("bedrock", "CreateModelCustomizationJob", request)
    }
    assert set(found) == {"jobName", "hyperParameters.epochCount", "bogus", "roleArn"}
    assert "at most 63" in found["jobName"]
    assert "'2', not 2" in found["hyperParameters.epochCount"]
    assert "required" in found["roleArn"]


def test_numeric_range_on_runtime_requests():
    request = {
        "modelId": "us.amazon.nova-micro-v1:0",
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 0, "temperature": 1.5},
    }
    found = {p.field: p.message for p in find_request_problems("bedrock-runtime", "Converse", request)}
    assert set(found) == {"inferenceConfig.maxTokens", "inferenceConfig.temperature"}
    assert "above the maximum 1" in found["inferenceConfig.temperature"]


def test_the_message_counts_the_other_problems():
    with pytest.raises(RequestValidationError, match=r"1 more problem"):
        validate_request(
            "bedrock", "CreateModelCustomizationJob", valid_request(jobName="a_b", customizationType="X")
        )


def test_job_name_validation_cannot_hang():
    name = "a" + "-" * 60 + "_"  # exponential for a backtracking engine
    start = time.perf_counter()
    assert fields(jobName=name) == ["jobName"]
    assert time.perf_counter() - start < 1.0


# --- catalog checks through the backend --------------------------------------------------------------
def distill(student: str, teacher: str, **kw: object) -> JobSpec:
    return JobSpec(
        kind=JobKind.DISTILLATION,
        base_model=student,
        name="distill-job",
        output_model_name="student",
        training_data="s3://bucket/prompts.jsonl",
        teacher=TeacherConfig(model_id=teacher),
        **kw,
    )


def test_teacher_student_pair_is_checked(backend, stub):
    stub(backend)  # any request would fail the test: nothing may be sent
    with pytest.raises(ConfigurationError, match="cannot teach") as info:
        backend.check_spec(
            distill("amazon.nova-micro-v1:0:128k", "anthropic.claude-3-5-sonnet-20241022-v2:0")
        )
    assert "us.amazon.nova-premier-v1:0" in str(info.value)


def test_profile_only_teacher_suggests_the_profile_id(backend):
    with pytest.raises(ConfigurationError, match=r"use 'us\.amazon\.nova-premier-v1:0'"):
        backend.check_spec(distill("amazon.nova-micro-v1:0:128k", "amazon.nova-premier-v1:0"))


def test_teacher_given_as_inference_profile_arn_passes(backend):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-premier-v1:0"
    backend.check_spec(distill("amazon.nova-micro-v1:0:128k", arn))


def test_region_is_checked(make_backend):
    backend = make_backend("us-west-2")
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="amazon.nova-micro-v1:0:128k",
        name="ft",
        output_model_name="m",
        training_data="s3://bucket/t.jsonl",
    )
    with pytest.raises(ConfigurationError, match="only in us-east-1, not us-west-2"):
        backend.check_spec(spec)


def test_customization_type_must_be_supported_by_the_model(make_backend):
    spec = JobSpec(
        kind=JobKind.CONTINUED_PRE_TRAINING,
        base_model="anthropic.claude-3-haiku-20240307-v1:0:200k",
        name="cpt",
        output_model_name="m",
        training_data="s3://bucket/t.jsonl",
    )
    with pytest.raises(ConfigurationError, match="does not support CONTINUED_PRE_TRAINING") as info:
        make_backend("us-west-2").check_spec(spec)
    assert "amazon.titan-text-lite-v1:0:4k" in str(info.value)


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"epochCount": 11}, r"out of range .* \[1, 10\]"),
        ({"epochs": 2}, "valid names: epochCount"),
        ({"batchSize": 2.5}, "must be an integer"),
    ],
)
def test_hyperparameters_against_the_catalog(make_backend, hyperparameters, match):
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="anthropic.claude-3-haiku-20240307-v1:0:200k",
        name="ft",
        output_model_name="m",
        training_data="s3://bucket/t.jsonl",
        hyperparameters=hyperparameters,
    )
    with pytest.raises(HyperparameterError, match=match):
        make_backend("us-west-2").check_spec(spec)


def test_check_spec_runs_the_request_validator(backend):
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="amazon.titan-text-lite-v1:0:4k",
        name="ft_job",
        output_model_name="m",
        training_data="s3://bucket/t.jsonl",
    )
    with pytest.raises(RequestValidationError) as info:
        backend.check_spec(spec)
    assert info.value.field == "jobName"


def test_distillation_from_logs_passes_check_spec(make_backend):
    spec = JobSpec(
        kind=JobKind.DISTILLATION,
        base_model="anthropic.claude-3-haiku-20240307-v1:0:200k",
        name="d",
        output_model_name="m",
        teacher=TeacherConfig(model_id="anthropic.claude-3-5-sonnet-20240620-v1:0"),
        invocation_logs=InvocationLogSource(s3_uri="s3://logs/AWSLogs/"),
    )
    make_backend("us-west-2").check_spec(spec)


def test_hyperparameter_schema():
    schema = hyperparameter_schema("amazon.nova-micro-v1:0:128k", JobKind.FINE_TUNING)
    assert schema is not None and [s.name for s in schema] == [
        "epochCount",
        "learningRate",
        "learningRateWarmupSteps",
    ]
    assert hyperparameter_schema("amazon.nova-micro-v1:0:128k", JobKind.DISTILLATION) is None
    assert hyperparameter_schema("s3://models/llama/", JobKind.IMPORT) is None
    # iterative fine-tuning of a custom model: the schema of its base
    custom = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef123456"
    assert hyperparameter_schema(custom, JobKind.FINE_TUNING) == schema


def test_model_id_from_arn_never_matches_random_suffixes():
    assert model_id_from_arn("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc") == (
        "provisioned-model",
        "abc",
    )
    assert model_id_from_arn("amazon.nova-micro-v1:0") == (None, "amazon.nova-micro-v1:0")
