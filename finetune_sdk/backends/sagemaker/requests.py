"""Pure request builders: validated inputs in, boto3 keyword arguments out. No I/O, no clock, no randomness.

Everything the SageMaker backend sends is built here, so each request can be pinned by a snapshot test and
read in one place:

- :func:`build_jumpstart_training_request`: ``CreateTrainingJob`` for a JumpStart model (the Llama 3.x
  fine-tuning script): the ``model`` channel with ``ModelAccessConfig.AcceptEula``, the ``code`` channel when
  the job is network-isolated, hub-document defaults overlaid by the user's hyperparameters as JumpStart
  strings, ``CompressionType="NONE"`` by default so the weights can go to Bedrock.
- :func:`build_script_training_request`: ``CreateTrainingJob`` that runs the SDK's own trainer from a source
  tarball through the training toolkit (``sagemaker_program`` / ``sagemaker_submit_directory``), with
  ``torchrun`` across instances and GPUs when the trainer supports it.
- :func:`build_model_request`, :func:`build_endpoint_config_request`, :func:`build_endpoint_request`: hosting.

Hyperparameters of the ``sagemaker_*`` family are JSON-encoded (``'"sm_entry.py"'``), as the v2 ``sagemaker``
SDK sends them and the training toolkit decodes them; the algorithm hyperparameters are plain strings.

Examples:
    >>> from finetune_sdk.backends.sagemaker.requests import training_job_name
    >>> from finetune_sdk.backends.base import JobKind, JobSpec
    >>> spec = JobSpec(kind=JobKind.FINE_TUNING, base_model="meta-textgeneration-llama-3-8b",
    ...                name="ft llama/aqua", output_model_name="m", training_data="s3://b/data/")
    >>> name = training_job_name(spec)
    >>> name.startswith("ft-llama-aqua-"), len(name) <= 63, name == training_job_name(spec)
    (True, True, True)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from finetune_sdk.backends.base import JobKind, JobSpec
from finetune_sdk.backends.sagemaker.hyperparameters import jumpstart_value
from finetune_sdk.backends.sagemaker.jumpstart import DEFAULT_TRAINING_ENTRY_POINT, HubDocument
from finetune_sdk.backends.sagemaker.metrics import JUMPSTART_LLAMA_METRIC_DEFINITIONS, SDK_METRIC_DEFINITIONS
from finetune_sdk.backends.sagemaker.options import MAX_TAGS, SageMakerEndpointOptions, SageMakerOptions
from finetune_sdk.errors import ConfigurationError, RequestValidationError

__all__ = [
    "CODE_CHANNEL_SOURCEDIR",
    "ENTRY_SCRIPT",
    "TAG_PREFIX",
    "DataFormat",
    "build_endpoint_config_request",
    "build_endpoint_request",
    "build_jumpstart_training_request",
    "build_model_request",
    "build_script_training_request",
    "jumpstart_hyperparameters",
    "kind_from_tags",
    "resource_name",
    "sdk_tags",
    "serving_environment",
    "tags_to_request",
    "training_job_name",
    "valid_name",
]

#  the entry script of script-mode jobs (``finetune_sdk/backends/sagemaker/sm_entry.py``, at the tarball's
# root)
ENTRY_SCRIPT = "sm_entry.py"
#: where the training toolkit finds the source tarball when it comes through the ``code`` channel
CODE_CHANNEL_SOURCEDIR = "/opt/ml/input/data/code/sourcedir.tar.gz"
#: prefix of the tags the SDK writes (read back by ``describe_job``)
TAG_PREFIX = "finetune-sdk:"
#: the container log level the v2 SDK sends by default (logging.INFO)
_LOG_LEVEL = 20
#: where SageMaker syncs checkpoints from inside the container
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
#: the model channel's mount point in the container
MODEL_CHANNEL_DIR = "/opt/ml/input/data/model"
_HP_VALUE_MAX = 2500
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_TAG_RE = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)

DataFormat = Literal["instruction", "chat", "text"]


def resource_name(text: str, *, limit: int = 63) -> str:
    """``text`` as a SageMaker resource name (letters, digits and hyphens; starts and ends alphanumeric).

    Examples:
        >>> resource_name("ft_llama 3/aqua--v2.")
        'ft-llama-3-aqua--v2'
    """
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", text)[:limit].strip("-")
    if not name:
        raise RequestValidationError(f"cannot make a SageMaker resource name out of {text!r}", field="name")
    return name


def training_job_name(spec: JobSpec) -> str:
    """The training job name for ``spec``: its name plus 8 characters of the spec's client token.

    The same spec always gives the same name, so a retried or re-run submit finds the first job instead of
    starting a second one; a changed spec gets a new name.
    """
    digest = spec.client_token().removeprefix("ftsdk-")[:8]
    return f"{resource_name(spec.name, limit=54)}-{digest}"


def tags_to_request(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``[{"Key", "Value"}]`` sorted by key, checked against SageMaker's limits.

    Raises:
        RequestValidationError: more than 50 tags, or a key or value that breaks the length or charset rules.
    """
    if len(tags) > MAX_TAGS:
        raise RequestValidationError(
            f"{len(tags)} tags (including the SDK's own {TAG_PREFIX}* tags); SageMaker allows {MAX_TAGS}",
            field="Tags",
        )
    out = []
    for key, value in sorted(tags.items()):
        if not (1 <= len(key) <= 128 and len(value) <= 256 and _TAG_RE.match(key) and _TAG_RE.match(value)):
            raise RequestValidationError(
                f"tag {key!r}={value!r}: keys are 1-128 and values 0-256 characters of letters, digits, "
                "spaces and _ . : / = + - @",
                field=f"Tags[{key}]",
            )
        out.append({"Key": key, "Value": value})
    return out


