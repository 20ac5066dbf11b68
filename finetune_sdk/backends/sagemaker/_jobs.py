"""SageMaker training jobs: data staging, JumpStart and script-mode requests, job records, logs and metrics.

Private; composed into :class:`finetune_sdk.backends.sagemaker.SageMakerBackend`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from finetune_sdk._aws import call_with_retries, validate_request
from finetune_sdk.backends.base import (
    JobKind,
    JobRecord,
    JobSpec,
    JobStatus,
    MetricPoint,
)
from finetune_sdk.backends.sagemaker import requests as rq
from finetune_sdk.backends.sagemaker.hyperparameters import jumpstart_value
from finetune_sdk.backends.sagemaker.metrics import JUMPSTART_LLAMA_METRIC_DEFINITIONS, classify_metric
from finetune_sdk.backends.sagemaker.options import SageMakerOptions
from finetune_sdk.errors import (
    BackendError,
    ConfigurationError,
    QuotaExceededError,
    ResourceConflictError,
    ResourceNotFoundError,
    ServiceValidationError,
)

if TYPE_CHECKING:
    from finetune_sdk.data.dataset import Dataset

from finetune_sdk.backends.sagemaker._base import (
    _FAILURE_HINTS,
    _JOB_STATUS,
    _STATUS_FILTER,
    BACKEND,
    LOG_GROUP,
    _job_name_of,
    _SageMakerBase,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _SageMakerJobs(_SageMakerBase):
    """SageMaker training jobs: data staging, JumpStart and script-mode requests, job records, logs and metrics."""

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
