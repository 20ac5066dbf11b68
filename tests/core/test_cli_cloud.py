"""Every cloud command checks credentials and Region first, fails fast with exit 2 and a fix in flags.

Run twice over: without any AWS setup (no credentials, no Region, no profile), and against the AWS
emulation (the check passes and the command reaches the emulated service).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from finetune_sdk.cli import _cloud
from finetune_sdk.cli.main import build_parser, main
from finetune_sdk.testing.emulation import BedrockEmulation as AwsEmulation

#: one invocation of every command that takes --backend bedrock/sagemaker (the data file is made per test)
CLOUD_COMMANDS: list[list[str]] = [
    ["jobs", "list"],
    ["jobs", "status", "job-1"],
    ["jobs", "wait", "job-1"],
    ["jobs", "stop", "job-1"],
    ["jobs", "metrics", "job-1"],
    ["jobs", "create", "--type", "fine-tuning", "--model", "amazon.nova-micro-v1:0:128k", "--train", "{data}"],
    ["models", "list"],
    ["models", "deploy", "arn:aws:bedrock:us-east-1:123456789012:custom-model/x"],
    ["models", "invoke", "amazon.nova-micro-v1:0", "hi"],
    ["models", "undeploy", "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc"],
    ["models", "delete", "arn:aws:bedrock:us-east-1:123456789012:custom-model/x", "--yes"],
    ["eval", "--backend", "bedrock", "--model", "amazon.nova-micro-v1:0", "--data", "{data}"],
    ["distill", "--backend", "bedrock", "--teacher", "amazon.nova-pro-v1:0", "--student",
     "amazon.nova-micro-v1:0:128k", "--prompts", "{data}", "--dry-run"],
]


def _argv(template: list[str], data: Path) -> list[str]:
    return [part.replace("{data}", str(data)) for part in template]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({"prompt": "What is 2+2?", "completion": "4"}) + "\n")
    return path


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with no AWS setup at all (the metadata service is left on: it must not slow the check)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.delenv(key, raising=False)
    # nothing may be done once the check failed: any backend construction is a failure of the test
    monkeypatch.setattr("finetune_sdk.backends.get", _must_not_be_called)


def _must_not_be_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("the command did work before its credentials and Region were checked")


def test_every_cloud_command_takes_region_and_profile() -> None:
    parser = build_parser()
    for template in CLOUD_COMMANDS:
        args = parser.parse_args([*template, "--region", "eu-west-1", "--profile", "dev"])
        assert args.region == "eu-west-1" and args.profile == "dev", template
        assert hasattr(args, "cloud_default_backend"), template


@pytest.mark.parametrize("template", CLOUD_COMMANDS, ids=lambda t: " ".join(t[:2]))
def test_without_credentials_every_cloud_command_fails_fast_with_the_fix(
    template: list[str], data: Path, no_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    code = main(_argv(template, data))
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 1.0, (code, elapsed, err)
    assert "needs an AWS Region" in err and "--region us-east-1" in err and "aws configure" in err
    assert "session=" not in err and "region=" not in err  # flags, not Python arguments

    started = time.perf_counter()
    code = main([*_argv(template, data), "--region", "us-west-2"])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 1.0, (code, elapsed, err)
    assert "no AWS credentials" in err and "--profile" in err and "aws configure" in err
    assert "boto3" not in err and "session=" not in err


def test_unknown_profile_and_malformed_region(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--profile nope" in err and "aws configure --profile nope" in err
    assert main(["jobs", "list", "--region", "us-east-l"]) == 2
    assert "not an AWS Region name" in capsys.readouterr().err


def test_a_profile_supplies_credentials_and_region(
    no_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Path(tmp_path / "aws-config")
    config.write_text("[profile dev]\nregion = eu-central-1\naws_access_key_id = AKIDEXAMPLE\n"
                      "aws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    args = build_parser().parse_args(["jobs", "list", "--profile", "dev"])
    _cloud.preflight(args)
    assert args.aws_session.region_name == "eu-central-1" and args.aws_session.profile_name == "dev"
    assert _cloud.session_options(args) == {"session": args.aws_session}
    # a profile without a Region: the message names the profile and --region
    config.write_text("[profile bare]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")
    with pytest.raises(_cloud.CloudSetupError, match="profile 'bare' sets none: pass --region"):
        _cloud.preflight(build_parser().parse_args(["models", "list", "--profile", "bare"]))


def test_local_backend_needs_no_aws_and_refuses_profile(no_aws: None) -> None:
    args = build_parser().parse_args(["eval", "--model", "m", "--data", "x.jsonl"])
    _cloud.preflight(args)  # local by default: nothing to check
    assert args.aws_session is None
    args = build_parser().parse_args(["eval", "--model", "m", "--data", "x.jsonl", "--profile", "dev"])
    with pytest.raises(_cloud.CloudSetupError, match="--profile applies to --backend bedrock or sagemaker"):
        _cloud.preflight(args)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEmulation]:
    with AwsEmulation(job_duration_s=600) as emulation:
        backend = emulation.backend()
        seen: list[argparse.Namespace] = []

        def backend_from(args: argparse.Namespace, **options: object) -> object:
            seen.append(args)
            return backend

        for module in ("jobs", "models", "eval", "distill"):
            monkeypatch.setattr(f"finetune_sdk.cli.{module}.backend_from", backend_from)
        emulation.seen_args = seen  # type: ignore[attr-defined]
        yield emulation


def test_with_the_emulation_the_check_passes_and_the_command_runs(
    aws: AwsEmulation, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["jobs", "list", "--region", "us-east-1", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == [] and aws.calls("ListModelCustomizationJobs")
    args = aws.seen_args[-1]  # type: ignore[attr-defined]
    assert args.aws_session is not None and args.aws_session.region_name == "us-east-1"


def test_with_the_emulation_a_missing_role_is_asked_for_as_a_flag(
    aws: AwsEmulation, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["jobs", "create", "--type", "fine-tuning", "--model", "amazon.nova-micro-v1:0:128k",
                 "--train", str(data), "--output-uri", aws.output_uri])
    err = capsys.readouterr().err
    assert code == 2 and "needs --role-arn ARN" in err and "role_arn=" not in err
    assert not aws.calls("CreateModelCustomizationJob")


def test_with_the_emulation_rejected_credentials_exit_2_with_the_fix(
    aws: AwsEmulation, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_sdk.errors import AccessDeniedError

    def expired(*args: object, **kwargs: object) -> None:
        raise AccessDeniedError("bedrock: ListModelCustomizationJobs failed with ExpiredTokenException",
                                backend="bedrock", code="ExpiredTokenException")

    monkeypatch.setattr("finetune_sdk.jobs.Job.list", expired)
    code = main(["jobs", "list"])
    err = capsys.readouterr().err
    assert code == 2 and "AWS rejected the credentials (ExpiredTokenException)" in err and "--profile" in err
