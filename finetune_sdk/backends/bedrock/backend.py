"""The Amazon Bedrock backend: customisation and import jobs, custom models, deployments, inference, batch.

Every request is built by a pure function in ``requests.py``, checked against botocore's service model by
``checks.validate_request`` (max lengths, patterns, enums... that botocore skips), and sent through one
method, :meth:`BedrockBackend._call`, which retries throttling, 5xx answers and dropped connections with
tenacity on the backend clock and translates every error into ``finetune_sdk.errors`` at the boundary.

Creates are idempotent: the client request token is derived from the spec, and after a failure that leaves it
unknown whether the create was applied (a 5xx or a lost connection) the backend looks for the job by name
before sending it again.

Examples:
    >>> from finetune_sdk.backends.bedrock import BedrockBackend
    >>> backend = BedrockBackend(region="us-west-2", role_arn="arn:aws:iam::123456789012:role/BedrockJobs",
    ...                          output_uri="s3://my-bucket/finetune")
    >>> backend.name, backend.region, sorted(k.value for k in backend.supported_kinds)
    ('bedrock', 'us-west-2', ['continued_pre_training', 'distillation', 'fine_tuning', 'import'])
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from finetune_sdk import catalog
from finetune_sdk._aws import AwsClients, RetryPolicy, call_with_retries, poll
from finetune_sdk._clock import Clock
from finetune_sdk.backends.base import (
    TERMINAL_STATUSES,
    Backend,
    CanBatchInfer,
    CanDeploy,
    CanInvoke,
    CanPreflightImport,
    ChatResponse,
    CostEstimate,
    DeploymentRecord,
    DeploymentSpec,
    DeploymentStatus,
    InferenceConfig,
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    MetricPoint,
    ModelRecord,
    UsesAwsSession,
)
from finetune_sdk.backends.bedrock import requests as rq
from finetune_sdk.backends.bedrock.checks import (
    base_model_info,
    check_job_spec,
    hyperparameter_schema,
    model_id_from_arn,
    validate_request,
)
from finetune_sdk.backends.bedrock.errors import hint_for_failure, service_message, translate_error
from finetune_sdk.backends.bedrock.iam import split_s3_uri
from finetune_sdk.backends.bedrock.metrics import (
    TRAINING_METRICS_FILE,
    VALIDATION_METRICS_FILE,
    job_output_prefix,
    merge_metric_points,
    parse_metrics_csv,
)
from finetune_sdk.backends.bedrock.preflight import ImportPreflightReport, preflight_import
from finetune_sdk.catalog import HyperparameterSpec
from finetune_sdk.errors import (
    ConfigurationError,
    JobFailedError,
    JobStoppedError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.records import Turn

__all__ = ["BedrockBackend"]

logger = logging.getLogger(__name__)

_JOB_STATUS: dict[str, JobStatus] = {
    "InProgress": JobStatus.RUNNING,
    "Stopping": JobStatus.STOPPING,
    "Completed": JobStatus.COMPLETED,
    "Failed": JobStatus.FAILED,
    "Stopped": JobStatus.STOPPED,
}
_STATUS_FILTER: dict[JobStatus, str] = {
    JobStatus.RUNNING: "InProgress",
    JobStatus.STOPPING: "Stopping",
    JobStatus.COMPLETED: "Completed",
    JobStatus.FAILED: "Failed",
    JobStatus.STOPPED: "Stopped",
}
_IMPORT_STATUSES = frozenset({JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED})
_KIND_BY_TYPE: dict[str, JobKind] = {
    "FINE_TUNING": JobKind.FINE_TUNING,
    "CONTINUED_PRE_TRAINING": JobKind.CONTINUED_PRE_TRAINING,
    "DISTILLATION": JobKind.DISTILLATION,
}
_STAGES = (
    ("validationDetails", "validation"),
    ("dataProcessingDetails", "data_processing"),
    ("trainingDetails", "training"),
)
_PT_STATUS: dict[str, DeploymentStatus] = {
    "Creating": DeploymentStatus.CREATING,
    "InService": DeploymentStatus.ACTIVE,
    "Updating": DeploymentStatus.UPDATING,
    "Failed": DeploymentStatus.FAILED,
}
_DEPLOYMENT_STATUS: dict[str, DeploymentStatus] = {
    "Creating": DeploymentStatus.CREATING,
    "Active": DeploymentStatus.ACTIVE,
    "Failed": DeploymentStatus.FAILED,
}
_BATCH_DONE = frozenset({"Completed", "PartiallyCompleted"})
_BATCH_FAILED = frozenset({"Failed", "Expired"})
_BATCH_STOPPED = frozenset({"Stopped"})
#: documented default quota "Minimum number of records per batch inference job" (adjustable, not verified)
_BATCH_MIN_RECORDS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _raw(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _created(record: JobRecord | ModelRecord | DeploymentRecord) -> datetime:
    return record.created_at or _EPOCH


class _Timing:
    """Start and end of the last attempt of a call (the latency a user sees, without backoff waits)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.start = self.end = clock.monotonic()

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def _is_import_job(job_id: str) -> bool:
    return ":model-import-job/" in job_id


def _converse_unsupported(exc: BaseException) -> bool:
    """Whether a ValidationException says that Converse cannot serve this model (so InvokeModel may)."""
    text = service_message(exc).replace("\u2019", "'").lower()
    if "on-demand throughput" in text or "inference profile" in text or "identifier is invalid" in text:
        return False
    return any(
        marker in text
        for marker in (
            "converse",
            "doesn't support the model",
            "does not support the model",
            "operation is not supported",
            "action doesn't support",
        )
    )


