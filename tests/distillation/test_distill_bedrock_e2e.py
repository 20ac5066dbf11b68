"""Done-when, offline against the AWS emulation (real boto3 serialisation; every request validated against
the service model):

(a) invocation logs written to emulated S3 → Distiller → a Bedrock DISTILLATION job, no violations;
(b) teacher generation → quality gate → a Bedrock FINE_TUNING job → deployed student evaluated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.backends.base import InvocationLogSource, JobKind, MetadataFilter
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation
from finetune_sdk.distillation import Distiller, QualityGate, prompts_from_logs
from finetune_sdk.evaluation import Evaluator

pytest.importorskip("moto")
pytest.importorskip("finetune_sdk.backends.bedrock._backend")

from finetune_sdk.testing.emulation import BedrockEmulation

pytestmark = pytest.mark.bedrock

TEACHER = "amazon.nova-pro-v1:0"
STUDENT = "amazon.nova-micro-v1:0:128k"


def log_rows(n: int, metadata: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": f"How do I reset password number {i}?",
            "response": f"Open settings, choose security, reset #{i}.",
            "model_id": TEACHER,
            "system": "You are the FAQ bot.",
            "metadata": metadata,
        }
        for i in range(n)
    ]


def test_invocation_logs_to_a_distillation_job(tmp_path: Path) -> None:
    with BedrockEmulation(region="us-east-1") as aws:
        prefix = "invocation-logs"
        aws.put_invocation_logs(aws.bucket, prefix, log_rows(120, {"project": "faq", "stage": "prod"}))
        aws.put_invocation_logs(aws.bucket, prefix, log_rows(30, {"project": "faq", "stage": "dev"}))
        aws.put_invocation_logs(aws.bucket, prefix, log_rows(10, {"project": "search", "stage": "prod"}))
        source = InvocationLogSource(
            s3_uri=f"s3://{aws.bucket}/{prefix}",
            use_prompt_response=True,
            filter=MetadataFilter.all_of(project="faq", stage="prod"),
        )
        # What the job will train on, read locally with the same filter first.
        local = prompts_from_logs(
            source.s3_uri, session=aws.session, metadata_filter=source.filter, use_responses=True
        )
        assert len(local) == 120
        assert local[0].system == "You are the FAQ bot." and local[0].reference is not None

        backend = aws.backend()
        distiller = Distiller(
            teacher=TEACHER, student=STUDENT, backend=backend, workdir=tmp_path, progress=False
        )
        plan = distiller.plan(source)
        assert plan.method == "distill" and plan.pair_check == f"ok: {TEACHER}"

        result = distiller.run(source, max_response_length=512)
        assert aws.violations == []
        assert result.job is not None and result.job.kind is JobKind.DISTILLATION
        assert result.job.status.value == "completed"
        assert result.student is not None
        (request,) = aws.calls("CreateModelCustomizationJob")
        assert request["customizationType"] == "DISTILLATION"
        assert request["baseModelIdentifier"].endswith("amazon.nova-micro-v1:0:128k")
        teacher_config = request["customizationConfig"]["distillationConfig"]["teacherModelConfig"]
        assert teacher_config == {"teacherModelIdentifier": TEACHER, "maxResponseLengthForInference": 512}
        logs_config = request["trainingDataConfig"]["invocationLogsConfig"]
        assert logs_config["usePromptResponse"] is True
        assert logs_config["invocationLogSource"] == {"s3Uri": source.s3_uri}
        assert logs_config["requestMetadataFilters"] == {
            "andAll": [{"equals": {"project": "faq"}}, {"equals": {"stage": "prod"}}]
        }
        assert "s3Uri" not in request["trainingDataConfig"]

        again = distiller.run(source, max_response_length=512)  # resumes: no second job
        assert again.reused == ("train",) and len(aws.calls("CreateModelCustomizationJob")) == 1


def test_unsupported_pair_is_refused_before_any_request(tmp_path: Path) -> None:
    with BedrockEmulation(region="us-east-1") as aws:
        distiller = Distiller(
            teacher="anthropic.claude-3-5-sonnet-20240620-v1:0",
            student=STUDENT,
            backend=aws.backend(),
            workdir=tmp_path,
            progress=False,
        )
        source = InvocationLogSource(s3_uri=f"s3://{aws.bucket}/logs")
        with pytest.raises(Exception, match="supported teachers are"):
            distiller.run(source)
        assert aws.calls("CreateModelCustomizationJob") == []


def aqua_records(shared: Path, name: str, n: int) -> list[Conversation]:
    records = [r for r in Dataset.from_aqua(shared / "aqua" / name) if isinstance(r, Conversation)]
    return records[:n]


def test_teacher_generation_gate_and_fine_tuning_job(shared_datasets: Path, tmp_path: Path) -> None:
    train = aqua_records(shared_datasets, "dev.json", 40)
    test = aqua_records(shared_datasets, "test.json", 12)
    gold = {r.prompt_text: str(r.metadata["answer"]) for r in [*train, *test]}
    wrong_for = {r.prompt_text for r in train[::4]}  # the teacher errs on every fourth training question

    def responder(model_id: str, system: str | None, messages: list[dict[str, Any]]) -> str:
        question = messages[-1]["content"][0]["text"]
        letter = gold.get(question, "A")
        is_teacher = "nova-pro" in model_id
        is_student = "custom-model" in model_id or "provisioned-model" in model_id
        if is_teacher:
            if question in wrong_for:
                letter = "ABCDE"[("ABCDE".index(letter) + 1) % 5]
            return f"Let me solve it.\nAnswer: ({letter})"
        if is_student:
            return f"Answer: ({letter})"
        return "Answer: (A)"

    with BedrockEmulation(region="us-east-1", responder=responder) as aws:
        backend = aws.backend()
        distiller = Distiller(
            teacher="us.amazon.nova-pro-v1:0",
            student=STUDENT,
            backend=backend,
            workdir=tmp_path,
            gate=QualityGate(gold_field="answer"),
            progress=False,
            evaluator=Evaluator(["accuracy", "output_tokens", "cost_usd"], progress=False),
        )
        result = distiller.run(train, test=test, hyperparameters={"epochCount": 1}, deploy=True)
        assert aws.violations == []
        assert result.gate is not None
        assert result.gate.step("gold").rejected == len(wrong_for) == 10
        assert result.gate.output_records == 30
        (request,) = aws.calls("CreateModelCustomizationJob")
        assert request["customizationType"] == "FINE_TUNING"
        assert request["hyperParameters"] == {"epochCount": "1"}
        staged = aws.read_object(request["trainingDataConfig"]["s3Uri"]).decode().splitlines()
        assert len(staged) == 30 and all(
            '"schemaVersion": "bedrock-conversation-2024"' in line
            or '"schemaVersion":"bedrock-conversation-2024"' in line
            for line in staged
        )
        converse = [c for c in aws.calls("Converse") if re.search("nova-pro", c["modelId"])]
        assert len(converse) >= 40  # every training prompt went to the teacher (and the test set, once)
        report = result.evaluation
        assert report is not None and report.model_keys == ["student base", "student", "teacher"]
        assert report.mean("accuracy", "student") == 1.0 and report.mean("accuracy", "student base") < 1.0
        rows = {r["model"]: r for r in result.side_by_side()}
        assert rows["teacher"]["cost_per_1k_requests"] > rows["student base"]["cost_per_1k_requests"]
