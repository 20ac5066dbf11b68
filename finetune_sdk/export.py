"""Export a SageMaker training job's weights to Amazon Bedrock Custom Model Import, in one call.

A move between two backends, so it lives in the API layer (no backend imports another): it reads the job
through the declared :class:`~finetune_sdk.backends.base.HasModelArtifacts` capability and submits the import
with ``Job.import_model``. ``finetune_sdk.backends.sagemaker.export_to_bedrock`` and
``SageMakerBackend.export_to_bedrock`` still call it.

Bedrock imports an *uncompressed* Hugging Face folder in S3 (``config.json``, ``*.safetensors``, tokenizer
files) with any LoRA adapter already merged. A SageMaker job writes exactly that under
``<output>/<job>/output/model/`` when it ran with ``CompressionType="NONE"`` (the SDK's default,
``SageMakerOptions(output_compression="NONE")``), so :func:`export_to_bedrock`:

1. checks the job completed and wrote uncompressed output;
2. lists the model folder and refuses what Bedrock would reject hours later: no ``config.json``, no
   ``*.safetensors`` weights, no tokenizer, or an adapter-only folder (``adapter_config.json`` without full
   weights);
3. runs the Bedrock backend's own pre-flight (``finetune_sdk.backends.bedrock.preflight.preflight_import``:
   architecture, context length, size) when that module is installed;
4. starts the import with ``Job.import_model(source=<folder>, backend=<bedrock>)`` and returns that ``Job``.

Examples:
    >>> from finetune_sdk.export import check_model_files
    >>> check_model_files(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
    []
    >>> check_model_files(["adapter_config.json", "adapter_model.safetensors"])[0][:45]
    'the folder holds only a LoRA adapter (adapter'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from finetune_sdk.backends.base import Backend, HasModelArtifacts, JobStatus, UsesAwsSession
from finetune_sdk.errors import ConfigurationError

if TYPE_CHECKING:
    from finetune_sdk.jobs import Job

__all__ = ["check_model_files", "export_to_bedrock"]

_ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def check_model_files(names: Iterable[str]) -> list[str]:
    """Problems with a model folder's top-level file names, each with its fix (empty: importable)."""
    files = set(names)
    problems: list[str] = []
    weights = [n for n in files if n.endswith(".safetensors") and n not in _ADAPTER_FILES]
    if "adapter_config.json" in files and not weights:
        problems.append(
            "the folder holds only a LoRA adapter (adapter_config.json without full weights); Bedrock "
            "imports full models. Merge the adapter into the base model first (peft: "
            "model.merge_and_unload(), then save_pretrained(safe_serialization=True)); the SDK's trainer "
            "does this when it exports 'model/'"
        )
        return problems
    if "model.tar.gz" in files:
        problems.append(
            "the folder holds model.tar.gz: Bedrock needs the files uncompressed. Retrain with "
            "SageMakerOptions(output_compression='NONE') (the default), or extract the archive to an S3 "
            "folder"
        )
        return problems
    if "config.json" not in files:
        problems.append("config.json is missing; Bedrock reads the architecture from it")
    if not weights:
        bins = [n for n in files if n.endswith((".bin", ".pt", ".pth"))]
        problems.append(
            "no *.safetensors weights"
            + (
                f" (found {', '.join(sorted(bins))}: convert them with "
                "save_pretrained(safe_serialization=True))"
                if bins
                else ""
            )
        )
    if len(weights) > 1 and "model.safetensors.index.json" not in files:
        problems.append("the weights are sharded but model.safetensors.index.json is missing")
    if not ({"tokenizer.json", "tokenizer.model"} & files):
        problems.append("no tokenizer (tokenizer.json or tokenizer.model); save the tokenizer with the model")
    if "tokenizer_config.json" not in files:
        problems.append("tokenizer_config.json is missing")
    return problems


def export_to_bedrock(
    job: Job | str,
    *,
    bedrock_backend: Backend | str | None = None,
    imported_model_name: str | None = None,
    sagemaker_backend: Backend | None = None,
    role_arn: str | None = None,
) -> Job:
    """Import the weights of a completed SageMaker training job into Bedrock; return the import ``Job``.

    Args:
        job: a ``Job`` on the SageMaker backend, or a training job name (then ``sagemaker_backend`` is used,
            or a default one).
        bedrock_backend: the Bedrock backend (instance or name; default ``"bedrock"``).
        imported_model_name: the name of the job and of the imported model (default: derived from the folder).
        role_arn: the Bedrock import role (default: the Bedrock backend's).

    Raises:
        ConfigurationError: the job has not completed, wrote compressed output, or its folder is not
            importable (each problem and its fix listed). Nothing is submitted then.
        BackendError: listing the folder or creating the import job failed.

    Examples:
        >>> from finetune_sdk.export import export_to_bedrock   # doctest: +SKIP
        >>> export_to_bedrock(job, bedrock_backend="bedrock").wait()        # doctest: +SKIP
    """
    from finetune_sdk.jobs import Job

    if isinstance(job, str):
        if sagemaker_backend is None:
            from finetune_sdk.backends.sagemaker import SageMakerBackend

            sagemaker_backend = SageMakerBackend()
        backend: Backend = sagemaker_backend
        job_id = job
    else:
        backend = job.backend
        job_id = job.id
    if not isinstance(backend, HasModelArtifacts):
        raise ConfigurationError(
            f"export_to_bedrock takes a SageMaker job; {job_id} ran on {backend.name!r}, whose jobs leave no "
            "model files to move"
        )
    artifacts = backend.model_artifacts(job_id)
    record = artifacts.job
    if record.status is not JobStatus.COMPLETED:
        raise ConfigurationError(
            f"training job {record.id} is {record.raw_status}; export it once it has Completed (job.wait())"
        )
    if artifacts.compression != "NONE":
        raise ConfigurationError(
            f"training job {record.id} wrote its model as model.tar.gz (CompressionType={artifacts.compression}); "
            "Bedrock Custom Model Import needs an uncompressed folder. Retrain with "
            "SageMakerOptions(output_compression='NONE') (the default), or extract the archive to an S3 "
            "folder and use Job.import_model(source=...)"
        )
    folder = artifacts.uri
    assert folder is not None  # uncompressed output always has a folder
    problems = check_model_files(backend.list_artifact_files(folder))
    if problems:
        listed = "\n".join(f"- {p}" for p in problems)
        raise ConfigurationError(
            f"the model of {record.id} at {folder} cannot be imported into Bedrock:\n{listed}"
        )
    from finetune_sdk.backends.bedrock.preflight import preflight_import

    aws = backend if isinstance(backend, UsesAwsSession) else None
    report = preflight_import(
        folder,
        session=aws.session if aws is not None else None,
        endpoint_url=aws.endpoint_for("s3") if aws is not None else None,
    )
    if not report.ok:
        raise ConfigurationError(f"the model of {record.id} at {folder} cannot be imported into Bedrock:\n{report}")
    return Job.import_model(
        source=folder,
        name=imported_model_name,
        backend=bedrock_backend or "bedrock",
        role_arn=role_arn,
        tags={"finetune-sdk:source-job": record.id, "finetune-sdk:source-backend": backend.name},
        preflight=False,
    )
