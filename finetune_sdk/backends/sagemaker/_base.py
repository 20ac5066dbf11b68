"""The SageMakerBackend core: construction, clients and the one request path every capability uses.

Private; :mod:`finetune_sdk.backends.sagemaker` re-exports the public names.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from finetune_sdk._aws import AwsClients, call_with_retries, validate_request
from finetune_sdk._clock import Clock
from finetune_sdk.backends.base import (
    Backend,
    DeploymentStatus,
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    UsesAwsSession,
)
from finetune_sdk.backends.sagemaker import serving
from finetune_sdk.backends.sagemaker.hyperparameters import is_llama3, jumpstart_value, schema_for
from finetune_sdk.backends.sagemaker.jumpstart import (
    HubDocument,
    HubDocumentLoader,
    coerce_document,
    describe_hub_document,
)
from finetune_sdk.backends.sagemaker.options import SageMakerOptions
from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.errors import (
    BackendError,
    ConfigurationError,
    FinetuneError,
    HyperparameterError,
    ResourceConflictError,
    ResourceNotFoundError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    pass

__all__: list[str] = []

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


class _SageMakerBase(Backend, UsesAwsSession):
    """Construction, clients and the request path shared by every capability of :class:`SageMakerBackend`."""

    #: attempts per call for throttling and dropped connections (each after an exponential backoff)
    retry_attempts = 5

    if TYPE_CHECKING:  # provided by other capabilities of the composed class

        def _describe_training_job(self, job_id: str) -> dict[str, Any]: ...

        def _job_record(self, d: Mapping[str, Any], tags: Mapping[str, str]) -> JobRecord: ...

        def _tags(self, arn: str) -> dict[str, str]: ...

        @staticmethod
        def model_folder(d: Mapping[str, Any]) -> str | None: ...

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