def _hp(value: Any) -> str:
    """A ``sagemaker_*`` / ``finetune_sdk_*`` hyperparameter: JSON-encoded like the v2 SDK does."""
    return json.dumps(value)


def _check_hyperparameters(hps: Mapping[str, str]) -> None:
    for key, value in hps.items():
        if len(key) > 256 or len(value) > _HP_VALUE_MAX:
            raise RequestValidationError(
                f"hyperparameter {key!r} is {len(value)} characters long; SageMaker allows keys up to 256 "
                f"and values up to {_HP_VALUE_MAX} characters",
                field=f"HyperParameters.{key}",
            )


def _s3_channel(name: str, uri: str, *, content_type: str | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    if content_type:
        channel["ContentType"] = content_type
    return channel


def _common_job_fields(
    *,
    job_name: str,
    role_arn: str,
    options: SageMakerOptions,
    instance_type: str,
    volume_size_gb: int,
    output_path: str,
    tags: Mapping[str, str],
    environment: Mapping[str, str],
    network_isolation: bool,
) -> dict[str, Any]:
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": options.max_runtime_s}
    wait = options.effective_max_wait_s
    if wait is not None:
        stopping["MaxWaitTimeInSeconds"] = wait
    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "RoleArn": role_arn,
        "OutputDataConfig": {"S3OutputPath": output_path, "CompressionType": options.output_compression},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": options.instance_count,
            "VolumeSizeInGB": volume_size_gb,
        },
        "StoppingCondition": stopping,
        "EnableNetworkIsolation": network_isolation,
    }
    if options.use_spot:
        request["EnableManagedSpotTraining"] = True
    if options.checkpoint_s3_uri:
        request["CheckpointConfig"] = {"S3Uri": options.checkpoint_s3_uri, "LocalPath": CHECKPOINT_LOCAL_PATH}
    if environment:
        request["Environment"] = dict(sorted(environment.items()))
    if options.vpc is not None:
        request["VpcConfig"] = options.vpc.to_request()
    if tags:
        request["Tags"] = tags_to_request(tags)
    return request


