"""``SageMakerEmulation``: Amazon SageMaker where moto stops, for offline tests of the SageMaker backend.

moto (``mock_aws``) stores SageMaker training jobs and endpoints, but a job is ``Completed`` the moment it
is created and writes nothing, ``StopTrainingJob`` and ``DescribeHubContent`` are not implemented, a
duplicate job name silently overwrites the first job, ``ListTrainingJobs`` ignores its sort order,
``CreateEndpointConfig`` rejects current GPU instance types (``ml.g5``...) from a stale list, and
``InvokeEndpoint`` answers ``b"body"``. This module fills those gaps with botocore event handlers on the
emulated session, so every request still goes through real boto3 serialisation and moto's storage:

- every SageMaker request is validated in full against the service model (lengths, patterns, enums:
  ``finetune_sdk.testing._shapes``); a breach answers ``ValidationException`` and is kept in ``violations``;
- training jobs move on the clock: ``InProgress`` through ``Starting → Downloading → Training → Uploading``
  to ``Completed`` after ``job_duration_s``; on completion the job writes a Hugging Face model folder (or
  ``model.tar.gz`` with GZIP compression) under its output path, loss lines to CloudWatch Logs (the
  JumpStart script's format, or the SDK entry script's structured lines for script-mode jobs) and a
  ``FinalMetricDataList``; ``fail_job`` scripts ``Failed`` with a ``FailureReason``;
- ``StopTrainingJob`` (``Stopping``, then ``Stopped`` after ``stop_duration_s``), ``ResourceInUse`` for a
  taken name, ``ListTrainingJobs`` sorted and paginated, ``DescribeHubContent`` from registered documents;
- endpoints stay ``Creating`` for ``endpoint_duration_s``; ``InvokeEndpoint`` answers through a responder
  (TGI-shaped for ``{"inputs"}`` bodies, OpenAI ``chat.completion`` for ``{"messages"}``);
- faults: throttling, 5xx and dropped connections (before or after the request took effect) on any operation.

The bundled hub documents (:func:`llama3_hub_document`) are **synthetic**: they have the fields and shapes the
``sagemaker`` v3 SDK reads (``sagemaker/core/jumpstart/hub/interfaces.py``) with illustrative values; they
were not recorded from ``DescribeHubContent``.

Examples:
    >>> from finetune_sdk.testing.emulation import SageMakerEmulation
    >>> with SageMakerEmulation() as sm:
    ...     backend = sm.backend()
    ...     doc = backend.hub_document("meta-textgeneration-llama-3-8b")
    ...     doc.gated, doc.default_training_instance_type
    (True, 'ml.g5.12xlarge')
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from copy import deepcopy
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from finetune_sdk._clock import Clock
from finetune_sdk.testing.clock import FakeClock

if TYPE_CHECKING:
    from finetune_sdk.backends.sagemaker import SageMakerBackend

from finetune_sdk.testing.emulation._sagemaker_data import (
    _LOG_GROUP,
    _PHASE_MESSAGES,
    _SHARED_CLIENTS,
    _TRAINING_PHASES,
    ACCOUNT_ID,
    LLAMA3_MODEL_IDS,
    EndpointResponder,
    FaultKind,
    OutputKind,
    _Endpoint,
    _Fault,
    _Http,
    _Job,
    _noop,
    _shared_session,
    default_endpoint_responder,
    llama3_hub_document,
    model_folder_files,
)

__all__ = [
    "LLAMA3_MODEL_IDS",
    "EndpointResponder",
    "FaultKind",
    "SageMakerEmulation",
    "default_endpoint_responder",
    "llama3_hub_document",
    "model_folder_files",
]


class SageMakerEmulation:
    """An offline account whose SageMaker behaves like the service for the SDK's calls (see the module docs).

    Args:
        region: the Region of the session.
        clock: drives every transition and timestamp (a new :class:`FakeClock` by default;
            :meth:`backend` shares it).
        session: a ``boto3.Session`` inside an already running moto (e.g. ``BedrockEmulation.session``) to extend
            instead of starting moto here.
        job_duration_s / stop_duration_s / endpoint_duration_s: clock seconds a job trains, a stop takes and
            an endpoint is ``Creating``.
        hub_documents: ``{model_id: document}`` served by ``DescribeHubContent`` (default: the synthetic
            Llama 3.x documents of :data:`LLAMA3_MODEL_IDS`).
        responder: scripts endpoint answers (default :func:`default_endpoint_responder`).
        losses: the training loss per epoch / logged step the jobs report.

    Attributes:
        violations: service-model breaches of the requests received (those got a ``ValidationException``).
        requests: ``(operation, params)`` of every SageMaker request.
        bucket, role_arn, output_uri: an S3 bucket, an execution role ARN and an output prefix to use.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        clock: Clock | None = None,
        session: Any | None = None,
        job_duration_s: float = 600.0,
        stop_duration_s: float = 60.0,
        endpoint_duration_s: float = 300.0,
        hub_documents: Mapping[str, Mapping[str, Any]] | None = None,
        responder: EndpointResponder | None = None,
        losses: Sequence[float] = (1.92, 1.41, 1.17, 1.05, 0.98),
    ) -> None:
        self.region = region
        self.clock: Clock = clock or FakeClock()
        self.job_duration_s = job_duration_s
        self.stop_duration_s = stop_duration_s
        self.endpoint_duration_s = endpoint_duration_s
        self.hub_documents: dict[str, Mapping[str, Any]] = dict(
            hub_documents
            if hub_documents is not None
            else {m: llama3_hub_document(m, region=region) for m in LLAMA3_MODEL_IDS}
        )
        self.responder: EndpointResponder = responder or default_endpoint_responder
        self.losses = tuple(losses)
        self.account_id = ACCOUNT_ID
        self.bucket = f"finetune-sdk-sagemaker-{ACCOUNT_ID}"
        self.output_uri = f"s3://{self.bucket}/output"
        self.role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/finetune-sdk-sagemaker"
        self.violations: list[Any] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._given_session = session
        self._session: Any = None
        self._mock: Any = None
        self._jobs: dict[str, _Job] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self._handlers: list[tuple[str, Any, str]] = []
        self._restore: Callable[[], None] = _noop
        self._clients: dict[str, Any] = {}

    # --- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> SageMakerEmulation:
        """Start moto (unless a session was given) and register the handlers (``__enter__`` does this)."""

        if self._session is not None:
            raise RuntimeError("this SageMakerEmulation is already started")
        if self._given_session is None:
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
            self._session = _shared_session(self.region)
            self._clients = _SHARED_CLIENTS.setdefault(self.region, {})
        else:
            self._session = self._given_session
        try:
            s3 = self._client("s3")
            if self.region == "us-east-1":
                s3.create_bucket(Bucket=self.bucket)
            else:
                s3.create_bucket(
                    Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
                )
            self._register()
            self._relax_instance_types()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Unregister the handlers and stop moto if this emulation started it. Safe to call twice."""
        if self._session is not None:
            for event, handler, uid in self._handlers:
                self._session.events.unregister(event, handler, unique_id=uid)
        self._handlers.clear()
        self._restore()
        self._restore = _noop
        if self._mock is not None:
            self._mock.stop()
        self._mock = None
        self._session = None
        self._clients = {}

    def __enter__(self) -> SageMakerEmulation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def session(self) -> Any:
        """The ``boto3.Session`` whose SageMaker clients reach the emulation."""
        if self._session is None:
            raise RuntimeError("start the emulation first: `with SageMakerEmulation() as sm: ...`")
        return self._session

    def backend(self, **options: Any) -> SageMakerBackend:
        """A ``SageMakerBackend`` wired to this emulation (session, Region, role, output URI, clock)."""
        from finetune_sdk.backends.sagemaker import SageMakerBackend

        defaults: dict[str, Any] = {
            "session": self.session,
            "region": self.region,
            "role_arn": self.role_arn,
            "output_uri": self.output_uri,
            "clock": self.clock,
        }
        defaults.update(options)
        return SageMakerBackend(**defaults)

    def _client(self, service: str) -> Any:
        """A cached client of the emulated session (clients are expensive to create)."""
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = self.session.client(service)
        return client

    def _register(self) -> None:
        events = self.session.events
        hooks: list[tuple[str, Any]] = [
            ("before-parameter-build.sagemaker", self._on_params),
            ("before-parameter-build.sagemaker-runtime", self._on_params),
            ("before-call.sagemaker", self._on_call),
            ("after-call.sagemaker", self._after_call),
            ("before-call.sagemaker-runtime.InvokeEndpoint", self._on_invoke),
        ]
        for event, handler in hooks:
            uid = f"finetune-sdk-sagemaker-{event}"
            events.register_first(event, handler, unique_id=uid)
            self._handlers.append((event, handler, uid))

    def _moto(self) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[self.account_id][self.region]

    def _relax_instance_types(self) -> None:
        # moto checks endpoint instance types against a stale list without ml.g5/ml.g6/ml.p4d/ml.p5; the
        # check lives on moto's class, so it is swapped while the emulation runs and restored by stop()
        from moto.sagemaker.models import FakeEndpointConfig

        original = FakeEndpointConfig.validate_instance_type

        def validate_instance_type(config: Any, instance_type: str) -> None:
            if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", instance_type):
                original(config, instance_type)

        setattr(FakeEndpointConfig, "validate_instance_type", validate_instance_type)  # noqa: B010
        self._restore = lambda: setattr(FakeEndpointConfig, "validate_instance_type", original)

    # --- scripting ------------------------------------------------------------------------------------------
    def inject(self, operation: str, kind: FaultKind, *, times: int = 1) -> None:
        """Make the next ``times`` calls of a SageMaker ``operation`` (``"*"``: any) fail.

        ``throttle``: ``ThrottlingException``; ``5xx``: ``InternalFailure`` (HTTP 500); ``capacity``:
        ``ResourceLimitExceeded``; ``drop``: ``EndpointConnectionError`` before the request lands;
        ``drop_after_apply``: the request takes effect, then the connection drops (``ConnectionClosedError``).
        """
        with self._lock:
            self._faults.setdefault(operation, []).append(_Fault(kind, times))

    def fail_job(self, job_id: str, message: str = "AlgorithmError: training failed") -> None:
        """Make the job fail with ``message`` as its ``FailureReason`` at the next describe."""
        self._job(job_id).fail_message = message

    def complete_job(self, job_id: str) -> None:
        """Make the job complete at the next describe, whatever the clock says."""
        self._job(job_id).complete_now = True

    def set_output(self, job_id: str, kind: OutputKind) -> None:
        """What the job writes on completion: ``merged`` weights (default), ``adapter`` only, or ``none``."""
        self._job(job_id).output = kind

    def _job(self, job_id: str) -> _Job:
        name = job_id.rsplit("/", 1)[-1]
        with self._lock:
            self._sync_jobs()
            if name not in self._jobs:
                raise KeyError(f"no emulated training job {name!r}")
            return self._jobs[name]

    def put_object(self, uri: str, data: bytes | str) -> None:
        """Write an S3 object (``s3://bucket/key``)."""
        bucket, _, key = uri[5:].partition("/")
        self._client("s3").put_object(
            Bucket=bucket, Key=key, Body=data.encode() if isinstance(data, str) else data
        )

    def list_objects(self, uri: str) -> list[str]:
        """Keys under an ``s3://`` prefix, relative to it."""
        bucket, _, prefix = uri[5:].partition("/")
        out: list[str] = []
        for page in (
            self._client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            out += [str(o["Key"])[len(prefix) :] for o in page.get("Contents", [])]
        return out

    def read_object(self, uri: str) -> bytes:
        """The bytes of an S3 object."""
        bucket, _, key = uri[5:].partition("/")
        body: bytes = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def calls(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every ``operation`` request received, in order."""
        return [params for op, params in self.requests if op == operation]

    # --- handlers -------------------------------------------------------------------------------------------
    def _on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        from finetune_sdk.testing._shapes import validate

        copy = deepcopy(dict(params))
        context["finetune_sdk_params"] = copy
        problems = validate(model.input_shape, params, operation=model.name) if model.input_shape else []
        with self._lock:
            self.requests.append((model.name, copy))
            if problems:
                self.violations.extend(problems)
                context["finetune_sdk_violations"] = problems

    def _error(self, code: str, message: str, status: int = 400) -> tuple[_Http, dict[str, Any]]:
        request_id = f"00000000-0000-4000-8000-{next(self._seq):012d}"
        return _Http(status), {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": {}},
        }

    def _ok(self, body: dict[str, Any]) -> tuple[_Http, dict[str, Any]]:
        request_id = f"00000000-0000-4000-8000-{next(self._seq):012d}"
        body["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": 200, "HTTPHeaders": {}}
        return _Http(200), body

    def _take_fault(self, operation: str) -> _Fault | None:
        with self._lock:
            for key in (operation, "*"):
                queue = self._faults.get(key)
                if queue:
                    fault = queue[0]
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.pop(0)
                    return fault
        return None

    def _fault_response(self, fault: _Fault, url: str) -> tuple[_Http, dict[str, Any]]:
        from botocore.exceptions import EndpointConnectionError

        if fault.kind == "throttle":
            return self._error("ThrottlingException", "Rate exceeded")
        if fault.kind == "5xx":
            return self._error("InternalFailure", "An internal error occurred. Try again.", 500)
        if fault.kind == "capacity":
            return self._error(
                "ResourceLimitExceeded",
                "The account-level service limit 'ml.g5.12xlarge for training job usage' is 0 Instances, "
                "with current utilization of 0 Instances and a request delta of 1 Instances. Please use "
                "AWS Service Quotas to request an increase for this quota.",
            )
        raise EndpointConnectionError(endpoint_url=url)

    def _on_call(self, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> Any:
        op = str(model.name)
        problems = context.get("finetune_sdk_violations")
        if problems:
            from finetune_sdk.testing._shapes import format_violations

            return self._error("ValidationException", format_violations(problems))
        fault = self._take_fault(op)
        if fault is not None and fault.kind != "drop_after_apply":
            return self._fault_response(fault, str(params.get("url", "")))
        if fault is not None:
            context["finetune_sdk_drop_after"] = True
        args = context.get("finetune_sdk_params", {})
        with self._lock:
            self._sync_jobs()
            self._sync_endpoints()
            if op == "CreateTrainingJob" and args.get("TrainingJobName") in self._moto().training_jobs:
                arn = self._moto().training_jobs[args["TrainingJobName"]].arn
                return self._error(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a training "
                    f"job with this name already exists ({arn})",
                )
            if op == "StopTrainingJob":
                return self._stop(str(args.get("TrainingJobName", "")))
            if op == "ListTrainingJobs":
                return self._list_training_jobs(args)
            if op == "DescribeHubContent":
                return self._describe_hub_content(args)
            if op == "DeleteTrainingJob":
                return self._error("ValidationException", "DeleteTrainingJob is not emulated")
        return None

    def _after_call(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        op = str(model.name)
        status = getattr(http_response, "status_code", 500)
        if status < 300:
            with self._lock:
                if op == "CreateTrainingJob":
                    self._register_job(
                        str(parsed["TrainingJobArn"]).rsplit("/", 1)[-1],
                        context.get("finetune_sdk_params") or {},
                    )
                elif op == "CreateEndpoint":
                    self._register_endpoint(str(parsed["EndpointArn"]).rsplit("/", 1)[-1])
        if context.pop("finetune_sdk_drop_after", False):
            from botocore.exceptions import ConnectionClosedError

            raise ConnectionClosedError(endpoint_url=f"https://api.sagemaker.{self.region}.amazonaws.com/")

    def _on_invoke(self, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> Any:
        from botocore.response import StreamingBody

        args = context.get("finetune_sdk_params") or {}
        name = str(args.get("EndpointName") or "")
        with self._lock:
            self._sync_endpoints()
            endpoint = self._moto().endpoints.get(name)
            fault = self._take_fault("InvokeEndpoint")
        if fault is not None:
            return self._fault_response(fault, "")
        if endpoint is None:
            return self._error(
                "ValidationException", f"Endpoint {name} of account {self.account_id} not found."
            )
        if endpoint.endpoint_status != "InService":
            return self._error(
                "ValidationException",
                f"Endpoint {name} is not in service (status {endpoint.endpoint_status}).",
            )
        raw = args.get("Body", b"")
        try:
            request = json.loads(raw if isinstance(raw, (bytes, str)) else bytes(raw))
        except (TypeError, ValueError):
            return self._error(
                "ModelError", "Received client error (400) from primary: the body is not JSON", 424
            )
        data = json.dumps(self.responder(name, request)).encode()
        return self._ok(
            {
                "Body": StreamingBody(io.BytesIO(data), len(data)),
                "ContentType": "application/json",
                "InvokedProductionVariant": "AllTraffic",
            }
        )

    # --- training jobs --------------------------------------------------------------------------------------
    def _register_job(self, name: str, request: Mapping[str, Any]) -> None:
        job = self._moto().training_jobs[name]
        now = self.clock.now() + timedelta(microseconds=next(self._seq))
        job.creation_time = job.last_modified_time = now
        job.training_start_time = now
        job.training_end_time = None
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": now, "StatusMessage": _PHASE_MESSAGES["Starting"]}
        ]
        job.final_metric_data_list = []
        # moto replaces the request's MetricDefinitions with a made-up one: put the real ones back
        sent = (request.get("AlgorithmSpecification") or {}).get("MetricDefinitions")
        if sent:
            job.algorithm_specification["MetricDefinitions"] = deepcopy(sent)
        else:
            job.algorithm_specification.pop("MetricDefinitions", None)
        self._jobs[name] = _Job(name=name, started=self.clock.monotonic(), phase_seen={"Starting"})

    def _sync_jobs(self) -> None:
        moto_jobs = self._moto().training_jobs
        for name in list(self._jobs):
            if name not in moto_jobs:
                del self._jobs[name]
        for name, job in list(self._jobs.items()):
            if not job.done:
                self._tick(moto_jobs[name], job)

    def _transition(self, fake: Any, status: str, now: datetime) -> None:
        transitions = fake.secondary_status_transitions
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append(
            {"Status": status, "StartTime": now, "StatusMessage": _PHASE_MESSAGES.get(status, status)}
        )
        fake.secondary_status = status
        fake.last_modified_time = now

    def _finish(self, fake: Any, job: _Job, status: str, now: datetime) -> None:
        self._transition(fake, status, now)
        fake.secondary_status_transitions[-1]["EndTime"] = now
        fake.training_job_status = status
        fake.training_end_time = now
        job.done = True

    def _tick(self, fake: Any, job: _Job) -> None:
        now = self.clock.now()
        elapsed = self.clock.monotonic() - job.started
        if job.fail_message is not None:
            fake.failure_reason = job.fail_message
            self._finish(fake, job, "Failed", now)
            return
        if job.stop_at is not None:
            if self.clock.monotonic() >= job.stop_at:
                self._finish(fake, job, "Stopped", now)
            return
        if job.complete_now or elapsed >= self.job_duration_s:
            for phase, _ in _TRAINING_PHASES:
                if phase not in job.phase_seen:
                    job.phase_seen.add(phase)
                    self._transition(fake, phase, now)
            self._write_outputs(fake, job)
            self._finish(fake, job, "Completed", now)
            return
        for phase, start in _TRAINING_PHASES:
            if elapsed >= start * self.job_duration_s and phase not in job.phase_seen:
                job.phase_seen.add(phase)
                self._transition(fake, phase, now)

    def _stop(self, name: str) -> Any:
        fake = self._moto().training_jobs.get(name)
        if fake is None:
            arn = f"arn:aws:sagemaker:{self.region}:{self.account_id}:training-job/{name}"
            return self._error("ValidationException", f"Could not find training job '{arn}'.")
        if fake.training_job_status != "InProgress":
            return self._error(
                "ValidationException",
                f"The request was rejected because the training job is in status {fake.training_job_status}.",
            )
        job = self._jobs[name]
        job.stop_at = self.clock.monotonic() + self.stop_duration_s
        fake.training_job_status = "Stopping"
        self._transition(fake, "Stopping", self.clock.now())
        return self._ok({})

    def _list_training_jobs(self, args: Mapping[str, Any]) -> Any:
        jobs = list(self._moto().training_jobs.values())
        if args.get("NameContains"):
            jobs = [j for j in jobs if args["NameContains"] in j.training_job_name]
        if args.get("StatusEquals"):
            jobs = [j for j in jobs if j.training_job_status == args["StatusEquals"]]
        key = {"Name": lambda j: j.training_job_name, "Status": lambda j: j.training_job_status}.get(
            str(args.get("SortBy", "CreationTime")), lambda j: j.creation_time
        )
        jobs.sort(key=key, reverse=args.get("SortOrder", "Ascending") == "Descending")
        start = int(args.get("NextToken") or 0)
        size = int(args.get("MaxResults") or 10)
        page = jobs[start : start + size]
        body: dict[str, Any] = {
            "TrainingJobSummaries": [
                {
                    "TrainingJobName": j.training_job_name,
                    "TrainingJobArn": j.arn,
                    "CreationTime": j.creation_time,
                    "LastModifiedTime": j.last_modified_time,
                    "TrainingJobStatus": j.training_job_status,
                    **({"TrainingEndTime": j.training_end_time} if j.training_end_time else {}),
                }
                for j in page
            ]
        }
        if start + size < len(jobs):
            body["NextToken"] = str(start + size)
        return self._ok(body)

    def _describe_hub_content(self, args: Mapping[str, Any]) -> Any:
        name = str(args.get("HubContentName", ""))
        document = self.hub_documents.get(name)
        if document is None or args.get("HubName") != "SageMakerPublicHub":
            return self._error(
                "ResourceNotFound",
                f"Hub content {name} of type Model not found in hub {args.get('HubName')}.",
            )
        arn = f"arn:aws:sagemaker:{self.region}:aws:hub-content/SageMakerPublicHub/Model/{name}/2.4.0"
        return self._ok(
            {
                "HubContentName": name,
                "HubContentArn": arn,
                "HubContentVersion": str(document.get("Version", "2.4.0")),
                "HubContentType": "Model",
                "DocumentSchemaVersion": "2.3.0",
                "HubName": "SageMakerPublicHub",
                "HubArn": f"arn:aws:sagemaker:{self.region}:aws:hub/SageMakerPublicHub",
                "HubContentDocument": json.dumps(document),
                "HubContentStatus": "Available",
                "CreationTime": self.clock.now(),
            }
        )

    # --- job outputs ----------------------------------------------------------------------------------------
    def _epochs(self, fake: Any) -> int:
        raw = str((fake.hyper_parameters or {}).get("epoch", "")).strip('"')
        return max(1, min(int(raw), len(self.losses))) if raw.isdigit() else min(3, len(self.losses))

    def _log_lines(self, fake: Any) -> list[str]:
        hps = fake.hyper_parameters or {}
        lines = ["Invoking script with the following command: ..."]
        if "finetune_sdk_kind" in hps:
            from finetune_sdk.backends.sagemaker.metrics import format_metric_line

            for i, loss in enumerate(self.losses):
                values = {"epoch": round((i + 1) / len(self.losses), 3), "training_loss": loss}
                if i == len(self.losses) - 1:
                    values["validation_loss"] = round(loss * 1.05, 4)
                lines.append(format_metric_line((i + 1) * 10, values))
            return lines
        for epoch in range(1, self._epochs(fake) + 1):
            loss = self.losses[epoch - 1]
            lines.append(
                f" eval_ppl=tensor({round(2.718 ** (loss * 1.05), 4)}, device='cuda:0') "
                f"eval_epoch_loss=tensor({round(loss * 1.05, 4)}, device='cuda:0')"
            )
            lines.append(
                f"Epoch {epoch}: train_perplexity={round(2.718**loss, 4)}, train_epoch_loss={loss}, epoch "
                "time 512.3s"
            )
        lines.append("Training job completed")
        return lines

    def _write_outputs(self, fake: Any, job: _Job) -> None:
        lines = self._log_lines(fake)
        logs = self._client("logs")
        if not logs.describe_log_groups(logGroupNamePrefix=_LOG_GROUP).get("logGroups"):
            logs.create_log_group(logGroupName=_LOG_GROUP)
        stream = f"{job.name}/algo-1-{int(self.clock.now().timestamp())}"
        logs.create_log_stream(logGroupName=_LOG_GROUP, logStreamName=stream)
        # CloudWatch (and moto) drop events older than 14 days, so log times are real wall-clock times
        base_ms = int(time.time() * 1000) - len(lines)
        logs.put_log_events(
            logGroupName=_LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": base_ms + i, "message": line} for i, line in enumerate(lines)],
        )
        definitions = (fake.algorithm_specification or {}).get("MetricDefinitions") or []
        metrics = []
        for definition in definitions:
            pattern = re.compile(str(definition["Regex"]))
            values = [float(m.group(1)) for line in lines if (m := pattern.search(line))]
            if values:
                metrics.append(
                    {"MetricName": definition["Name"], "Value": values[-1], "Timestamp": self.clock.now()}
                )
        fake.final_metric_data_list = metrics
        output = fake.output_data_config or {}
        path = str(output.get("S3OutputPath", "")).rstrip("/")
        files = model_folder_files(job.output)
        if not path or not files:
            return
        if output.get("CompressionType") == "NONE":
            folder = f"{path}/{job.name}/output/model/"
            for name, data in files.items():
                self.put_object(folder + name, data)
            fake.model_artifacts = {"S3ModelArtifacts": folder}
        else:
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w") as tar:
                for name, data in sorted(files.items()):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            uri = f"{path}/{job.name}/output/model.tar.gz"
            self.put_object(uri, gzip.compress(archive.getvalue(), mtime=0))
            fake.model_artifacts = {"S3ModelArtifacts": uri}

    # --- endpoints ------------------------------------------------------------------------------------------
    def _register_endpoint(self, name: str) -> None:
        endpoint = self._moto().endpoints[name]
        now = self.clock.now() + timedelta(microseconds=next(self._seq))
        endpoint.creation_time = endpoint.last_modified_time = now
        endpoint.endpoint_status = "Creating"
        self._endpoints[name] = _Endpoint(name=name, started=self.clock.monotonic())

    def _sync_endpoints(self) -> None:
        endpoints = self._moto().endpoints
        for name, state in list(self._endpoints.items()):
            endpoint = endpoints.get(name)
            if endpoint is None:
                del self._endpoints[name]
                continue
            if (
                endpoint.endpoint_status == "Creating"
                and self.clock.monotonic() - state.started >= self.endpoint_duration_s
            ):
                endpoint.endpoint_status = "InService"
                endpoint.last_modified_time = self.clock.now()

    def training_jobs(self) -> Iterator[str]:
        """Names of the training jobs created through the emulation, oldest first."""
        with self._lock:
            yield from list(self._jobs)
