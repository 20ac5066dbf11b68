"""Bedrock jobs: customisation (fine-tuning, continued pre-training, distillation) and Custom Model Import jobs.

Private; composed into :class:`finetune_sdk.backends.bedrock.BedrockBackend`.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from finetune_sdk.backends.base import (
    TERMINAL_STATUSES,
    CostEstimate,
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    MetricPoint,
)
from finetune_sdk.backends.bedrock import requests as rq
from finetune_sdk.backends.bedrock.checks import (
    base_model_info,
    check_job_spec,
    hyperparameter_schema,
    validate_request,
)
from finetune_sdk.backends.bedrock.errors import hint_for_failure
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
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset

from finetune_sdk.backends.bedrock._base import (
    _IMPORT_STATUSES,
    _JOB_STATUS,
    _KIND_BY_TYPE,
    _STAGES,
    _STATUS_FILTER,
    _BedrockBase,
    _created,
    _is_import_job,
    _raw,
    _utc,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _BedrockJobs(_BedrockBase):
    """Bedrock jobs: customisation (fine-tuning, continued pre-training, distillation) and Custom Model Import jobs."""

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
        self._checked_request(spec)

    def _checked_request(self, spec: JobSpec) -> tuple[str, dict[str, Any]]:
        """The job's request, built and checked (catalog rules, then the service model) once per spec.

        ``Job.create`` checks a spec before submitting it; both steps use this, so the request is built and
        validated against the service model once, and the same request is sent.
        """
        key = f"{spec.client_token()}|{self.role_arn}|{self.output_uri}|{self.region}"
        hit = self._checked_requests.get(key)
        if hit is None:
            check_job_spec(spec, region=self.region)
            operation, params = rq.job_request(spec, role_arn=self.role_arn, output_uri=self.output_uri)
            validate_request("bedrock", operation, params)
            if len(self._checked_requests) >= 64:
                self._checked_requests.pop(next(iter(self._checked_requests)))
            hit = self._checked_requests[key] = (operation, params)
        return hit[0], dict(hit[1])

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
        operation, params = self._checked_request(spec)
        found: list[JobRecord] = []

        def recover() -> dict[str, Any] | None:
            record = self._find_submitted(spec, params)
            if record is None:
                return None
            found.append(record)
            return {"jobArn": record.id}

        try:
            response = self._call("bedrock", operation, params, recover=recover, validated=True)
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