def jumpstart_hyperparameters(
    doc: HubDocument,
    *,
    instance_type: str,
    user: Mapping[str, Any],
    data_format: DataFormat,
) -> dict[str, str]:
    """The algorithm hyperparameters of a JumpStart job as strings: hub defaults, then the user's values, then
    ``instruction_tuned`` / ``chat_dataset`` set to match ``data_format``.

    The two format flags are only sent when the script knows them (listed in the hub document, or no list
    at all) or when they must be ``True``.

    Raises:
        ConfigurationError: the user's flags contradict the data format, or the script lacks the flag needed.
    """
    hps: dict[str, str] = {
        k: jumpstart_value(v) for k, v in doc.default_hyperparameters(instance_type).items()
    }
    hps.update({k: jumpstart_value(v) for k, v in user.items()})
    known = {str(h.get("Name")) for h in doc.hyperparameters}
    wanted = {"instruction_tuned": data_format == "instruction", "chat_dataset": data_format == "chat"}
    for flag, on in wanted.items():
        given = user.get(flag)
        if given is not None and bool(jumpstart_value(given) == "True") != on:
            raise ConfigurationError(
                f"hyperparameter {flag}={jumpstart_value(given)} contradicts the training data format "
                f"{data_format!r}; drop {flag} and let the SDK set it, or stage data in the matching format"
            )
        if known and flag not in known:
            if on:
                raise ConfigurationError(
                    f"the JumpStart script of {doc.model_id} has no {flag!r} hyperparameter, so it cannot "
                    f"train on {data_format!r} data; use instruction data (instruction_tuned=True) or raw "
                    "text"
                )
            hps.pop(flag, None)
            continue
        hps[flag] = jumpstart_value(on)
    return dict(sorted(hps.items()))


