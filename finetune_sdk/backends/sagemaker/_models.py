"""SageMaker models and deployments: trained models, endpoint configs and real-time endpoints.

Private; composed into :class:`finetune_sdk.backends.sagemaker.SageMakerBackend`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from finetune_sdk.backends.base import (
    DeploymentRecord,
    DeploymentSpec,
    DeploymentStatus,
    JobStatus,
    ModelRecord,
)
from finetune_sdk.backends.sagemaker import requests as rq
from finetune_sdk.backends.sagemaker import serving
from finetune_sdk.backends.sagemaker.jumpstart import (
    HubDocument,
)
from finetune_sdk.backends.sagemaker.options import SageMakerEndpointOptions
from finetune_sdk.errors import (
    BackendError,
    ConfigurationError,
    ResourceConflictError,
    ResourceNotFoundError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    pass

from finetune_sdk.backends.sagemaker._base import (
    _ENDPOINT_STATUS,
    BACKEND,
    _already_exists,
    _dialect_pair,
    _SageMakerBase,
    _ServingPlan,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _SageMakerModels(_SageMakerBase):
    """SageMaker models and deployments: trained models, endpoint configs and real-time endpoints."""

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
