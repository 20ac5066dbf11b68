"""Done-when of the Jobs/Bedrock issue, offline: every path end to end through real boto3 serialisation
against the AWS emulation, which validates every request against the full service model.

- TAT-QA → Dataset → validate for Claude 3 Haiku → upload → fine-tune → wait → metrics → model → deploy →
  chat → delete;
- continued pre-training (Titan Text Express); distillation Nova Pro → Nova Micro from prompts and from
  invocation logs; Custom Model Import;
- injected throttling, 5xx and dropped connections during create and wait: one job, never lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finetune_sdk import Dataset, InvocationLogSource, Job, JobStatus, MetadataFilter
from finetune_sdk.backends.base import DeploymentStatus, JobKind
from finetune_sdk.testing.emulation import BedrockEmulation

pytestmark = pytest.mark.bedrock

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def _answers(model_id: str, system: str | None, messages: list[dict[str, Any]]) -> str:
    customised = ("custom-model", "provisioned-model", "imported-model")
    return "custom answer" if any(kind in model_id for kind in customised) else "base answer"


def test_tatqa_haiku_fine_tune_to_deployed_chat_and_cleanup(shared_datasets: Path) -> None:
    tatqa = Dataset.from_tatqa(shared_datasets / "tatqa" / "tatqa_dataset_dev.json")
    data = Dataset.from_records(tatqa.records[:80])
    report = data.validate(for_model=HAIKU)
    assert report.ok, report.to_text()
    splits = data.split({"train": 0.55, "validation": 0.45}, seed=3)
    assert len(splits.train) >= 32 and len(splits.validation) >= 32

    with BedrockEmulation(region="us-west-2", responder=_answers) as aws:
        backend = aws.backend()
        job = Job.fine_tune(
            model=HAIKU,
            train=splits.train,
            validation=splits.validation,
            hyperparameters={"epochCount": 2, "earlyStoppingThreshold": 0.01, "earlyStoppingPatience": 2},
            backend=backend,
        )
        # the data went to S3 under a content-addressed key before the job was created
        (create,) = aws.calls("CreateModelCustomizationJob")
        assert create["trainingDataConfig"]["s3Uri"].startswith(aws.output_uri)
        assert create["hyperParameters"] == {
            "epochCount": "2",
            "earlyStoppingThreshold": "0.01",
            "earlyStoppingPatience": "2",
        }
        assert create["clientRequestToken"]

        assert job.wait(progress=False).status is JobStatus.COMPLETED
        metrics = job.metrics()
        assert list(metrics.columns) == ["step", "epoch", "training_loss", "validation_loss", "perplexity"]
        assert len(metrics) > 0 and metrics["training_loss"].notna().any()

        model = job.model
        assert model.record.kind == "custom" and model.record.needs_deployment
        with model.deploy(model_units=1) as deployment:
            assert deployment.status is DeploymentStatus.ACTIVE
            reply = deployment.chat("What was the revenue in 2019?")
            assert reply.text == "custom answer" and reply.output_tokens and reply.input_tokens
        (pt,) = aws.calls("CreateProvisionedModelThroughput")
        assert "commitmentDuration" not in pt  # no commitment unless asked
        assert aws.calls("DeleteProvisionedModelThroughput")
        model.delete()
        assert aws.calls("DeleteCustomModel")
        assert aws.violations == []


def test_continued_pretraining_on_titan_express() -> None:
    text = Dataset.from_records([{"input": f"Filing {i}: revenue rose {i}% on services."} for i in range(60)])
    with BedrockEmulation(region="us-east-1") as aws:
        job = Job.continue_pretraining(
            model="amazon.titan-text-express-v1:0:8k",
            train=text,
            hyperparameters={"epochCount": 1, "learningRate": 0.00001},
            backend=aws.backend(),
        )
        assert job.kind is JobKind.CONTINUED_PRE_TRAINING
        assert job.wait(progress=False).model.record.kind == "custom"
        (create,) = aws.calls("CreateModelCustomizationJob")
        assert create["customizationType"] == "CONTINUED_PRE_TRAINING"
        assert not job.metrics().empty
        assert aws.violations == []


def _prompts(n: int) -> Dataset:
    return Dataset.from_records(
        [
            {
                "schemaVersion": "bedrock-conversation-2024",
                "system": [{"text": "You answer support questions."}],
                "messages": [{"role": "user", "content": [{"text": f"How do I reset device {i}?"}]}],
            }
            for i in range(n)
        ]
    )


def test_distillation_nova_pro_to_micro_from_prompts_and_from_logs() -> None:
    with BedrockEmulation(region="us-east-1") as aws:
        backend = aws.backend()
        from_prompts = Job.distill(
            student="amazon.nova-micro-v1:0:128k",
            teacher="amazon.nova-pro-v1:0",
            prompts=_prompts(120),
            max_response_length=400,
            backend=backend,
        )
        assert from_prompts.wait(progress=False).model.record.kind == "custom"

        rows = [
            {
                "prompt": f"question {i}",
                "response": f"answer {i}",
                "model_id": "amazon.nova-pro-v1:0",
                "metadata": {"project": "faq" if i % 4 else "other"},
            }
            for i in range(160)
        ]
        aws.put_invocation_logs(aws.bucket, "logs", rows)
        from_logs = Job.distill(
            student="amazon.nova-micro-v1:0:128k",
            teacher="amazon.nova-pro-v1:0",
            invocation_logs=InvocationLogSource(
                s3_uri=f"s3://{aws.bucket}/logs", filter=MetadataFilter(equals={"project": "faq"})
            ),
            backend=backend,
        )
        assert from_logs.wait(progress=False).status is JobStatus.COMPLETED
        first, second = aws.calls("CreateModelCustomizationJob")
        assert first["customizationConfig"]["distillationConfig"]["teacherModelConfig"] == {
            "teacherModelIdentifier": "amazon.nova-pro-v1:0",
            "maxResponseLengthForInference": 400,
        }
        logs = second["trainingDataConfig"]["invocationLogsConfig"]
        assert logs["requestMetadataFilters"] == {"equals": {"project": "faq"}}
        assert "s3Uri" not in second["trainingDataConfig"]  # logs only: moto would reject this, AWS does not
        assert aws.violations == []


def test_custom_model_import_with_preflight() -> None:
    with BedrockEmulation(region="us-east-1", responder=_answers) as aws:
        folder = f"s3://{aws.bucket}/models/llama-merged/"
        aws.put_model_folder(folder)
        job = Job.import_model(source=folder, name="llama-merged", backend=aws.backend())
        model = job.wait(progress=False).model
        assert model.record.kind == "imported"
        reply = model.chat("hello")  # imported models are invoked on demand, no deployment
        assert reply.text == "custom answer" and reply.output_tokens
        broken = f"s3://{aws.bucket}/models/adapter-only/"
        aws.put_model_folder(broken, omit=["config.json"])
        with pytest.raises(ValueError, match=r"config\.json"):
            Job.import_model(source=broken, backend=aws.backend())
        assert len(aws.calls("CreateModelImportJob")) == 1  # the broken folder was never submitted
        assert aws.violations == []


@pytest.mark.parametrize("fault", ["throttle", "5xx", "drop"])
def test_faults_during_create_and_wait_never_duplicate_or_lose_the_job(fault: str) -> None:
    data = Dataset.from_records([{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)])
    with BedrockEmulation(region="us-east-1") as aws:
        backend = aws.backend()
        # the create is applied by the service but the answer is lost (drop), or refused first (throttle/5xx)
        aws.inject("CreateModelCustomizationJob", fault, times=2, after_apply=(fault == "drop"))
        aws.inject("GetModelCustomizationJob", fault, times=3)
        job = Job.fine_tune(model="amazon.titan-text-lite-v1:0:4k", train=data, backend=backend)
        assert job.wait(progress=False).status is JobStatus.COMPLETED
        jobs = backend.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
        assert len(jobs) == 1 and jobs[0]["jobArn"] == job.id
        # running the same cell again attaches to the same job instead of paying for a second one
        again = Job.fine_tune(model="amazon.titan-text-lite-v1:0:4k", train=data, backend=backend)
        assert again.id == job.id
        assert len(backend.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]) == 1
        assert aws.violations == []