def build_jumpstart_training_request(
    spec: JobSpec,
    *,
    options: SageMakerOptions,
    doc: HubDocument,
    job_name: str,
    role_arn: str,
    output_path: str,
    training_uri: str,
    validation_uri: str | None,
    data_format: DataFormat,
    region: str,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """``CreateTrainingJob`` keyword arguments for a JumpStart fine-tuning job.

    Raises:
        ConfigurationError: the hub document lacks an image, a training script or base weights; the instance
            type is not supported; a gated model without ``accept_eula=True``.
    """
    instance_type = options.instance_type or doc.default_training_instance_type
    if not instance_type:
        raise ConfigurationError(
            f"the hub document of {doc.model_id} names no DefaultTrainingInstanceType; pass "
            "SageMakerOptions(instance_type='ml.g5.12xlarge') (or another supported type)"
        )
    doc.check_training(instance_type=instance_type, accept_eula=options.accept_eula)
    image = options.image_uri or doc.training_image(instance_type)
    script = doc.training_script_uri
    artifact = doc.training_artifact(instance_type)
    missing = [
        n
        for n, v in (
            ("TrainingEcrUri/ImageUri", image),
            ("TrainingScriptUri", script),
            ("TrainingArtifactUri", artifact),
        )
        if not v
    ]
    if missing:
        raise ConfigurationError(
            f"the hub document of {doc.model_id} has no {', '.join(missing)} for {instance_type}; pass a "
            "complete SageMakerOptions(hub_document=...) (the JSON of "
            "DescribeHubContent.HubContentDocument)"
        )
    assert image and script and artifact  # for mypy: checked just above
    isolated = (
        doc.training_network_isolation
        if options.enable_network_isolation is None
        else options.enable_network_isolation
    )

    model_source: dict[str, Any] = {
        "S3DataType": doc.training_artifact_s3_data_type,
        "S3Uri": artifact,
        "S3DataDistributionType": "FullyReplicated",
    }
    if options.accept_eula:
        model_source["ModelAccessConfig"] = {"AcceptEula": True}
    channels: list[dict[str, Any]] = [
        {
            "ChannelName": "model",
            "ContentType": "application/x-sagemaker-model",
            "CompressionType": doc.training_artifact_compression,
            "InputMode": "File",
            "DataSource": {"S3DataSource": model_source},
        }
    ]
    if isolated:
        # under network isolation the container cannot fetch the script from S3 itself: mount it as a channel
        channels.append(_s3_channel("code", script))
        submit_directory = CODE_CHANNEL_SOURCEDIR
    else:
        submit_directory = script
    channels.append(_s3_channel("training", training_uri))
    if validation_uri:
        channels.append(_s3_channel("validation", validation_uri))

    hps = jumpstart_hyperparameters(
        doc, instance_type=instance_type, user=spec.hyperparameters, data_format=data_format
    )
    hps.update(
        {
            "sagemaker_program": _hp(DEFAULT_TRAINING_ENTRY_POINT),
            "sagemaker_submit_directory": _hp(submit_directory),
            "sagemaker_container_log_level": _hp(_LOG_LEVEL),
            "sagemaker_job_name": _hp(job_name),
            "sagemaker_region": _hp(region),
        }
    )
    _check_hyperparameters(hps)
    metrics = doc.metric_definitions(instance_type) or [dict(d) for d in JUMPSTART_LLAMA_METRIC_DEFINITIONS]
    environment = {**doc.training_environment(instance_type), **options.environment}
    request = _common_job_fields(
        job_name=job_name,
        role_arn=role_arn,
        options=options,
        instance_type=instance_type,
        volume_size_gb=options.volume_size_gb or doc.training_volume_size or 256,
        output_path=output_path,
        tags=tags,
        environment=environment,
        network_isolation=isolated,
    )
    request["AlgorithmSpecification"] = {
        "TrainingImage": image,
        "TrainingInputMode": "File",
        "MetricDefinitions": metrics,
        "EnableSageMakerMetricsTimeSeries": True,
    }
    request["HyperParameters"] = hps
    request["InputDataConfig"] = channels
    return _ordered(request)


def build_script_training_request(
    spec: JobSpec,
    *,
    options: SageMakerOptions,
    job_name: str,
    role_arn: str,
    output_path: str,
    training_uri: str,
    validation_uri: str | None,
    image_uri: str,
    code_uri: str,
    region: str,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """``CreateTrainingJob`` keyword arguments for a script-mode job running the SDK's trainer.

    The toolkit in the Hugging Face / PyTorch training images downloads ``code_uri`` (the SDK source plus
    ``sm_entry.py``), installs its ``requirements.txt`` and runs ``sm_entry.py`` once per instance; the entry
    script starts ``torchrun --nnodes <instances> --nproc_per_node <processes> --node_rank <host index>`` with
    the first host as rendezvous master, and the worker trains and writes the model to ``/opt/ml/model``.

    Raises:
        ConfigurationError: no instance type; network isolation with a base model the container must download.
    """
    if not options.instance_type:
        raise ConfigurationError(
            "script mode needs an instance type: pass SageMakerOptions(instance_type='ml.g5.2xlarge') (one "
            "GPU) or another training instance"
        )
    isolated = bool(options.enable_network_isolation)
    base_model = spec.base_model
    channels: list[dict[str, Any]] = []
    if base_model.startswith("s3://"):
        channels.append(_s3_channel("model", base_model, content_type="application/x-sagemaker-model"))
        model_ref = MODEL_CHANNEL_DIR
    else:
        if isolated:
            raise ConfigurationError(
                f"enable_network_isolation=True stops the container from downloading {base_model!r} and the "
                "trainer's requirements; copy the weights to S3 and pass that folder as the model, or drop "
                "isolation"
            )
        model_ref = base_model
    channels.append(_s3_channel("training", training_uri))
    if validation_uri:
        channels.append(_s3_channel("validation", validation_uri))

    hps: dict[str, str] = {
        "sagemaker_program": _hp(ENTRY_SCRIPT),
        "sagemaker_submit_directory": _hp(code_uri),
        "sagemaker_container_log_level": _hp(_LOG_LEVEL),
        "sagemaker_job_name": _hp(job_name),
        "sagemaker_region": _hp(region),
        "finetune_sdk_kind": _hp(spec.kind.value),
        "finetune_sdk_base_model": _hp(model_ref),
        "finetune_sdk_job_name": _hp(spec.name),
        "finetune_sdk_output_model_name": _hp(spec.output_model_name),
        "finetune_sdk_hyperparameters": _hp(dict(sorted(spec.hyperparameters.items()))),
        "finetune_sdk_distribution": _hp(options.distribution),
        "finetune_sdk_processes_per_host": _hp(options.processes_per_host or "auto"),
    }
    if options.checkpoint_s3_uri:
        # the entry script keeps its run folder there, so a restarted spot job resumes from the last
        # checkpoint
        hps["finetune_sdk_checkpoint_dir"] = _hp(CHECKPOINT_LOCAL_PATH)
    _check_hyperparameters(hps)
    environment = {"FINETUNE_SDK_DISABLE_PROGRESS_BARS": "1", **options.environment}
    request = _common_job_fields(
        job_name=job_name,
        role_arn=role_arn,
        options=options,
        instance_type=options.instance_type,
        volume_size_gb=options.volume_size_gb or 100,
        output_path=output_path,
        tags=tags,
        environment=environment,
        network_isolation=isolated,
    )
    request["AlgorithmSpecification"] = {
        "TrainingImage": image_uri,
        "TrainingInputMode": "File",
        "MetricDefinitions": [dict(d) for d in SDK_METRIC_DEFINITIONS],
        "EnableSageMakerMetricsTimeSeries": True,
    }
    request["HyperParameters"] = dict(sorted(hps.items()))
    request["InputDataConfig"] = channels
    return _ordered(request)


_KEY_ORDER = (
    "TrainingJobName",
    "RoleArn",
    "AlgorithmSpecification",
    "HyperParameters",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "Environment",
    "VpcConfig",
    "Tags",
)


def _ordered(request: dict[str, Any]) -> dict[str, Any]:
    """The request with keys in a fixed, readable order (snapshots and logs stay stable)."""
    out = {k: request[k] for k in _KEY_ORDER if k in request}
    out.update({k: v for k, v in request.items() if k not in out})
    return out


def build_model_request(
    *,
    name: str,
    image_uri: str,
    role_arn: str,
    model_data_uri: str | None,
    compressed: bool,
    environment: Mapping[str, str],
    accept_eula: bool = False,
    network_isolation: bool = False,
    options: SageMakerEndpointOptions | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``CreateModel`` keyword arguments.

    ``model_data_uri`` is a folder (``compressed=False``: sent as ``ModelDataSource`` with ``CompressionType
    "None"``, which is how uncompressed JumpStart / SDK outputs are served) or a ``model.tar.gz``.
    """
    container: dict[str, Any] = {"Image": image_uri}
    if model_data_uri:
        if compressed:
            container["ModelDataUrl"] = model_data_uri
        else:
            source: dict[str, Any] = {
                "S3Uri": model_data_uri if model_data_uri.endswith("/") else model_data_uri + "/",
                "S3DataType": "S3Prefix",
                "CompressionType": "None",
            }
            if accept_eula:
                source["ModelAccessConfig"] = {"AcceptEula": True}
            container["ModelDataSource"] = {"S3DataSource": source}
    if environment:
        container["Environment"] = dict(sorted(environment.items()))
    request: dict[str, Any] = {"ModelName": name, "PrimaryContainer": container, "ExecutionRoleArn": role_arn}
    if network_isolation:
        request["EnableNetworkIsolation"] = True
    if options is not None and options.vpc is not None:
        request["VpcConfig"] = options.vpc.to_request()
    if tags:
        request["Tags"] = tags_to_request(tags)
    return request


def serving_environment(
    base: Mapping[str, str], options: SageMakerEndpointOptions | None, *, tgi: bool
) -> dict[str, str]:
    """The serving container's environment: ``base`` (hub defaults), TGI's variables, then the user's.

    For TGI containers the model is read from ``/opt/ml/model`` (``HF_MODEL_ID``), the way JumpStart
    configures its Llama endpoints.
    """
    env = dict(base)
    opts = options or SageMakerEndpointOptions()
    if tgi:
        env.setdefault("HF_MODEL_ID", "/opt/ml/model")
        if opts.num_gpus is not None:
            env["SM_NUM_GPUS"] = str(opts.num_gpus)
        if opts.max_input_length is not None:
            env["MAX_INPUT_LENGTH"] = str(opts.max_input_length)
        if opts.max_total_tokens is not None:
            env["MAX_TOTAL_TOKENS"] = str(opts.max_total_tokens)
    env.update(opts.environment)
    return env


def build_endpoint_config_request(
    *,
    name: str,
    model_name: str,
    instance_type: str,
    instance_count: int,
    options: SageMakerEndpointOptions | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``CreateEndpointConfig`` keyword arguments: one production variant ``AllTraffic``."""
    opts = options or SageMakerEndpointOptions()
    variant: dict[str, Any] = {
        "VariantName": "AllTraffic",
        "ModelName": model_name,
        "InstanceType": instance_type,
        "InitialInstanceCount": instance_count,
        "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": opts.startup_health_check_timeout_s,
        "ModelDataDownloadTimeoutInSeconds": opts.model_data_download_timeout_s,
    }
    if opts.volume_size_gb is not None:
        variant["VolumeSizeInGB"] = opts.volume_size_gb
    request: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": [variant]}
    if tags:
        request["Tags"] = tags_to_request(tags)
    return request


def build_endpoint_request(
    *, name: str, config_name: str, tags: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``CreateEndpoint`` keyword arguments."""
    request: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config_name}
    if tags:
        request["Tags"] = tags_to_request(tags)
    return request


def sdk_tags(
    spec: JobSpec,
    *,
    mode: str,
    user: Mapping[str, str] | None = None,
    system: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The job's tags: the spec's, then ``user`` (the options'), then the SDK's own (read back to rebuild the
    job record), then ``system`` (e.g. JumpStart's ``sagemaker-sdk:jumpstart-model-id``)."""
    tags = dict(spec.tags)
    tags.update(user or {})
    tags.update(
        {
            f"{TAG_PREFIX}job-name": spec.name[:256],
        f"{TAG_PREFIX}kind": spec.kind.value,
            f"{TAG_PREFIX}mode": mode,
            f"{TAG_PREFIX}base-model": spec.base_model[:256],
            f"{TAG_PREFIX}output-model-name": spec.output_model_name[:256],
            f"{TAG_PREFIX}client-token": spec.client_token(),
        }
    )
    tags.update(system or {})
    return tags


def valid_name(name: str) -> bool:
    """Whether ``name`` is a valid training job / endpoint name."""
    return bool(_NAME_RE.match(name))


def kind_from_tags(tags: Mapping[str, str], hyperparameters: Mapping[str, str]) -> JobKind:
    """The job kind from the SDK's tags, else from the JumpStart flags (both false: domain adaptation)."""
    value = tags.get(f"{TAG_PREFIX}kind")
    if value:
        try:
            return JobKind(value)
        except ValueError:
            pass
    raw = hyperparameters.get("finetune_sdk_kind")
    if raw:
        try:
            return JobKind(json.loads(raw))
        except (ValueError, TypeError):
            pass
    flags = [hyperparameters.get(k, "").strip('"').lower() for k in ("instruction_tuned", "chat_dataset")]
    if flags == ["false", "false"]:
        return JobKind.CONTINUED_PRE_TRAINING
    return JobKind.FINE_TUNING
