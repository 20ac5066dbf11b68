"""``finetune jobs`` and ``finetune models`` end to end: CLI → Job/Model handles → BedrockBackend → boto3 →
the AWS emulation (``finetune_sdk.testing.emulation``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from finetune_sdk.cli import _resources
from finetune_sdk.cli.main import main
from finetune_sdk.testing.emulation import BedrockEmulation


def conversation(i: int) -> dict[str, Any]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": [{"text": f"question {i}"}]},
            {"role": "assistant", "content": [{"text": f"answer {i}"}]},
        ],
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[BedrockEmulation]:
    with BedrockEmulation(job_duration_s=600) as emulation:
        backend = emulation.backend()
        # every command in the test talks to the same emulated account through the real bedrock backend
        monkeypatch.setattr("finetune_sdk.cli.jobs.backend_from", lambda args, **options: backend)
        monkeypatch.setattr("finetune_sdk.cli.models.backend_from", lambda args, **options: backend)
        yield emulation


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_job_and_model_commands_end_to_end(aws, capsys):
    train = f"s3://{aws.bucket}/data/train.jsonl"
    aws.put_jsonl(train, [conversation(i) for i in range(16)])
    code, out, err = run(
        capsys,
        "jobs",
        "create",
        "--type",
        "fine-tuning",
        "--model",
        "amazon.nova-micro-v1:0:128k",
        "--train",
        train,
        "--hp",
        "epochCount=2",
        "--name",
        "cli-job",
        "--output-uri",
        aws.output_uri,
        "--role-arn",
        aws.role_arn,
        "--tag",
        "team=nlp",
        "--json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["name"] == "cli-job" and record["status"] == "running"
    request = aws.calls("CreateModelCustomizationJob")[0]
    assert request["hyperParameters"] == {"epochCount": "2"} and request["jobTags"] == [
        {"key": "team", "value": "nlp"}
    ]

    code, out, _ = run(capsys, "jobs", "list")
    assert code == 0 and "cli-job" in out and "running" in out

    aws.complete_job(record["id"])
    code, out, err = run(capsys, "jobs", "wait", record["id"], "--poll-interval", "1")
    assert code == 0, err
    assert "completed" in out

    code, out, _ = run(capsys, "jobs", "metrics", record["id"], "--csv")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == "step,epoch,training_loss,validation_loss,perplexity" and len(lines) > 1

    code, out, _ = run(capsys, "models", "list", "--json")
    models = json.loads(out)
    assert code == 0 and models[0]["kind"] == "custom" and models[0]["needs_deployment"] is True
    model_id = models[0]["id"]

    code, out, err = run(capsys, "models", "deploy", model_id, "--name", "cli-pt")
    assert code == 0, err
    assert "finetune models undeploy" in out
    deployment_id = out.split("finetune models undeploy ")[1].split()[0]

    code, out, err = run(capsys, "models", "invoke", deployment_id, "What is 2+2?", "--max-tokens", "20")
    assert code == 0, err
    assert "tokens" in out

    code, out, _ = run(capsys, "models", "undeploy", deployment_id)
    assert code == 0 and "deleted deployment cli-pt" in out
    code, _, err = run(capsys, "models", "delete", model_id)
    assert code == 2 and "--yes" in err
    code, out, _ = run(capsys, "models", "delete", model_id, "--yes")
    assert code == 0 and "deleted custom model" in out


def test_failed_job_exits_1_with_the_hint(aws, capsys):
    train = f"s3://{aws.bucket}/data/train.jsonl"
    aws.put_jsonl(train, [conversation(i) for i in range(16)])
    code, out, _ = run(
        capsys,
        "jobs",
        "create",
        "--type",
        "fine-tuning",
        "--model",
        "amazon.nova-micro-v1:0:128k",
        "--train",
        train,
        "--name",
        "doomed",
        "--output-uri",
        aws.output_uri,
        "--role-arn",
        aws.role_arn,
        "--json",
    )
    job_id = json.loads(out)["id"]
    aws.fail_job(job_id, "Maximum input token count 4919 exceeds limit of 4096 for train data")
    code, out, err = run(capsys, "jobs", "status", job_id)
    assert code == 0 and "hint" in out and "Dataset.validate" in out
    code, _, err = run(capsys, "jobs", "wait", job_id)
    assert code == 1 and "4919" in err and "Dataset.validate" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["jobs", "create", "--type", "fine-tuning", "--train", "s3://b/t.jsonl"], "needs --model"),
        (
            ["jobs", "create", "--type", "distillation", "--model", "m", "--train", "s3://b/t.jsonl"],
            "--teacher",
        ),
        (["jobs", "create", "--type", "import"], "--source"),
        (
            ["jobs", "create", "--type", "cpt", "--model", "m", "--train", "s3://b/t", "--hp", "epochs"],
            "NAME=VALUE",
        ),
        (
            ["jobs", "create", "--type", "cpt", "--model", "m", "--train", "no-such-file.jsonl"],
            "is not a file",
        ),
    ],
)
def test_usage_errors_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_backend_defaults_to_env_then_bedrock(monkeypatch):
    import argparse

    seen: list[tuple[str | None, dict[str, Any]]] = []
    monkeypatch.setattr(
        "finetune_sdk.backends.get", lambda name=None, **options: seen.append((name, options))
    )
    _resources.backend_from(argparse.Namespace(backend=None, region=None))
    monkeypatch.setenv("FINETUNE_SDK_BACKEND", "local")
    _resources.backend_from(argparse.Namespace(backend=None, region="eu-west-1"))
    _resources.backend_from(argparse.Namespace(backend="sagemaker", region=None))
    assert seen == [("bedrock", {}), ("local", {"region": "eu-west-1"}), ("sagemaker", {})]


def test_hyperparameter_values_are_typed():
    assert _resources.parse_pairs(
        ["epochCount=2", "learningRate=1e-5", "flag=true", "mode=Auto"], what="--hp", typed=True
    ) == {"epochCount": 2, "learningRate": 1e-05, "flag": True, "mode": "Auto"}
