"""IAM policy documents and role creation (moto IAM), and the Custom Model Import pre-flight."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from finetune_sdk.backends.bedrock import preflight_import, preflight_import_source
from finetune_sdk.backends.bedrock.iam import create_service_role, data_access_policy, trust_policy
from finetune_sdk.errors import ConfigurationError


# --- IAM --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("job_type", "resource"),
    [
        ("customization", "model-customization-job/*"),
        ("import", "model-import-job/*"),
        ("batch", "model-invocation-job/*"),
        ("evaluation", "evaluation-job/*"),
    ],
)
def test_trust_policy_pins_account_and_source_arn(job_type, resource):
    statement = trust_policy("123456789012", "us-west-2", job_type)["Statement"][0]
    assert (
        statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
        and statement["Action"] == "sts:AssumeRole"
    )
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnEquals": {"aws:SourceArn": f"arn:aws:bedrock:us-west-2:123456789012:{resource}"},
    }


def test_trust_policy_rejects_a_bad_account():
    with pytest.raises(ConfigurationError, match="12-digit"):
        trust_policy("1234", "us-east-1")


def test_data_access_policy_is_least_privilege():
    policy = data_access_policy(
        training_uris=["s3://data/train/part-1.jsonl"],
        validation_uris=["s3://data/val/"],
        output_uri="s3://out/jobs",
        kms_key_arns=["arn:aws:kms:us-east-1:123456789012:key/" + "a" * 36],
        invocation_log_uri="s3://logs/AWSLogs/",
        teacher_inference_profile_arns=[
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"
        ],
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadInputData"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadInputData"]["Resource"] == [
        "arn:aws:s3:::data/train/part-1.jsonl",
        "arn:aws:s3:::data/val/*",
    ]
    assert by_sid["ListInputData"]["Condition"] == {"StringLike": {"s3:prefix": ["train/*", "val/*"]}}
    assert by_sid["WriteOutput"]["Resource"] == ["arn:aws:s3:::out/jobs/*"]
    assert set(by_sid["WriteOutput"]["Action"]) == {"s3:GetObject", "s3:PutObject"}
    assert by_sid["ListOutput"]["Condition"] == {"StringLike": {"s3:prefix": ["jobs/*"]}}
    assert by_sid["ReadInvocationLogs"]["Resource"] == ["arn:aws:s3:::logs/AWSLogs/*"]
    assert "kms:Decrypt" in by_sid["UseKmsKeys"]["Action"]
    assert by_sid["InvokeTeacher"]["Resource"] == [
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
        "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
    ]
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    assert not any(
        "*" == r
        for s in policy["Statement"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    )


def test_data_access_policy_needs_something_to_grant():
    with pytest.raises(ConfigurationError):
        data_access_policy()
    with pytest.raises(ConfigurationError, match="not an S3 URI"):
        data_access_policy(training_uris=["/local/train.jsonl"])


def test_create_service_role_with_moto_is_idempotent():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        arn = create_service_role(
            "BedrockJobs",
            session=session,
            training_uris=["s3://data/train.jsonl"],
            output_uri="s3://out/",
            tags={"team": "nlp"},
        )
        again = create_service_role(
            "BedrockJobs",
            session=session,
            job_type="customization",
            training_uris=["s3://data/v2/train.jsonl"],
            output_uri="s3://out/",
        )
        iam = session.client("iam")
        role = iam.get_role(RoleName="BedrockJobs")["Role"]
        inline = iam.get_role_policy(RoleName="BedrockJobs", PolicyName="BedrockJobs-data-access")[
            "PolicyDocument"
        ]
    assert arn == again == role["Arn"] and arn.endswith(":role/service-role/BedrockJobs")
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    inline = json.loads(inline) if isinstance(inline, str) else inline
    assert inline["Statement"][0]["Resource"] == [
        "arn:aws:s3:::data/v2/train.jsonl"
    ]  # updated on the second call


# --- Custom Model Import pre-flight -----------------------------------------------------------------------
def model_folder(
    path: Path,
    *,
    config: dict[str, object] | None = None,
    files: tuple[str, ...] = ("model.safetensors", "tokenizer.json", "tokenizer_config.json"),
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    cfg = (
        {
            "architectures": ["LlamaForCausalLM"],
            "max_position_embeddings": 131072,
            "transformers_version": "4.51.3",
        }
        if config is None
        else config
    )
    (path / "config.json").write_text(json.dumps(cfg))
    for name in files:
        (path / name).write_bytes(
            b'{"tokenizer_class": "PreTrainedTokenizerFast"}' if name.endswith(".json") else b"\0" * 16
        )
    return path


def test_a_complete_local_folder_passes(tmp_path):
    report = preflight_import(model_folder(tmp_path / "m"))
    assert (
        report.ok and report.architecture == "LlamaForCausalLM" and report.max_position_embeddings == 131072
    )
    assert report.weights_bytes == 16
    assert any("tokenizer.model" in w for w in report.warnings)
    assert report.raise_for_errors() is report


def test_adapter_only_folder_is_refused_with_the_merge_fix(tmp_path):
    folder = model_folder(
        tmp_path / "lora",
        files=("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"),
    )
    report = preflight_import(folder)
    assert not report.ok and "adapter-only" in report.errors[0] and "merge_and_unload()" in report.errors[0]
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        report.raise_for_errors()


@pytest.mark.parametrize(
    ("config", "files", "error"),
    [
        (
            {"architectures": ["BertModel"]},
            ("model.safetensors", "tokenizer.json", "tokenizer_config.json"),
            "architecture BertModel is not one",
        ),
        (
            {"architectures": ["MistralForCausalLM"], "max_position_embeddings": 262144},
            ("model.safetensors", "tokenizer.json", "tokenizer_config.json"),
            "at most 128K",
        ),
        (
            {"architectures": ["LlamaForCausalLM"]},
            ("pytorch_model.bin", "tokenizer.json", "tokenizer_config.json"),
            "safe_serialization=True",
        ),
        (
            {"architectures": ["LlamaForCausalLM"]},
            ("model.safetensors", "tokenizer.json"),
            "tokenizer_config.json",
        ),
        (
            {"architectures": ["LlamaForCausalLM"]},
            ("model.safetensors", "tokenizer_config.json"),
            "no tokenizer file",
        ),
        (
            {"architectures": ["GptOssForCausalLM"]},
            ("model.safetensors", "tokenizer.json", "tokenizer_config.json"),
            "generation_config.json",
        ),
        (
            {
                "architectures": ["MllamaForConditionalGeneration"],
                "text_config": {"max_position_embeddings": 300000},
            },
            ("model.safetensors", "tokenizer.json", "tokenizer_config.json"),
            "300,000",
        ),
    ],
)
def test_problems_are_reported(tmp_path, config, files, error):
    report = preflight_import(model_folder(tmp_path / "m", config=config, files=files))
    assert not report.ok
    assert any(error in e for e in report.errors), report.errors


def test_mapping_input_checks_shards_and_sizes():
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    files = {
        "config.json": json.dumps({"architectures": ["Qwen2VLForConditionalGeneration"]}).encode(),
        "model.safetensors.index.json": json.dumps(index).encode(),
        "model-00001-of-00002.safetensors": None,
        "tokenizer.json": None,
        "tokenizer_config.json": None,
        "sub/ignored.safetensors": None,
    }
    report = preflight_import_source(files, sizes={"model-00001-of-00002.safetensors": 120 * 10**9})
    assert any("model-00002-of-00002.safetensors" in e for e in report.errors)
    assert any("multimodal" in e and "100 GB" in e for e in report.errors)


def test_missing_folder_and_file(tmp_path):
    assert "does not exist" in preflight_import(tmp_path / "nope").errors[0]
    (tmp_path / "f").write_text("x")
    assert "is a file" in preflight_import(tmp_path / "f").errors[0]


def test_preflight_from_s3():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        s3.put_object(
            Bucket="models",
            Key="llama/config.json",
            Body=json.dumps(
                {"architectures": ["LlamaForCausalLM"], "max_position_embeddings": 8192}
            ).encode(),
        )
        for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "tokenizer.model"):
            s3.put_object(Bucket="models", Key=f"llama/{name}", Body=b"{}")
        report = preflight_import("s3://models/llama", session=boto3.Session(region_name="us-east-1"))
        empty = preflight_import("s3://models/none/", session=boto3.Session(region_name="us-east-1"))
    assert report.ok and report.warnings == () and report.source == "s3://models/llama"
    assert empty.errors == ("no files under s3://models/none/",)


def test_helpers_import_without_boto3(tmp_path):
    """The pre-flight on a local folder, IAM documents and hints must work where boto3 is not installed."""
    import subprocess
    import sys

    folder = model_folder(tmp_path / "m")
    code = (
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "from finetune_sdk.backends.bedrock import preflight_import, trust_policy, hint_for_failure\n"
        f"assert preflight_import({str(folder)!r}).ok\n"
        "assert trust_policy('123456789012', 'us-east-1')\n"
        "assert hint_for_failure('Maximum input token count 5000 exceeds limit of 4096')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_local_backends_model_folder_passes(tmp_path):
    pytest.importorskip("transformers")
    from finetune_sdk.training.tiny import build_tiny_model

    path = build_tiny_model(str(tmp_path / "tiny"), hidden_size=32, layers=1, heads=2)
    report = preflight_import(path)
    assert report.ok, report.errors
    assert report.architecture == "LlamaForCausalLM"
