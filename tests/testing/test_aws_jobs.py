"""BedrockEmulation, control plane: customisation jobs, custom models, Custom Model Import, deployments."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import timedelta

import pytest
from aws_helpers import JOB_ARN, MODEL_ARN, conversation, create_job, put_training_data
from botocore.exceptions import ClientError

from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.emulation import BedrockEmulation


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_job_moves_to_completed_on_the_clock_and_leaves_a_model_and_metrics(
    aws_emulation: BedrockEmulation,
) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    validation = f"s3://{aws_emulation.bucket}/data/val.jsonl"
    aws_emulation.put_jsonl(validation, [conversation(i) for i in range(4)])
    arn = create_job(aws_emulation, validationDataConfig={"validators": [{"s3Uri": validation}]})
    assert JOB_ARN.fullmatch(arn)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "InProgress" and "outputModelArn" not in job and "statusDetails" not in job
    assert bedrock.get_model_customization_job(jobIdentifier="job-1")["jobArn"] == arn  # by name too
    with pytest.raises(ClientError) as missing:
        bedrock.get_custom_model(modelIdentifier="job-1-model")
    assert _code(missing) == "ResourceNotFoundException"  # no model before the job completes

    aws_emulation.clock.advance(aws_emulation.job_duration_s)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Completed" and job["endTime"] >= job["creationTime"]
    assert MODEL_ARN.fullmatch(job["outputModelArn"])
    assert job["trainingMetrics"]["trainingLoss"] > 0 and len(job["validationMetrics"]) == 1
    model = bedrock.get_custom_model(modelIdentifier=job["outputModelArn"])
    assert (model["modelName"], model["jobArn"], model["modelStatus"]) == ("job-1-model", arn, "Active")
    assert model["baseModelArn"] == "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k"

    job_id = arn.rsplit("/", 1)[1]
    folder = f"{aws_emulation.output_uri}/job-1/model-customization-job-{job_id}"
    rows = list(
        csv.DictReader(
            io.StringIO(
                aws_emulation.read_object(
                    f"{folder}/training_artifacts/step_wise_training_metrics.csv"
                ).decode()
            )
        )
    )
    assert list(rows[0]) == ["step_number", "epoch_number", "training_loss", "perplexity"]
    losses = [float(r["training_loss"]) for r in rows]
    assert rows[0]["step_number"] == "0" and all(b < a for a, b in itertools.pairwise(losses))
    validation_rows = list(
        csv.DictReader(
            io.StringIO(
                aws_emulation.read_object(
                    f"{folder}/validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv"
                ).decode()
            )
        )
    )
    assert list(validation_rows[0]) == ["step_number", "epoch_number", "validation_loss", "perplexity"]
    assert len(validation_rows) == 2  # one per epoch (epochCount=2)


def test_polls_to_complete_ends_jobs_after_n_gets() -> None:
    with BedrockEmulation(polls_to_complete=3) as aws:
        bedrock = aws.session.client("bedrock")
        arn = create_job(aws)
        statuses = [bedrock.get_model_customization_job(jobIdentifier=arn)["status"] for _ in range(3)]
        assert statuses == ["InProgress", "InProgress", "Completed"]


def test_client_request_token_is_idempotent_and_names_conflict(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    first = create_job(aws_emulation, clientRequestToken="token-1")
    again = create_job(aws_emulation, clientRequestToken="token-1")
    assert again == first
    with pytest.raises(ClientError) as other_params:
        create_job(aws_emulation, clientRequestToken="token-1", hyperParameters={"epochCount": "3"})
    assert _code(other_params) == "ConflictException"
    with pytest.raises(ClientError) as same_name:
        create_job(aws_emulation, clientRequestToken="token-2")
    assert _code(same_name) == "ConflictException" and "job-1" in str(same_name.value)
    assert len(bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"]) == 1


def test_list_filters_sorts_newest_first_and_paginates(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    arns = []
    for i in range(5):
        arns.append(create_job(aws_emulation, name=f"batch-{i}"))
        aws_emulation.clock.advance(1)
    create_job(aws_emulation, name="other")
    pages = list(
        bedrock.get_paginator("list_model_customization_jobs").paginate(
            nameContains="batch", PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["modelCustomizationJobSummaries"]) for p in pages] == [2, 2, 1]
    listed = [s["jobArn"] for p in pages for s in p["modelCustomizationJobSummaries"]]
    assert listed == arns[::-1]
    ascending = bedrock.list_model_customization_jobs(
        nameContains="batch", sortBy="CreationTime", sortOrder="Ascending"
    )
    assert [s["jobArn"] for s in ascending["modelCustomizationJobSummaries"]] == arns
    after = aws_emulation.clock.now() - timedelta(seconds=2.5)
    recent = bedrock.list_model_customization_jobs(creationTimeAfter=after)["modelCustomizationJobSummaries"]
    assert [s["jobName"] for s in recent] == ["other", "batch-4", "batch-3"]
    aws_emulation.complete_job(arns[0])
    done = bedrock.list_model_customization_jobs(statusEquals="Completed")["modelCustomizationJobSummaries"]
    assert [s["jobArn"] for s in done] == [arns[0]] and MODEL_ARN.fullmatch(done[0]["customModelArn"])
    with pytest.raises(ClientError) as bad_token:
        bedrock.list_model_customization_jobs(nextToken="bm90LWEtdG9rZW4=")
    assert _code(bad_token) == "ValidationException"


def test_stop_goes_through_stopping_and_conflicts_once_ended(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    arn = create_job(aws_emulation)
    bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Stopping"
    aws_emulation.clock.advance(aws_emulation.stop_duration_s)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Stopped"
    with pytest.raises(ClientError) as conflict:
        bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert _code(conflict) == "ConflictException"
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_scripted_failures_carry_the_message(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    aws_emulation.fail_next_job("Maximum input token count 4919 exceeds limit of 4096 for train data")
    doomed = create_job(aws_emulation, name="doomed")
    aws_emulation.clock.advance(aws_emulation.job_duration_s)
    job = bedrock.get_model_customization_job(jobIdentifier=doomed)
    assert (job["status"], job["failureMessage"]) == (
        "Failed",
        "Maximum input token count 4919 exceeds limit of 4096 for train data",
    )
    running = create_job(aws_emulation, name="running")
    aws_emulation.fail_job(running, "Internal error")
    assert bedrock.get_model_customization_job(jobIdentifier=running)["status"] == "Failed"
    with pytest.raises(ValueError, match="cannot be completed: it is Failed"):
        aws_emulation.complete_job(running)
    with pytest.raises(ValueError, match="already ended"):
        aws_emulation.fail_job(running)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (None, "Unable to access the train data"),
        (["not json"], "is not valid JSON"),
        (
            [{"prompt": "q", "completion": "a"}] * 10,
            'must follow \'{"schemaVersion": "bedrock-conversation-2024"',
        ),
        ([conversation(i) for i in range(3)], "needs at least 8"),
        (
            [
                {
                    "schemaVersion": "bedrock-conversation-2024",
                    "messages": [{"role": "user", "content": [{"text": "x" * 200_000}]}],
                }
            ]
            * 8,
            "Maximum input token count",
        ),
    ],
)
def test_bad_training_data_fails_the_job_at_the_end(
    aws_emulation: BedrockEmulation, records: list[object] | None, message: str
) -> None:
    uri = f"s3://{aws_emulation.bucket}/bad/train.jsonl"
    if records is not None:
        aws_emulation.put_object(
            uri, "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
        )
    arn = create_job(aws_emulation, trainingDataConfig={"s3Uri": uri})
    aws_emulation.complete_job(arn)
    job = aws_emulation.session.client("bedrock").get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed" and message in job["failureMessage"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"baseModelIdentifier": "amazon.nova-micro-v1:0"}, "identifier is invalid"),
        ({"baseModelIdentifier": "meta.llama3-1-8b-instruct-v1:0:128k"}, "cannot be customized in us-east-1"),
        ({"customizationType": "CONTINUED_PRE_TRAINING"}, "does not support customization type"),
        ({"hyperParameters": {"epochCount": "9"}}, "between 1"),
        ({"hyperParameters": {"epochs": "2"}}, "not supported"),
        ({"customizationType": "DISTILLATION"}, "needs customizationConfig.distillationConfig"),
        ({"roleArn": "arn:aws:iam::123456789012:role/missing"}, "does not exist"),
    ],
)
def test_create_refuses_what_bedrock_refuses(
    aws_emulation: BedrockEmulation, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ClientError) as refused:
        create_job(aws_emulation, **changes)
    assert _code(refused) == "ValidationException" and message in str(refused.value)


def test_distillation_from_invocation_logs_with_stage_details(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    logs = aws_emulation.put_invocation_logs(
        aws_emulation.bucket,
        "invocation-logs",
        [
            {"prompt": f"q{i}", "response": f"a{i}", "metadata": {"project": "faq" if i % 2 else "other"}}
            for i in range(6)
        ],
    )
    assert "/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/" in logs and logs.endswith(".json.gz")
    teacher = {
        "teacherModelConfig": {
            "teacherModelIdentifier": "us.amazon.nova-pro-v1:0",
            "maxResponseLengthForInference": 1000,
        }
    }
    arn = create_job(
        aws_emulation,
        customizationType="DISTILLATION",
        hyperParameters={},
        customizationConfig={"distillationConfig": teacher},
        trainingDataConfig={
            "invocationLogsConfig": {
                "usePromptResponse": True,
                "invocationLogSource": {"s3Uri": f"s3://{aws_emulation.bucket}/invocation-logs/"},
                "requestMetadataFilters": {"equals": {"project": "faq"}},
            }
        },
    )
    first = bedrock.get_model_customization_job(jobIdentifier=arn)
    stages = {k: v["status"] for k, v in first["statusDetails"].items()}
    assert stages == {
        "validationDetails": "InProgress",
        "dataProcessingDetails": "NotStarted",
        "trainingDetails": "NotStarted",
    }
    assert first["customizationConfig"]["distillationConfig"] == teacher
    aws_emulation.clock.advance(aws_emulation.job_duration_s * 0.5)
    stages = {
        k: v["status"]
        for k, v in bedrock.get_model_customization_job(jobIdentifier=arn)["statusDetails"].items()
    }
    assert stages["validationDetails"] == "Completed" and stages["dataProcessingDetails"] == "InProgress"
    aws_emulation.clock.advance(aws_emulation.job_duration_s)
    done = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert done["status"] == "Completed"
    assert {v["status"] for v in done["statusDetails"].values()} == {"Completed"}
    assert (
        bedrock.get_custom_model(modelIdentifier=done["outputModelArn"])["customizationType"]
        == "DISTILLATION"
    )


def test_distillation_without_matching_logs_fails(aws_emulation: BedrockEmulation) -> None:
    teacher = {"teacherModelConfig": {"teacherModelIdentifier": "us.amazon.nova-pro-v1:0"}}
    arn = create_job(
        aws_emulation,
        customizationType="DISTILLATION",
        hyperParameters={},
        customizationConfig={"distillationConfig": teacher},
        trainingDataConfig={
            "invocationLogsConfig": {
                "invocationLogSource": {"s3Uri": f"s3://{aws_emulation.bucket}/empty-logs/"}
            }
        },
    )
    aws_emulation.complete_job(arn)
    job = aws_emulation.session.client("bedrock").get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed" and "No invocation logs" in job["failureMessage"]


def test_custom_models_list_delete_and_conflict_when_in_use(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    arn = create_job(aws_emulation)
    aws_emulation.complete_job(arn)
    model_arn = bedrock.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]
    summaries = bedrock.list_custom_models(nameContains="job-1")["modelSummaries"]
    assert [s["modelArn"] for s in summaries] == [model_arn]
    assert summaries[0]["baseModelName"] == "amazon.nova-micro-v1"
    pt = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn
    )["provisionedModelArn"]
    with pytest.raises(ClientError) as in_use:
        bedrock.delete_custom_model(modelIdentifier=model_arn)
    assert _code(in_use) == "ConflictException"
    bedrock.delete_provisioned_model_throughput(provisionedModelId=pt)
    bedrock.delete_custom_model(modelIdentifier=model_arn)
    with pytest.raises(ClientError) as gone:
        bedrock.get_custom_model(modelIdentifier=model_arn)
    assert _code(gone) == "ResourceNotFoundException"


def test_provisioned_throughput_is_creating_then_in_service(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    arn = create_job(aws_emulation)
    aws_emulation.complete_job(arn)
    model_arn = bedrock.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]
    pt_arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pt-1", modelId=model_arn, clientRequestToken="pt-token"
    )["provisionedModelArn"]
    assert (
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pt-1", modelId=model_arn, clientRequestToken="pt-token"
        )["provisionedModelArn"]
        == pt_arn
    )
    assert pt_arn.startswith("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/")
    pt = bedrock.get_provisioned_model_throughput(provisionedModelId=pt_arn)
    assert (pt["status"], pt["modelArn"], pt["foundationModelArn"]) == (
        "Creating",
        model_arn,
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k",
    )
    aws_emulation.clock.advance(aws_emulation.deployment_duration_s)
    assert bedrock.get_provisioned_model_throughput(provisionedModelId="pt-1")["status"] == "InService"
    listed = bedrock.list_provisioned_model_throughputs(statusEquals="InService")["provisionedModelSummaries"]
    assert [p["provisionedModelArn"] for p in listed] == [pt_arn]
    with pytest.raises(ClientError) as unknown:
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pt-2", modelId="no-such-model"
        )
    assert _code(unknown) == "ValidationException"


def test_on_demand_deployments_only_for_supported_bases(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    arn = create_job(aws_emulation)
    aws_emulation.complete_job(arn)
    model_arn = bedrock.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]
    dep = bedrock.create_custom_model_deployment(modelDeploymentName="dep-1", modelArn=model_arn)[
        "customModelDeploymentArn"
    ]
    assert dep.startswith("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/")
    assert bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=dep)["status"] == "Creating"
    aws_emulation.clock.advance(aws_emulation.deployment_duration_s)
    assert bedrock.get_custom_model_deployment(customModelDeploymentIdentifier="dep-1")["status"] == "Active"
    summaries = bedrock.list_custom_model_deployments()["modelDeploymentSummaries"]
    assert [s["customModelDeploymentName"] for s in summaries] == ["dep-1"]
    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=dep)
    assert bedrock.list_custom_model_deployments()["modelDeploymentSummaries"] == []

    titan = {
        "baseModelIdentifier": "amazon.titan-text-lite-v1:0:4k",
        "hyperParameters": {},
        "trainingDataConfig": {"s3Uri": f"s3://{aws_emulation.bucket}/titan.jsonl"},
    }
    aws_emulation.put_jsonl(f"s3://{aws_emulation.bucket}/titan.jsonl", [{"prompt": "q", "completion": "a"}])
    titan_job = create_job(aws_emulation, name="titan", **titan)
    aws_emulation.complete_job(titan_job)
    titan_model = bedrock.get_model_customization_job(jobIdentifier=titan_job)["outputModelArn"]
    with pytest.raises(ClientError) as refused:
        bedrock.create_custom_model_deployment(modelDeploymentName="dep-2", modelArn=titan_model)
    assert _code(refused) == "ValidationException" and "Provisioned Throughput" in str(refused.value)


def test_model_import_reads_the_folder(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    good = f"s3://{aws_emulation.bucket}/models/llama/"
    aws_emulation.put_model_folder(good)
    arn = bedrock.create_model_import_job(
        jobName="import-1",
        importedModelName="my-llama",
        roleArn=aws_emulation.role_arn,
        modelDataSource={"s3DataSource": {"s3Uri": good}},
    )["jobArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:model-import-job/")
    assert bedrock.get_model_import_job(jobIdentifier=arn)["status"] == "InProgress"
    aws_emulation.clock.advance(aws_emulation.import_duration_s)
    job = bedrock.get_model_import_job(jobIdentifier="import-1")
    assert job["status"] == "Completed"
    model = bedrock.get_imported_model(modelIdentifier=job["importedModelArn"])
    assert (model["modelName"], model["modelArchitecture"], model["instructSupported"]) == (
        "my-llama",
        "llama3",
        True,
    )
    assert [m["modelName"] for m in bedrock.list_imported_models()["modelSummaries"]] == ["my-llama"]
    assert [
        j["jobName"]
        for j in bedrock.list_model_import_jobs(statusEquals="Completed")["modelImportJobSummaries"]
    ] == ["import-1"]

    broken = f"s3://{aws_emulation.bucket}/models/broken/"
    aws_emulation.put_model_folder(broken, omit=["config.json"])
    arn2 = bedrock.create_model_import_job(
        jobName="import-2",
        importedModelName="broken",
        roleArn=aws_emulation.role_arn,
        modelDataSource={"s3DataSource": {"s3Uri": broken}},
    )["jobArn"]
    aws_emulation.complete_job(arn2)
    failed = bedrock.get_model_import_job(jobIdentifier=arn2)
    assert failed["status"] == "Failed" and "config.json" in failed["failureMessage"]
    bedrock.delete_imported_model(modelIdentifier="my-llama")
    assert bedrock.list_imported_models()["modelSummaries"] == []


def test_foundation_models_and_tags(aws_emulation: BedrockEmulation) -> None:
    bedrock = aws_emulation.session.client("bedrock")
    ft = bedrock.list_foundation_models(byCustomizationType="FINE_TUNING")["modelSummaries"]
    assert "amazon.nova-micro-v1:0:128k" in [m["modelId"] for m in ft]
    assert bedrock.get_foundation_model(modelIdentifier="amazon.nova-micro-v1:0")["modelDetails"][
        "inferenceTypesSupported"
    ] == ["ON_DEMAND"]
    arn = create_job(aws_emulation, jobTags=[{"key": "team", "value": "ml"}])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "ml"}]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "stage", "value": "dev"}])
    bedrock.untag_resource(resourceARN=arn, tagKeys=["team"])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "stage", "value": "dev"}]


def test_each_emulation_has_its_own_clock_and_state() -> None:
    with BedrockEmulation() as first:
        create_job(first)
        assert isinstance(first.clock, FakeClock)
    with BedrockEmulation() as second:
        assert (
            second.session.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
            == []
        )
    assert put_training_data  # imported for other tests; keeps the helper module honest
