"""Bedrock model evaluation jobs end to end against the AWS emulation: create, status, wait, stop, results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import JobFailedError, JobStoppedError, JobTimeoutError, ResourceNotFoundError
from finetune_sdk.evaluation import JudgeMetric
from finetune_sdk.evaluation.bedrock_job import BedrockEvaluationJob, BedrockEvaluationJobAdapter
from finetune_sdk.testing.emulation import BedrockEmulation as AwsEmulation
from finetune_sdk.testing.emulation._bedrock_evaluation import complete_evaluation_job, fail_evaluation_job

MICRO, LITE = "amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0"


def answers(model_id: str, system: str | None, messages: list[dict[str, Any]]) -> str:
    """Nova Lite doubles correctly; Nova Micro is off by one on odd numbers."""
    text = messages[-1]["content"][0]["text"]
    n = int(text.split()[2].rstrip("?"))
    return str(2 * n + (1 if "micro" in model_id and n % 2 else 0))


def records(n: int = 12) -> list[Conversation]:
    return [Conversation.from_pairs(f"Double of {i}?", str(2 * i)) for i in range(n)]


@pytest.fixture
def aws() -> Iterator[AwsEmulation]:
    with AwsEmulation(responder=answers, batch_duration_s=600) as emulation:
        yield emulation


def adapter(aws: AwsEmulation, **options: Any) -> BedrockEvaluationJobAdapter:
    return BedrockEvaluationJobAdapter(
        role_arn=aws.role_arn,
        dataset_s3_uri=f"s3://{aws.bucket}/eval/prompts.jsonl",
        output_s3_uri=f"s3://{aws.bucket}/eval/out/",
        **options,
    )


def test_create_wait_and_read_the_results_into_a_report(aws: AwsEmulation) -> None:
    backend = aws.backend()
    assert BedrockEvaluationJob.list(backend=backend) == []  # no jobs: the service omits the list
    data = records()
    job = adapter(aws).run([MICRO, LITE], data, job_name="Micro vs Lite", backend=backend)
    (create,) = aws.calls("CreateEvaluationJob")
    assert create["jobName"] == "micro-vs-lite" and aws.violations == []
    uploaded = aws.read_object(f"s3://{aws.bucket}/eval/prompts.jsonl").decode().splitlines()
    assert json.loads(uploaded[3]) == {"prompt": "Double of 3?", "referenceResponse": "6"}

    assert job.refresh().status == "InProgress" and job.models == [MICRO, LITE]
    with pytest.raises(ResourceNotFoundError, match="results appear when the job is Completed"):
        job.report()
    with pytest.raises(JobTimeoutError):
        job.wait(timeout=60, poll_interval=30)
    assert job.wait(poll_interval=60).status == "Completed"
    assert aws.clock.monotonic() >= 600  # the fake clock moved; nothing slept for real

    listed = BedrockEvaluationJob.list(backend=backend, status="Completed")
    assert [s.arn for s in listed] == [job.arn] and listed[0].models == (MICRO, LITE)

    report = job.report(seed=1)
    assert report.model_keys == [MICRO, LITE] and report.baseline == MICRO
    assert report.dataset.size == 12 and report.metric_names == ["Builtin.Accuracy"]
    # the emulated service scores Accuracy as token F1 against the reference: micro misses the 6 odd numbers
    assert report.mean("Builtin.Accuracy", MICRO) == pytest.approx(0.5)
    assert report.mean("Builtin.Accuracy", LITE) == pytest.approx(1.0)
    comparison = report.comparison("Builtin.Accuracy", LITE)
    assert (comparison.wins, comparison.ties, comparison.losses) == (6, 6, 0)
    assert report.examples[MICRO][3].prediction == "7" and report.examples[LITE][3].prediction == "6"
    assert report.emulated == [MICRO, LITE] and "EMULATED" in report.to_markdown()

    # a resubmission of the same comparison attaches to the same job (idempotent client token)
    again = adapter(aws).run([MICRO, LITE], data, job_name="Micro vs Lite", backend=backend)
    assert again.arn == job.arn and len(BedrockEvaluationJob.list(backend=backend)) == 1
    attached = BedrockEvaluationJob.attach(job.arn, backend=backend)
    assert attached.status == "Completed" and attached.report().mean("Builtin.Accuracy", LITE) == 1.0


def test_judge_metrics_name_the_evaluator_and_score_per_prompt(aws: AwsEmulation) -> None:
    backend = aws.backend()
    judge = JudgeMetric(name="exactness", scale=(1, 5))
    job = adapter(
        aws, metric_names=["Builtin.Correctness"], judge_metrics=[judge], evaluator_model_id=LITE
    ).run([MICRO], records(4), job_name="judged", backend=backend)
    complete_evaluation_job(aws, job.arn)
    report = job.wait(poll_interval=1).report()
    assert report.metric_names == ["Builtin.Correctness", "exactness"] and report.baseline is None
    assert report.mean("Builtin.Correctness") == pytest.approx(0.5)  # 0, 2, 4, 6 right; 1, 3 wrong
    assert [e.scores["exactness"] for e in report.examples[MICRO]] == [5.0, 1.0, 5.0, 1.0]


def test_failed_and_stopped_jobs_raise_with_the_reason(aws: AwsEmulation) -> None:
    backend = aws.backend()
    job = adapter(aws).run([MICRO], records(3), job_name="to-fail", backend=backend)
    fail_evaluation_job(aws, job.arn, "The role cannot read s3://x")
    with pytest.raises(JobFailedError, match="The role cannot read") as caught:
        job.wait(poll_interval=1)
    assert caught.value.failure_reason == "The role cannot read s3://x"

    job = adapter(aws).run([LITE], records(3), job_name="to-stop", backend=backend)
    assert job.stop().status in ("Stopping", "Stopped")
    with pytest.raises(JobStoppedError):
        job.wait(poll_interval=60)
    assert aws.calls("StopEvaluationJob")


def test_a_missing_dataset_fails_the_job_like_the_service(aws: AwsEmulation) -> None:
    backend = aws.backend()
    request = adapter(aws).request([MICRO], job_name="no-data")
    arn = backend.client("bedrock").create_evaluation_job(**request)["jobArn"]
    job = BedrockEvaluationJob.attach(arn, backend=backend)
    with pytest.raises(JobFailedError, match="could not be found"):
        job.wait(poll_interval=600)


def test_the_emulation_validates_requests_against_the_service_model(aws: AwsEmulation) -> None:
    from botocore.exceptions import ClientError

    request = adapter(aws).request([MICRO], job_name="bad-name")
    request["jobName"] = "Bad_Name"  # the service's pattern is lowercase letters, digits and hyphens
    with pytest.raises(ClientError, match="ValidationException"):
        aws.session.client("bedrock").create_evaluation_job(**request)
    assert aws.violations and aws.violations[-1].field == "jobName" and aws.violations[-1].rule == "pattern"
