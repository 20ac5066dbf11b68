"""Export to Bedrock Custom Model Import: checks on the SageMaker side, then the Bedrock import request.

The happy path runs both emulations in one account: moto + ``SageMakerEmulation`` for the training job and
its S3 output, ``BedrockEmulation`` for Bedrock (which reads the folder when the import job runs).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finetune_sdk.backends.base import JobKind, JobSpec, JobStatus
from finetune_sdk.backends.sagemaker import SageMakerBackend, SageMakerOptions, export_to_bedrock
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import ConfigurationError
from finetune_sdk.export import check_model_files
from finetune_sdk.jobs import Job
from finetune_sdk.testing.clock import FakeClock
from finetune_sdk.testing.emulation import BedrockEmulation
from finetune_sdk.testing.sagemaker import SageMakerEmulation

pytestmark = pytest.mark.sagemaker

MODEL = "meta-textgeneration-llama-3-1-8b-instruct"


def trained(
    backend: SageMakerBackend,
    emulation: SageMakerEmulation,
    *,
    output: str = "merged",
    compression: str = "NONE",
    name: str = "export",
) -> Job:
    data = Dataset([Conversation.from_pairs(f"q{i}", f"a{i}") for i in range(6)])
    uri = backend.stage_data(data, name=f"{name}-train", format=None, output_uri=None)
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model=MODEL,
        name=name,
        output_model_name=f"{name}-model",
        training_data=uri,
        hyperparameters={"epoch": 1},
        backend_options=SageMakerOptions(accept_eula=True, output_compression=compression),
    )  # type: ignore[arg-type]
    job = Job.create(spec, backend=backend)
    emulation.set_output(job.id, output)  # type: ignore[arg-type]
    return job.wait(progress=False)


@pytest.fixture
def both() -> Iterator[tuple[BedrockEmulation, SageMakerEmulation]]:
    clock = FakeClock()
    with BedrockEmulation(clock=clock) as aws, SageMakerEmulation(session=aws.session, clock=clock) as sm:
        yield aws, sm
    assert not aws.violations and not sm.violations


def test_export_starts_a_bedrock_import_of_the_uncompressed_folder(
    both: tuple[BedrockEmulation, SageMakerEmulation],
) -> None:
    aws, sm = both
    backend = sm.backend()
    job = trained(backend, sm)
    bedrock = aws.backend()
    imported = backend.export_to_bedrock(job.id, bedrock_backend=bedrock, imported_model_name="aqua-llama-31")
    assert imported.kind is JobKind.IMPORT
    request = aws.calls("CreateModelImportJob")[0]
    folder = f"{sm.output_uri}/{job.id}/output/model/"
    assert request["modelDataSource"] == {"s3DataSource": {"s3Uri": folder}}
    assert request["importedModelName"].startswith("aqua-llama-31")
    imported.wait(progress=False)
    assert imported.status is JobStatus.COMPLETED
    # the module-level function takes the Job handle as well
    again = export_to_bedrock(job, bedrock_backend=bedrock, imported_model_name="aqua-llama-31")
    assert again.id == imported.id


def test_adapter_only_output_is_refused_before_any_import(
    both: tuple[BedrockEmulation, SageMakerEmulation],
) -> None:
    aws, sm = both
    backend = sm.backend()
    job = trained(backend, sm, output="adapter", name="adapter")
    with pytest.raises(ConfigurationError, match=r"only a LoRA adapter.*merge_and_unload"):
        backend.export_to_bedrock(job.id, bedrock_backend=aws.backend())
    assert aws.calls("CreateModelImportJob") == []


def test_compressed_output_is_refused_with_the_fix(both: tuple[BedrockEmulation, SageMakerEmulation]) -> None:
    aws, sm = both
    backend = sm.backend()
    job = trained(backend, sm, compression="GZIP", name="gzip")
    with pytest.raises(ConfigurationError, match=r"model\.tar\.gz.*output_compression='NONE'"):
        backend.export_to_bedrock(job.id, bedrock_backend=aws.backend())


def test_unfinished_job_is_refused(emulation: SageMakerEmulation, backend: SageMakerBackend) -> None:
    data = Dataset([Conversation.from_pairs("q", "a")])
    uri = backend.stage_data(data, name="running-train", format=None, output_uri=None)
    spec = JobSpec(
        kind=JobKind.FINE_TUNING,
        base_model=MODEL,
        name="running",
        output_model_name="m",
        training_data=uri,
        backend_options=SageMakerOptions(accept_eula=True),
    )
    record = backend.submit_job(spec)
    with pytest.raises(ConfigurationError, match="once it has Completed"):
        export_to_bedrock(record.id, sagemaker_backend=backend, bedrock_backend="bedrock")


def test_file_checks() -> None:
    ok = [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert check_model_files(ok) == []
    assert any("index.json" in p for p in check_model_files([n for n in ok if not n.endswith("index.json")]))
    assert any("tokenizer" in p for p in check_model_files(["config.json", "model.safetensors"]))
    bins = check_model_files(["config.json", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json"])
    assert bins == [
        "no *.safetensors weights (found pytorch_model.bin: convert them with "
        "save_pretrained(safe_serialization=True))"
    ]
    merged_with_adapter = ["adapter_config.json", "adapter_model.safetensors", *ok]
    assert check_model_files(merged_with_adapter) == []
