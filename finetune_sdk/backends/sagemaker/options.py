"""Typed options of the SageMaker backend: :class:`SageMakerOptions` for training jobs and
:class:`SageMakerEndpointOptions` for endpoints, passed as ``backend_options=``.

Everything here is checked when the object is built, before any request: spot training without a long
enough ``max_wait_s``, a checkpoint location that is not ``s3://``, too many tags, malformed environment
variable names.

Examples:
    >>> from finetune_sdk.backends.sagemaker import SageMakerOptions
    >>> opts = SageMakerOptions(instance_type="ml.g5.12xlarge", accept_eula=True)
    >>> opts.output_compression, opts.instance_count
    ('NONE', 1)
    >>> SageMakerOptions(use_spot=True, max_runtime_s=3600).effective_max_wait_s
    3600
    >>> SageMakerOptions(use_spot=True, max_runtime_s=3600, max_wait_s=60)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SageMakerOptions
    ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from finetune_sdk.backends.base import BackendOptions

__all__ = ["SageMakerEndpointOptions", "SageMakerOptions", "VpcConfig"]

_ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,511}$")
_S3 = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
#: SageMaker's limit on tags per resource
MAX_TAGS = 50
#: the longest a training job may run (28 days) per the CreateTrainingJob StoppingCondition limits
MAX_RUNTIME_S = 28 * 24 * 3600


class VpcConfig(BaseModel):
    """Subnets and security groups the training job or endpoint runs in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subnets: tuple[str, ...] = Field(min_length=1, max_length=16)
    security_group_ids: tuple[str, ...] = Field(min_length=1, max_length=5)

    def to_request(self) -> dict[str, list[str]]:
        """The ``VpcConfig`` member of a SageMaker request."""
        return {"Subnets": list(self.subnets), "SecurityGroupIds": list(self.security_group_ids)}


def _check_environment(env: Mapping[str, str]) -> Mapping[str, str]:
    if len(env) > 100:
        raise ValueError(f"environment has {len(env)} variables; SageMaker allows at most 100")
    for key, value in env.items():
        if not _ENV_KEY.match(key):
            raise ValueError(
                f"environment variable name {key!r} must match [a-zA-Z_][a-zA-Z0-9_]* (max 512 chars)"
            )
        if len(value) > 512:
            raise ValueError(
                f"environment variable {key!r} is {len(value)} characters long; the limit is 512"
            )
    return env


def _check_tags(tags: Mapping[str, str]) -> Mapping[str, str]:
    if len(tags) > MAX_TAGS:
        raise ValueError(f"{len(tags)} tags given; SageMaker allows at most {MAX_TAGS} per resource")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValueError(f"tag {key!r}: keys are 1-128 characters and values at most 256")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag {key!r}: the 'aws:' prefix is reserved")
    return tags