class BedrockBackend(Backend, CanInvoke, CanDeploy, CanBatchInfer, CanPreflightImport, UsesAwsSession):
    """Amazon Bedrock: fine-tuning, continued pre-training, distillation, Custom Model Import, Provisioned
    Throughput and on-demand deployments, Converse/InvokeModel inference and batch inference.

    Args:
        region: AWS Region (default: the session's, then ``AWS_DEFAULT_REGION``).
        session: a ``boto3.Session`` (profile, credentials); every client is created from it, lazily.
        role_arn: default service role for jobs (a spec's ``role_arn`` wins).
        output_uri: default ``s3://`` prefix for job output, staged data and batch files.
        endpoint_url: endpoint of the ``bedrock`` client (VPC endpoints, emulators).
        runtime_endpoint_url: endpoint of the ``bedrock-runtime`` client.
        s3_endpoint_url: endpoint of the ``s3`` client (staged data, metrics, batch files).
        clock: time source for retries and polling (``finetune_sdk.testing.FakeClock`` in tests).
        max_attempts: attempts per request for throttling, 5xx answers and dropped connections.
        invoke_throttle_attempts: attempts of a throttled inference call before ``ThrottlingError`` is raised
            (default ``min(3, max_attempts)``). Callers with their own rate limiter, such as the Evaluator's
            adaptive limiter, see throttling sooner with 1.

    Raises:
        ConfigurationError: ``max_attempts`` below 1 or an ``output_uri`` that is not ``s3://``.
    """

    name = "bedrock"
    supported_kinds = frozenset(
        {JobKind.FINE_TUNING, JobKind.CONTINUED_PRE_TRAINING, JobKind.DISTILLATION, JobKind.IMPORT}
    )
    default_poll_interval = 60.0
    default_deployment_kind = "provisioned"

    def __init__(
        self,
        *,
        region: str | None = None,
        session: Any = None,
        role_arn: str | None = None,
        output_uri: str | None = None,
        endpoint_url: str | None = None,
        runtime_endpoint_url: str | None = None,
        s3_endpoint_url: str | None = None,
        clock: Clock | None = None,
        max_attempts: int = 5,
        invoke_throttle_attempts: int | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts}")
        if output_uri is not None and not output_uri.startswith("s3://"):
            raise ConfigurationError(f"output_uri must be an s3:// prefix, got {output_uri!r}")
        self._aws = AwsClients(
            session=session,
            region=region,
            backend="bedrock",
            endpoint_urls={"bedrock": endpoint_url, "bedrock-runtime": runtime_endpoint_url, "s3": s3_endpoint_url},
        )
        self.role_arn = role_arn
        self.output_uri = output_uri.rstrip("/") if output_uri else None
        self.endpoint_url = endpoint_url
        self.runtime_endpoint_url = runtime_endpoint_url
        self.s3_endpoint_url = s3_endpoint_url
        self.max_attempts = max_attempts
        self._control_policy = RetryPolicy(max_attempts=max_attempts, throttle_attempts=max_attempts)
        # inference: throttling is retried briefly (callers such as the Evaluator have their own limiter);
        # an imported model scaled to zero is given up to ~5 minutes to come back
        self._runtime_policy = RetryPolicy(
            max_attempts=max_attempts,
            throttle_attempts=invoke_throttle_attempts or min(3, max_attempts),
            not_ready_budget_s=300.0,
            base_s=1.0,
            cap_s=8.0,
        )
        self._imported_cache: dict[str, Mapping[str, Any]] = {}
        self._dialects: dict[str, str | None] = {}
        self._no_converse: dict[str, str] = {}

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        """The ``boto3.Session`` all clients come from (created on first use when none was given)."""
        return self._aws.session

    @property
    def region(self) -> str | None:
        """The Region requests go to (``None`` when neither the backend nor the session has one)."""
        return self._aws.region_or_none

    def client(self, service: Literal["bedrock", "bedrock-runtime", "s3"]) -> Any:
        """The boto3 client for ``service``, created once by the AWS core's factory (botocore retries off).

        Tests attach ``botocore.stub.Stubber`` to these.

        Raises:
            ConfigurationError: no Region is configured.
        """
        return self._aws.client(service)

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint URL the ``service`` client uses (``None``: AWS's own)."""
        return self._aws.endpoint_for(service)

    def _call(
        self,
        service: Literal["bedrock", "bedrock-runtime", "s3"],
        operation: str,
        params: Mapping[str, Any],
        *,
        runtime: bool = False,
        recover: Callable[[], dict[str, Any] | None] | None = None,
        model_id: str | None = None,
        timing: _Timing | None = None,
    ) -> dict[str, Any]:
        """Validate, send with retries, translate errors. Returns the response dict."""
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        validate_request(service, operation, params)
        method = getattr(self.client(service), xform_name(operation))

        def send() -> dict[str, Any]:
            if timing is not None:
                timing.start = self.clock.monotonic()
            response: dict[str, Any] = method(**params)
            if timing is not None:
                timing.end = self.clock.monotonic()
            return response

        try:
            return call_with_retries(
                send,
                clock=self.clock,
                policy=self._runtime_policy if runtime else self._control_policy,
                what=f"{service}:{operation}",
                recover=recover,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, operation=operation, region=self.region, model_id=model_id) from exc

    def _paginate(
        self,
        service: Literal["bedrock", "s3"],
        operation: str,
        result_key: str,
        params: Mapping[str, Any],
        *,
        token_key: str = "nextToken",
    ) -> Iterator[dict[str, Any]]:
        """Items of a paginated list call, fetched lazily one page at a time through botocore's paginator.

        Each page is its own retried request (resuming from the last page's token), so a throttled page
        does not restart the listing.
        """
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        validate_request(service, operation, params)
        paginator = self.client(service).get_paginator(xform_name(operation))
        token: str | None = None
        while True:
            kwargs = dict(params)
            if token:
                kwargs["PaginationConfig"] = {"StartingToken": token}

            def fetch(kwargs: dict[str, Any] = kwargs) -> dict[str, Any]:
                page: dict[str, Any] = next(iter(paginator.paginate(**kwargs)))
                return page

            try:
                page = call_with_retries(
                    fetch, clock=self.clock, policy=self._control_policy, what=f"{service}:{operation}"
                )
            except (ClientError, BotoCoreError) as exc:
                raise translate_error(exc, operation=operation, region=self.region) from exc
            yield from page.get(result_key, [])
            token = page.get(token_key)
            if not token:
                return

    # --- jobs: records ----------------------------------------------------------------------------------
    def _customization_record(self, raw: Mapping[str, Any]) -> JobRecord:
        raw_status = str(raw.get("status") or "InProgress")
        status = _JOB_STATUS.get(raw_status, JobStatus.RUNNING)
        details = raw.get("statusDetails") or {}
        stages = {
            label: str(details[key]["status"])
            for key, label in _STAGES
            if isinstance(details.get(key), Mapping) and details[key].get("status")
        }
        progress: float | None = None
        if status is JobStatus.COMPLETED:
            progress = 1.0
        elif stages:
            progress = sum(v == "Completed" for v in stages.values()) / len(_STAGES)
        training_loss = (raw.get("trainingMetrics") or {}).get("trainingLoss")
        val_losses = [
            float(m["validationLoss"])
            for m in raw.get("validationMetrics") or []
            if isinstance(m, Mapping) and m.get("validationLoss") is not None
        ]
        return JobRecord(
            id=str(raw["jobArn"]),
            name=str(raw.get("jobName") or raw["jobArn"].rsplit("/", 1)[-1]),
            backend=self.name,
            kind=_KIND_BY_TYPE.get(str(raw.get("customizationType")), JobKind.FINE_TUNING),
            status=status,
            raw_status=raw_status,
            base_model=str(raw.get("baseModelArn") or raw.get("baseModelIdentifier") or ""),
            output_model_id=raw.get("outputModelArn") or raw.get("customModelArn"),
            output_model_name=raw.get("outputModelName") or raw.get("customModelName"),
            output_uri=(raw.get("outputDataConfig") or {}).get("s3Uri"),
            created_at=_utc(raw.get("creationTime")),
            updated_at=_utc(raw.get("lastModifiedTime")),
            ended_at=_utc(raw.get("endTime")) if status in TERMINAL_STATUSES else None,
            # the message is only meaningful once the job failed or stopped (emulators fill it in always)
            failure_message=raw.get("failureMessage")
            if status in (JobStatus.FAILED, JobStatus.STOPPED)
            else None,
            stages=stages,
            progress=progress,
            training_loss=float(training_loss) if training_loss is not None else None,
            validation_loss=sum(val_losses) / len(val_losses) if val_losses else None,
            raw=_raw(raw),
        )

    def _import_record(self, raw: Mapping[str, Any]) -> JobRecord:
        raw_status = str(raw.get("status") or "InProgress")
        status = _JOB_STATUS.get(raw_status, JobStatus.RUNNING)
        source = ((raw.get("modelDataSource") or {}).get("s3DataSource") or {}).get("s3Uri")
        return JobRecord(
            id=str(raw["jobArn"]),
            name=str(raw.get("jobName") or raw["jobArn"].rsplit("/", 1)[-1]),
            backend=self.name,
            kind=JobKind.IMPORT,
            status=status,
            raw_status=raw_status,
            base_model=str(source or "imported"),
            output_model_id=raw.get("importedModelArn"),
            output_model_name=raw.get("importedModelName"),
            created_at=_utc(raw.get("creationTime")),
            updated_at=_utc(raw.get("lastModifiedTime")),
            ended_at=_utc(raw.get("endTime")) if status in TERMINAL_STATUSES else None,
            failure_message=raw.get("failureMessage") if status is JobStatus.FAILED else None,
            progress=1.0 if status is JobStatus.COMPLETED else None,
            raw=_raw(raw),
        )

    def _get_job(self, identifier: str, *, is_import: bool) -> JobRecord:
        if is_import:
            return self._import_record(
                self._call("bedrock", "GetModelImportJob", {"jobIdentifier": identifier})
            )
        return self._customization_record(
            self._call("bedrock", "GetModelCustomizationJob", {"jobIdentifier": identifier})
        )

    # --- jobs: protocol ---------------------------------------------------------------------------------
    def check_spec(self, spec: JobSpec) -> None:
        """Everything Bedrock would reject, checked locally: catalog rules, then the full request.

        Raises:
            UnsupportedOperationError: a job kind Bedrock does not run.
            ConfigurationError: no role/output, unsupported model, Region or teacher.
            HyperparameterError: unknown hyperparameter or value out of range.
            RequestValidationError: the request breaks an API constraint (``err.field`` names it).
        """
        if spec.kind not in self.supported_kinds:
            raise UnsupportedOperationError(f"the bedrock backend cannot run {spec.kind.value} jobs")
        check_job_spec(spec, region=self.region)
        operation, params = rq.job_request(spec, role_arn=self.role_arn, output_uri=self.output_uri)
        validate_request("bedrock", operation, params)

    def hyperparameter_schema(self, base_model: str, kind: JobKind) -> Sequence[HyperparameterSpec] | None:
        """The catalog's hyperparameters for ``base_model`` (``None``: distillation, import, unknown)."""
        return hyperparameter_schema(base_model, kind)

    def _same_request(self, raw: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        token = raw.get("clientRequestToken")
        if token:
            return bool(token == params.get("clientRequestToken"))
        # no token echoed: compare what defines the job
        pairs = (
            (
                params.get("trainingDataConfig", {}).get("s3Uri"),
                (raw.get("trainingDataConfig") or {}).get("s3Uri"),
            ),
            (
                params.get("outputDataConfig", {}).get("s3Uri"),
                (raw.get("outputDataConfig") or {}).get("s3Uri"),
            ),
            (params.get("hyperParameters"), raw.get("hyperParameters")),
            (params.get("customizationType"), raw.get("customizationType")),
            (
                (params.get("modelDataSource") or {}).get("s3DataSource", {}).get("s3Uri"),
                ((raw.get("modelDataSource") or {}).get("s3DataSource") or {}).get("s3Uri"),
            ),
        )
        return all(want is None or got is None or want == got for want, got in pairs)

    def _find_submitted(self, spec: JobSpec, params: Mapping[str, Any]) -> JobRecord | None:
        """The job a previous create of ``spec`` made, by exact name; ``None`` when there is none.

        Raises:
            ResourceConflictError: a job with that name exists but was created from a different request.
        """
        is_import = spec.kind is JobKind.IMPORT
        operation = "ListModelImportJobs" if is_import else "ListModelCustomizationJobs"
        key = "modelImportJobSummaries" if is_import else "modelCustomizationJobSummaries"
        for summary in self._paginate("bedrock", operation, key, {"nameContains": spec.name}):
            if summary.get("jobName") != spec.name:
                continue
            operation_get = "GetModelImportJob" if is_import else "GetModelCustomizationJob"
            raw = self._call("bedrock", operation_get, {"jobIdentifier": spec.name})
            if not self._same_request(raw, params):
                raise ResourceConflictError(
                    f"a Bedrock job named {spec.name!r} already exists ({raw.get('jobArn')}) and was created "
                    f"from "
                    "a different request. Fix: pass another name=, or attach to it with "
                    f"Job.attach({str(raw.get('jobArn'))!r}, backend='bedrock')",
                    backend=self.name,
                    code="ConflictException",
                )
            return self._import_record(raw) if is_import else self._customization_record(raw)
        return None

    def submit_job(self, spec: JobSpec) -> JobRecord:
        """Create the job (idempotently) and return its record.

        The same spec always sends the same ``clientRequestToken``. After a 5xx answer or a lost connection
        the
        backend first looks for a job of that name created from this request and attaches to it; a
        ``ConflictException`` for a job of the same name and request attaches too.

        Raises:
            ConfigurationError / RequestValidationError: the local checks failed; nothing was sent.
            ResourceConflictError: the name is taken by a different job.
            AccessDeniedError, QuotaExceededError, ServiceValidationError: the service refused.
        """
        if spec.kind not in self.supported_kinds:
            raise UnsupportedOperationError(f"the bedrock backend cannot run {spec.kind.value} jobs")
        check_job_spec(spec, region=self.region)
        operation, params = rq.job_request(spec, role_arn=self.role_arn, output_uri=self.output_uri)
        found: list[JobRecord] = []

        def recover() -> dict[str, Any] | None:
            record = self._find_submitted(spec, params)
            if record is None:
                return None
            found.append(record)
            return {"jobArn": record.id}

        try:
            response = self._call("bedrock", operation, params, recover=recover)
        except ResourceConflictError as exc:
            # the service's conflict (the name exists); our own "different request" error has no cause
            if exc.__cause__ is None or exc.code not in ("ConflictException", "ResourceInUseException"):
                raise
            existing = self._find_submitted(spec, params)
            if existing is None:
                raise
            logger.info("job %s already exists from the same request; attaching to it", spec.name)
            return existing
        if found:
            return found[-1]
        arn = str(response["jobArn"])
        logger.info("submitted Bedrock %s job %s (%s)", spec.kind.value, spec.name, arn)
        now = self.clock.now()
        return JobRecord(
            id=arn,
            name=spec.name,
            backend=self.name,
            kind=spec.kind,
            status=JobStatus.RUNNING,
            raw_status="InProgress",
            base_model=spec.base_model,
            output_model_name=spec.output_model_name,
            output_uri=params.get("outputDataConfig", {}).get("s3Uri"),
            created_at=now,
            updated_at=now,
            raw={"request": {k: v for k, v in params.items() if k != "clientRequestToken"}},
        )

    def describe_job(self, job_id: str) -> JobRecord:
        """The job's current record, from its ARN or name (customisation or import job).

        Raises:
            ResourceNotFoundError: no such job in this account and Region.
        """
        if _is_import_job(job_id):
            return self._get_job(job_id, is_import=True)
        if job_id.startswith("arn:"):
            return self._get_job(job_id, is_import=False)
        try:
            return self._get_job(job_id, is_import=False)
        except ResourceNotFoundError as first:
            try:
                return self._get_job(job_id, is_import=True)
            except ResourceNotFoundError:
                raise first from None

    def failure_hint(self, record: JobRecord) -> str | None:
        """What to do about a failed job, from its failure message (used by ``Job.wait``)."""
        return hint_for_failure(record.failure_message)

    def stop_job(self, job_id: str) -> None:
        """Stop a customisation job; a job that already ended (or is stopping) is left alone.

        Raises:
            UnsupportedOperationError: an import job that is still running (Bedrock cannot stop those).
            ResourceNotFoundError: no such job.
        """
        if _is_import_job(job_id):
            self._stop_import(self.describe_job(job_id))
            return
        try:
            self._call("bedrock", "StopModelCustomizationJob", {"jobIdentifier": job_id})
        except (ResourceConflictError, ServiceValidationError, ResourceNotFoundError):
            record = self.describe_job(job_id)
            if record.kind is JobKind.IMPORT:
                self._stop_import(record)
                return
            if record.status in TERMINAL_STATUSES or record.status is JobStatus.STOPPING:
                logger.info("job %s is already %s; nothing to stop", record.name, record.raw_status)
                return
            raise

    @staticmethod
    def _stop_import(record: JobRecord) -> None:
        if record.status in TERMINAL_STATUSES:
            return
        raise UnsupportedOperationError(
            f"Bedrock cannot stop model import job {record.name}; it ends on its own. "
            "Delete the imported model afterwards if you do not want it."
        )

    def list_jobs(
        self, *, status: JobStatus | None = None, name_contains: str | None = None
    ) -> Iterator[JobRecord]:
        """Customisation and import jobs, newest first, each list fetched lazily page by page."""
        base: dict[str, Any] = {"sortBy": "CreationTime", "sortOrder": "Descending"}
        if name_contains:
            base["nameContains"] = name_contains
        streams: list[Iterator[JobRecord]] = []
        if status is None or status in _STATUS_FILTER:
            params = dict(base)
            if status is not None:
                params["statusEquals"] = _STATUS_FILTER[status]
            streams.append(
                self._customization_record(s)
                for s in self._paginate(
                    "bedrock", "ListModelCustomizationJobs", "modelCustomizationJobSummaries", params
                )
            )
        if status is None or status in _IMPORT_STATUSES:
            params = dict(base)
            if status is not None:
                params["statusEquals"] = _STATUS_FILTER[status]
            streams.append(
                self._import_record(s)
                for s in self._paginate("bedrock", "ListModelImportJobs", "modelImportJobSummaries", params)
            )
        yield from heapq.merge(*streams, key=_created, reverse=True)

    def job_metrics(self, job_id: str) -> list[MetricPoint]:
        """The loss curve from the job's S3 output (empty while nothing was written yet).

        Lists ``<output>/model-customization-job-<jobId>/`` and parses every
        ``step_wise_training_metrics.csv``
        and ``validation_metrics.csv`` under it (the validation file's folder differs between the docs and
        practice), merged by step and epoch.

        Raises:
            ResourceNotFoundError: no such job, or the output bucket does not exist.
            AccessDeniedError: the caller cannot list or read the output prefix.
        """
        record = self.describe_job(job_id)
        if record.kind is JobKind.IMPORT or not record.output_uri:
            return []
        bucket, prefix = split_s3_uri(job_output_prefix(record.output_uri, record.id))
        keys = [
            str(obj["Key"])
            for obj in self._paginate(
                "s3",
                "ListObjectsV2",
                "Contents",
                {"Bucket": bucket, "Prefix": prefix},
                token_key="NextContinuationToken",
            )
        ]
        training: list[MetricPoint] = []
        validation: list[MetricPoint] = []
        for key in sorted(keys):
            name = key.rsplit("/", 1)[-1]
            if name not in (TRAINING_METRICS_FILE, VALIDATION_METRICS_FILE):
                continue
            try:
                body = self._call("s3", "GetObject", {"Bucket": bucket, "Key": key})["Body"].read()
            except ResourceNotFoundError:
                continue  # listed but gone (rewritten while the job runs)
            text = body.decode("utf-8", errors="replace")
            if name == TRAINING_METRICS_FILE:
                training += parse_metrics_csv(text)
            else:
                validation += parse_metrics_csv(text, perplexity=False)
        return merge_metric_points(training, validation)

    def estimate_job_cost(self, spec: JobSpec, *, training_tokens: int | None) -> CostEstimate | None:
        """Training tokens × epochs × the catalog's training price per 1K tokens, plus one month of storage.

        Distillation adds the teacher's generation (prompt tokens at its input price and, as an assumption,
        as many response tokens at its output price) and trains on prompts plus responses. ``None`` for
        imports, for models without catalog prices, and when ``training_tokens`` is unknown.
        """
        if spec.kind is JobKind.IMPORT or training_tokens is None:
            return None
        info = base_model_info(spec.base_model)
        if info is None or info.prices.training_per_1k_tokens is None:
            return None
        prices = info.prices
        train_price: float = info.prices.training_per_1k_tokens
        epochs_value = spec.hyperparameters.get("epochCount")
        if epochs_value is None:
            default = next((h.default for h in info.hyperparameters if h.name == "epochCount"), None)
            epochs_value = default if default is not None else 1
        try:
            epochs = float(epochs_value)
        except (TypeError, ValueError):
            epochs = 1.0
        if spec.kind is JobKind.DISTILLATION:
            epochs = 1.0
        assumptions = [
            f"list prices for {info.id} as of {prices.date} ({prices.source}); Region-specific prices may "
            f"differ",
        ]
        breakdown: dict[str, float] = {}
        tokens = float(training_tokens)
        if spec.kind is JobKind.DISTILLATION and spec.teacher is not None:
            teacher = base_model_info(spec.teacher.model_id)
            if teacher is not None and teacher.prices.input_per_1k_tokens is not None:
                output_price = teacher.prices.output_per_1k_tokens or 0.0
                breakdown["teacher generation"] = (
                    tokens / 1000 * (teacher.prices.input_per_1k_tokens + output_price)
                )
                assumptions.append(
                    f"the teacher ({teacher.id}) reads {training_tokens:,} prompt tokens and writes as many "
                    f"response tokens (at most {spec.teacher.max_response_length} per prompt)"
                )
            else:
                assumptions.append(f"no catalog price for the teacher {spec.teacher.model_id}: not included")
            tokens *= 2
            assumptions.append("the student trains on prompts plus responses (about twice the prompt tokens)")
        breakdown["training"] = tokens * epochs / 1000 * train_price
        assumptions.append(
            f"{tokens:,.0f} training tokens × {epochs:g} epoch(s) × ${train_price} per 1K tokens"
        )
        if prices.storage_per_month:
            breakdown["model storage (1 month)"] = prices.storage_per_month
            assumptions.append(f"one month of custom-model storage at ${prices.storage_per_month}/month")
        assumptions.append("inference (Provisioned Throughput or on-demand deployment) is not included")
        return CostEstimate(
            total=round(sum(breakdown.values()), 4),
            breakdown={k: round(v, 4) for k, v in breakdown.items()},
            currency=prices.currency,
            price_date=prices.date,
            assumptions=tuple(assumptions),
        )

    def stage_data(self, dataset: Dataset, *, name: str, format: str | None, output_uri: str | None) -> str:
        """Upload ``dataset`` (content-addressed) under ``<output_uri>/data/`` and return its ``s3://`` URI.

        Raises:
            ConfigurationError: no output location is set.
        """
        base = (output_uri or self.output_uri or "").rstrip("/")
        if not base:
            raise ConfigurationError(
                "the bedrock backend needs an S3 location to stage data: pass "
                "output_uri='s3://bucket/prefix' to "
                "the Job call or to backends.get('bedrock', output_uri=...)"
            )
        if not base.startswith("s3://"):
            raise ConfigurationError(f"output_uri must be an s3:// prefix, got {base!r}")
        uri: str = dataset.upload(
            f"{base}/data/", format=format, session=self.session, endpoint_url=self.s3_endpoint_url
        )
        logger.info("staged %s at %s", name, uri)
        return uri

    def preflight_import(self, source: str) -> ImportPreflightReport:
        """Check a model folder (``s3://`` prefix or local path) before an import (see ``preflight.py``)."""
        return preflight_import(source, session=self.session, endpoint_url=self.s3_endpoint_url)

    # --- models -----------------------------------------------------------------------------------------
    def _custom_model_record(self, raw: Mapping[str, Any]) -> ModelRecord:
        return ModelRecord(
            id=str(raw["modelArn"]),
            name=str(raw.get("modelName") or raw["modelArn"].rsplit("/", 1)[-1]),
            backend=self.name,
            kind="custom",
            base_model=raw.get("baseModelArn"),
            status=raw.get("modelStatus"),
            job_id=raw.get("jobArn"),
            uri=(raw.get("outputDataConfig") or {}).get("s3Uri"),
            created_at=_utc(raw.get("creationTime")),
            supports_chat=True,
            needs_deployment=True,  # custom models are invoked through PT or an on-demand deployment
            raw=_raw(raw),
        )

    def _imported_model_record(self, raw: Mapping[str, Any]) -> ModelRecord:
        return ModelRecord(
            id=str(raw["modelArn"]),
            name=str(raw.get("modelName") or raw["modelArn"].rsplit("/", 1)[-1]),
            backend=self.name,
            kind="imported",
            base_model=raw.get("modelArchitecture"),
            status="Active",
            job_id=raw.get("jobArn"),
            uri=((raw.get("modelDataSource") or {}).get("s3DataSource") or {}).get("s3Uri"),
            created_at=_utc(raw.get("creationTime")),
            supports_chat=bool(raw.get("instructSupported", False)),
            needs_deployment=False,
            raw=_raw(raw),
        )

    def foundation_model(self, model_id: str) -> ModelRecord:
        """A record for invoking a base model on demand: catalog ids map to their runtime id (or profile).

        Raises:
            CatalogError: not a Bedrock model id and not in the catalog.
        """
        info = base_model_info(model_id)
        resource, _ = model_id_from_arn(model_id)
        if info is not None:
            invoke_id = model_id if (resource is not None or model_id != info.id) else info.runtime_id
            return ModelRecord(
                id=invoke_id,
                name=info.name,
                backend=self.name,
                kind="foundation",
                base_model=info.id,
                status="Active",
                raw={"catalog": True},
            )
        if resource in ("foundation-model", "inference-profile", "application-inference-profile") or re.match(
            r"^([a-z]{2,7}\.)?[a-z0-9-]+\.[a-z0-9.:-]+$", model_id
        ):
            return ModelRecord(
                id=model_id,
                name=model_id,
                backend=self.name,
                kind="foundation",
                base_model=None,
                status="Active",
                raw={"catalog": False},
            )
        catalog.get(model_id)  # raises CatalogError with close matches
        raise AssertionError("unreachable")  # pragma: no cover

    def _imported(self, model_id: str) -> Mapping[str, Any]:
        cached = self._imported_cache.get(model_id)
        if cached is None:
            cached = self._call("bedrock", "GetImportedModel", {"modelIdentifier": model_id})
            self._imported_cache[model_id] = cached
        return cached

    def describe_model(self, model_id: str) -> ModelRecord:
        """A custom model (ARN or name), an imported model (ARN or name), or a foundation model (catalog id).

        Raises:
            ResourceNotFoundError: no such custom or imported model.
            ConfigurationError: the id is a deployment, not a model.
        """
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model":
            raw = self._call("bedrock", "GetImportedModel", {"modelIdentifier": model_id})
            self._imported_cache[model_id] = raw
            return self._imported_model_record(raw)
        if resource == "custom-model":
            return self._custom_model_record(
                self._call("bedrock", "GetCustomModel", {"modelIdentifier": model_id})
            )
        if resource in ("foundation-model", "inference-profile", "application-inference-profile"):
            return self.foundation_model(model_id)
        if resource is not None:
            raise ConfigurationError(
                f"{model_id} is a {resource}, not a model; use Deployment.get({model_id!r}, "
                f"backend='bedrock')"
                if resource in ("provisioned-model", "custom-model-deployment")
                else f"{model_id} is a {resource}, not a model"
            )
        if base_model_info(model_id) is not None:
            return self.foundation_model(model_id)
        try:
            return self._custom_model_record(
                self._call("bedrock", "GetCustomModel", {"modelIdentifier": model_id})
            )
        except ResourceNotFoundError as first:
            try:
                raw = self._call("bedrock", "GetImportedModel", {"modelIdentifier": model_id})
            except (ResourceNotFoundError, ServiceValidationError):
                raise first from None
            return self._imported_model_record(raw)

    def list_models(self) -> Iterator[ModelRecord]:
        """Custom and imported models in this account and Region, newest first, fetched lazily."""
        params = {"sortBy": "CreationTime", "sortOrder": "Descending"}
        custom = (
            self._custom_model_record(s)
            for s in self._paginate("bedrock", "ListCustomModels", "modelSummaries", params)
        )
        imported = (
            self._imported_model_record(s)
            for s in self._paginate("bedrock", "ListImportedModels", "modelSummaries", params)
        )
        yield from heapq.merge(custom, imported, key=_created, reverse=True)

    def delete_model(self, model_id: str) -> None:
        """Delete a custom or imported model.

        Raises:
            ResourceNotFoundError: no such model.
            ResourceConflictError: the model is in use (a deployment or provisioned throughput serves it).
            ConfigurationError: a foundation model or a deployment id.
        """
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model":
            self._call("bedrock", "DeleteImportedModel", {"modelIdentifier": model_id})
            self._imported_cache.pop(model_id, None)
            return
        if resource == "custom-model":
            self._call("bedrock", "DeleteCustomModel", {"modelIdentifier": model_id})
            return
        if resource is not None or base_model_info(model_id) is not None:
            raise ConfigurationError(
                f"{model_id} is not a custom or imported model; there is nothing to delete"
            )
        try:
            self._call("bedrock", "DeleteCustomModel", {"modelIdentifier": model_id})
        except ResourceNotFoundError as first:
            try:
                self._call("bedrock", "DeleteImportedModel", {"modelIdentifier": model_id})
            except (ResourceNotFoundError, ServiceValidationError):
                raise first from None

    # --- deployments ------------------------------------------------------------------------------------
    def _model_arn(self, model_id: str) -> tuple[str, str | None]:
        """``(custom model ARN, base model id)`` of a custom model given by ARN or name."""
        resource, part = model_id_from_arn(model_id)
        if resource == "custom-model":
            return model_id, part
        raw = self._call("bedrock", "GetCustomModel", {"modelIdentifier": model_id})
        base_arn = raw.get("baseModelArn")
        base = model_id_from_arn(str(base_arn))[1] if base_arn else None
        return str(raw["modelArn"]), base

    def estimate_deployment_cost(self, spec: DeploymentSpec, *, hours: float = 1.0) -> CostEstimate | None:
        """Provisioned Throughput: model units × the catalog's no-commitment hourly price × hours.

        On-demand deployments have no hourly charge (billed per token): the estimate is 0 with the token
        prices
        as assumptions. ``None`` when the catalog has no price for the base model.
        """
        resource, _ = model_id_from_arn(spec.model_id)
        info = base_model_info(spec.model_id)
        if info is None and resource is None:
            try:
                info = base_model_info(self._model_arn(spec.model_id)[0])
            except (ResourceNotFoundError, ServiceValidationError, ConfigurationError):
                info = None
        if info is None:
            return None
        prices = info.prices
        if spec.kind == "on_demand":
            return CostEstimate(
                total=0.0,
                breakdown={"hourly charge": 0.0},
                currency=prices.currency,
                price_date=prices.date,
                assumptions=(
                    "on-demand custom model deployments have no hourly charge",
                    f"tokens are billed at ${prices.input_per_1k_tokens} (input) / "
                    f"${prices.output_per_1k_tokens} "
                    f"(output) per 1K for {info.id} ({prices.source})",
                ),
            )
        if prices.provisioned_per_hour_no_commit is None:
            return None
        total = spec.model_units * prices.provisioned_per_hour_no_commit * hours
        assumptions = [
            f"{spec.model_units} model unit(s) × ${prices.provisioned_per_hour_no_commit}/hour (no "
            f"commitment) × "
            f"{hours:g} hour(s), list price for {info.id} as of {prices.date}",
            "billed per hour from creation until the deployment is deleted",
        ]
        if spec.commitment:
            assumptions.append(
                f"a {spec.commitment} commitment is cheaper per hour but billed for the whole term; "
                "its price is not in the catalog (no-commitment price shown)"
            )
        return CostEstimate(
            total=round(total, 4),
            breakdown={"provisioned throughput": round(total, 4)},
            currency=prices.currency,
            price_date=prices.date,
            assumptions=tuple(assumptions),
        )

    def _same_model(self, served_arn: str, model_id: str, model_arn: str | None) -> bool:
        """Whether a deployment's model ARN is the model a spec names (ARN, model id or custom-model name)."""
        if not served_arn:
            return False
        if served_arn in (model_id, model_arn) or served_arn.endswith("/" + model_id):
            return True
        if model_id.startswith("arn:") or base_model_info(model_id) is not None:
            return False
        try:  # a custom model given by name
            return self._model_arn(model_id)[0] == served_arn
        except (ResourceNotFoundError, ServiceValidationError):
            return False

    def _hourly(self, spec: DeploymentSpec) -> float | None:
        estimate = self.estimate_deployment_cost(spec, hours=1.0)
        return estimate.total if estimate is not None else None

    def create_deployment(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Create Provisioned Throughput (default; no commitment unless asked) or an on-demand deployment.

        Idempotent: the client token is derived from the spec, and a name conflict with a deployment of the
        same model attaches to it.

        Raises:
            ConfigurationError: on-demand deployment for a model whose base does not support it, or a kind
                Bedrock does not have.
            ResourceConflictError: the name is taken by a deployment of another model.
            QuotaExceededError: no model units left (commitments need a quota request).
        """
        if spec.kind not in ("provisioned", "on_demand"):
            raise ConfigurationError(
                f"Bedrock deploys with kind='provisioned' (Provisioned Throughput) or kind='on_demand' "
                f"(custom model "
                f"deployment), not {spec.kind!r}"
            )
        if spec.kind == "on_demand":
            model_arn, base = self._model_arn(spec.model_id)
            info = base_model_info(base) if base else None
            if info is None or not info.on_demand_deployment:
                able = [m.id for m in catalog.all_models() if m.on_demand_deployment]
                raise ConfigurationError(
                    f"on-demand deployment is not available for models customised from "
                    f"{base or spec.model_id}; "
                    f"Bedrock supports it for {', '.join(able) or 'no catalog model'}. "
                    "Use kind='provisioned' (Provisioned Throughput) instead."
                )
            operation, params = (
                "CreateCustomModelDeployment",
                rq.custom_model_deployment_request(spec, model_arn=model_arn),
            )
            arn_key, get_op, get_key = (
                "customModelDeploymentArn",
                "GetCustomModelDeployment",
                "customModelDeploymentIdentifier",
            )
        else:
            operation, params = "CreateProvisionedModelThroughput", rq.provisioned_throughput_request(spec)
            arn_key, get_op, get_key = (
                "provisionedModelArn",
                "GetProvisionedModelThroughput",
                "provisionedModelId",
            )

        def existing() -> DeploymentRecord | None:
            try:
                raw = self._call("bedrock", get_op, {get_key: spec.name})
            except ResourceNotFoundError:
                return None
            record = self._deployment_record(raw, hourly=self._hourly(spec))
            served = {record.model_id, str(raw.get("desiredModelArn") or "")}
            if not any(self._same_model(arn, spec.model_id, params.get("modelArn")) for arn in served):
                raise ResourceConflictError(
                    f"a deployment named {spec.name!r} already exists for another model ({record.model_id}). "
                    "Fix: pass another name=",
                    backend=self.name,
                    code="ConflictException",
                )
            return record

        found: list[DeploymentRecord] = []

        def recover() -> dict[str, Any] | None:
            record = existing()
            if record is None:
                return None
            found.append(record)
            return {arn_key: record.id}

        try:
            response = self._call("bedrock", operation, params, recover=recover, model_id=spec.model_id)
        except ResourceConflictError:
            record = existing()
            if record is None:
                raise
            return record
        if found:
            return found[-1]
        arn = str(response[arn_key])
        hourly = self._hourly(spec)
        logger.info(
            "creating Bedrock %s deployment %s (%s)%s",
            spec.kind,
            spec.name,
            arn,
            f", about ${hourly:,.2f}/hour" if hourly else "",
        )
        return DeploymentRecord(
            id=arn,
            name=spec.name,
            backend=self.name,
            model_id=params.get("modelArn", spec.model_id),
            kind=spec.kind,
            status=DeploymentStatus.CREATING,
            raw_status="Creating",
            invoke_id=arn,
            hourly_cost=hourly,
            created_at=self.clock.now(),
            raw={"request": {k: v for k, v in params.items() if k != "clientRequestToken"}},
        )

    def _deployment_record(self, raw: Mapping[str, Any], *, hourly: float | None = None) -> DeploymentRecord:
        if "provisionedModelArn" in raw:
            raw_status = str(raw.get("status") or "Creating")
            arn = str(raw["provisionedModelArn"])
            if hourly is None:
                info = base_model_info(str(raw.get("foundationModelArn") or raw.get("modelArn") or ""))
                price = info.prices.provisioned_per_hour_no_commit if info else None
                units = raw.get("modelUnits")
                hourly = price * int(units) if price is not None and isinstance(units, int) else None
            return DeploymentRecord(
                id=arn,
                name=str(raw.get("provisionedModelName") or arn.rsplit("/", 1)[-1]),
                backend=self.name,
                model_id=str(raw.get("modelArn") or ""),
                kind="provisioned",
                status=_PT_STATUS.get(raw_status, DeploymentStatus.CREATING),
                raw_status=raw_status,
                invoke_id=arn,
                hourly_cost=hourly,
                failure_message=raw.get("failureMessage"),
                created_at=_utc(raw.get("creationTime")),
                raw=_raw(raw),
            )
        arn = str(raw["customModelDeploymentArn"])
        raw_status = str(raw.get("status") or "Creating")
        status = _DEPLOYMENT_STATUS.get(raw_status, DeploymentStatus.CREATING)
        update = (raw.get("updateDetails") or {}).get("updateStatus")
        if update == "Updating" and status is DeploymentStatus.ACTIVE:
            status = DeploymentStatus.UPDATING
        return DeploymentRecord(
            id=arn,
            name=str(
                raw.get("modelDeploymentName")
                or raw.get("customModelDeploymentName")
                or arn.rsplit("/", 1)[-1]
            ),
            backend=self.name,
            model_id=str(raw.get("modelArn") or ""),
            kind="on_demand",
            status=status,
            raw_status=raw_status,
            invoke_id=arn,
            hourly_cost=0.0 if hourly is None else hourly,
            failure_message=raw.get("failureMessage"),
            created_at=_utc(raw.get("createdAt") or raw.get("creationTime")),
            raw=_raw(raw),
        )

    def describe_deployment(self, deployment_id: str) -> DeploymentRecord:
        """A Provisioned Throughput or on-demand deployment, by ARN or name.

        Raises:
            ResourceNotFoundError: no such deployment.
        """
        resource, _ = model_id_from_arn(deployment_id)
        if resource == "provisioned-model":
            return self._deployment_record(
                self._call("bedrock", "GetProvisionedModelThroughput", {"provisionedModelId": deployment_id})
            )
        if resource == "custom-model-deployment":
            return self._deployment_record(
                self._call(
                    "bedrock", "GetCustomModelDeployment", {"customModelDeploymentIdentifier": deployment_id}
                )
            )
        try:
            return self._deployment_record(
                self._call("bedrock", "GetProvisionedModelThroughput", {"provisionedModelId": deployment_id})
            )
        except ResourceNotFoundError as first:
            try:
                return self._deployment_record(
                    self._call(
                        "bedrock",
                        "GetCustomModelDeployment",
                        {"customModelDeploymentIdentifier": deployment_id},
                    )
                )
            except ResourceNotFoundError:
                raise first from None

    def list_deployments(self) -> Iterator[DeploymentRecord]:
        """Provisioned Throughputs and on-demand deployments, newest first, fetched lazily."""
        pts = (
            self._deployment_record(s)
            for s in self._paginate(
                "bedrock",
                "ListProvisionedModelThroughputs",
                "provisionedModelSummaries",
                {"sortBy": "CreationTime", "sortOrder": "Descending"},
            )
        )
        ods = (
            self._deployment_record(s)
            for s in self._paginate(
                "bedrock",
                "ListCustomModelDeployments",
                "modelDeploymentSummaries",
                {"sortBy": "CreationTime", "sortOrder": "Descending"},
            )
        )
        yield from heapq.merge(pts, ods, key=_created, reverse=True)

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment (billing of Provisioned Throughput stops); one that is gone is a no-op."""
        resource, _ = model_id_from_arn(deployment_id)
        try:
            if resource == "custom-model-deployment":
                self._call(
                    "bedrock",
                    "DeleteCustomModelDeployment",
                    {"customModelDeploymentIdentifier": deployment_id},
                )
                return
            if resource == "provisioned-model":
                self._call(
                    "bedrock", "DeleteProvisionedModelThroughput", {"provisionedModelId": deployment_id}
                )
                return
            record = self.describe_deployment(deployment_id)
        except ResourceNotFoundError:
            logger.info("deployment %s is already gone", deployment_id)
            return
        self.delete_deployment(record.id)

    # --- inference --------------------------------------------------------------------------------------
    def _dialect_for(self, model_id: str) -> str | None:
        """The InvokeModel body dialect of a model id, resolving deployments to the model they serve."""
        if model_id in self._dialects:
            return self._dialects[model_id]
        resource, _ = model_id_from_arn(model_id)
        dialect: str | None
        if resource == "imported-model":
            dialect = (
                "openai_chat" if self._imported(model_id).get("instructSupported") else "bedrock_completion"
            )
        elif resource == "provisioned-model":
            raw = self._call("bedrock", "GetProvisionedModelThroughput", {"provisionedModelId": model_id})
            dialect = rq.runtime_model_family(str(raw.get("modelArn") or raw.get("foundationModelArn") or ""))
            if dialect is None and raw.get("foundationModelArn"):
                dialect = rq.runtime_model_family(str(raw["foundationModelArn"]))
        elif resource == "custom-model-deployment":
            raw = self._call(
                "bedrock", "GetCustomModelDeployment", {"customModelDeploymentIdentifier": model_id}
            )
            dialect = rq.runtime_model_family(str(raw.get("modelArn") or ""))
        else:
            dialect = rq.runtime_model_family(model_id)
        self._dialects[model_id] = dialect
        return dialect

    def chat(
        self, model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
    ) -> ChatResponse:
        """Send a conversation to a model, deployment, imported model or inference profile.

        Uses Converse (service token counts, stop reason) and falls back to InvokeModel with the family's body
        format when Converse does not serve the model (remembered per model id); imported models that do not
        support chat go straight to InvokeModel. Throttling is retried briefly, then raised; an imported model
        scaled to zero (``ModelNotReadyException``) is retried with backoff for up to ~5 minutes.

        Raises:
            ThrottlingError: still throttled after the retries.
            ModelNotReadyError: the imported model did not come back in time.
            ServiceValidationError: the model cannot be invoked this way (the message has a hint, e.g. deploy
                the model first, or use the inference profile id).
        """
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model" and not self._imported(model_id).get("instructSupported", False):
            return self._invoke(model_id, "bedrock_completion", system=system, turns=turns, config=config)
        known = self._no_converse.get(model_id)
        if known is not None:
            return self._invoke(model_id, known, system=system, turns=turns, config=config)
        try:
            return self._converse(model_id, system=system, turns=turns, config=config)
        except ServiceValidationError as exc:
            if not _converse_unsupported(exc):
                raise
            dialect = self._dialect_for(model_id)
            if dialect is None:
                raise ServiceValidationError(
                    f"{exc}\nConverse does not serve {model_id} and the catalog has no InvokeModel body "
                    f"format for "
                    "it; invoke it with a model id the catalog knows, or a deployment of one",
                    backend=self.name,
                    code=exc.code,
                    request_id=exc.request_id,
                ) from exc
            logger.info("Converse does not serve %s; using InvokeModel (%s body)", model_id, dialect)
            self._no_converse[model_id] = dialect
            return self._invoke(model_id, dialect, system=system, turns=turns, config=config)

    def _converse(
        self, model_id: str, *, system: str | None, turns: Sequence[Turn], config: InferenceConfig
    ) -> ChatResponse:
        request = rq.converse_request(model_id, system=system, turns=turns, config=config)
        timing = _Timing(self.clock)
        response = self._call(
            "bedrock-runtime", "Converse", request, runtime=True, model_id=model_id, timing=timing
        )
        return rq.parse_converse_response(response, model_id=model_id, latency_s=timing.seconds)

    def _invoke(
        self,
        model_id: str,
        dialect: str,
        *,
        system: str | None,
        turns: Sequence[Turn],
        config: InferenceConfig,
    ) -> ChatResponse:
        body = rq.invoke_body(dialect, system=system, turns=turns, config=config)
        params = {
            "modelId": model_id,
            "body": rq.encode_body(body),
            "contentType": "application/json",
            "accept": "application/json",
        }
        timing = _Timing(self.clock)
        response = self._call(
            "bedrock-runtime", "InvokeModel", params, runtime=True, model_id=model_id, timing=timing
        )
        payload = rq.decode_body(response.get("body"))
        headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        info = base_model_info(model_id)
        prompt_text = "\n".join(([system] if system else []) + [t.text for t in turns])
        return rq.parse_invoke_response(
            dialect,
            payload,
            headers=headers,
            model_id=model_id,
            latency_s=timing.seconds,
            prompt_text=prompt_text,
            chars_per_token=info.limits.chars_per_token if info else 4.0,
        )

    # --- batch inference --------------------------------------------------------------------------------
    def batch_generate(
        self,
        model_id: str,
        requests: Sequence[tuple[str, str | None, Sequence[Turn]]],
        *,
        config: InferenceConfig,
        wait: bool = True,
    ) -> dict[str, ChatResponse]:
        """Run many requests as one Bedrock batch inference job (about half the on-demand price).

        Writes ``{"recordId", "modelInput"}`` JSONL under ``<output_uri>/batch/<job>/input/``, creates the job
        (named and tokened from the content, so calling again with the same requests attaches to the same
        job),
        polls it on the backend clock, and joins the ``*.jsonl.out`` records back by ``recordId`` (the service
        does not keep the order). Records the service failed are left out of the result and logged.
        With ``wait=False`` the job is started and ``{}`` returned; call again with ``wait=True`` to collect.

        Raises:
            ConfigurationError: no role or output location, or duplicate record ids.
            UnsupportedOperationError: imported models (Bedrock has no batch inference for them).
            JobFailedError / JobStoppedError: the batch job failed, expired or was stopped.
        """
        if not requests:
            return {}
        resource, _ = model_id_from_arn(model_id)
        if resource == "imported-model":
            raise UnsupportedOperationError(
                "Bedrock batch inference does not serve imported models; use chat()"
            )
        ids = [r[0] for r in requests]
        if len(set(ids)) != len(ids):
            raise ConfigurationError("batch_generate() needs unique record ids")
        base = (self.output_uri or "").rstrip("/")
        if not base:
            raise ConfigurationError(
                "batch inference writes its files to S3: pass output_uri='s3://bucket/prefix' to "
                "backends.get('bedrock', ...)"
            )
        if len(requests) < _BATCH_MIN_RECORDS:
            logger.warning(
                "%d records: Bedrock batch jobs need at least %d by default (quota 'Minimum number of "
                "records per "
                "batch inference job'); the job may fail validation",
                len(requests),
                _BATCH_MIN_RECORDS,
            )
        dialect = self._dialect_for(model_id)
        invocation_type = None if dialect is not None else "Converse"
        lines: list[str] = []
        by_batch_id: dict[str, str] = {}
        for index, (record_id, system, turns) in enumerate(requests):
            batch_id = f"R{index:010d}"  # 11 alphanumerics: stable and accepted as recordId
            by_batch_id[batch_id] = record_id
            if dialect is not None:
                model_input = rq.invoke_body(dialect, system=system, turns=turns, config=config)
            else:
                model_input = rq.converse_request(model_id, system=system, turns=turns, config=config)
                model_input.pop("modelId")
            lines.append(rq.batch_record_line(batch_id, model_input))
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        digest = hashlib.sha256(model_id.encode() + b"\0" + payload).hexdigest()
        name = f"ftsdk-batch-{digest[:20]}"
        folder = f"{base}/batch/{name}"
        input_uri, output_prefix = f"{folder}/input/records.jsonl", f"{folder}/output/"
        bucket, key = split_s3_uri(input_uri)
        self._call("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": payload})
        params = rq.batch_job_request(
            name=name,
            role_arn=self.role_arn,
            model_id=model_id,
            input_uri=input_uri,
            output_uri=output_prefix,
            client_token=f"ftsdk-{digest[:48]}",
            invocation_type=invocation_type,
        )

        def find() -> dict[str, Any] | None:
            for summary in self._paginate(
                "bedrock", "ListModelInvocationJobs", "invocationJobSummaries", {"nameContains": name}
            ):
                if summary.get("jobName") == name:
                    return {"jobArn": summary["jobArn"]}
            return None

        try:
            job_arn = str(self._call("bedrock", "CreateModelInvocationJob", params, recover=find)["jobArn"])
        except ResourceConflictError:
            hit = find()
            if hit is None:
                raise
            job_arn = str(hit["jobArn"])
        logger.info("batch inference job %s (%d records) for %s", job_arn, len(requests), model_id)
        if not wait:
            return {}

        def check() -> str | None:
            raw = self._call("bedrock", "GetModelInvocationJob", {"jobIdentifier": job_arn})
            status = str(raw.get("status"))
            if status in _BATCH_FAILED:
                message = raw.get("message") or "no reason given"
                raise JobFailedError(
                    f"batch inference job {name} ended {status}: {message}",
                    job_id=job_arn,
                    status=JobStatus.FAILED.value,
                    failure_reason=str(message),
                    hint=hint_for_failure(str(message)),
                )
            if status in _BATCH_STOPPED:
                raise JobStoppedError(
                    f"batch inference job {name} was stopped", job_id=job_arn, status=JobStatus.STOPPED.value
                )
            return status if status in _BATCH_DONE else None

        poll(
            check,
            clock=self.clock,
            interval=self.default_poll_interval,
            timeout=None,
            what=f"batch inference job {name}",
        )
        return self._batch_results(job_arn, output_prefix, by_batch_id, dialect=dialect, model_id=model_id)

    def _batch_results(
        self,
        job_arn: str,
        output_prefix: str,
        by_batch_id: Mapping[str, str],
        *,
        dialect: str | None,
        model_id: str,
    ) -> dict[str, ChatResponse]:
        bucket, prefix = split_s3_uri(f"{output_prefix}{job_arn.rsplit('/', 1)[-1]}/")
        results: dict[str, ChatResponse] = {}
        failed = 0
        for obj in self._paginate(
            "s3",
            "ListObjectsV2",
            "Contents",
            {"Bucket": bucket, "Prefix": prefix},
            token_key="NextContinuationToken",
        ):
            key = str(obj["Key"])
            if key.endswith("manifest.json.out"):
                manifest = self._call("s3", "GetObject", {"Bucket": bucket, "Key": key})["Body"].read()
                logger.info("batch manifest: %s", manifest.decode("utf-8", errors="replace").strip())
                continue
            if not key.endswith(".jsonl.out"):
                continue
            text = (
                self._call("s3", "GetObject", {"Bucket": bucket, "Key": key})["Body"].read().decode("utf-8")
            )
            for line in text.splitlines():
                if not line.strip():
                    continue
                if dialect is None:
                    obj_line = json.loads(line)
                    batch_id = obj_line.get("recordId")
                    output = obj_line.get("modelOutput")
                    response = (
                        rq.parse_converse_response(output, model_id=model_id, latency_s=0.0)
                        if isinstance(output, Mapping)
                        else None
                    )
                    error = obj_line.get("error") if response is None else None
                else:
                    batch_id, response, error = rq.parse_batch_output_line(
                        line, dialect=dialect, model_id=model_id
                    )
                record_id = by_batch_id.get(str(batch_id))
                if record_id is None:
                    continue
                if response is None:
                    failed += 1
                    logger.warning("batch record %s failed: %s", record_id, error)
                    continue
                results[record_id] = response
        if failed:
            logger.warning(
                "%d of %d batch records failed and are missing from the result", failed, len(by_batch_id)
            )
        return results

    def __repr__(self) -> str:
        return f"<BedrockBackend name='bedrock' region={self._aws._region!r}>"
