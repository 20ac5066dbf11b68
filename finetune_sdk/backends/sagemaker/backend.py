"""``SageMakerBackend``: training jobs, endpoints and invocation on Amazon SageMaker, through boto3 only.

Two ways to train (``SageMakerOptions(mode=...)``):

- **jumpstart**: a JumpStart hub model (``meta-textgeneration-llama-3-8b``, ``-3-1-8b``, ``-instruct``...)
  trained by JumpStart's own script. Image, script, base weights, defaults, supported instances and the gated
  flag come from the model's hub document (``DescribeHubContent``); the EULA must be accepted explicitly.
- **script**: the SDK's own trainer (the local backend's worker) in a PyTorch training container, managed spot
  and S3 checkpoints on request; ``torchrun`` across instances and GPUs (the trainer shards the data and uses
  DDP; ``finetune_sdk.training._config.SUPPORTS_DISTRIBUTED``, without which multi-process jobs are
  refused at submit). Verified as request shape and command construction only; it has not run on SageMaker.

Jobs, endpoints and errors follow the common protocol: ``TrainingJobStatus`` maps to ``JobStatus``,
``SecondaryStatus`` transitions become ``stages``, creates are idempotent (the job name carries a hash of the
spec; a dropped connection is followed by a describe before any retry), throttling is retried with backoff on
the backend's clock, and service errors become ``finetune_sdk.errors`` classes.

The ``sagemaker`` package is never imported at module import. It is used only to look up a framework image
(PyTorch training, Hugging Face TGI serving) when no ``image_uri`` was given, and its absence then gives a
``ConfigurationError`` with the ``pip install 'finetune-sdk[sagemaker]'`` line.

Examples:
    >>> from finetune_sdk.backends.sagemaker import SageMakerBackend
    >>> backend = SageMakerBackend(region="us-east-1", role_arn="arn:aws:iam::123456789012:role/SageMaker",
    ...                            output_uri="s3://my-bucket/finetune")
    >>> backend.name, sorted(k.value for k in backend.supported_kinds)
    ('sagemaker', ['continued_pre_training', 'fine_tuning'])
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from finetune_sdk._aws import AwsClients, call_with_retries, validate_request
from finetune_sdk._clock import Clock
from finetune_sdk.backends.base import (
    Backend,
    CanDeploy,
    CanInvoke,
    ChatResponse,
    DeploymentRecord,
    DeploymentSpec,
    DeploymentStatus,
    HasModelArtifacts,
    InferenceConfig,
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    MetricPoint,
    ModelArtifacts,
    ModelRecord,
    UsesAwsSession,
)
from finetune_sdk.backends.sagemaker import requests as rq
from finetune_sdk.backends.sagemaker import serving
from finetune_sdk.backends.sagemaker.hyperparameters import is_llama3, jumpstart_value, schema_for
from finetune_sdk.backends.sagemaker.jumpstart import (
    HubDocument,
    HubDocumentLoader,
    coerce_document,
    describe_hub_document,
)
from finetune_sdk.backends.sagemaker.metrics import JUMPSTART_LLAMA_METRIC_DEFINITIONS, classify_metric
from finetune_sdk.backends.sagemaker.options import SageMakerEndpointOptions, SageMakerOptions
from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.errors import (
    BackendError,
    ConfigurationError,
    FinetuneError,
    HyperparameterError,
    QuotaExceededError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.records import Turn
    from finetune_sdk.jobs import Job

__all__ = ["SAGEMAKER_EXTRA_HINT", "SageMakerBackend"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
BACKEND = "sagemaker"
SAGEMAKER_EXTRA_HINT = "pip install 'finetune-sdk[sagemaker]'"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
Mode = Literal["jumpstart", "script"]

_JOB_STATUS: dict[str, JobStatus] = {
    "InProgress": JobStatus.RUNNING,
    "Stopping": JobStatus.STOPPING,
    "Completed": JobStatus.COMPLETED,
    "Failed": JobStatus.FAILED,
    "Stopped": JobStatus.STOPPED,
    # a job being deleted will not produce a model; treat it as ended
    "Deleting": JobStatus.STOPPED,
}
_STATUS_FILTER: dict[JobStatus, str] = {
    JobStatus.RUNNING: "InProgress",
    JobStatus.STOPPING: "Stopping",
    JobStatus.COMPLETED: "Completed",
    JobStatus.FAILED: "Failed",
    JobStatus.STOPPED: "Stopped",
}
_ENDPOINT_STATUS: dict[str, DeploymentStatus] = {
    "Creating": DeploymentStatus.CREATING,
    "Updating": DeploymentStatus.UPDATING,
    "SystemUpdating": DeploymentStatus.UPDATING,
    "RollingBack": DeploymentStatus.UPDATING,
    "InService": DeploymentStatus.ACTIVE,
    "Deleting": DeploymentStatus.DELETING,
    "Failed": DeploymentStatus.FAILED,
    "UpdateRollbackFailed": DeploymentStatus.FAILED,
    "OutOfService": DeploymentStatus.FAILED,
}
_FAILURE_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("CUDA out of memory", "OutOfMemoryError", "out of memory"),
        "the model ran out of GPU memory: lower per_device_train_batch_size / max_input_length (JumpStart) "
        "or batchSize / maxSequenceLength (script mode), turn on int8_quantization, or pick a larger "
        "instance",
    ),
    (
        ("CapacityError", "InsufficientCapacity", "Insufficient capacity"),
        "SageMaker had no capacity for the instance type: retry later, choose another supported instance "
        "type or Region, or use managed spot with a longer max_wait_s",
    ),
    (
        ("ResourceLimitExceeded", "account-level service limit"),
        "an account quota was hit: request an increase for '<instance type> for training job usage' in "
        "Service Quotas, or stop other jobs",
    ),
    (
        ("EULA", "AcceptEula", "access the model", "gated"),
        "the model is gated: accept its licence with SageMakerOptions(accept_eula=True)",
    ),
    (
        ("No S3 objects found", "NoSuchKey", "does not exist"),
        "an input location is empty or missing: check the staged data URI and the role's "
        "s3:GetObject/ListBucket",
    ),
    (
        ("AccessDenied", "not authorized"),
        "the job's role lacks a permission: it needs S3 read on the inputs, write on the output, and ECR "
        "pull",
    ),
    (
        ("MaxRuntimeExceeded", "MaxWaitTimeExceeded"),
        "the job hit its time limit: raise SageMakerOptions(max_runtime_s=...) (and max_wait_s for spot), "
        "or checkpoint and resume",
    ),
    (
        ("AlgorithmError", "ClientError"),
        "the training script failed: read the job's log with backend.tail_logs(job_id)",
    ),
)


def _action(op: str) -> str:
    return "".join(part.capitalize() for part in op.split("_"))


def _job_name_of(job_id: str) -> str:
    return job_id.rsplit("training-job/", 1)[-1] if job_id.startswith("arn:") else job_id


def _already_exists(err: BackendError) -> bool:
    text = str(err).lower()
    return isinstance(err, ResourceConflictError) or "already exist" in text


def _dialect_pair(dialect: str | None, prompt: str | None) -> tuple[serving.Dialect, serving.PromptFormat]:
    """A known (dialect, prompt format) pair from tag values (unknown values fall back to TGI + Llama 3)."""
    return (
        "messages" if dialect == "messages" else "tgi",
        "jumpstart_instruction" if prompt == "jumpstart_instruction" else "llama3_chat",
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


@dataclass(frozen=True)
class _ServingPlan:
    """Everything a deployment needs, resolved from the model id and the endpoint options."""

    image: str
    model_data: str | None
    compressed: bool
    environment: dict[str, str]
    instance_type: str
    accept_eula: bool
    network_isolation: bool
    dialect: serving.Dialect
    prompt_format: serving.PromptFormat


class SageMakerBackend(Backend, CanInvoke, CanDeploy, HasModelArtifacts, UsesAwsSession):
    """Fine-tune with SageMaker training jobs (JumpStart or the SDK's trainer), serve on SageMaker endpoints.

    Args:
        region: the AWS Region (default: the session's).
        session: a ``boto3.Session`` (default: a new one from the environment).
        role_arn: the execution role for training jobs and endpoints (``JobSpec.role_arn`` wins for jobs).
        output_uri: ``s3://bucket/prefix`` for job outputs, staged data and the source tarball
            (``JobSpec.output_uri`` wins for jobs).
        endpoint_url: send every call there (moto server, LocalStack).
        clock: time source for polling and retry backoff (tests pass ``finetune_sdk.testing.FakeClock``).
        hub_document_loader: ``model_id -> dict`` returning JumpStart hub documents, instead of
            ``DescribeHubContent`` (offline use, private mirrors, tests).

    Examples:
        >>> b = SageMakerBackend(region="eu-west-1")
        >>> b.region, b.role_arn is None
        ('eu-west-1', True)
    """

    name = BACKEND
    supported_kinds = frozenset({JobKind.FINE_TUNING, JobKind.CONTINUED_PRE_TRAINING})
    default_poll_interval = 60.0
    default_deployment_kind = "endpoint"
    #: attempts per call for throttling and dropped connections (each after an exponential backoff)
    retry_attempts = 5

    def __init__(
        self,
        *,
        region: str | None = None,
        session: Any | None = None,
        role_arn: str | None = None,
        output_uri: str | None = None,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        hub_document_loader: HubDocumentLoader | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if output_uri is not None and not output_uri.startswith("s3://"):
            raise ConfigurationError(f"output_uri must be an s3://bucket/prefix URI, got {output_uri!r}")
        self.role_arn = role_arn
        self.output_uri = output_uri.rstrip("/") if output_uri else None
        self.hub_document_loader = hub_document_loader
        self._aws = AwsClients(session=session, region=region, endpoint_url=endpoint_url, backend=BACKEND)
        self._lock = threading.Lock()
        self._hub_cache: dict[tuple[str, str | None], HubDocument] = {}
        self._tag_cache: dict[str, dict[str, str]] = {}
        self._dialects: dict[str, tuple[serving.Dialect, serving.PromptFormat]] = {}
        self._staged: dict[str, dict[str, Any]] = {}
        self._images: dict[tuple[str, str, str], str] = {}
        self._tarballs: dict[tuple[str, ...], bytes] = {}

    # --- plumbing --------------------------------------------------------------------------------------
    @property
    def region(self) -> str:
        """The Region the backend talks to."""
        return self._aws.region

    @property
    def session(self) -> Any:
        """The ``boto3.Session`` in use."""
        return self._aws.session

    def client(self, service: str) -> Any:
        """The boto3 client for ``service`` (cached; tests attach stubbers and event hooks to it)."""
        return self._aws.client(service)

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint URL the ``service`` client uses (``None``: AWS's own)."""
        return self._aws.endpoint_for(service)

    def model_artifacts(self, job_id: str) -> ModelArtifacts:
        """Where a training job's model is (its ``output/model/`` folder, or ``model.tar.gz``), with its record."""
        d = self._describe_training_job(job_id)
        record = self._job_record(d, self._tags(str(d.get("TrainingJobArn", ""))))
        compression = str((d.get("OutputDataConfig") or {}).get("CompressionType", "GZIP"))
        return ModelArtifacts(job=record, uri=self.model_folder(d), compression=compression)

    def list_artifact_files(self, uri: str) -> list[str]:
        """The names of the objects directly inside the S3 folder ``uri``."""
        from finetune_sdk._aws.s3 import split_s3_uri

        bucket, prefix = split_s3_uri(uri)
        names: list[str] = []
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self._call("s3", "list_objects_v2", resource=uri, **params)
            for obj in page.get("Contents", []):
                rel = str(obj["Key"])[len(prefix) :]
                if rel and "/" not in rel:
                    names.append(rel)
            if not page.get("IsTruncated"):
                return names
            params["ContinuationToken"] = page["NextContinuationToken"]

    def _call(self, service: str, op: str, *, resource: str = "", **params: Any) -> Any:
        """Validate against the service model, send with the core's retry policy, translate errors."""
        client = self.client(service)
        if service in ("sagemaker", "sagemaker-runtime"):
            validate_request(service, _action(op), params)
        return call_with_retries(
            lambda: getattr(client, op)(**params),
            backend=BACKEND,
            action=_action(op),
            resource=resource,
            clock=self.clock,
            attempts=self.retry_attempts,
        )

    # --- JumpStart metadata ----------------------------------------------------------------------------
    def hub_document(
        self, model_id: str, *, version: str | None = None, document: Mapping[str, Any] | str | None = None
    ) -> HubDocument:
        """The JumpStart hub document of ``model_id``: ``document`` if given, else the loader, else
        ``DescribeHubContent`` (cached per backend).

        Raises:
            ConfigurationError: the model is not in the public hub, or the document cannot be read; the
                message says how to pass one yourself.
        """
        if document is not None:
            return coerce_document(model_id, document)
        key = (model_id, version)
        with self._lock:
            cached = self._hub_cache.get(key)
        if cached is not None:
            return cached
        if self.hub_document_loader is not None:
            doc = coerce_document(model_id, self.hub_document_loader(model_id))
        else:
            try:
                doc = call_with_retries(
                    lambda: describe_hub_document(self.client("sagemaker"), model_id, version=version),
                    backend=BACKEND,
                    action="DescribeHubContent",
                    resource=model_id,
                    clock=self.clock,
                    attempts=self.retry_attempts,
                )
            except ResourceNotFoundError as exc:
                raise ConfigurationError(
                    f"no JumpStart model {model_id!r} in SageMakerPublicHub ({self.region}). Check the id "
                    "(e.g. 'meta-textgeneration-llama-3-8b'); for a Hugging Face model id use "
                    "SageMakerOptions(mode='script')"
                ) from exc
            except BackendError as exc:
                raise type(exc)(
                    f"{exc}. To work without DescribeHubContent, pass SageMakerOptions(hub_document=...) "
                    "or SageMakerBackend(hub_document_loader=...)",
                    backend=BACKEND,
                    code=exc.code,
                    request_id=exc.request_id,
                ) from exc
        with self._lock:
            self._hub_cache[key] = doc
        return doc

    def _framework_image(self, framework: str, scope: str, instance_type: str) -> str:
        """A framework image URI via the optional ``sagemaker`` package (imported here, never at import)."""
        key = (framework, scope, instance_type)
        with self._lock:
            cached = self._images.get(key)
        if cached is not None:
            return cached
        uri = self._lookup_image(framework, scope, instance_type)
        with self._lock:
            self._images[key] = uri
        return uri

    def _lookup_image(self, framework: str, scope: str, instance_type: str) -> str:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    from sagemaker.core import image_uris  # v3
                except ImportError:
                    from sagemaker import image_uris  # v2
        except ImportError as exc:
            what = "training" if scope == "training" else "serving"
            raise ConfigurationError(
                f"no {what} image was given and the optional 'sagemaker' package that looks up {framework} "
                "images is not installed. Either pass image_uri= (SageMakerOptions / "
                f"SageMakerEndpointOptions), or {SAGEMAKER_EXTRA_HINT}"
            ) from exc
        config = image_uris.config_for_framework(framework)
        scoped = config.get(scope, config)
        versions = list((scoped.get("versions") or {}).keys())
        if not versions:
            raise ConfigurationError(
                f"the sagemaker package knows no {scope} versions of {framework}; pass image_uri="
            )
        latest = max(versions, key=_version_key)
        py_versions = scoped["versions"][latest].get("py_versions") or scoped.get("py_versions") or [None]
        uri = image_uris.retrieve(
            framework=framework,
            region=self.region,
            version=latest,
            py_version=py_versions[0],
            instance_type=instance_type,
            image_scope=scope,
        )
        return str(uri)

    # --- specs -----------------------------------------------------------------------------------------
    @staticmethod
    def _options(spec: JobSpec) -> SageMakerOptions:
        opts = spec.backend_options
        if opts is None:
            return SageMakerOptions()
        if not isinstance(opts, SageMakerOptions):
            raise ConfigurationError(
                "the sagemaker backend takes backend_options=SageMakerOptions(...), got "
                f"{type(opts).__name__}"
            )
        return opts

    @staticmethod
    def mode_of(spec: JobSpec) -> Mode:
        """``"script"`` or ``"jumpstart"``: ``SageMakerOptions.mode``, else guessed from the base model id."""
        opts = spec.backend_options
        if isinstance(opts, SageMakerOptions) and opts.mode is not None:
            return opts.mode
        if isinstance(opts, SageMakerOptions) and opts.hub_document is not None:
            return "jumpstart"
        model = spec.base_model
        return "script" if ("/" in model or model.startswith(("s3://", "."))) else "jumpstart"

    def _role(self, spec_role: str | None) -> str:
        role = spec_role or self.role_arn
        if not role:
            raise ConfigurationError(
                "SageMaker needs an execution role: pass role_arn= to Job.fine_tune(...) or to "
                "SageMakerBackend(role_arn='arn:aws:iam::<account>:role/<SageMakerExecutionRole>')"
            )
        return role

    def _output_base(self, spec_output: str | None) -> str:
        base = spec_output or self.output_uri
        if not base:
            raise ConfigurationError(
                "SageMaker jobs write to S3: pass output_uri='s3://bucket/prefix' to Job.fine_tune(...) or "
                "to SageMakerBackend(output_uri=...)"
            )
        if not base.startswith("s3://"):
            raise ConfigurationError(f"output_uri must be an s3://bucket/prefix URI, got {base!r}")
        return base.rstrip("/")

    def hyperparameter_schema(self, base_model: str, kind: JobKind) -> Sequence[HyperparameterSpec] | None:
        """The hyperparameters ``Job.fine_tune`` checks before anything is sent.

        JumpStart: the typed Llama bounds merged with the hub document's entries (defaults from the document);
        script mode (Hugging Face ids, ``s3://`` folders): the local trainer's schema.

        When the hub document cannot be fetched the typed bounds alone are used (no defaults).
        """
        if "/" in base_model or base_model.startswith(("s3://", ".")):
            from finetune_sdk.training._config import schema

            return schema(kind)
        try:
            hub = self.hub_document(base_model).hyperparameters
        except FinetuneError as exc:
            logger.info(
                "no hub document for %s (%s); checking hyperparameters against the typed bounds",
                base_model,
                exc,
            )
            hub = ()
        return schema_for(base_model, hub)

    def check_spec(self, spec: JobSpec) -> None:
        """Every check that needs no request beyond ``DescribeHubContent``: kind, options, role, output, data
        URIs, hyperparameters, instance type, EULA.

        Raises:
            ConfigurationError / HyperparameterError: with the fix in the message; nothing was sent.
        """
        if spec.kind not in self.supported_kinds:
            raise UnsupportedOperationError(
                "the sagemaker backend runs fine-tuning and continued pre-training jobs, not "
                f"{spec.kind.value}; import models into Bedrock with Job.import_model(..., "
                "backend='bedrock') or export_to_bedrock()"
            )
        opts = self._options(spec)
        self._role(spec.role_arn)
        self._output_base(spec.output_uri)
        for what, uri in (("training_data", spec.training_data), ("validation_data", spec.validation_data)):
            if uri is not None and not uri.startswith("s3://"):
                raise ConfigurationError(
                    f"{what} must be an s3:// URI for SageMaker, got {uri!r}; pass a Dataset to stage it "
                    "automatically"
                )
        if self.mode_of(spec) == "script":
            if not opts.instance_type:
                raise ConfigurationError(
                    "script mode needs an instance type: SageMakerOptions(instance_type='ml.g5.2xlarge') or "
                    "another training instance"
                )
            if not opts.image_uri:
                self._framework_image("pytorch", "training", opts.instance_type)
            from finetune_sdk.training._config import resolve_config

            resolve_config(spec.hyperparameters, spec.kind)
            return
        doc = self.hub_document(spec.base_model, version=opts.model_version, document=opts.hub_document)
        instance_type = opts.instance_type or doc.default_training_instance_type
        if not instance_type:
            raise ConfigurationError(
                f"pass SageMakerOptions(instance_type=...): the hub document of {spec.base_model} names no "
                "default"
            )
        doc.check_training(instance_type=instance_type, accept_eula=opts.accept_eula)
        self._check_jumpstart_hyperparameters(spec, doc)
        if spec.kind is JobKind.CONTINUED_PRE_TRAINING:
            for flag in ("instruction_tuned", "chat_dataset"):
                if jumpstart_value(spec.hyperparameters.get(flag, False)) == "True":
                    raise ConfigurationError(
                        f"continued pre-training trains on raw text: {flag}=True does not apply; drop it"
                    )

    def _check_jumpstart_hyperparameters(self, spec: JobSpec, doc: HubDocument) -> None:
        from finetune_sdk.hyperparameters import validate_hyperparameters

        schema = schema_for(spec.base_model, doc.hyperparameters)
        validate_hyperparameters(spec.hyperparameters, schema, model=spec.base_model)
        options = {str(h.get("Name")): [str(o) for o in h.get("Options") or ()] for h in doc.hyperparameters}
        for name, value in spec.hyperparameters.items():
            allowed = options.get(name) or []
            if allowed and jumpstart_value(value) not in allowed:
                raise HyperparameterError(
                    f"hyperparameter {name!r} for {spec.base_model} is {jumpstart_value(value)!r}; the hub "
                    f"document allows {', '.join(allowed)}"
                )
        if is_llama3(spec.base_model):
            from finetune_sdk.backends.sagemaker.hyperparameters import JumpStartLlamaHyperparameters

            typed = {
                k: v
                for k, v in spec.hyperparameters.items()
                if k in JumpStartLlamaHyperparameters.model_fields
            }
            try:
                JumpStartLlamaHyperparameters.model_validate(typed)
            except ValueError as exc:
                raise HyperparameterError(f"hyperparameters for {spec.base_model}: {exc}") from exc

    # --- data ------------------------------------------------------------------------------------------
    def stage_data(self, dataset: Dataset, *, name: str, format: str | None, output_uri: str | None) -> str:
        """Upload ``dataset`` in every layout a SageMaker job may need and return the prefix (see
        :mod:`finetune_sdk.backends.sagemaker.staging`). ``format`` is ignored: the job picks its layout.

        Raises:
            ConfigurationError: no output location. DataError: empty or mixed data.
        """
        from finetune_sdk.backends.sagemaker.staging import render_layouts, upload_layouts

        base = self._output_base(output_uri)
        prefix = f"{base}/finetune-sdk-data/{rq.resource_name(name, limit=120)}/"
        layouts = render_layouts(dataset)
        manifest = call_with_retries(
            lambda: upload_layouts(self.client("s3"), prefix, layouts),
            backend=BACKEND,
            action="PutObject",
            resource=prefix,
            clock=self.clock,
            attempts=self.retry_attempts,
        )
        with self._lock:
            self._staged[prefix] = manifest
        return prefix

    def _manifest(self, uri: str) -> dict[str, Any] | None:
        from finetune_sdk.backends.sagemaker.staging import read_manifest

        prefix = uri if uri.endswith("/") else uri + "/"
        with self._lock:
            if prefix in self._staged:
                return self._staged[prefix]
        return call_with_retries(
            lambda: read_manifest(self.client("s3"), prefix),
            backend=BACKEND,
            action="GetObject",
            resource=prefix,
            clock=self.clock,
            attempts=self.retry_attempts,
        )

    def _jumpstart_format(self, spec: JobSpec, layouts: Sequence[str] | None) -> rq.DataFormat:
        hps = spec.hyperparameters
        chat = hps.get("chat_dataset")
        instruction = hps.get("instruction_tuned")
        if spec.kind is JobKind.CONTINUED_PRE_TRAINING:
            wanted: rq.DataFormat = "text"
        elif chat is not None and jumpstart_value(chat) == "True":
            wanted = "chat"
        elif instruction is not None and jumpstart_value(instruction) == "True":
            wanted = "instruction"
        elif chat is not None and instruction is not None:
            wanted = "text"  # both explicitly False: domain adaptation
        elif layouts is None:
            wanted = "instruction"
        else:
            wanted = "instruction" if "instruction" in layouts else "chat" if "chat" in layouts else "text"
        if layouts is not None and wanted not in layouts:
            raise ConfigurationError(
                f"the job needs {wanted!r} training data but the staged dataset only has "
                f"{', '.join(layouts)}: "
                + (
                    "continued pre-training needs raw text records"
                    if wanted == "text"
                    else "instruction tuning needs single-turn records; "
                    "use chat_dataset=True for multi-turn conversations"
                )
            )
        return wanted

    def _channel(self, uri: str | None, layout: str) -> str | None:
        """The channel URI: the ``layout`` folder of a prefix the SDK staged, else ``uri`` as given."""
        from finetune_sdk.backends.sagemaker.staging import channel_uri

        if uri is None or self._manifest(uri) is None:
            return uri
        return channel_uri(uri, layout)

    # --- jobs ------------------------------------------------------------------------------------------
    def training_request(self, spec: JobSpec) -> dict[str, Any]:
        """The ``CreateTrainingJob`` arguments ``submit_job`` would send: a dry run that reads the hub
        document and the staged-data manifest and uploads nothing.

        Raises:
            ConfigurationError: see :meth:`check_spec`.
        """
        self.check_spec(spec)
        return self._training_request(spec)

    def _training_request(self, spec: JobSpec) -> dict[str, Any]:
        opts = self._options(spec)
        mode = self.mode_of(spec)
        job_name = rq.training_job_name(spec)
        role = self._role(spec.role_arn)
        output_path = self._output_base(spec.output_uri)
        assert spec.training_data is not None  # JobSpec guarantees it for these kinds
        if mode == "script":
            training = self._channel(spec.training_data, "records")
            validation = self._channel(spec.validation_data, "records")
            assert training is not None and opts.instance_type is not None
            image = opts.image_uri or self._framework_image("pytorch", "training", opts.instance_type)
            return rq.build_script_training_request(
                spec,
                options=opts,
                job_name=job_name,
                role_arn=role,
                output_path=output_path,
                training_uri=training,
                validation_uri=validation,
                image_uri=image,
                code_uri=self._source_tarball(output_path, opts)[0],
                region=self.region,
                tags=rq.sdk_tags(spec, mode=mode, user=opts.tags),
            )
        doc = self.hub_document(spec.base_model, version=opts.model_version, document=opts.hub_document)
        manifest = self._manifest(spec.training_data)
        layouts = [str(x) for x in manifest.get("layouts", [])] if manifest else None
        data_format = self._jumpstart_format(spec, layouts)
        training = self._channel(spec.training_data, data_format)
        validation = self._channel(spec.validation_data, data_format)
        assert training is not None
        system = {"sagemaker-sdk:jumpstart-model-id": spec.base_model}
        if doc.version:
            system["sagemaker-sdk:jumpstart-model-version"] = doc.version
        return rq.build_jumpstart_training_request(
            spec,
            options=opts,
            doc=doc,
            job_name=job_name,
            role_arn=role,
            output_path=output_path,
            training_uri=training,
            validation_uri=validation,
            data_format=data_format,
            region=self.region,
            tags=rq.sdk_tags(spec, mode=mode, user=opts.tags, system=system),
        )

    def _source_tarball(self, output_path: str, opts: SageMakerOptions) -> tuple[str, bytes]:
        """``(uri, bytes)`` of the script-mode source tarball.

        Built once per backend and requirements list, so the URI in the request and the uploaded bytes agree.
        """
        from finetune_sdk.backends.sagemaker.code import (
            CONTAINER_REQUIREMENTS,
            build_source_tarball,
            tarball_uri,
        )

        requirements = tuple(opts.requirements or CONTAINER_REQUIREMENTS)
        with self._lock:
            blob = self._tarballs.get(requirements)
        if blob is None:
            blob = build_source_tarball(requirements=requirements)
            with self._lock:
                self._tarballs[requirements] = blob
        return tarball_uri(output_path, blob), blob

    def submit_job(self, spec: JobSpec) -> JobRecord:
        """Create the training job (idempotent) and return its record.

        The job name carries a hash of the spec: if a job of that name exists it is returned (re-running a
        cell attaches instead of paying twice). A dropped connection during create is followed by a describe
        before any retry; ``ResourceInUse`` attaches to the job that won.

        Raises:
            ConfigurationError: local checks failed (nothing was sent).
            QuotaExceededError: ``ResourceLimitExceeded`` (instance quota); the message names the quota.
            BackendError: the service refused the request.
        """
        self.check_spec(spec)
        job_name = rq.training_job_name(spec)
        existing = self._find_job(job_name)
        if existing is not None:
            logger.info(
                "training job %s already exists; attaching instead of creating a second one", job_name
            )
            return existing
        if self.mode_of(spec) == "script":
            self._check_process_plan(spec)
        request = self._training_request(spec)
        if self.mode_of(spec) == "script":
            from finetune_sdk.backends.sagemaker.code import upload_source_tarball

            uri, blob = self._source_tarball(self._output_base(spec.output_uri), self._options(spec))
            call_with_retries(
                lambda: upload_source_tarball(self.client("s3"), uri, blob),
                backend=BACKEND,
                action="PutObject",
                resource=uri,
                clock=self.clock,
                attempts=self.retry_attempts,
            )
        return self._create_training_job(job_name, request)

    def _check_process_plan(self, spec: JobSpec) -> None:
        """Refuse a multi-process script-mode job the trainer cannot run (each process would train alone).

        Only ``submit_job`` checks this: :meth:`training_request` still shows the request of such a job.
        """
        from finetune_sdk.backends.sagemaker.sm_entry import trainer_is_distributed

        opts = self._options(spec)
        processes = opts.processes_per_host or 1
        if (opts.instance_count > 1 or processes > 1) and not trainer_is_distributed():
            raise ConfigurationError(
                f"the SDK trainer of this finetune_sdk version runs one process, so a script-mode job on "
                f"{opts.instance_count} instance(s) x {processes} process(es) would train the model once per "
                "process; use instance_count=1 and processes_per_host=1 (or None), or a version whose "
                "trainer supports torchrun. Nothing was submitted"
            )

    def _create_training_job(self, job_name: str, request: Mapping[str, Any]) -> JobRecord:
        client = self.client("sagemaker")
        validate_request("sagemaker", "CreateTrainingJob", request)
        try:
            # after a dropped connection the job may exist already: find it instead of creating a second one
            found = call_with_retries(
                lambda: client.create_training_job(**request) and None,
                clock=self.clock,
                backend=BACKEND,
                action="CreateTrainingJob",
                resource=job_name,
                attempts=self.retry_attempts,
                recover=lambda: self._find_job(job_name),
            )
        except ResourceConflictError:
            # another submit (or our own request, before the connection dropped) took the name
            return self.describe_job(job_name)
        except QuotaExceededError as err:
            res = request.get("ResourceConfig", {})
            raise QuotaExceededError(
                f"{err}. SageMaker refused {res.get('InstanceCount')} x {res.get('InstanceType')}: "
                f"request '{res.get('InstanceType')} for training job usage' (and spot usage with "
                "use_spot) in Service Quotas, or pick another instance type",
                backend=BACKEND,
                code=err.code,
                request_id=err.request_id,
            ) from err.__cause__
        return found if found is not None else self.describe_job(job_name)

    def _find_job(self, job_name: str) -> JobRecord | None:
        try:
            return self.describe_job(job_name)
        except ResourceNotFoundError:
            return None

    def _tags(self, arn: str) -> dict[str, str]:
        with self._lock:
            cached = self._tag_cache.get(arn)
        if cached is not None:
            return cached
        try:
            response = self._call("sagemaker", "list_tags", resource=arn, ResourceArn=arn)
        except BackendError as exc:
            logger.debug("ListTags on %s failed (%s); the record is rebuilt from the job itself", arn, exc)
            return {}
        tags = {str(t["Key"]): str(t["Value"]) for t in response.get("Tags", [])}
        with self._lock:
            self._tag_cache[arn] = tags
        return tags

    def _describe_training_job(self, job_id: str) -> dict[str, Any]:
        name = _job_name_of(job_id)
        response = self._call(
            "sagemaker", "describe_training_job", resource=f"training job {name}", TrainingJobName=name
        )
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}

    def describe_job(self, job_id: str) -> JobRecord:
        """The job's record: ``TrainingJobStatus`` mapped to ``JobStatus`` (the raw value in ``raw_status``),
        ``SecondaryStatus`` transitions as ``stages``, ``FailureReason`` as ``failure_message``, final
        training / validation loss from ``FinalMetricDataList``.

        Raises:
            ResourceNotFoundError: no such training job in this account and Region.
        """
        d = self._describe_training_job(job_id)
        return self._job_record(d, self._tags(str(d.get("TrainingJobArn", ""))))

    @staticmethod
    def model_folder(d: Mapping[str, Any]) -> str | None:
        """Where a described job's model is: its ``output/model/`` folder, or ``model.tar.gz`` (GZIP)."""
        out = d.get("OutputDataConfig") or {}
        path = str(out.get("S3OutputPath") or "").rstrip("/")
        if out.get("CompressionType") == "NONE" and path:
            return f"{path}/{d['TrainingJobName']}/output/model/"
        artifacts = (d.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        return str(artifacts) if artifacts else None

    def _job_record(self, d: Mapping[str, Any], tags: Mapping[str, str]) -> JobRecord:
        name = str(d["TrainingJobName"])
        raw_status = str(d.get("TrainingJobStatus", "InProgress"))
        status = _JOB_STATUS.get(raw_status, JobStatus.RUNNING)
        hps = {str(k): str(v) for k, v in (d.get("HyperParameters") or {}).items()}
        base_model = tags.get(f"{rq.TAG_PREFIX}base-model") or tags.get("sagemaker-sdk:jumpstart-model-id")
        if not base_model and "finetune_sdk_base_model" in hps:
            try:
                base_model = str(json.loads(hps["finetune_sdk_base_model"]))
            except ValueError:
                base_model = hps["finetune_sdk_base_model"]
        base_model = base_model or str(
            (d.get("AlgorithmSpecification") or {}).get("TrainingImage") or "unknown"
        )
        stages: dict[str, str] = {}
        for transition in d.get("SecondaryStatusTransitions") or ():
            stages[str(transition.get("Status"))] = (
                "completed" if transition.get("EndTime") else "in_progress"
            )
        if d.get("SecondaryStatus"):
            stages.setdefault(str(d["SecondaryStatus"]), "completed" if status.is_terminal else "in_progress")
        losses: dict[str, float] = {}
        for metric in d.get("FinalMetricDataList") or ():
            kind = classify_metric(str(metric.get("MetricName", "")))
            if kind in ("training_loss", "validation_loss") and metric.get("Value") is not None:
                losses[kind] = float(metric["Value"])
        out = d.get("OutputDataConfig") or {}
        out_path = str(out.get("S3OutputPath") or "").rstrip("/")
        completed = status is JobStatus.COMPLETED
        return JobRecord(
            id=name,
            name=tags.get(f"{rq.TAG_PREFIX}job-name") or name,
            backend=BACKEND,
            kind=rq.kind_from_tags(tags, hps),
            status=status,
            raw_status=raw_status,
            base_model=base_model,
            output_model_id=name if completed else None,
            output_model_name=tags.get(f"{rq.TAG_PREFIX}output-model-name") or name,
            output_uri=f"{out_path}/{name}/output/" if out_path else None,
            created_at=d.get("CreationTime"),
            updated_at=d.get("LastModifiedTime"),
            ended_at=d.get("TrainingEndTime") if status.is_terminal else None,
            failure_message=d.get("FailureReason"),
            stages=stages,
            progress=1.0 if completed else None,
            training_loss=losses.get("training_loss"),
            validation_loss=losses.get("validation_loss"),
            raw=dict(d),
        )

    def failure_hint(self, record: JobRecord) -> str | None:
        """The next step for a failed job's ``FailureReason`` (``Job.wait`` adds it to ``JobFailedError``)."""
        reason = record.failure_message or ""
        for needles, hint in _FAILURE_HINTS:
            if any(n.lower() in reason.lower() for n in needles):
                return hint
        return None

    def stop_job(self, job_id: str) -> None:
        """Ask the job to stop (``StopTrainingJob``); a job that already ended is left alone.

        Raises:
            ResourceNotFoundError: no such job.
        """
        record = self.describe_job(job_id)
        if record.status.is_terminal or record.status is JobStatus.STOPPING:
            return
        try:
            self._call(
                "sagemaker",
                "stop_training_job",
                resource=f"training job {record.id}",
                TrainingJobName=record.id,
            )
        except ServiceValidationError:
            # it ended between the describe and the stop: nothing left to do
            if not self.describe_job(job_id).status.is_terminal:
                raise

    def list_jobs(
        self, *, status: JobStatus | None = None, name_contains: str | None = None
    ) -> Iterator[JobRecord]:
        """Training jobs newest first, one page (and one describe per job) at a time."""
        if status is JobStatus.PENDING:
            return
        params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 50}
        if status is not None:
            params["StatusEquals"] = _STATUS_FILTER[status]
        if name_contains:
            # training job names are the spec name made SageMaker-safe, plus a hash suffix
            fragment = re.sub(r"[^a-zA-Z0-9-]+", "-", name_contains).strip("-")
            if fragment:
                params["NameContains"] = fragment
        while True:
            page = self._call("sagemaker", "list_training_jobs", **params)
            for summary in page.get("TrainingJobSummaries", []):
                try:
                    record = self.describe_job(str(summary["TrainingJobName"]))
                except ResourceNotFoundError:
                    continue
                if status is not None and record.status is not status:
                    continue
                if name_contains and name_contains not in record.name and name_contains not in record.id:
                    continue
                yield record
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    # --- logs and metrics ------------------------------------------------------------------------------
    def _log_events(
        self, job_name: str, *, start_ms: int | None, host_prefix: str = ""
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "logGroupName": LOG_GROUP,
            "logStreamNamePrefix": f"{job_name}/{host_prefix}",
        }
        if start_ms is not None:
            params["startTime"] = start_ms
        while True:
            try:
                page = self._call("logs", "filter_log_events", resource=f"{LOG_GROUP}/{job_name}", **params)
            except ResourceNotFoundError:
                return  # no log group yet: the job has not started writing
            yield from page.get("events", [])
            token = page.get("nextToken")
            if not token:
                return
            params["nextToken"] = token

    def tail_logs(
        self, job_id: str, since: datetime | None = None, *, follow: bool = False, poll_interval: float = 10.0
    ) -> Iterator[str]:
        """The job's CloudWatch log lines (``/aws/sagemaker/TrainingJobs``), oldest first.

        Lines from instances other than the first are prefixed by their host (``[algo-2] ...``).
        ``follow=True`` keeps polling on the backend's clock until the job has ended and no new lines arrive.

        Raises:
            ResourceNotFoundError: no such job.
        """
        name = self.describe_job(job_id).id
        start_ms = int(since.timestamp() * 1000) if since is not None else None
        seen: set[str] = set()
        while True:
            ended = self.describe_job(name).status.is_terminal if follow else True
            new = 0
            for event in self._log_events(name, start_ms=start_ms):
                event_id = str(event.get("eventId") or (event.get("timestamp"), event.get("message")))
                if event_id in seen:
                    continue
                seen.add(event_id)
                new += 1
                # streams are named <job>/<host>-<epoch seconds>, e.g. "ft-1a2b/algo-2-1735689600"
                stream = str(event.get("logStreamName", "")).partition("/")[2]
                host = stream.rsplit("-", 1)[0]
                message = str(event.get("message", "")).rstrip("\n")
                yield message if host in ("", "algo-1") else f"[{host}] {message}"
                start_ms = max(start_ms or 0, int(event.get("timestamp", 0)))
            if not follow or (ended and new == 0):
                return
            self.clock.sleep(poll_interval)

    def job_metrics(self, job_id: str) -> list[MetricPoint]:
        """The loss curve parsed from the first host's log lines with the job's ``MetricDefinitions`` (see
        :mod:`finetune_sdk.backends.sagemaker.metrics`). Empty while the job has logged nothing."""
        from finetune_sdk.backends.sagemaker.metrics import parse_metric_lines

        d = self._describe_training_job(job_id)
        definitions = (d.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or list(
            JUMPSTART_LLAMA_METRIC_DEFINITIONS
        )
        lines = (
            str(e.get("message", ""))
            for e in self._log_events(str(d["TrainingJobName"]), start_ms=None, host_prefix="algo-1-")
        )
        return parse_metric_lines(lines, definitions)

    # --- models ----------------------------------------------------------------------------------------
    def describe_model(self, model_id: str) -> ModelRecord:
        """The model of a completed training job (``model_id`` = the job name), or an ``s3://`` model folder.

        Raises:
            ResourceNotFoundError: no such job, or the job has no model (it did not complete).
        """
        if model_id.startswith("s3://"):
            name = model_id.rstrip("/").rsplit("/", 1)[-1]
            return ModelRecord(
                id=model_id, name=name, backend=BACKEND, kind="imported", uri=model_id, needs_deployment=True
            )
        d = self._describe_training_job(model_id)
        record = self._job_record(d, self._tags(str(d.get("TrainingJobArn", ""))))
        if record.status is not JobStatus.COMPLETED:
            raise ResourceNotFoundError(
                f"training job {record.id} is {record.raw_status}; it has a model only once Completed",
                backend=BACKEND,
            )
        folder = self.model_folder(d)
        if folder and not self._s3_has_objects(folder):
            raise ResourceNotFoundError(
                f"the model of training job {record.id} is gone: nothing is left at {folder} (deleted?)",
                backend=BACKEND,
            )
        return ModelRecord(
            id=record.id,
            name=record.output_model_name or record.name,
            backend=BACKEND,
            kind="custom",
            base_model=record.base_model,
            status="Completed",
            job_id=record.id,
            uri=folder,
            created_at=record.ended_at,
            needs_deployment=True,
            raw=dict(d),
        )

    def _s3_has_objects(self, uri: str) -> bool:
        """Whether anything exists at ``uri`` (object or prefix); unreadable locations count as present."""
        from finetune_sdk.backends.sagemaker.staging import split_s3_uri
        from finetune_sdk.errors import AccessDeniedError

        bucket, key = split_s3_uri(uri)
        try:
            page = self._call("s3", "list_objects_v2", resource=uri, Bucket=bucket, Prefix=key, MaxKeys=1)
        except ResourceNotFoundError:
            return False  # no such bucket
        except AccessDeniedError:
            return True
        return bool(page.get("KeyCount") or page.get("Contents"))

    def list_models(self) -> Iterator[ModelRecord]:
        """Models of completed training jobs, newest first."""
        for record in self.list_jobs(status=JobStatus.COMPLETED):
            try:
                yield self.describe_model(record.id)
            except ResourceNotFoundError:
                continue

    def foundation_model(self, model_id: str) -> ModelRecord:
        """A base model to deploy: a JumpStart id (hub weights and serving image) or a Hugging Face id
        (served by a TGI container that downloads it). Both need ``model.deploy()`` before ``chat``."""
        return ModelRecord(
            id=model_id,
            name=model_id,
            backend=BACKEND,
            kind="foundation",
            base_model=model_id,
            needs_deployment=True,
        )

    def delete_model(self, model_id: str) -> None:
        """Delete a trained model's weights from S3 (the objects under the job's model location).

        SageMaker keeps training job records; only the artifacts are removed. Folders the SDK did not write
        (``s3://`` ids) are never deleted.

        Raises:
            UnsupportedOperationError: ``model_id`` is a folder or a base model.
            ResourceNotFoundError: no such job or model.
        """
        if model_id.startswith("s3://") or "/" in model_id:
            raise UnsupportedOperationError(
                f"the SDK does not delete {model_id}: it only deletes the outputs of training jobs it ran"
            )
        from finetune_sdk.backends.sagemaker.staging import split_s3_uri

        record = self.describe_model(model_id)
        if not record.uri:
            return
        bucket, key = split_s3_uri(record.uri)
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        while True:
            page = self._call("s3", "list_objects_v2", resource=record.uri, **params)
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._call(
                    "s3",
                    "delete_objects",
                    resource=record.uri,
                    Bucket=bucket,
                    Delete={"Objects": keys, "Quiet": True},
                )
            if not page.get("IsTruncated"):
                break
            params["ContinuationToken"] = page["NextContinuationToken"]

    # --- deployments -----------------------------------------------------------------------------------
    @staticmethod
    def _endpoint_options(spec: DeploymentSpec) -> SageMakerEndpointOptions:
        opts = spec.backend_options
        if opts is None:
            return SageMakerEndpointOptions()
        if not isinstance(opts, SageMakerEndpointOptions):
            raise ConfigurationError(
                "SageMaker endpoints take backend_options=SageMakerEndpointOptions(...), got "
                f"{type(opts).__name__}"
            )
        return opts

    def _serving_plan(self, spec: DeploymentSpec, opts: SageMakerEndpointOptions) -> _ServingPlan:
        """What serving ``spec.model_id`` takes: image, weights, environment, instance type, payload dialect.

        ``s3://`` folders and Hugging Face ids go to a TGI container; a training job of the SDK's trainer too;
        a JumpStart job or a JumpStart id uses the hub document's hosting image and defaults.
        """
        model_id = spec.model_id
        model_data: str | None = None
        accept_eula = isolation = False
        prompt_format: serving.PromptFormat = "llama3_chat"
        env: dict[str, str] = {}
        doc: HubDocument | None = None
        if model_id.startswith("s3://"):
            model_data = model_id
        elif "/" in model_id:
            env["HF_MODEL_ID"] = model_id
        else:
            try:
                job: dict[str, Any] | None = self._describe_training_job(model_id)
            except ResourceNotFoundError:
                job = None
            if job is not None:
                record = self._job_record(job, self._tags(str(job.get("TrainingJobArn", ""))))
                if record.status is not JobStatus.COMPLETED:
                    raise ConfigurationError(
                        f"training job {record.id} is {record.raw_status}; deploy it once it has Completed"
                    )
                model_data = self.model_folder(job)
                hps = {str(k): str(v) for k, v in (job.get("HyperParameters") or {}).items()}
                if "finetune_sdk_kind" not in hps and "/" not in record.base_model:  # a JumpStart job
                    doc = self.hub_document(record.base_model, document=opts.hub_document)
                    if hps.get("instruction_tuned") == "True":
                        prompt_format = "jumpstart_instruction"
            else:
                doc = self.hub_document(model_id, document=opts.hub_document)
                if doc.gated and not opts.accept_eula:
                    raise ConfigurationError(
                        f"{model_id} is a gated model: accept its end-user licence with "
                        "SageMakerEndpointOptions(accept_eula=True) to deploy it"
                    )
                accept_eula = doc.gated
                isolation = bool(doc.raw.get("InferenceEnableNetworkIsolation"))
        instance_type = spec.instance_type or (doc.default_inference_instance_type if doc else None)
        if not instance_type:
            raise ConfigurationError("pass instance_type= to deploy() (e.g. 'ml.g5.2xlarge' for an 8B model)")
        if doc is not None:
            env.update(doc.hosting_environment(instance_type))
            if model_data is None:
                model_data = doc.hosting_artifact(instance_type)
        image = opts.image_uri or (doc.hosting_image(instance_type) if doc is not None else None)
        if image is None:
            image = self._framework_image("huggingface-llm", "inference", instance_type)
        guessed = opts.payload or (doc.default_payload_dialect if doc else None)
        guessed = guessed or serving.guess_dialect(image)
        return _ServingPlan(
            image=image,
            model_data=model_data,
            compressed=bool(model_data and model_data.endswith(".tar.gz")),
            environment=rq.serving_environment(env, opts, tgi=doc is None),
            instance_type=instance_type,
            accept_eula=accept_eula,
            network_isolation=isolation,
            dialect="messages" if guessed == "messages" else "tgi",
            prompt_format=opts.prompt_format or prompt_format,
        )

    def deployment_requests(self, spec: DeploymentSpec) -> dict[str, dict[str, Any]]:
        """The ``CreateModel`` / ``CreateEndpointConfig`` / ``CreateEndpoint`` arguments for ``spec``: a dry
        run that sends nothing.

        Raises:
            ConfigurationError: no role, no instance type, an unfinished job, a gated model without
                ``accept_eula``, no image and no ``sagemaker`` extra.
        """
        if spec.kind != "endpoint":
            raise ConfigurationError(
                f"SageMaker serves models on real-time endpoints: use kind='endpoint' (got {spec.kind!r})"
            )
        opts = self._endpoint_options(spec)
        name = rq.resource_name(spec.name)
        role = self._role(None)
        plan = self._serving_plan(spec, opts)
        tags = {
            **spec.tags,
            f"{rq.TAG_PREFIX}model-id": spec.model_id[:256],
            f"{rq.TAG_PREFIX}payload": plan.dialect,
            f"{rq.TAG_PREFIX}prompt-format": plan.prompt_format,
        }
        return {
            "model": rq.build_model_request(
                name=name,
                image_uri=plan.image,
                role_arn=role,
                model_data_uri=plan.model_data,
                compressed=plan.compressed,
                environment=plan.environment,
                accept_eula=plan.accept_eula,
                network_isolation=plan.network_isolation,
                options=opts,
                tags=spec.tags,
            ),
            "endpoint_config": rq.build_endpoint_config_request(
                name=name,
                model_name=name,
                instance_type=plan.instance_type,
                instance_count=spec.instance_count,
                options=opts,
                tags=spec.tags,
            ),
            "endpoint": rq.build_endpoint_request(name=name, config_name=name, tags=tags),
        }

    def create_deployment(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Create model, endpoint config and endpoint (all named ``spec.name``), idempotently.

        An endpoint of that name serving the same model is returned as it is; one serving another model is a
        conflict. ``Model.deploy`` then waits for ``InService``.

        Raises:
            ResourceConflictError: the name is taken by an endpoint for another model.
            ConfigurationError: see :meth:`deployment_requests`.
        """
        name = rq.resource_name(spec.name)
        existing = self._find_endpoint(name)
        if existing is not None:
            if existing.model_id not in (spec.model_id, ""):
                raise ResourceConflictError(
                    f"an endpoint named {name} already serves {existing.model_id}; pick another name or "
                    "delete it",
                    backend=BACKEND,
                )
            return existing
        requests = self.deployment_requests(spec)
        for op, key in (
            ("create_model", "model"),
            ("create_endpoint_config", "endpoint_config"),
            ("create_endpoint", "endpoint"),
        ):
            try:
                self._call("sagemaker", op, resource=name, **requests[key])
            except BackendError as exc:
                if not _already_exists(exc):
                    raise
                logger.info("%s %s already exists; reusing it", key, name)
        tags = {t["Key"]: t["Value"] for t in requests["endpoint"].get("Tags", [])}
        dialect = _dialect_pair(
            tags.get(f"{rq.TAG_PREFIX}payload"), tags.get(f"{rq.TAG_PREFIX}prompt-format")
        )
        with self._lock:
            self._dialects[name] = dialect
        return self.describe_deployment(name)

    def _find_endpoint(self, name: str) -> DeploymentRecord | None:
        try:
            return self.describe_deployment(name)
        except ResourceNotFoundError:
            return None

    def describe_deployment(self, deployment_id: str) -> DeploymentRecord:
        """The endpoint's record (``EndpointStatus`` mapped to ``DeploymentStatus``).

        Raises:
            ResourceNotFoundError: no such endpoint.
        """
        name = deployment_id.rsplit("endpoint/", 1)[-1] if deployment_id.startswith("arn:") else deployment_id
        d = self._call("sagemaker", "describe_endpoint", resource=f"endpoint {name}", EndpointName=name)
        raw_status = str(d.get("EndpointStatus", "Creating"))
        tags = self._tags(str(d.get("EndpointArn", "")))
        return DeploymentRecord(
            id=name,
            name=name,
            backend=BACKEND,
            model_id=tags.get(f"{rq.TAG_PREFIX}model-id", ""),
            kind="endpoint",
            status=_ENDPOINT_STATUS.get(raw_status, DeploymentStatus.CREATING),
            raw_status=raw_status,
            invoke_id=name,
            failure_message=d.get("FailureReason"),
            created_at=d.get("CreationTime"),
            raw={k: v for k, v in d.items() if k != "ResponseMetadata"},
        )

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete the endpoint, its config and its models; anything already gone is skipped."""
        name = deployment_id.rsplit("endpoint/", 1)[-1] if deployment_id.startswith("arn:") else deployment_id
        config_name = name
        models: list[str] = []
        try:
            d = self._call("sagemaker", "describe_endpoint", resource=f"endpoint {name}", EndpointName=name)
            config_name = str(d.get("EndpointConfigName") or name)
        except ResourceNotFoundError:
            d = None
        try:
            config = self._call(
                "sagemaker", "describe_endpoint_config", resource=config_name, EndpointConfigName=config_name
            )
            models = [str(v["ModelName"]) for v in config.get("ProductionVariants", []) if v.get("ModelName")]
        except ResourceNotFoundError:
            models = [name]
        steps: list[tuple[str, dict[str, str]]] = []
        if d is not None:
            steps.append(("delete_endpoint", {"EndpointName": name}))
        steps.append(("delete_endpoint_config", {"EndpointConfigName": config_name}))
        steps += [("delete_model", {"ModelName": m}) for m in dict.fromkeys(models)]
        for op, params in steps:
            try:
                self._call("sagemaker", op, resource=name, **params)
            except ResourceNotFoundError:
                continue
        with self._lock:
            self._dialects.pop(name, None)

    def list_deployments(self) -> Iterator[DeploymentRecord]:
        """Endpoints in this account and Region, newest first."""
        params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100}
        while True:
            page = self._call("sagemaker", "list_endpoints", **params)
            for summary in page.get("Endpoints", []):
                try:
                    yield self.describe_deployment(str(summary["EndpointName"]))
                except ResourceNotFoundError:
                    continue
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    # --- invocation ------------------------------------------------------------------------------------
    def _dialect_of(self, endpoint: str) -> tuple[serving.Dialect, serving.PromptFormat]:
        with self._lock:
            known = self._dialects.get(endpoint)
        if known is not None:
            return known
        dialect: str | None = None
        prompt: str | None = None
        try:
            d = self._call(
                "sagemaker", "describe_endpoint", resource=f"endpoint {endpoint}", EndpointName=endpoint
            )
            tags = self._tags(str(d.get("EndpointArn", "")))
            dialect = tags.get(f"{rq.TAG_PREFIX}payload")
            prompt = tags.get(f"{rq.TAG_PREFIX}prompt-format")
            if dialect is None:
                config = self._call(
                    "sagemaker",
                    "describe_endpoint_config",
                    EndpointConfigName=str(d.get("EndpointConfigName")),
                )
                model_name = config["ProductionVariants"][0]["ModelName"]
                model = self._call("sagemaker", "describe_model", ModelName=model_name)
                dialect = serving.guess_dialect((model.get("PrimaryContainer") or {}).get("Image"))
        except (BackendError, KeyError, IndexError) as exc:
            logger.debug("could not read the payload dialect of endpoint %s (%s); using tgi", endpoint, exc)
        result = _dialect_pair(dialect, prompt)
        with self._lock:
            self._dialects[endpoint] = result
        return result

    def chat(
        self, model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
    ) -> ChatResponse:
        """Invoke an endpoint (``model_id`` is the endpoint name) in its container's dialect.

        Token counts are the container's when it reports them (TGI ``details``, LMI ``usage``), otherwise
        estimated at about 4 characters per token with ``tokens_estimated=True``.

        Raises:
            ResourceNotFoundError: no such endpoint.
            ServiceValidationError: the container rejected the request or answered in an unknown shape.
            ThrottlingError: still throttled after retries.
        """
        from finetune_sdk.data.tokens import HeuristicCounter

        dialect, prompt_format = self._dialect_of(model_id)
        body = serving.build_request(dialect, prompt_format, system, turns, config)
        start = self.clock.monotonic()
        wall = time.perf_counter()
        response = self._call(
            "sagemaker-runtime",
            "invoke_endpoint",
            resource=f"endpoint {model_id}",
            EndpointName=model_id,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps(body).encode("utf-8"),
        )
        raw_body = response["Body"].read()
        latency = max(self.clock.monotonic() - start, time.perf_counter() - wall)
        prompt = body.get("inputs") if isinstance(body.get("inputs"), str) else None
        stops = [serving.LLAMA3_EOT, *config.stop] if dialect == "tgi" else list(config.stop)
        parsed = serving.parse_response(raw_body, prompt=prompt, stops=stops)
        counter = HeuristicCounter(4.0)
        estimated = parsed.input_tokens is None or parsed.output_tokens is None
        prompt_text = prompt if prompt is not None else "\n".join([system or "", *(t.text for t in turns)])
        input_tokens = parsed.input_tokens if parsed.input_tokens is not None else counter.count(prompt_text)
        output_tokens = (
            parsed.output_tokens if parsed.output_tokens is not None else counter.count(parsed.text)
        )
        raw: dict[str, Any] = {
            "body": raw_body.decode("utf-8", errors="replace")[:10_000],
            "dialect": dialect,
        }
        return ChatResponse(
            text=parsed.text,
            stop_reason=parsed.stop_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            tokens_estimated=estimated,
            latency_s=latency,
            model_id=model_id,
            raw=raw,
        )

    # --- Bedrock export --------------------------------------------------------------------------------
    def export_to_bedrock(
        self,
        job_id: str,
        *,
        bedrock_backend: Backend | str | None = None,
        imported_model_name: str | None = None,
        role_arn: str | None = None,
    ) -> Job:
        """Import a completed job's weights into Amazon Bedrock (Custom Model Import); see
        :func:`finetune_sdk.export.export_to_bedrock` (the cross-backend move lives in the API layer)."""
        export_to_bedrock = importlib.import_module("finetune_sdk.export").export_to_bedrock

        return export_to_bedrock(  # type: ignore[no-any-return]
            job_id,
            sagemaker_backend=self,
            bedrock_backend=bedrock_backend,
            imported_model_name=imported_model_name,
            role_arn=role_arn,
        )

    def __repr__(self) -> str:
        region = self._aws._region or "default"
        return f"<SageMakerBackend name='sagemaker' region={region!r}>"