class SageMakerOptions(BackendOptions):
    """Options of a SageMaker training job (``Job.fine_tune(..., backend_options=SageMakerOptions())``).

    Attributes:
        mode: ``"jumpstart"`` runs the JumpStart training script of a hub model
            (``meta-textgeneration-llama-3-8b``); ``"script"`` runs the SDK's own trainer (the local
            backend's) in a PyTorch training container. ``None`` picks ``"script"`` for Hugging Face ids
            (``org/name``) and ``s3://`` folders, else ``"jumpstart"``.
        instance_type: the training instance type; JumpStart defaults to the hub document's
            ``DefaultTrainingInstanceType`` and checks ``SupportedTrainingInstanceTypes``.
        instance_count: instances; more than one launches ``torchrun`` across nodes in script mode (the SDK
            trainer must support distributed training, see ``sm_entry.py``).
        volume_size_gb: the EBS volume per instance (JumpStart: the hub document's ``TrainingVolumeSize``,
            else 256; script mode: 100).
        max_runtime_s: ``StoppingCondition.MaxRuntimeInSeconds``.
        use_spot: managed spot training (cheaper, may be interrupted; use ``checkpoint_s3_uri`` to resume).
        max_wait_s: how long to wait for spot capacity plus run time; defaults to ``max_runtime_s`` with spot.
        checkpoint_s3_uri: where ``/opt/ml/checkpoints`` is synced, so an interrupted spot job resumes.
        accept_eula: accept the model's end-user licence (required by gated models such as Meta Llama); it
            reaches the service as ``ModelAccessConfig.AcceptEula`` on the ``model`` channel.
        image_uri: the training image; JumpStart reads it from the hub document, script mode needs it unless
            the ``sagemaker`` extra is installed to look up a PyTorch training image.
        hub_document: a JumpStart hub content document (the JSON of ``HubContentDocument``) to use instead
            of calling ``DescribeHubContent``.
        model_version: the hub content version (``None``: the latest).
        distribution: how script mode launches processes (``"torchrun"``).
        processes_per_host: processes per instance for ``torchrun``; ``None`` uses one per GPU found on the
            instance at run time when the trainer is distributed, else one.
        environment: extra container environment variables (visible in ``DescribeTrainingJob``: no secrets).
        vpc: run the job inside these subnets / security groups.
        tags: extra resource tags (merged over the job spec's tags).
        output_compression: ``"NONE"`` writes the model as a plain folder (needed for Bedrock Custom Model
            Import); ``"GZIP"`` writes ``model.tar.gz``.
        enable_network_isolation: ``None`` follows the hub document (JumpStart) or ``False`` (script mode).
        requirements: pip requirement lines installed before the SDK trainer starts (script mode; default
            :data:`finetune_sdk.backends.sagemaker.code.CONTAINER_REQUIREMENTS`).
    """

    mode: Literal["jumpstart", "script"] | None = None
    instance_type: str | None = Field(default=None, pattern=r"^ml\.[a-z0-9\-]+\.[a-z0-9]+$")
    instance_count: int = Field(default=1, ge=1, le=256)
    volume_size_gb: int | None = Field(default=None, ge=1, le=16384)
    max_runtime_s: int = Field(default=86400, ge=1, le=MAX_RUNTIME_S)
    use_spot: bool = False
    max_wait_s: int | None = Field(default=None, ge=1, le=2 * MAX_RUNTIME_S)
    checkpoint_s3_uri: str | None = None
    accept_eula: bool = False
    image_uri: str | None = Field(default=None, min_length=1, max_length=255)
    hub_document: Mapping[str, Any] | None = Field(default=None, repr=False)
    model_version: str | None = None
    distribution: Literal["torchrun"] = "torchrun"
    processes_per_host: int | None = Field(default=None, ge=1, le=64)
    environment: Mapping[str, str] = Field(default_factory=dict)
    vpc: VpcConfig | None = None
    tags: Mapping[str, str] = Field(default_factory=dict)
    output_compression: Literal["NONE", "GZIP"] = "NONE"
    enable_network_isolation: bool | None = None
    requirements: tuple[str, ...] = ()

    @field_validator("environment")
    @classmethod
    def _valid_environment(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return _check_environment(value)

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return _check_tags(value)

    @field_validator("checkpoint_s3_uri")
    @classmethod
    def _s3_checkpoint(cls, value: str | None) -> str | None:
        if value is not None and not _S3.match(value):
            raise ValueError(f"checkpoint_s3_uri must be an s3://bucket/prefix URI, got {value!r}")
        return value

    @model_validator(mode="after")
    def _spot(self) -> SageMakerOptions:
        if self.max_wait_s is not None and not self.use_spot:
            raise ValueError(
                "max_wait_s only applies to managed spot training; set use_spot=True or drop max_wait_s"
            )
        if self.use_spot and self.max_wait_s is not None and self.max_wait_s < self.max_runtime_s:
            raise ValueError(
                f"max_wait_s ({self.max_wait_s}) must be >= max_runtime_s ({self.max_runtime_s}): it covers "
                "the wait for spot capacity plus the run itself"
            )
        return self

    @property
    def effective_max_wait_s(self) -> int | None:
        """``MaxWaitTimeInSeconds`` as sent: ``max_wait_s``, or ``max_runtime_s`` with spot, else ``None``."""
        if not self.use_spot:
            return None
        return self.max_wait_s if self.max_wait_s is not None else self.max_runtime_s


class SageMakerEndpointOptions(BackendOptions):
    """Options of a SageMaker endpoint (``model.deploy(backend_options=SageMakerEndpointOptions())``).

    Attributes:
        image_uri: the serving image. Defaults: the hub document's hosting image for JumpStart models and
            jobs, else a Hugging Face TGI image looked up with the ``sagemaker`` extra.
        payload: the request dialect: ``"tgi"`` (``{"inputs", "parameters"}``, Hugging Face TGI and DJL LMI
            rolling batch) or ``"messages"`` (DJL LMI chat completions). ``None`` guesses from the image.
        prompt_format: how ``chat()`` turns a conversation into ``inputs`` for ``"tgi"``: ``"llama3_chat"``
            (the Llama 3 chat template) or ``"jumpstart_instruction"`` (the template the JumpStart
            instruction-tuning data used). ``None``: ``jumpstart_instruction`` for models trained that way,
            else ``llama3_chat``.
        accept_eula: accept the licence of a gated JumpStart model deployed directly (``ModelAccessConfig``).
        num_gpus: ``SM_NUM_GPUS`` for TGI (tensor-parallel degree); ``None`` leaves the container's default.
        max_input_length / max_total_tokens: TGI's ``MAX_INPUT_LENGTH`` / ``MAX_TOTAL_TOKENS``.
        startup_health_check_timeout_s / model_data_download_timeout_s: the production variant's timeouts.
        environment: extra container environment variables.
        hub_document: a JumpStart hub content document to use instead of ``DescribeHubContent``.
        vpc: run the endpoint's model in these subnets / security groups.
    """

    image_uri: str | None = Field(default=None, min_length=1, max_length=255)
    payload: Literal["tgi", "messages"] | None = None
    prompt_format: Literal["llama3_chat", "jumpstart_instruction"] | None = None
    accept_eula: bool = False
    num_gpus: int | None = Field(default=None, ge=1, le=64)
    max_input_length: int | None = Field(default=None, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=2)
    startup_health_check_timeout_s: int = Field(default=1200, ge=60, le=3600)
    model_data_download_timeout_s: int = Field(default=1200, ge=60, le=3600)
    volume_size_gb: int | None = Field(default=None, ge=1, le=512)
    environment: Mapping[str, str] = Field(default_factory=dict)
    hub_document: Mapping[str, Any] | None = Field(default=None, repr=False)
    vpc: VpcConfig | None = None

    @field_validator("environment")
    @classmethod
    def _valid_environment(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return _check_environment(value)

    @model_validator(mode="after")
    def _lengths(self) -> SageMakerEndpointOptions:
        if (
            self.max_input_length is not None
            and self.max_total_tokens is not None
            and self.max_input_length >= self.max_total_tokens
        ):
            raise ValueError(
                f"max_input_length ({self.max_input_length}) must be below max_total_tokens "
                f"({self.max_total_tokens}): the difference is the room left for generated tokens"
            )
        return self
