"""Pure pieces: hyperparameters, hub documents, metrics parsing, the source tarball, error translation."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from finetune_sdk._aws import call_with_retries, translate_error
from finetune_sdk.backends.base import JobKind
from finetune_sdk.backends.sagemaker import JumpStartLlamaHyperparameters, SageMakerBackend
from finetune_sdk.backends.sagemaker.code import build_source_tarball
from finetune_sdk.backends.sagemaker.hyperparameters import jumpstart_value, schema_for
from finetune_sdk.backends.sagemaker.jumpstart import HubDocument, coerce_document, instance_family
from finetune_sdk.backends.sagemaker.metrics import (
    JUMPSTART_LLAMA_METRIC_DEFINITIONS,
    classify_metric,
    format_metric_line,
    parse_metric_lines,
)
from finetune_sdk.errors import (
    AccessDeniedError,
    BackendError,
    ConfigurationError,
    ResourceNotFoundError,
    ServiceUnavailableError,
    ThrottlingError,
)
from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.sagemaker import llama3_hub_document

pytestmark = pytest.mark.sagemaker

MODEL = "meta-textgeneration-llama-3-8b"


def test_jumpstart_values_are_python_spelled() -> None:
    assert [jumpstart_value(v) for v in (True, False, "true", "FALSE", 5, 5.0, 0.5, 1e-4, 3e-05)] == [
        "True",
        "False",
        "True",
        "False",
        "5",
        "5",
        "0.5",
        "0.0001",
        "0.00003",
    ]
    with pytest.raises(ValueError, match="finite"):
        jumpstart_value(float("nan"))


def test_typed_hyperparameters() -> None:
    hp = JumpStartLlamaHyperparameters(
        epoch=2, chat_dataset=True, enable_fsdp=False, validation_split_ratio=0.1
    )
    assert hp.to_service() == {
        "epoch": "2",
        "chat_dataset": "True",
        "validation_split_ratio": "0.1",
        "enable_fsdp": "False",
    }
    with pytest.raises(ValueError, match="exclusive"):
        JumpStartLlamaHyperparameters(instruction_tuned=True, chat_dataset=True)
    with pytest.raises(ValueError):
        JumpStartLlamaHyperparameters(epcoh=2)  # type: ignore[call-arg]
    specs = {s.name: s for s in JumpStartLlamaHyperparameters.specs()}
    assert (specs["lora_dropout"].type, specs["lora_dropout"].min, specs["lora_dropout"].max) == (
        "float",
        0.0,
        1.0,
    )
    assert specs["int8_quantization"].type == "bool" and specs["int8_quantization"].default is None


def test_schema_merges_hub_document_defaults_and_tighter_ranges() -> None:
    hub = llama3_hub_document(MODEL)["Hyperparameters"]
    specs = {s.name: s for s in schema_for(MODEL, hub) or ()}
    assert specs["epoch"].default == 5 and specs["enable_fsdp"].default is True
    assert specs["per_device_train_batch_size"].max == 1000  # hub's 1000 is tighter than the SDK's 1024
    assert specs["chat_template"].type == "str"  # known only from the hub document
    assert "sagemaker_program" not in specs
    assert schema_for("huggingface-llm-falcon-7b", None) is None
    assert {
        s.name for s in schema_for("huggingface-llm-falcon-7b", [{"Name": "epochs", "Type": "int"}]) or ()
    } == {"epochs"}


def test_backend_schema_falls_back_to_typed_bounds_without_a_document() -> None:
    def unavailable(model_id: str) -> dict[str, Any]:
        raise ConfigurationError("offline")

    backend = SageMakerBackend(region="us-east-1", hub_document_loader=unavailable)
    specs = {s.name: s for s in backend.hyperparameter_schema(MODEL, JobKind.FINE_TUNING) or ()}
    assert specs["epoch"].default is None and specs["epoch"].max == 1000
    local = backend.hyperparameter_schema("meta-llama/Llama-3.2-1B", JobKind.FINE_TUNING)
    assert local is not None and "epochCount" in {s.name for s in local}


def test_hub_document_variants_and_checks() -> None:
    doc = HubDocument(MODEL, llama3_hub_document(MODEL))
    assert instance_family("ml.p4d.24xlarge") == "p4d" and instance_family("local") is None
    assert doc.training_artifact(
        "ml.p4d.24xlarge",
    ).endswith("/p4d/v1.0.0/train-meta-textgeneration-llama-3-8b.tar.gz")
    assert doc.training_artifact(None) == llama3_hub_document(MODEL)["TrainingArtifactUri"]
    assert doc.default_hyperparameters("ml.g5.12xlarge")["epoch"] == 5
    assert doc.default_payload_dialect == "tgi"
    assert doc.hosting_environment("ml.g5.2xlarge")["HF_MODEL_ID"] == "/opt/ml/model"
    assert [m["Name"] for m in doc.metric_definitions(None)] == [
        "huggingface-textgeneration:eval-loss",
        "huggingface-textgeneration:train-loss",
    ]
    doc.check_training(instance_type="ml.g5.12xlarge", accept_eula=True)
    no_training = HubDocument("x", {"TrainingSupported": False})
    with pytest.raises(ConfigurationError, match="does not support fine-tuning"):
        no_training.check_training(instance_type="ml.g5.12xlarge", accept_eula=True)
    wrapped = coerce_document(MODEL, {"HubContentDocument": '{"GatedBucket": true}'})
    assert wrapped.gated
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        coerce_document(MODEL, "{nope")


def test_metric_lines() -> None:
    assert [classify_metric(n) for n in ("validation:loss", "train:epoch", "eval_ppl", "test:dcg")] == [
        "validation_loss",
        "epoch",
        "perplexity",
        None,
    ]
    sdk = [
        format_metric_line(20, {"epoch": 1.0, "training_loss": 0.8}),
        "noise",
        format_metric_line(10, {"epoch": 0.5, "training_loss": 1.2, "validation_loss": float("nan")}),
        "finetune_sdk_metric {broken",
    ]
    points = parse_metric_lines(sdk)
    assert [(p.step, p.training_loss, p.validation_loss) for p in points] == [
        (10, 1.2, None),
        (20, 0.8, None),
    ]
    js = [
        "Epoch 1: train_perplexity=3.1, train_epoch_loss=1.13, epoch time 12s",
        "Epoch 2: train_perplexity=2.5, train_epoch_loss=0.92, epoch time 12s",
    ]
    points = parse_metric_lines(js, JUMPSTART_LLAMA_METRIC_DEFINITIONS)
    assert [(p.step, p.epoch, p.training_loss, p.validation_loss) for p in points] == [
        (1, 1.0, 1.13, None),
        (2, 2.0, 0.92, None),
    ]
    assert parse_metric_lines([], JUMPSTART_LLAMA_METRIC_DEFINITIONS) == []
    assert parse_metric_lines(["x"], [{"Name": "train:loss", "Regex": "(unclosed"}]) == []


def test_source_tarball_is_reproducible_and_complete() -> None:
    blob = build_source_tarball(requirements=("pydantic>=2",))
    assert blob == build_source_tarball(requirements=("pydantic>=2",))
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        names = tar.getnames()
        requirements = tar.extractfile("requirements.txt")
        assert requirements is not None and requirements.read() == b"pydantic>=2\n"
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
    assert "sm_entry.py" in names and "finetune_sdk/training/worker.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


class FakeClientError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": status},
        }


@pytest.mark.parametrize(
    ("code", "message", "status", "expected"),
    [
        ("ValidationException", "Could not find training job 'arn:...'.", 400, ResourceNotFoundError),
        ("ValidationException", "Endpoint x of account 1 not found.", 400, ResourceNotFoundError),
        (
            "AccessDeniedException",
            "not authorized to perform sagemaker:CreateTrainingJob",
            400,
            AccessDeniedError,
        ),
        ("InternalFailure", "boom", 500, ServiceUnavailableError),
        ("SomethingNew", "?", 400, BackendError),
    ],
)
def test_error_translation(code: str, message: str, status: int, expected: type[Exception]) -> None:
    err = translate_error(FakeClientError(code, message, status), backend="sagemaker", action="X")
    assert type(err) is expected and err.request_id == "req-1" and message in str(err)


def test_retries_use_the_clock_and_stop() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise FakeClientError("ThrottlingException", "Rate exceeded")
        return "ok"

    assert call_with_retries(flaky, backend="sagemaker", action="X", sleep=clock.sleep) == "ok"
    assert len(clock.sleeps) == 2

    def always() -> str:
        raise FakeClientError("ThrottlingException", "Rate exceeded")

    with pytest.raises(ThrottlingError):
        call_with_retries(always, backend="sagemaker", action="X", sleep=clock.sleep, attempts=2)

    def not_aws() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retries(not_aws, backend="sagemaker", action="X", sleep=clock.sleep)


def test_framework_images_come_from_the_optional_sagemaker_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup glue, against a stand-in for ``sagemaker.core.image_uris`` (the real extra is ~1 GB)."""
    import sys
    import types

    calls: list[dict[str, Any]] = []

    def config_for_framework(framework: str) -> dict[str, Any]:
        return {
            "training": {
                "versions": {
                    "2.4.0": {"py_versions": ["py311"]},
                    "2.10.0": {"py_versions": ["py312", "py311"]},
                }
            }
        }

    def retrieve(**kwargs: Any) -> str:
        calls.append(kwargs)
        return f"763104351884.dkr.ecr.{kwargs['region']}.amazonaws.com/pytorch-training:{kwargs['version']}"

    core = types.ModuleType("sagemaker.core")
    image_uris = types.ModuleType("sagemaker.core.image_uris")
    image_uris.config_for_framework = config_for_framework  # type: ignore[attr-defined]
    image_uris.retrieve = retrieve  # type: ignore[attr-defined]
    core.image_uris = image_uris  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sagemaker", types.ModuleType("sagemaker"))
    monkeypatch.setitem(sys.modules, "sagemaker.core", core)
    monkeypatch.setitem(sys.modules, "sagemaker.core.image_uris", image_uris)

    backend = SageMakerBackend(region="eu-west-1")
    uri = backend._framework_image("pytorch", "training", "ml.g5.2xlarge")
    assert uri.endswith("pytorch-training:2.10.0")  # the newest version, compared as numbers
    assert calls == [
        {
            "framework": "pytorch",
            "region": "eu-west-1",
            "version": "2.10.0",
            "py_version": "py312",
            "instance_type": "ml.g5.2xlarge",
            "image_scope": "training",
        }
    ]
    backend._framework_image("pytorch", "training", "ml.g5.2xlarge")
    assert len(calls) == 1  # cached per backend


def test_missing_sagemaker_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sagemaker", None)  # makes any import of it fail
    backend = SageMakerBackend(region="us-east-1")
    with pytest.raises(ConfigurationError, match=r"image_uri=.*pip install 'finetune-sdk\[sagemaker\]'"):
        backend._framework_image("huggingface-llm", "inference", "ml.g5.2xlarge")
