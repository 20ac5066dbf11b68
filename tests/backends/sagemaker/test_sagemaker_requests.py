"""Snapshots and shape checks of the requests the SageMaker backend sends.

The JumpStart request is built from AQuA-RAT staged by the backend itself and must have the shape of
``sagemaker.md`` §2.5: a ``model`` channel carrying ``ModelAccessConfig.AcceptEula``, the ``training``
channel,
string hyperparameters with ``"True"``/``"False"`` spelled for the JumpStart script, ``CompressionType NONE``.
Every request is also validated in full against botocore's service model (patterns, lengths, enums).

Snapshots live in ``snapshots/``; after an intended change, regenerate them with
``FINETUNE_SDK_UPDATE_SNAPSHOTS=1 pytest tests/backends/sagemaker`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.backends.base import DeploymentSpec, JobKind, JobSpec
from finetune_sdk.backends.sagemaker import SageMakerBackend, SageMakerEndpointOptions, SageMakerOptions
from finetune_sdk.backends.sagemaker import requests as rq
from finetune_sdk.backends.sagemaker.jumpstart import HubDocument
from finetune_sdk.backends.sagemaker.sm_entry import worker_command
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.errors import ConfigurationError, HyperparameterError, RequestValidationError
from finetune_sdk.testing._shapes import service_model, validate
from finetune_sdk.testing.sagemaker import SageMakerEmulation, llama3_hub_document

pytestmark = pytest.mark.sagemaker

MODEL = "meta-textgeneration-llama-3-8b"
ROLE = "arn:aws:iam::123456789012:role/SageMakerJobs"
OUTPUT = "s3://ft-bucket/out"
SNAPSHOTS = Path(__file__).parent / "snapshots"
# read at import: the hermetic fixture clears FINETUNE_SDK_* variables before each test
UPDATE_SNAPSHOTS = os.environ.get("FINETUNE_SDK_UPDATE_SNAPSHOTS") == "1"


def check_snapshot(name: str, value: Any) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(value, indent=2, sort_keys=False, default=str) + "\n"
    if UPDATE_SNAPSHOTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}; create it with FINETUNE_SDK_UPDATE_SNAPSHOTS=1 and review it"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), f"request differs from {path}"


def assert_valid(operation: str, request: dict[str, Any]) -> None:
    shape = service_model("sagemaker").operation_model(operation).input_shape
    problems = validate(shape, request, operation=operation)
    assert not problems, problems


def aqua_spec(uri: str, **options: Any) -> JobSpec:
    return JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model=MODEL,
        name="aqua-llama3-8b",
        output_model_name="aqua-llama3-8b",
        training_data=uri,
        output_uri=OUTPUT,
        role_arn=ROLE,
        hyperparameters={
            "epoch": 1,
            "learning_rate": 0.0001,
            "lora_r": 8,
            "lora_alpha": 32,
            "per_device_train_batch_size": 4,
            "max_input_length": 2048,
            "int8_quantization": False,
        },
        backend_options=SageMakerOptions(accept_eula=True, instance_type="ml.g5.12xlarge", **options),
    )


@pytest.fixture
def staged_aqua(backend: SageMakerBackend, emulation: SageMakerEmulation, aqua: Dataset) -> str:
    emulation.session.client("s3").create_bucket(Bucket="ft-bucket")
    return backend.stage_data(aqua, name="aqua-llama3-8b-train", format=None, output_uri=OUTPUT)


def test_jumpstart_llama3_request_from_aqua_matches_documented_shape(
    backend: SageMakerBackend, emulation: SageMakerEmulation, staged_aqua: str
) -> None:
    request = backend.training_request(aqua_spec(staged_aqua))
    check_snapshot("jumpstart_llama3_8b_aqua", request)
    assert_valid("CreateTrainingJob", request)

    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    assert list(channels) == ["model", "code", "training"]
    model = channels["model"]
    assert model["ContentType"] == "application/x-sagemaker-model"
    assert model["DataSource"]["S3DataSource"]["ModelAccessConfig"] == {"AcceptEula": True}
    assert model["DataSource"]["S3DataSource"]["S3Uri"].endswith(
        "/g5/v1.0.0/train-meta-textgeneration-llama-3-8b.tar.gz"
    )
    # AQuA records are single-turn: the instruction layout (JSONL + template.json) is used
    assert channels["training"]["DataSource"]["S3DataSource"]["S3Uri"] == staged_aqua + "instruction/"
    assert request["OutputDataConfig"] == {"S3OutputPath": OUTPUT, "CompressionType": "NONE"}
    assert request["EnableNetworkIsolation"] is True

    hps = request["HyperParameters"]
    assert all(isinstance(v, str) for v in hps.values())
    assert hps["instruction_tuned"] == "True" and hps["chat_dataset"] == "False"
    assert hps["int8_quantization"] == "False" and hps["enable_fsdp"] == "True"  # user value, hub default
    assert hps["epoch"] == "1" and hps["learning_rate"] == "0.0001" and hps["max_input_length"] == "2048"
    assert hps["lora_dropout"] == "0.05"  # from the hub document, not hard-coded
    assert json.loads(hps["sagemaker_program"]) == "transfer_learning.py"
    assert json.loads(hps["sagemaker_submit_directory"]) == rq.CODE_CHANNEL_SOURCEDIR
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["sagemaker-sdk:jumpstart-model-id"] == MODEL
    assert tags["finetune-sdk:job-name"] == "aqua-llama3-8b"

    files = emulation.list_objects(staged_aqua)
    assert {
        "instruction/train.jsonl",
        "instruction/template.json",
        "chat/train.jsonl",
        "records/train.jsonl",
    } <= set(files)
    first = json.loads(emulation.read_object(staged_aqua + "instruction/train.jsonl").splitlines()[0])
    assert set(first) == {"instruction", "context", "response"} and "tower" in first["instruction"]
    template = json.loads(emulation.read_object(staged_aqua + "instruction/template.json"))
    assert "{instruction}" in template["prompt"] and "{response}" in template["completion"]


def test_chat_dataset_picks_dialog_layout(backend: SageMakerBackend, staged_aqua: str) -> None:
    spec = aqua_spec(staged_aqua).model_copy(update={"hyperparameters": {"chat_dataset": True}})
    request = backend.training_request(spec)
    training = next(c for c in request["InputDataConfig"] if c["ChannelName"] == "training")
    assert training["DataSource"]["S3DataSource"]["S3Uri"].endswith("/chat/")
    assert request["HyperParameters"]["chat_dataset"] == "True"
    assert request["HyperParameters"]["instruction_tuned"] == "False"


def test_gated_model_needs_explicit_eula(backend: SageMakerBackend, staged_aqua: str) -> None:
    spec = aqua_spec(staged_aqua).model_copy(
        update={"backend_options": SageMakerOptions(instance_type="ml.g5.12xlarge")}
    )
    with pytest.raises(ConfigurationError, match=r"gated model.*accept_eula=True.*AcceptEula"):
        backend.training_request(spec)


def test_instance_type_checked_against_hub_document(backend: SageMakerBackend, staged_aqua: str) -> None:
    spec = aqua_spec(staged_aqua).model_copy(
        update={"backend_options": SageMakerOptions(instance_type="ml.g4dn.xlarge", accept_eula=True)}
    )
    with pytest.raises(
        ConfigurationError, match=r"ml\.g4dn\.xlarge.*SupportedTrainingInstanceTypes: ml\.g5\.12xlarge"
    ):
        backend.training_request(spec)


def test_hyperparameters_checked_before_any_request(backend: SageMakerBackend, staged_aqua: str) -> None:
    for bad, match in (
        ({"lora_dropout": 1.5}, "lora_dropout"),
        ({"epochs": 2}, "did you mean 'epoch'"),
        ({"enable_fsdp": "maybe"}, "enable_fsdp"),
        ({"instruction_tuned": True, "chat_dataset": True}, "exclusive"),
    ):
        spec = aqua_spec(staged_aqua).model_copy(update={"hyperparameters": bad})
        with pytest.raises(HyperparameterError, match=match):
            backend.training_request(spec)


def test_gzip_output_when_asked(backend: SageMakerBackend, staged_aqua: str) -> None:
    request = backend.training_request(aqua_spec(staged_aqua, output_compression="GZIP"))
    assert request["OutputDataConfig"]["CompressionType"] == "GZIP"


def test_two_instance_script_mode_request_runs_torchrun(backend: SageMakerBackend, staged_aqua: str) -> None:
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="meta-llama/Llama-3.2-1B-Instruct",
        name="aqua-script-2x",
        output_model_name="aqua-script",
        training_data=staged_aqua,
        output_uri=OUTPUT,
        role_arn=ROLE,
        hyperparameters={"epochCount": 2, "learningRate": 0.0002, "method": "lora"},
        backend_options=SageMakerOptions(
            mode="script",
            instance_type="ml.g5.12xlarge",
            instance_count=2,
            processes_per_host=4,
            image_uri="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311",
            use_spot=True,
            max_runtime_s=7200,
            max_wait_s=10800,
            checkpoint_s3_uri=f"{OUTPUT}/checkpoints",
        ),
    )
    request = backend.training_request(spec)
    # the source tarball's hash changes with every SDK edit: keep it out of the snapshot
    masked = json.loads(
        re.sub(r"finetune-sdk-code/[0-9a-f]{16}/", "finetune-sdk-code/<sha256>/", json.dumps(request))
    )
    check_snapshot("script_mode_two_instances", masked)
    assert_valid("CreateTrainingJob", request)

    assert request["ResourceConfig"]["InstanceCount"] == 2
    hps = {k: json.loads(v) for k, v in request["HyperParameters"].items()}
    assert hps["sagemaker_program"] == "sm_entry.py"
    assert hps["sagemaker_submit_directory"].startswith(f"{OUTPUT}/finetune-sdk-code/")
    assert hps["finetune_sdk_distribution"] == "torchrun" and hps["finetune_sdk_processes_per_host"] == 4
    assert hps["finetune_sdk_hyperparameters"] == {"epochCount": 2, "learningRate": 0.0002, "method": "lora"}
    assert hps["finetune_sdk_checkpoint_dir"] == "/opt/ml/checkpoints"
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 10800}
    assert request["CheckpointConfig"] == {
        "S3Uri": f"{OUTPUT}/checkpoints",
        "LocalPath": "/opt/ml/checkpoints",
    }
    training = next(c for c in request["InputDataConfig"] if c["ChannelName"] == "training")
    assert training["DataSource"]["S3DataSource"]["S3Uri"] == staged_aqua + "records/"
    assert {m["Name"] for m in request["AlgorithmSpecification"]["MetricDefinitions"]} >= {"train:loss"}

    # what sm_entry.py runs on the second instance of that job
    command = worker_command(
        hosts=["algo-1", "algo-2"],
        current_host="algo-2",
        nproc_per_node=hps["finetune_sdk_processes_per_host"],
        run_dir="/opt/ml/checkpoints/run",
    )
    assert command[:11] == [
        "torchrun",
        "--nnodes",
        "2",
        "--nproc_per_node",
        "4",
        "--node_rank",
        "1",
        "--master_addr",
        "algo-1",
        "--master_port",
        "29500",
    ]
    assert command[11:] == ["-m", "finetune_sdk.training.worker", "/opt/ml/checkpoints/run"]


def test_script_mode_without_image_or_sagemaker_extra_says_how_to_fix(
    backend: SageMakerBackend, staged_aqua: str
) -> None:
    pytest.importorskip("finetune_sdk.training._config")
    try:
        import sagemaker.core  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only where the extra is installed
        pytest.skip("the sagemaker extra is installed here; the fallback message is not reachable")
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model="meta-llama/Llama-3.2-1B",
        name="no-image",
        output_model_name="m",
        training_data=staged_aqua,
        output_uri=OUTPUT,
        role_arn=ROLE,
        backend_options=SageMakerOptions(mode="script", instance_type="ml.g5.2xlarge"),
    )
    with pytest.raises(ConfigurationError, match=r"image_uri=.*pip install 'finetune-sdk\[sagemaker\]'"):
        backend.training_request(spec)


def test_job_name_is_derived_from_spec_and_valid() -> None:
    spec = aqua_spec("s3://b/d/")
    name = rq.training_job_name(spec)
    assert rq.valid_name(name) and len(name) <= 63
    assert name == rq.training_job_name(spec)
    changed = spec.model_copy(update={"hyperparameters": {"epoch": 2}})
    assert rq.training_job_name(changed) != name
    long = spec.model_copy(update={"name": "x_" * 80})
    assert rq.valid_name(rq.training_job_name(long))


def test_tags_are_checked_locally() -> None:
    with pytest.raises(RequestValidationError, match="50"):
        rq.tags_to_request({f"k{i}": "v" for i in range(51)})
    with pytest.raises(RequestValidationError, match="keys are 1-128"):
        rq.tags_to_request({"k": "bad#value"})


def test_endpoint_requests_for_a_trained_jumpstart_model() -> None:
    doc = HubDocument(MODEL, llama3_hub_document(MODEL))
    model = rq.build_model_request(
        name="aqua-endpoint",
        image_uri=str(doc.hosting_image("ml.g5.2xlarge")),
        role_arn=ROLE,
        model_data_uri=f"{OUTPUT}/job/output/model/",
        compressed=False,
        environment=rq.serving_environment(doc.hosting_environment("ml.g5.2xlarge"), None, tgi=False),
        network_isolation=True,
    )
    config = rq.build_endpoint_config_request(
        name="aqua-endpoint",
        model_name="aqua-endpoint",
        instance_type="ml.g5.2xlarge",
        instance_count=1,
        options=SageMakerEndpointOptions(startup_health_check_timeout_s=900),
    )
    endpoint = rq.build_endpoint_request(
        name="aqua-endpoint", config_name="aqua-endpoint", tags={"finetune-sdk:payload": "tgi"}
    )
    check_snapshot("endpoint_requests", {"model": model, "endpoint_config": config, "endpoint": endpoint})
    assert_valid("CreateModel", model)
    assert_valid("CreateEndpointConfig", config)
    assert_valid("CreateEndpoint", endpoint)
    source = model["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]
    assert source == {
        "S3Uri": f"{OUTPUT}/job/output/model/",
        "S3DataType": "S3Prefix",
        "CompressionType": "None",
    }


def test_tgi_environment_for_a_hugging_face_model() -> None:
    env = rq.serving_environment(
        {"HF_MODEL_ID": "meta-llama/Llama-3.2-1B-Instruct"},
        SageMakerEndpointOptions(
            num_gpus=4, max_input_length=4096, max_total_tokens=8192, environment={"HF_TOKEN_ID": "x"}
        ),
        tgi=True,
    )
    assert env == {
        "HF_MODEL_ID": "meta-llama/Llama-3.2-1B-Instruct",
        "SM_NUM_GPUS": "4",
        "MAX_INPUT_LENGTH": "4096",
        "MAX_TOTAL_TOKENS": "8192",
        "HF_TOKEN_ID": "x",
    }


def test_deployment_requests_dry_run(backend: SageMakerBackend) -> None:
    spec = DeploymentSpec(
        model_id="meta-textgeneration-llama-3-8b-instruct",
        name="base-llama",
        kind="endpoint",
        backend_options=SageMakerEndpointOptions(accept_eula=True),
    )
    requests = backend.deployment_requests(spec)
    source = requests["model"]["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]
    assert source["ModelAccessConfig"] == {"AcceptEula": True}
    assert requests["endpoint_config"]["ProductionVariants"][0]["InstanceType"] == "ml.g5.2xlarge"
    with pytest.raises(ConfigurationError, match="gated"):
        backend.deployment_requests(spec.model_copy(update={"backend_options": None}))
    with pytest.raises(ConfigurationError, match="kind='endpoint'"):
        backend.deployment_requests(spec.model_copy(update={"kind": "provisioned"}))


def test_options_validation() -> None:
    with pytest.raises(ValueError, match="max_wait_s"):
        SageMakerOptions(max_wait_s=100)
    with pytest.raises(ValueError, match="s3://"):
        SageMakerOptions(checkpoint_s3_uri="/tmp/ckpt")
    with pytest.raises(ValueError, match="environment variable name"):
        SageMakerOptions(environment={"1BAD": "x"})
    with pytest.raises(ValueError, match="max_total_tokens"):
        SageMakerEndpointOptions(max_input_length=4096, max_total_tokens=4096)
    assert SageMakerOptions(use_spot=True, max_runtime_s=3600).effective_max_wait_s == 3600

