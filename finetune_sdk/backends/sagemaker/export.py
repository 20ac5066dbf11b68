"""Export a SageMaker training job's weights to Amazon Bedrock Custom Model Import, in one call.

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
    >>> from finetune_sdk.backends.sagemaker.export import check_model_files
    >>> check_model_files(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
    []
    >>> check_model_files(["adapter_config.json", "adapter_model.safetensors"])[0][:45]
    'the folder holds only a LoRA adapter (adapter'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from finetune_sdk.backends.base import Backend, JobStatus
from finetune_sdk.errors import ConfigurationError

if TYPE_CHECKING:
    from finetune_sdk.backends.sagemaker.backend import SageMakerBackend
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


def _list_folder(backend: SageMakerBackend, uri: str) -> list[str]:
    from finetune_sdk.backends.sagemaker.staging import split_s3_uri

    bucket, prefix = split_s3_uri(uri)
    names: list[str] = []
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = backend._call("s3", "list_objects_v2", resource=uri, **params)
        for obj in page.get("Contents", []):
            rel = str(obj["Key"])[len(prefix) :]
            if rel and "/" not in rel:
                names.append(rel)
        if not page.get("IsTruncated"):
            return names
        params["ContinuationToken"] = page["NextContinuationToken"]


def export_to_bedrock(
    job: Job | str,
    *,
    bedrock_backend: Backend | str | None = None,
    imported_model_name: str | None = None,
    sagemaker_backend: SageMakerBackend | None = None,
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
        >>> from finetune_sdk.backends.sagemaker import export_to_bedrock   # doctest: +SKIP
        >>> export_to_bedrock(job, bedrock_backend="bedrock").wait()        # doctest: +SKIP
    """
    from finetune_sdk.backends.sagemaker.backend import SageMakerBackend
    from finetune_sdk.jobs import Job

    if isinstance(job, str):
        backend = sagemaker_backend or SageMakerBackend()
        job_id = job
    else:
        if not isinstance(job.backend, SageMakerBackend):
            raise ConfigurationError(
                f"export_to_bedrock takes a SageMaker job; {job.id} ran on {job.backend.name!r}"
            )
        backend = job.backend
        job_id = job.id
    d = backend._describe_training_job(job_id)
    record = backend._job_record(d, backend._tags(str(d.get("TrainingJobArn", ""))))
    if record.status is not JobStatus.COMPLETED:
        raise ConfigurationError(
            f"training job {record.id} is {record.raw_status}; export it once it has Completed (job.wait())"
        )
    compression = (d.get("OutputDataConfig") or {}).get("CompressionType", "GZIP")
    if compression != "NONE":
        raise ConfigurationError(
            f"training job {record.id} wrote its model as model.tar.gz (CompressionType={compression}); "
            "Bedrock Custom Model Import needs an uncompressed folder. Retrain with "
            "SageMakerOptions(output_compression='NONE') (the default), or extract the archive to an S3 "
            "folder and use Job.import_model(source=...)"
        )
    folder = backend.model_folder(d)
    assert folder is not None  # uncompressed output always has a folder
    problems = check_model_files(_list_folder(backend, folder))
    if problems:
        listed = "\n".join(f"- {p}" for p in problems)
        raise ConfigurationError(
            f"the model of {record.id} at {folder} cannot be imported into Bedrock:\n{listed}"
        )
    try:
        from finetune_sdk.backends.bedrock.preflight import preflight_import
    except ImportError:  # pragma: no cover - the bedrock backend ships with the SDK
        preflight_import = None  # type: ignore[assignment]
    if preflight_import is not None:
        report = preflight_import(folder, session=backend.session, endpoint_url=backend._aws.endpoint_url)
        if not report.ok:
            raise ConfigurationError(
                f"the model of {record.id} at {folder} cannot be imported into Bedrock:\n{report}"
            )
    return Job.import_model(
        source=folder,
        name=imported_model_name,
        backend=bedrock_backend or "bedrock",
        role_arn=role_arn,
        tags={"finetune-sdk:source-job": record.id, "finetune-sdk:source-backend": "sagemaker"},
        preflight=False,
    )
