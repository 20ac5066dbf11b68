"""Job.reinforce on the Bedrock emulation: one reward function is deployed as the grader, the RFT request
validates against botocore's model in full, and the emulation runs the deployed grader on emulated rollouts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from rft_rewards import answer_letter

pytest.importorskip("moto")

import finetune_sdk as ft
from finetune_sdk._aws import find_request_problems
from finetune_sdk.backends.bedrock._rft import RFTHyperParameters
from finetune_sdk.errors import DatasetValidationError, UnsupportedOperationError
from finetune_sdk.testing import FakeBackend
from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.emulation import BedrockEmulation

MODEL = "amazon.nova-2-lite-v1:0:256k"


def _aqua_lines(path: Path, n: int) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n]]
    return [
        {
            "id": f"aqua-{i}",
            "messages": [
                {"role": "system", "content": "Solve it and answer with the option letter."},
                {"role": "user", "content": row["question"] + "\n" + "\n".join(row["options"])},
            ],
            "reference_answer": row["correct"],
        }
        for i, row in enumerate(rows)
    ]


def _lambda_role(aws: BedrockEmulation) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = aws.session.client("iam")
    return str(iam.create_role(RoleName="grader-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def test_reinforce_deploys_the_grader_and_the_emulation_runs_it(shared_datasets: Path) -> None:
    lines = _aqua_lines(shared_datasets / "aqua" / "dev.json", 120)
    with BedrockEmulation(clock=FakeClock()) as aws:
        job = ft.Job.reinforce(
            model=MODEL,
            train=ft.Dataset.from_records(lines),
            reward=answer_letter,
            grader_role_arn=_lambda_role(aws),
            hyperparameters=RFTHyperParameters(epoch_count=1, batch_size=16, training_sample_per_prompt=4),
            backend=aws.backend(),
        )
        assert job.kind is ft.JobKind.REINFORCEMENT
        sent = aws.calls("CreateModelCustomizationJob")
        assert len(sent) == 1
        request = sent[0]
        assert request["customizationType"] == "REINFORCEMENT_FINE_TUNING"
        rft = request["customizationConfig"]["rftConfig"]
        assert rft["hyperParameters"] == {"epochCount": 1, "batchSize": 16, "trainingSamplePerPrompt": 4}
        arn = rft["graderConfig"]["lambdaGrader"]["lambdaArn"]
        assert arn.endswith(":function:answer_letter-grader")
        assert find_request_problems("bedrock", "CreateModelCustomizationJob", request) == []
        # the staged prompts kept reference_answer and id (the grader needs them)
        bucket, key = request["trainingDataConfig"]["s3Uri"][5:].split("/", 1)
        staged = [json.loads(x) for x in aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]
        assert staged[0]["reference_answer"] == lines[0]["reference_answer"] and staged[0]["id"] == "aqua-0"

        aws.complete_job(job.id)
        job.refresh()
        assert job.status is ft.JobStatus.COMPLETED, job.record.failure_message
        out_bucket = request["outputDataConfig"]["s3Uri"][5:].split("/", 1)[0]
        keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=out_bucket)["Contents"]]
        reward_key = next(k for k in keys if k.endswith("training_artifacts/reward_metrics.csv"))
        rows = list(
            csv.DictReader(io.StringIO(aws.s3.get_object(Bucket=out_bucket, Key=reward_key)["Body"].read().decode()))
        )
        means = [float(r["reward_mean"]) for r in rows]
        assert len(means) == 5 and means[-1] > means[0]  # scored by the deployed zip, emulated rollouts improve

        # the same request again attaches to the same job (idempotent: same grader code, same token)
        again = ft.Job.reinforce(
            model=MODEL,
            train=ft.Dataset.from_records(lines),
            reward=answer_letter,
            grader_role_arn=_lambda_role_arn(aws),
            hyperparameters=RFTHyperParameters(epoch_count=1, batch_size=16, training_sample_per_prompt=4),
            backend=aws.backend(),
        )
        assert again.id == job.id


def _lambda_role_arn(aws: BedrockEmulation) -> str:
    return str(aws.session.client("iam").get_role(RoleName="grader-exec")["Role"]["Arn"])


def test_a_grader_that_breaks_the_contract_fails_the_job(shared_datasets: Path) -> None:
    lines = _aqua_lines(shared_datasets / "aqua" / "dev.json", 100)
    bad_arn = "arn:aws:lambda:us-east-1:123456789012:function:bad-grader"
    with BedrockEmulation(clock=FakeClock()) as aws:
        aws.register_grader(bad_arn, lambda event, context: [{"id": s["id"], "score": 1} for s in event])
        job = ft.Job.reinforce(model=MODEL, train=lines, grader_arn=bad_arn, backend=aws.backend())
        aws.complete_job(job.id)
        job.refresh()
        assert job.status is ft.JobStatus.FAILED
        assert "aggregate_reward_score" in (job.record.failure_message or "")
        missing = ft.Job.reinforce(
            model=MODEL,
            train=lines,
            grader_arn="arn:aws:lambda:us-east-1:123456789012:function:nowhere",
            backend=aws.backend(),
        )
        aws.complete_job(missing.id)
        assert missing.refresh().status is ft.JobStatus.FAILED
        assert "does not exist" in (missing.record.failure_message or "")


def test_refusals_before_anything_is_sent() -> None:
    lines = [{"messages": [{"role": "user", "content": f"q{i}"}], "reference_answer": "A"} for i in range(100)]

    class NoRft(FakeBackend):
        supported_kinds = frozenset({ft.JobKind.FINE_TUNING})

    with pytest.raises(UnsupportedOperationError, match=r"backends that can: .*bedrock") as exc:
        ft.Job.reinforce(model=MODEL, train=lines, reward=answer_letter, backend=NoRft())
    assert "train_grpo" in str(exc.value)
    with BedrockEmulation(clock=FakeClock()) as aws:
        with pytest.raises(DatasetValidationError, match=r"rft\.min_prompts"):
            ft.Job.reinforce(
                model=MODEL,
                train=lines[:50],
                grader_arn="arn:aws:lambda:us-east-1:123456789012:function:g",
                backend=aws.backend(),
            )
        with pytest.raises(ft.errors.HyperparameterError, match="epochCount"):
            ft.Job.reinforce(
                model=MODEL,
                train=lines,
                grader_arn="arn:aws:lambda:us-east-1:123456789012:function:g",
                hyperparameters={"epochCount": 99},
                backend=aws.backend(),
            )
        with pytest.raises(ft.errors.ConfigurationError, match="does not take reinforcement"):
            ft.Job.reinforce(
                model="amazon.nova-lite-v1:0:300k",
                train=lines,
                grader_arn="arn:aws:lambda:us-east-1:123456789012:function:g",
                backend=aws.backend(),
            )
        with pytest.raises(ft.errors.ConfigurationError, match="grader_role_arn"):
            ft.Job.reinforce(model=MODEL, train=lines, reward=answer_letter, backend=aws.backend())
        assert aws.calls("CreateModelCustomizationJob") == []


def test_the_grpo_reward_unchanged_drives_the_grader_the_request_and_the_evaluator() -> None:
    """letter_share is the function the slow local GRPO test trains with; here it is the Bedrock grader
    (both reference positions, as the deployed zip), the RFT job's grader and an Evaluator metric."""
    from rft_rewards import letter_share

    from finetune_sdk.evaluation import Evaluator

    turns = [{"role": "user", "content": "Question 7: which option?"}, {"role": "assistant", "content": "AAAA"}]
    event = [
        {"id": "top", "messages": turns, "reference_answer": "A"},
        {"id": "meta", "messages": turns, "metadata": {"reference_answer": "B"}},
    ]
    assert [r["aggregate_reward_score"] for r in letter_share.lambda_handler(event, None)] == [1.0, 0.0]
    prompts = [
        {
            "id": f"q{i}",
            "messages": [{"role": "user", "content": f"Question {i}: which option?"}],
            "reference_answer": "A",
        }
        for i in range(100)
    ]
    with BedrockEmulation(clock=FakeClock()) as aws:
        job = ft.Job.reinforce(
            model=MODEL,
            train=prompts,
            reward=letter_share,
            grader_role_arn=_lambda_role(aws),
            backend=aws.backend(),
        )
        request = aws.calls("CreateModelCustomizationJob")[0]
        assert find_request_problems("bedrock", "CreateModelCustomizationJob", request) == []
        aws.complete_job(job.id)
        assert job.refresh().status is ft.JobStatus.COMPLETED, job.record.failure_message
    records = ft.Dataset.from_records(prompts[:10]).records
    report = Evaluator(metrics=[letter_share], progress=False).evaluate(lambda prompt: "AB", records)
    assert report.mean("letter_share") == pytest.approx(0.25)


def test_reinforce_from_a_jsonl_file_stages_the_lines_as_they_are(tmp_path: Path) -> None:
    rows = [
        {"id": f"q{i}", "messages": [{"role": "user", "content": f"q{i}"}], "reference_answer": {"letter": "A"}, "w": i}
        for i in range(100)
    ]
    path = tmp_path / "rft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    grader = "arn:aws:lambda:us-east-1:123456789012:function:g"
    with BedrockEmulation(clock=FakeClock()) as aws:
        aws.register_grader(grader, answer_letter.lambda_handler)
        job = ft.Job.reinforce(model=MODEL, train=ft.Dataset.from_jsonl(path), grader_arn=grader, backend=aws.backend())
        uri = aws.calls("CreateModelCustomizationJob")[0]["trainingDataConfig"]["s3Uri"]
        bucket, key = uri[5:].split("/", 1)
        staged = [json.loads(x) for x in aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]
        assert staged == rows  # native JSON reference answers and extra fields reach the grader unchanged
        aws.complete_job(job.id)
        assert job.refresh().status is ft.JobStatus.COMPLETED, job.record.failure_message
