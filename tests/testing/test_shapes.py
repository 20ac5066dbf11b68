"""The service-model machinery of the AWS emulation: Java patterns, validation, routing, (de)serialisation."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from finetune_sdk.testing._shapes import (
    Router,
    format_violations,
    parse_request,
    serialize_output,
    service_model,
    validate,
)

BEDROCK = service_model("bedrock")
CREATE = BEDROCK.operation_model("CreateModelCustomizationJob")


def _create(**changes: object) -> dict[str, object]:
    params: dict[str, object] = {
        "jobName": "job-1",
        "customModelName": "model-1",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "baseModelIdentifier": "amazon.nova-micro-v1:0:128k",
        "trainingDataConfig": {"s3Uri": "s3://bucket/train.jsonl"},
        "outputDataConfig": {"s3Uri": "s3://bucket/out"},
    }
    params.update(changes)
    return params


def test_a_valid_request_has_no_violations() -> None:
    assert validate(CREATE.input_shape, _create(hyperParameters={"epochCount": "2"})) == []


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"jobName": "bad_name"}, "jobName", "pattern"),
        ({"jobName": "a" * 64}, "jobName", "max"),
        (
            {"customizationConfig": {"rftConfig": {"hyperParameters": {"epochCount": 0}}}},
            "customizationConfig.rftConfig.hyperParameters.epochCount",
            "min",
        ),
        ({"customizationType": "FOO"}, "customizationType", "enum"),
        ({"roleArn": None}, "roleArn", "required"),
        ({"hyperParameters": {"epochCount": 2}}, "hyperParameters.epochCount", "type"),
        (
            {"validationDataConfig": {"validators": [{"s3Uri": "s3://bucket/v.jsonl"}] * 11}},
            "validationDataConfig.validators",
            "max",
        ),
        ({"jobTags": [{"key": "k!", "value": "v"}]}, "jobTags[0].key", "pattern"),
        ({"trainingDataConfig": {"s3Uri": "s3://Bucket/x"}}, "trainingDataConfig.s3Uri", "pattern"),
        ({"customizationConfig": {}}, "customizationConfig", "union"),
        ({"surprise": 1}, "surprise", "unknown"),
        (
            {
                "trainingDataConfig": {
                    "invocationLogsConfig": {
                        "invocationLogSource": {"s3Uri": "s3://bucket/logs/"},
                        "requestMetadataFilters": {"equals": {"a": "1", "b": "2"}},
                    }
                }
            },
            "trainingDataConfig.invocationLogsConfig.requestMetadataFilters.equals",
            "max",
        ),
        (
            {"customizationConfig": {"rftConfig": {"hyperParameters": {"learningRate": 0.01}}}},
            "customizationConfig.rftConfig.hyperParameters.learningRate",
            "max",
        ),
    ],
)
def test_validation_finds_each_kind_of_violation(changes: dict[str, object], field: str, rule: str) -> None:
    violations = validate(CREATE.input_shape, _create(**changes), operation="CreateModelCustomizationJob")
    assert [(v.field, v.rule) for v in violations] == [(field, rule)]
    assert violations[0].operation == "CreateModelCustomizationJob"
    assert "failed to satisfy constraint" in violations[0].message or rule == "unknown"


def test_message_uses_aws_wording() -> None:
    violations = validate(CREATE.input_shape, _create(jobName="bad_name", customizationType="FOO"))
    message = format_violations(violations)
    assert message.startswith(
        "2 validation errors detected: Value 'bad_name' at 'jobName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
    )
    assert "Member must satisfy enum value set: [FINE_TUNING" in message


def test_router_finds_operations_and_decodes_labels() -> None:
    router = Router("bedrock")
    arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-customization-job%2Fa.b%2Fabc"
    op, params = router.match("GET", f"/model-customization-jobs/{arn}") or (None, {})
    assert op.name == "GetModelCustomizationJob"
    assert params == {
        "jobIdentifier": "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/a.b/abc"
    }
    assert router.match("GET", "/model-customization-jobs")[0].name == "ListModelCustomizationJobs"  # type: ignore[index]
    assert router.match("POST", "/model-customization-jobs/x/stop")[0].name == "StopModelCustomizationJob"  # type: ignore[index]
    assert router.match("PATCH", "/model-customization-jobs") is None
    runtime = Router("bedrock-runtime")
    assert runtime.match("POST", "/model/us.amazon.nova-micro-v1%3A0/converse")[0].name == "Converse"  # type: ignore[index]


def test_parse_request_reads_query_types_and_json_body() -> None:
    op = BEDROCK.operation_model("ListModelCustomizationJobs")
    url = (
        "https://bedrock.us-east-1.amazonaws.com/model-customization-jobs?maxResults=5&statusEquals=Completed"
        "&creationTimeAfter=2025-01-01T00%3A00%3A00Z"
    )
    params = parse_request(op, {}, url, {}, b"")
    assert params == {
        "maxResults": 5,
        "statusEquals": "Completed",
        "creationTimeAfter": datetime(2025, 1, 1, tzinfo=timezone.utc),
    }
    body = json.dumps(_create()).encode()
    assert parse_request(CREATE, {}, "https://x/model-customization-jobs", {}, body) == _create()


def test_serialize_output_puts_members_where_the_model_says() -> None:
    runtime = service_model("bedrock-runtime")
    status, headers, body = serialize_output(
        runtime.operation_model("InvokeModel"), {"body": b'{"x": 1}', "contentType": "application/json"}
    )
    assert (status, headers, body) == (200, {"Content-Type": "application/json"}, b'{"x": 1}')
    status, _, body = serialize_output(CREATE, {"jobArn": "arn:x"})
    assert status == 201 and json.loads(body) == {"jobArn": "arn:x"}
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    _, _, body = serialize_output(
        BEDROCK.operation_model("GetCustomModel"),
        {"modelArn": "arn:x", "modelName": "m", "creationTime": when},
    )
    assert json.loads(body)["creationTime"] == when.timestamp()
