"""``AwsEmulation``: Amazon Bedrock with no network, behind real boto3 request serialisation.

moto (``mock_aws``) serves S3, IAM, STS and CloudWatch Logs. Bedrock and Bedrock Runtime are served by this
module: ``before-send`` handlers registered first on the session's event system receive every serialised
HTTP request, route it with the service model's ``requestUri`` templates, rebuild the parameters from the
method, path, query, headers and JSON body, validate them in full against the service model (required,
types, lengths, ranges, sizes, Java patterns, enums, unions), apply the operation to an in-memory account,
and answer with a real HTTP response that botocore's own parser reads. Anything the emulation does not
serve raises ``NotImplementedError`` instead of reaching the network.

What it adds over moto: jobs that move (InProgress → Completed or Failed after clock time or a number of
polls), idempotent client tokens, realistic ARNs, training metrics CSVs in S3, custom models that appear on
completion, Custom Model Import reading the S3 folder, Provisioned Throughput, on-demand deployments, batch
inference over S3 JSONL (output in shuffled order plus ``manifest.json.out``), Converse and InvokeModel with
a scripted responder and token counts, invocation logging to S3, and fault injection.

Examples:
    >>> from finetune_sdk.testing.aws import AwsEmulation
    >>> with AwsEmulation() as aws:
    ...     runtime = aws.session.client("bedrock-runtime")
    ...     answer = runtime.converse(modelId="amazon.nova-micro-v1:0",
    ...                               messages=[{"role": "user", "content": [{"text": "hi"}]}])
    ...     answer["output"]["message"]["content"][0]["text"], answer["usage"]["outputTokens"]
    ('echo: hi', 2)
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import itertools
import json
import logging
import math
import random
import string
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import urlsplit

from finetune_sdk import catalog
from finetune_sdk._clock import Clock
from finetune_sdk.testing import _bedrock_runtime as rt
from finetune_sdk.testing._shapes import (
    RequestParseError,
    Router,
    Violation,
    error_status,
    format_violations,
    parse_request,
    serialize_output,
    service_model,
    validate,
)
from finetune_sdk.testing.clock import FakeClock

if TYPE_CHECKING:
    from finetune_sdk.backends.base import Backend

__all__ = ["AwsEmulation", "EmulationBugError", "FaultKind", "RecordedRequest", "Responder", "Violation"]

logger = logging.getLogger(__name__)

Responder = rt.Responder
FaultKind = Literal["throttle", "5xx", "drop", "timeout"]

_ACCOUNT_ID = "123456789012"  # moto's default account, so STS and IAM agree with the Bedrock ARNs
_ALNUM = string.ascii_lowercase + string.digits
_GEO_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
_IMPORT_ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral",
    "T5ForConditionalGeneration": "flan",
    "GPTBigCodeForCausalLM": "gpt_bigcode",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen2VLForConditionalGeneration": "qwen2_vl",
    "Qwen2_5_VLForConditionalGeneration": "qwen2_5_vl",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "MllamaForConditionalGeneration": "mllama",
    "GptOssForCausalLM": "gpt_oss",
}
_DISTILLATION_STAGES = ("validationDetails", "dataProcessingDetails", "trainingDetails")


class EmulationBugError(AssertionError):
    """The emulation produced a response that breaks the service model (a bug in the emulation itself)."""


class RecordedRequest(NamedTuple):
    """One Bedrock request the emulation received: the operation name and its parameters."""

    operation: str
    params: dict[str, Any]


class _ApiError(Exception):
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _not_found(what: str, ident: str) -> _ApiError:
    return _ApiError("ResourceNotFoundException", f"The specified {what} {ident} could not be found.")


def _invalid(message: str) -> _ApiError:
    return _ApiError("ValidationException", message)


def _conflict(message: str) -> _ApiError:
    return _ApiError("ConflictException", message)


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int
    after_apply: bool


def _strip_geo(model_id: str) -> str:
    for prefix in _GEO_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


# --- resources ----------------------------------------------------------------------------------------------
@dataclass
class _Resource:
    arn: str
    rid: str
    seq: int
    created: datetime
    started: float
    status: str
    token: str | None = None
    polls: int = 0
    last_modified: datetime | None = None
    end_time: datetime | None = None
    failure_message: str | None = None
    stop_at: float | None = None
    stop_polls: int = 0


@dataclass
class _CustomizationJob(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    customization_type: str = "FINE_TUNING"
    fm_id: str = ""
    base_arn: str = ""
    info: catalog.BaseModelInfo | None = None
    scripted_failure: str | None = None
    model_arn: str | None = None
    training_loss: float | None = None
    validation_losses: list[float] = field(default_factory=list)
    stages: dict[str, tuple[str, datetime]] = field(default_factory=dict)


@dataclass
class _CustomModel:
    arn: str
    seq: int
    name: str
    job: _CustomizationJob | None
    fm_id: str
    created: datetime
    customization_type: str
    info: catalog.BaseModelInfo | None


@dataclass
class _ImportJob(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model_arn: str | None = None


@dataclass
class _ImportedModel:
    arn: str
    seq: int
    name: str
    job: _ImportJob
    created: datetime
    architecture: str
    instruct: bool


@dataclass
class _Provisioned(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model_arn: str = ""
    fm_arn: str = ""
    family: str = ""
    responder_id: str = ""


@dataclass
class _Deployment(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model: _CustomModel | None = None


@dataclass
class _BatchJob(_Resource):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    family: str = ""
    responder_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None


@dataclass
class _Target:
    family: str
    responder_id: str
    instruct: bool = True


class _RawBody(io.BytesIO):
    """A response body botocore can both ``read()`` (streaming payloads) and ``stream()``."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


# --- the emulation ------------------------------------------------------------------------------------------
class AwsEmulation:
    """An offline AWS account whose Bedrock behaves like the real service for the SDK's calls.

    Use it as a context manager; inside, ``session`` is a ``boto3.Session`` whose clients reach the
    emulation (Bedrock, Bedrock Runtime) or moto (S3, IAM, STS, logs), never the network.

    Args:
        region: the session's Region (customisation is refused for catalog models not offered there, as
            on AWS; ``check_regions=False`` turns that off).
        clock: drives every transition and timestamp (a new :class:`FakeClock` by default; share it with
            the backend, as :meth:`backend` does, so ``Job.wait()`` moves jobs instantly).
        job_duration_s: clock seconds a customisation job stays ``InProgress``.
        import_duration_s / batch_duration_s: the same for import and batch inference jobs.
        deployment_duration_s: seconds provisioned throughput stays ``Creating`` (and on-demand
            deployments stay ``Creating``).
        stop_duration_s: seconds between ``Stop*`` and ``Stopped``.
        polls_to_complete: when set, a job also ends after this many ``Get*`` calls on it (and a stopping
            job is ``Stopped`` at the next one), whatever the clock says.
        responder: ``responder(model_id, system, messages) -> str`` scripts every model answer
            (Converse, InvokeModel, batch). ``model_id`` is the model behind the request: the custom or
            imported model ARN for provisioned throughput and deployments, else the requested id.
        seed: seeds ARN ids and the batch output order, so runs are reproducible.
        check_data: read training data, model folders and logs from S3 when a job ends and fail the job
            (with Bedrock's kind of message) when they are missing or malformed.
        extra_foundation_models: more invocable model ids, mapped to their InvokeModel body family
            (``"anthropic_messages"``, ``"meta_llama"``, ``"nova_messages"``, ``"titan_text"``,
            ``"cohere_command"``).

    Attributes:
        requests: every Bedrock request received, as ``(operation, params)``.
        violations: every service-model constraint a request broke (those requests got a
            ``ValidationException``).
        account_id, region, role_arn, bucket, output_uri: the emulated account's facts; ``role_arn`` is a
            Bedrock service role created in IAM, ``bucket`` an S3 bucket created for you.

    Examples:
        >>> with AwsEmulation() as aws:
        ...     bedrock = aws.session.client("bedrock")
        ...     aws.put_jsonl(f"s3://{aws.bucket}/train.jsonl", [{"prompt": "q", "completion": "a"}])
        ...     arn = bedrock.create_model_customization_job(
        ...         jobName="demo", customModelName="demo-model", roleArn=aws.role_arn,
        ...         baseModelIdentifier="amazon.titan-text-lite-v1:0:4k",
        ...         trainingDataConfig={"s3Uri": f"s3://{aws.bucket}/train.jsonl"},
        ...         outputDataConfig={"s3Uri": aws.output_uri})["jobArn"]
        ...     aws.clock.advance(3600)
        ...     bedrock.get_model_customization_job(jobIdentifier=arn)["status"]
        'Completed'
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        clock: Clock | None = None,
        job_duration_s: float = 600.0,
        import_duration_s: float = 300.0,
        batch_duration_s: float = 300.0,
        deployment_duration_s: float = 300.0,
        stop_duration_s: float = 30.0,
        polls_to_complete: int | None = None,
        responder: Responder | None = None,
        seed: int = 0,
        check_data: bool = True,
        check_regions: bool = True,
        extra_foundation_models: Mapping[str, str] | None = None,
    ) -> None:
        if polls_to_complete is not None and polls_to_complete < 1:
            raise ValueError(f"polls_to_complete must be >= 1, got {polls_to_complete}")
        self.region = region
        self.account_id = _ACCOUNT_ID
        self.clock: Clock = clock or FakeClock()
        self.job_duration_s = job_duration_s
        self.import_duration_s = import_duration_s
        self.batch_duration_s = batch_duration_s
        self.deployment_duration_s = deployment_duration_s
        self.stop_duration_s = stop_duration_s
        self.polls_to_complete = polls_to_complete
        self.responder: Responder = responder or rt.default_responder
        self.check_data = check_data
        self.check_regions = check_regions
        self.extra_foundation_models = dict(extra_foundation_models or {})
        self.bucket = f"finetune-sdk-emulation-{self.account_id}"
        self.output_uri = f"s3://{self.bucket}/output"
        self.role_arn = f"arn:aws:iam::{self.account_id}:role/finetune-sdk-bedrock"
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._seq = 0
        self._request_seq = 0
        self._faults: dict[str, list[_Fault]] = {}
        self._fail_next: list[str] = []
        self._jobs: dict[str, _CustomizationJob] = {}
        self._models: dict[str, _CustomModel] = {}
        self._import_jobs: dict[str, _ImportJob] = {}
        self._imported: dict[str, _ImportedModel] = {}
        self._provisioned: dict[str, _Provisioned] = {}
        self._deployments: dict[str, _Deployment] = {}
        self._batch: dict[str, _BatchJob] = {}
        self._tokens: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._logging: dict[str, Any] | None = None
        self._routers: dict[str, Router] = {}
        self._mock: Any = None
        self._session: Any = None
        self._s3: Any = None
        self._iam: Any = None
        self._known_buckets: set[str] = set()

    # --- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> AwsEmulation:
        """Start moto and the Bedrock handlers (``__enter__`` does this)."""
        import boto3
        from moto import mock_aws

        if self._mock is not None:
            raise RuntimeError("this AwsEmulation is already started")
        self._mock = mock_aws(
            config={"core": {"passthrough": {"services": ["bedrock", "bedrockruntime"], "urls": []}}}
        )
        self._mock.start()
        try:
            session = boto3.Session(region_name=self.region)
            session._session.register_component("data_loader", _shared_loader())
            for service in ("bedrock", "bedrock-runtime"):
                self._routers[service] = Router(service)
                session.events.register_first(
                    f"before-send.{service}", self._on_send, unique_id=f"finetune-sdk-emulation-{service}"
                )
            self._session = session
            self._s3 = session.client("s3")
            self._iam = session.client("iam")
            if self.region == "us-east-1":
                self._s3.create_bucket(Bucket=self.bucket)
            else:
                self._s3.create_bucket(
                    Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
                )
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "bedrock.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": self.account_id}},
                    }
                ],
            }
            self._iam.create_role(RoleName="finetune-sdk-bedrock", AssumeRolePolicyDocument=json.dumps(trust))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop moto and drop the handlers. Safe to call twice."""
        if self._session is not None:
            for service in ("bedrock", "bedrock-runtime"):
                self._session.events.unregister(
                    f"before-send.{service}", unique_id=f"finetune-sdk-emulation-{service}"
                )
        if self._mock is not None:
            self._mock.stop()
        self._mock = None

    def __enter__(self) -> AwsEmulation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def session(self) -> Any:
        """The ``boto3.Session`` whose clients reach the emulation."""
        if self._session is None:
            raise RuntimeError("start the emulation first: `with AwsEmulation() as aws: ...`")
        return self._session

    @property
    def s3(self) -> Any:
        """An S3 client on the emulated account."""
        if self._s3 is None:
            raise RuntimeError("start the emulation first: `with AwsEmulation() as aws: ...`")
        return self._s3

    def backend(self, **options: Any) -> Backend:
        """The ``bedrock`` backend wired to this emulation (session, Region, role, output URI, clock).

        ``options`` override or add constructor options.

        Raises:
            BackendNotInstalledError / BackendNotFoundError: the Bedrock backend is not available.
        """
        import inspect

        from finetune_sdk import backends

        cls = backends._load_class("bedrock")
        accepted = inspect.signature(cls.__init__).parameters
        defaults: dict[str, Any] = {
            "session": self.session,
            "region": self.region,
            "role_arn": self.role_arn,
            "output_uri": self.output_uri,
            "clock": self.clock,
        }
        opts = {k: v for k, v in defaults.items() if k in accepted}
        opts.update(options)
        return backends.get("bedrock", **opts)

    # --- scripting ------------------------------------------------------------------------------------------
    def inject(self, operation: str, kind: FaultKind, *, times: int = 1, after_apply: bool = False) -> None:
        """Make the next ``times`` calls of ``operation`` (``"*"`` for any) fail in transport or service.

        ``throttle`` answers ``ThrottlingException`` (HTTP 429, as the service model says); ``5xx`` answers
        ``InternalServerException`` (500); ``drop`` raises ``EndpointConnectionError`` (or
        ``ConnectionClosedError`` with ``after_apply``); ``timeout`` raises ``ConnectTimeoutError`` (or
        ``ReadTimeoutError`` with ``after_apply``). With ``after_apply=True`` the request is processed first
        and only the answer is lost: the retry must then find the resource already there.
        """
        if kind not in ("throttle", "5xx", "drop", "timeout"):
            raise ValueError(f"unknown fault kind {kind!r}; use throttle, 5xx, drop or timeout")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.setdefault(operation, []).append(_Fault(kind, times, after_apply))

    def fail_next_job(self, message: str = "Internal failure") -> None:
        """The next customisation job created fails with ``message`` when it would have completed."""
        with self._lock:
            self._fail_next.append(message)

    def _any_job(self, ident: str) -> _Resource:
        for store in (self._jobs, self._import_jobs, self._batch):
            for item in store.values():
                if ident in (item.arn, item.rid, getattr(item, "name", None)):
                    return item
        raise KeyError(f"the emulation has no job {ident!r}")

    def complete_job(self, ident: str) -> None:
        """End a customisation, import or batch job now, as if its time had come (by ARN, id or name).

        Completion still checks the data when ``check_data`` is on, so the job may end ``Failed``.
        """
        with self._lock:
            job = self._any_job(ident)
            if job.status not in ("InProgress", "Submitted"):
                raise ValueError(f"job {ident} cannot be completed: it is {job.status}")
            self._finish(job)

    def fail_job(self, ident: str, message: str = "Internal failure") -> None:
        """Fail a running customisation, import or batch job now with ``failureMessage`` ``message``."""
        with self._lock:
            job = self._any_job(ident)
            if job.status in ("Completed", "Failed", "Stopped", "PartiallyCompleted"):
                raise ValueError(f"job {ident} already ended ({job.status})")
            self._fail(job, message)

    def calls(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every request for ``operation``, in order."""
        return [r.params for r in self.requests if r.operation == operation]

    # --- S3 helpers -----------------------------------------------------------------------------------------
    def put_object(self, uri: str, data: bytes | str) -> None:
        """Write ``data`` to ``uri`` (``s3://bucket/key``), creating the bucket if needed."""
        bucket, key = _split_s3(uri)
        self._ensure_bucket(bucket)
        self.s3.put_object(Bucket=bucket, Key=key, Body=data.encode() if isinstance(data, str) else data)

    def put_jsonl(self, uri: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Write ``records`` as JSON Lines to ``uri``."""
        self.put_object(uri, "".join(json.dumps(r) + "\n" for r in records))

    def read_object(self, uri: str) -> bytes:
        """The bytes at ``uri``.

        Raises:
            KeyError: no such object.
        """
        bucket, key = _split_s3(uri)
        data = self._get(bucket, key)
        if data is None:
            raise KeyError(f"no object at {uri}")
        return data

    def list_objects(self, uri: str) -> list[str]:
        """Every ``s3://`` URI under the prefix ``uri``, sorted."""
        bucket, prefix = _split_s3(uri)
        return [f"s3://{bucket}/{k}" for k in self._keys(bucket, prefix)]

    def put_model_folder(
        self,
        uri: str,
        *,
        architecture: str = "LlamaForCausalLM",
        model_type: str = "llama",
        chat_template: bool = True,
        omit: Sequence[str] = (),
        max_position_embeddings: int = 8192,
    ) -> None:
        """Write a small Hugging Face model folder (config, tokenizer files, safetensors) for import tests.

        ``omit`` lists file names to leave out (e.g. ``["config.json"]`` to see the import fail).
        """
        files: dict[str, bytes] = {
            "config.json": json.dumps(
                {
                    "architectures": [architecture],
                    "model_type": model_type,
                    "max_position_embeddings": max_position_embeddings,
                    "vocab_size": 128256,
                }
            ).encode(),
            "tokenizer_config.json": json.dumps(
                {"chat_template": "{{ messages }}"} if chat_template else {}
            ).encode(),
            "tokenizer.json": b"{}",
            "model-00001-of-00001.safetensors": b"\x00" * 64,
        }
        for name, data in files.items():
            if name not in omit:
                self.put_object(f"{uri.rstrip('/')}/{name}", data)

    def put_invocation_logs(self, bucket: str, prefix: str, records: Iterable[Mapping[str, Any]]) -> str:
        """Write model invocation logs where Bedrock would, and return the ``s3://`` URI of the file.

        Each record is either a full log record (it has ``schemaType``) or a short form with ``prompt``,
        ``response`` and optional ``model_id``, ``system``, ``metadata`` (the request metadata) and
        ``operation`` (``"Converse"`` or ``"InvokeModel"``).
        """
        built = [
            dict(r)
            if "schemaType" in r
            else self._log_record(
                operation=str(r.get("operation", "Converse")),
                model_id=str(r.get("model_id", "amazon.nova-pro-v1:0")),
                system=r.get("system"),
                prompt=str(r["prompt"]),
                response=str(r["response"]),
                metadata=r.get("metadata"),
            )
            for r in records
        ]
        return self._write_logs(bucket, prefix, built)

    # --- plumbing -------------------------------------------------------------------------------------------
    def _ensure_bucket(self, bucket: str) -> None:
        if bucket in self._known_buckets:
            return
        try:
            self.s3.head_bucket(Bucket=bucket)
        except Exception:
            if self.region == "us-east-1":
                self.s3.create_bucket(Bucket=bucket)
            else:
                self.s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
                )
        self._known_buckets.add(bucket)

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.s3.head_bucket(Bucket=bucket)
            return True
        except Exception:
            return False

    def _get(self, bucket: str, key: str) -> bytes | None:
        try:
            body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            return body
        except Exception:
            return None

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        if not self._bucket_exists(bucket):
            return []
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    def _data_keys(self, uri: str, suffixes: tuple[str, ...] = (".jsonl",)) -> tuple[str, list[str]]:
        """The objects a data URI names: the object itself, or the matching objects under a folder."""
        bucket, key = _split_s3(uri)
        if key and not key.endswith("/") and self._get(bucket, key) is not None:
            return bucket, [key]
        prefix = key if key.endswith("/") or not key else key + "/"
        return bucket, [k for k in self._keys(bucket, prefix) if k.endswith(suffixes)]

    def _new_id(self) -> str:
        return "".join(self._rng.choice(_ALNUM) for _ in range(12))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _arn(self, resource: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{self.account_id}:{resource}"

    def _fm_arn(self, model_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}"

    def _due(self, resource: _Resource, duration: float) -> bool:
        if self.polls_to_complete is not None and resource.polls >= self.polls_to_complete:
            return True
        return self.clock.monotonic() - resource.started >= duration

    def _fraction(self, resource: _Resource, duration: float) -> float:
        by_time = (self.clock.monotonic() - resource.started) / duration if duration > 0 else 1.0
        by_polls = resource.polls / self.polls_to_complete if self.polls_to_complete else 0.0
        return min(max(by_time, by_polls, 0.0), 1.0)

    # --- the handler ----------------------------------------------------------------------------------------
    def _on_send(self, request: Any, event_name: str = "", **_: Any) -> Any:
        parts = event_name.split(".")
        service = parts[1] if len(parts) > 1 else "bedrock"
        router = self._routers[service]
        url = str(request.url)
        matched = router.match(str(request.method), urlsplit(url).path)
        if matched is None:
            raise NotImplementedError(f"AwsEmulation cannot route {request.method} {url} ({event_name})")
        op, uri_params = matched
        if len(parts) > 2 and parts[2] != op.name:
            raise EmulationBugError(f"routed {event_name} to {op.name}")
        with self._lock:
            self._request_seq += 1
            request_id = f"00000000-0000-4000-8000-{self._request_seq:012d}"
            try:
                params = parse_request(op, uri_params, url, dict(request.headers.items()), request.body)
            except RequestParseError as exc:
                return self._error(request, service, "ValidationException", str(exc), request_id)
            self.requests.append(RecordedRequest(op.name, params))
            problems = validate(op.input_shape, params, operation=op.name) if op.input_shape else []
            if problems:
                self.violations.extend(problems)
                return self._error(
                    request, service, "ValidationException", format_violations(problems), request_id
                )
            fault = self._take_fault(op.name)
            if fault is not None and not fault.after_apply:
                return self._apply_fault(fault, request, service, request_id, url)
            handler = getattr(self, f"_op_{_snake(op.name)}", None)
            if handler is None:  # operations served by extension modules (evaluation jobs)
                from finetune_sdk.testing import _evaluation_jobs

                handler = _evaluation_jobs.handler_for(self, op.name)
            if handler is None:
                raise NotImplementedError(
                    f"AwsEmulation does not emulate {service} {op.name} (see finetune_sdk/testing/aws.py)"
                )
            extra_headers: dict[str, str] = {}
            try:
                output = handler(params)
                if isinstance(output, tuple):
                    output, extra_headers = output
            except _ApiError as exc:
                return self._error(request, service, exc.code, exc.message, request_id, exc.status)
            if fault is not None:
                return self._apply_fault(fault, request, service, request_id, url)
            output_problems = validate(op.output_shape, output, operation=op.name) if op.output_shape else []
            if output_problems:
                raise EmulationBugError(
                    f"the emulated {op.name} response breaks the service model: "
                    + format_violations(output_problems)
                )
            status, headers, body = serialize_output(op, output)
            headers.update(extra_headers)
            headers["x-amzn-RequestId"] = request_id
            return self._response(request, status, headers, body)

    def _take_fault(self, operation: str) -> _Fault | None:
        for key in (operation, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
                return fault
        return None

    def _apply_fault(self, fault: _Fault, request: Any, service: str, request_id: str, url: str) -> Any:
        from botocore.exceptions import (
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        if fault.kind == "throttle":
            return self._error(
                request,
                service,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
                request_id,
            )
        if fault.kind == "5xx":
            return self._error(
                request,
                service,
                "InternalServerException",
                "The server encountered an internal error.",
                request_id,
                500,
            )
        if fault.kind == "drop":
            if fault.after_apply:
                raise ConnectionClosedError(endpoint_url=url)
            raise EndpointConnectionError(endpoint_url=url)
        if fault.after_apply:
            raise ReadTimeoutError(endpoint_url=url)
        raise ConnectTimeoutError(endpoint_url=url)

    def _response(self, request: Any, status: int, headers: Mapping[str, str], body: bytes) -> Any:
        from botocore.awsrequest import AWSResponse, HeadersDict

        all_headers = HeadersDict({"Date": "Wed, 01 Jan 2025 00:00:00 GMT", "Content-Length": str(len(body))})
        all_headers.update(headers)
        return AWSResponse(str(request.url), status, all_headers, _RawBody(body))  # type: ignore[arg-type]

    def _error(
        self, request: Any, service: str, code: str, message: str, request_id: str, status: int | None = None
    ) -> Any:
        http_status = status or error_status(service_model(service), code)
        body = json.dumps({"message": message}).encode()
        headers = {
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": request_id,
            "Content-Type": "application/json",
        }
        return self._response(request, http_status, headers, body)

    # --- idempotency and tags -------------------------------------------------------------------------------
    def _idempotent(self, kind: str, params: Mapping[str, Any]) -> str | None:
        token = params.get("clientRequestToken")
        if not token:
            return None
        seen = self._tokens.get((kind, token))
        if seen is None:
            return None
        arn, first = seen
        if dict(first) != dict(params):
            raise _conflict(f"The clientRequestToken {token} was already used for a different request.")
        return arn

    def _remember(self, kind: str, params: Mapping[str, Any], arn: str) -> None:
        token = params.get("clientRequestToken")
        if token:
            self._tokens[(kind, token)] = (arn, dict(params))

    def _set_tags(self, arn: str, tags: Sequence[Mapping[str, str]] | None) -> None:
        if tags:
            self._tags.setdefault(arn, {}).update({t["key"]: t["value"] for t in tags})
        else:
            self._tags.setdefault(arn, {})

    def _check_role(self, role_arn: str) -> None:
        name = role_arn.rsplit("/", 1)[-1]
        if f":{self.account_id}:" not in role_arn:
            return  # a role in another account: nothing we can check
        try:
            role = self._iam.get_role(RoleName=name)["Role"]
        except Exception as exc:
            raise _invalid(
                f"Could not assume the service role {role_arn}: it does not exist. "
                "Create it with a trust policy for bedrock.amazonaws.com."
            ) from exc
        if "bedrock.amazonaws.com" not in json.dumps(role.get("AssumeRolePolicyDocument", {})):
            raise _invalid(
                f"Could not assume the service role {role_arn}: its trust policy does not allow "
                "bedrock.amazonaws.com."
            )

    # --- listing --------------------------------------------------------------------------------------------
    def _page(
        self,
        items: list[Any],
        params: Mapping[str, Any],
        op: str,
        *,
        created: Callable[[Any], datetime],
        after: str = "creationTimeAfter",
        before: str = "creationTimeBefore",
    ) -> tuple[list[Any], str | None]:
        low, high = params.get(after), params.get(before)
        if low is not None:
            items = [i for i in items if created(i) > low]
        if high is not None:
            items = [i for i in items if created(i) < high]
        ascending = params.get("sortOrder") == "Ascending"
        items = sorted(items, key=lambda i: (created(i), i.seq), reverse=not ascending)
        offset = 0
        token = params.get("nextToken")
        if token:
            try:
                kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
                offset = int(number)
                if kind != op or offset < 0:
                    raise ValueError(token)
            except ValueError as exc:
                raise _invalid(f"The pagination token {token} is invalid.") from exc
        size = int(params.get("maxResults") or 100)
        page = items[offset : offset + size]
        more = offset + size < len(items)
        next_token = base64.urlsafe_b64encode(f"{op}:{offset + size}".encode()).decode() if more else None
        return page, next_token

    # --- model resolution -----------------------------------------------------------------------------------
    def _catalog_by_id(self, model_id: str) -> catalog.BaseModelInfo | None:
        for info in catalog.all_models():
            if info.id == model_id:
                return info
        return None

    def _catalog_by_runtime(self, model_id: str) -> catalog.BaseModelInfo | None:
        bare = _strip_geo(model_id)
        for info in catalog.all_models():
            if _strip_geo(info.runtime_id) == bare:
                return info
        return None

    def _custom_model(self, ident: str) -> _CustomModel | None:
        found = self._models.get(ident)
        if found is None:
            found = next((m for m in self._models.values() if m.name == ident), None)
        return found

    def _imported_model(self, ident: str) -> _ImportedModel | None:
        found = self._imported.get(ident)
        if found is None:
            found = next((m for m in self._imported.values() if m.name == ident), None)
        return found

    def _runtime_target(self, model_id: str, *, api: str) -> _Target:
        arn_kind = (
            model_id.split(":", 5)[5].split("/", 1)[0]
            if model_id.startswith("arn:") and model_id.count(":") >= 5
            else ""
        )
        if arn_kind == "provisioned-model":
            pt = self._provisioned.get(model_id)
            if pt is None:
                raise _not_found("provisioned model", model_id)
            self._tick(pt)
            if pt.status != "InService":
                raise _invalid(f"The provisioned model {model_id} is not ready (status {pt.status}).")
            return _Target(pt.family, pt.responder_id)
        if arn_kind == "custom-model-deployment":
            deployment = self._deployments.get(model_id)
            if deployment is None or deployment.model is None:
                raise _not_found("custom model deployment", model_id)
            self._tick(deployment)
            if deployment.status != "Active":
                raise _invalid(
                    f"The custom model deployment {model_id} is not ready (status {deployment.status})."
                )
            return _Target(self._family(deployment.model.info), deployment.model.arn)
        if arn_kind == "custom-model":
            if model_id not in self._models:
                raise _invalid("The provided model identifier is invalid.")
            raise _invalid("The provided model doesn't support on-demand throughput.")
        if arn_kind == "imported-model":
            imported = self._imported.get(model_id)
            if imported is None:
                raise _not_found("imported model", model_id)
            if api == "Converse" and not imported.instruct:
                raise _invalid(
                    f"The model {model_id} does not support the Converse API; its tokenizer has no "
                    "chat template. Use InvokeModel."
                )
            return _Target("bedrock_completion", imported.arn, imported.instruct)
        bare = model_id
        if arn_kind in ("foundation-model", "inference-profile"):
            bare = model_id.split("/", 1)[1]
        elif arn_kind:
            raise _invalid("The provided model identifier is invalid.")
        if bare in self.extra_foundation_models:
            return _Target(self.extra_foundation_models[bare], model_id)
        info = self._catalog_by_runtime(bare)
        if info is not None:
            return _Target(info.invoke_body, model_id)
        if self._catalog_by_id(bare) is not None:
            raise _invalid("The provided model doesn't support on-demand throughput.")
        raise _invalid("The provided model identifier is invalid.")

    @staticmethod
    def _family(info: catalog.BaseModelInfo | None) -> str:
        return info.invoke_body if info is not None else "nova_messages"

    # --- state transitions ----------------------------------------------------------------------------------
    def _tick(self, resource: _Resource, *, poll: bool = False) -> None:
        if poll:
            resource.polls += 1
            if resource.stop_at is not None:
                resource.stop_polls += 1
        now = self.clock.now()
        if resource.status == "Stopping":
            waited = self.clock.monotonic() - (resource.stop_at or 0.0)
            if waited >= self.stop_duration_s or (
                self.polls_to_complete is not None and resource.stop_polls >= 1
            ):
                resource.status = "Stopped"
                resource.end_time = resource.last_modified = now
                if isinstance(resource, _CustomizationJob):
                    self._set_stages(resource, terminal="Stopped")
            return
        if isinstance(resource, _CustomizationJob):
            if resource.status == "InProgress":
                if self._due(resource, self.job_duration_s):
                    self._finish(resource)
                else:
                    self._set_stages(resource)
        elif isinstance(resource, _ImportJob):
            if resource.status == "InProgress" and self._due(resource, self.import_duration_s):
                self._finish(resource)
        elif isinstance(resource, _BatchJob):
            if resource.status == "Submitted" and (
                resource.polls >= 1 or self.clock.monotonic() > resource.started
            ):
                resource.status = "InProgress"
                resource.last_modified = now
            if resource.status == "InProgress" and self._due(resource, self.batch_duration_s):
                self._finish(resource)
        elif isinstance(resource, _Provisioned):
            if resource.status == "Creating" and self._due(resource, self.deployment_duration_s):
                resource.status = "InService"
                resource.last_modified = now
        elif (
            isinstance(resource, _Deployment)
            and resource.status == "Creating"
            and self._due(resource, self.deployment_duration_s)
        ):
            resource.status = "Active"
            resource.last_modified = now

    def _fail(self, resource: _Resource, message: str) -> None:
        resource.status = "Failed"
        resource.failure_message = message
        resource.end_time = resource.last_modified = self.clock.now()
        if isinstance(resource, _CustomizationJob):
            self._set_stages(resource, terminal="Failed")
        if isinstance(resource, _BatchJob):
            resource.message = message

    def _finish(self, resource: _Resource) -> None:
        if isinstance(resource, _CustomizationJob):
            self._finish_customization(resource)
        elif isinstance(resource, _ImportJob):
            self._finish_import(resource)
        elif isinstance(resource, _BatchJob):
            self._finish_batch(resource)

    def _set_stages(self, job: _CustomizationJob, *, terminal: str | None = None) -> None:
        if job.customization_type != "DISTILLATION":
            return
        now = self.clock.now()
        if terminal == "Completed":
            current = len(_DISTILLATION_STAGES)
        else:
            fraction = self._fraction(job, self.job_duration_s)
            current = min(int(fraction * len(_DISTILLATION_STAGES)), len(_DISTILLATION_STAGES) - 1)
        for i, stage in enumerate(_DISTILLATION_STAGES):
            if i < current:
                status = "Completed"
            elif i == current:
                status = terminal or "InProgress"
            else:
                status = "NotStarted"
            previous = job.stages.get(stage)
            if previous is None or previous[0] != status:
                job.stages[stage] = (status, now)

    # --- customization jobs ---------------------------------------------------------------------------------
    def _op_create_model_customization_job(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("customization", p)
        if existing is not None:
            return {"jobArn": existing}
        if any(j.name == p["jobName"] for j in self._jobs.values()):
            raise _conflict(f"A model customization job with the name {p['jobName']} already exists.")
        if self._custom_model(p["customModelName"]) is not None or any(
            j.params["customModelName"] == p["customModelName"] and j.status in ("InProgress", "Stopping")
            for j in self._jobs.values()
        ):
            raise _conflict(
                f"A custom model with the name {p['customModelName']} already exists or is being created."
            )
        ctype = p.get("customizationType") or "FINE_TUNING"
        fm_id, base_arn, info = self._customization_base(p["baseModelIdentifier"], ctype)
        self._check_customization(p, ctype, info)
        self._check_role(p["roleArn"])
        rid = self._new_id()
        arn = self._arn(f"model-customization-job/{fm_id}/{rid}")
        now = self.clock.now()
        job = _CustomizationJob(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="InProgress",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["jobName"],
            params=dict(p),
            customization_type=ctype,
            fm_id=fm_id,
            base_arn=base_arn,
            info=info,
            scripted_failure=self._fail_next.pop(0) if self._fail_next else None,
        )
        self._set_stages(job)
        self._jobs[arn] = job
        self._remember("customization", p, arn)
        self._set_tags(arn, p.get("jobTags"))
        return {"jobArn": arn}

    def _customization_base(
        self, identifier: str, ctype: str
    ) -> tuple[str, str, catalog.BaseModelInfo | None]:
        parent = self._custom_model(identifier)
        if parent is not None:
            return parent.fm_id, parent.arn, parent.info
        bare = (
            identifier.split("/", 1)[1] if identifier.startswith("arn:") and "/" in identifier else identifier
        )
        if identifier.startswith("arn:") and ":foundation-model/" not in identifier:
            raise _not_found("custom model", identifier)
        info = self._catalog_by_id(bare)
        if info is None:
            raise _invalid(
                f"The provided model identifier is invalid: {identifier} is not a model that can be "
                "customized (use a customization id such as amazon.nova-micro-v1:0:128k)."
            )
        if self.check_regions and self.region not in info.regions:
            raise _invalid(
                f"The model {info.id} cannot be customized in {self.region}; it is offered in "
                f"{', '.join(info.regions)}."
            )
        return info.id, self._fm_arn(info.id), info

    def _check_customization(
        self, p: Mapping[str, Any], ctype: str, info: catalog.BaseModelInfo | None
    ) -> None:
        if (
            info is not None
            and ctype in ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION")
            and ctype not in info.customizations
        ):
            raise _invalid(f"The model {info.id} does not support customization type {ctype}.")
        if info is not None and ctype not in ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"):
            raise _invalid(f"The model {info.id} does not support customization type {ctype}.")
        data = p["trainingDataConfig"]
        config = p.get("customizationConfig") or {}
        if "s3Uri" not in data and "invocationLogsConfig" not in data:
            raise _invalid("trainingDataConfig needs s3Uri or invocationLogsConfig.")
        if ctype == "DISTILLATION":
            teacher_config = (config.get("distillationConfig") or {}).get("teacherModelConfig")
            if teacher_config is None:
                raise _invalid("A DISTILLATION job needs customizationConfig.distillationConfig.")
            teacher = _strip_geo(str(teacher_config["teacherModelIdentifier"]).rsplit("/", 1)[-1])
            allowed = {_strip_geo(t) for t in info.distillation_teachers} if info is not None else set()
            if allowed and teacher not in allowed:
                raise _invalid(
                    f"The teacher model {teacher_config['teacherModelIdentifier']} is not supported for "
                    f"the student model {info.id if info else ''}; supported teachers: "
                    f"{', '.join(sorted(allowed))}."
                )
        else:
            if "distillationConfig" in config:
                raise _invalid(f"distillationConfig is only valid for DISTILLATION jobs, not {ctype}.")
            if "invocationLogsConfig" in data:
                raise _invalid("invocationLogsConfig training data is only valid for DISTILLATION jobs.")
        if info is not None and ctype in ("FINE_TUNING", "CONTINUED_PRE_TRAINING"):
            schema = {h.name: h for h in info.hyperparameters}
            for name, text in (p.get("hyperParameters") or {}).items():
                spec = schema.get(name)
                if spec is None:
                    raise _invalid(
                        f"The hyperparameter {name} is not supported for {info.id}. Supported: "
                        f"{', '.join(schema)}."
                    )
                try:
                    value = float(text) if spec.type in ("int", "float") else None
                except ValueError as exc:
                    raise _invalid(f"The hyperparameter {name} must be a number, got {text!r}.") from exc
                if spec.type == "int" and value is not None and not value.is_integer():
                    raise _invalid(f"The hyperparameter {name} must be an integer, got {text!r}.")
                if value is not None and (
                    (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max)
                ):
                    raise _invalid(
                        f"The hyperparameter {name} must be between {spec.min} and {spec.max}, got {text}."
                    )

    def _customization_job(self, ident: str) -> _CustomizationJob:
        job = self._jobs.get(ident) or next((j for j in self._jobs.values() if j.name == ident), None)
        if job is None:
            raise _not_found("model customization job", ident)
        return job

    def _job_view(self, job: _CustomizationJob, *, summary: bool) -> dict[str, Any]:
        p = job.params
        stages = {
            stage: {"status": status, "creationTime": job.created, "lastModifiedTime": when}
            for stage, (status, when) in job.stages.items()
        } or None
        common: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "status": job.status,
            "statusDetails": stages,
            "creationTime": job.created,
            "lastModifiedTime": job.last_modified,
            "endTime": job.end_time,
            "customizationType": job.customization_type,
        }
        if summary:
            common.update(
                {
                    "baseModelArn": job.base_arn,
                    "customModelArn": job.model_arn,
                    "customModelName": p["customModelName"],
                }
            )
            return common
        validators = (p.get("validationDataConfig") or {}).get("validators", [])
        common.update(
            {
                "outputModelName": p["customModelName"],
                "outputModelArn": job.model_arn,
                "clientRequestToken": p.get("clientRequestToken"),
                "roleArn": p["roleArn"],
                "failureMessage": job.failure_message,
                "baseModelArn": self._fm_arn(job.fm_id),
                "hyperParameters": p.get("hyperParameters"),
                "trainingDataConfig": p["trainingDataConfig"],
                "validationDataConfig": p.get("validationDataConfig") or {"validators": []},
                "outputDataConfig": p["outputDataConfig"],
                "trainingMetrics": {"trainingLoss": job.training_loss}
                if job.training_loss is not None
                else None,
                "validationMetrics": [{"validationLoss": v} for v in job.validation_losses]
                if job.validation_losses and len(validators)
                else None,
                "vpcConfig": p.get("vpcConfig"),
                "customizationConfig": p.get("customizationConfig"),
            }
        )
        return common

    def _op_get_model_customization_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._customization_job(p["jobIdentifier"])
        self._tick(job, poll=True)
        return self._job_view(job, summary=False)

    def _op_stop_model_customization_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._customization_job(p["jobIdentifier"])
        self._tick(job)
        if job.status != "InProgress":
            raise _conflict(f"The job {job.name} cannot be stopped because it is {job.status}.")
        job.status = "Stopping"
        job.stop_at = self.clock.monotonic()
        job.last_modified = self.clock.now()
        self._set_stages(job, terminal="Stopping")
        return {}

    def _op_list_model_customization_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._jobs.values():
            self._tick(job)
        items = list(self._jobs.values())
        if p.get("statusEquals"):
            items = [j for j in items if j.status == p["statusEquals"]]
        if p.get("nameContains"):
            items = [j for j in items if p["nameContains"] in j.name]
        page, token = self._page(items, p, "ListModelCustomizationJobs", created=lambda j: j.created)
        return {
            "modelCustomizationJobSummaries": [self._job_view(j, summary=True) for j in page],
            "nextToken": token,
        }

    def _finish_customization(self, job: _CustomizationJob) -> None:
        if job.scripted_failure is not None:
            self._fail(job, job.scripted_failure)
            return
        records = 0
        if self.check_data:
            problem, records = self._check_job_data(job)
            if problem:
                self._fail(job, problem)
                return
        self._write_metrics(job, records)
        self._create_custom_model(job)
        now = self.clock.now()
        job.status = "Completed"
        job.end_time = job.last_modified = now
        self._set_stages(job, terminal="Completed")

    def _expected_format(self, job: _CustomizationJob) -> str:
        if job.customization_type == "CONTINUED_PRE_TRAINING":
            return "text"
        if job.customization_type == "DISTILLATION":
            return "bedrock_conversation"
        return job.info.format if job.info is not None else "any"

    def _check_job_data(self, job: _CustomizationJob) -> tuple[str | None, int]:
        p = job.params
        out_bucket, _ = _split_s3(p["outputDataConfig"]["s3Uri"])
        if not self._bucket_exists(out_bucket):
            return (
                f"Unable to write to the output location {p['outputDataConfig']['s3Uri']}: the bucket does "
                "not "
                "exist or the service role cannot write to it."
            ), 0
        data = p["trainingDataConfig"]
        fmt = self._expected_format(job)
        if "invocationLogsConfig" in data and "s3Uri" not in data:
            count = self._count_logs(data["invocationLogsConfig"])
            if count == 0:
                source = data["invocationLogsConfig"]["invocationLogSource"].get("s3Uri")
                return (
                    f"No invocation logs matching the request metadata filters were found under {source}. "
                    "Check that model invocation logging delivers to that location."
                ), 0
            return None, count
        problem, records = self._check_file(data["s3Uri"], fmt, job, "train")
        if problem:
            return problem, 0
        for validator in (p.get("validationDataConfig") or {}).get("validators", []):
            vproblem, _ = self._check_file(validator["s3Uri"], fmt, job, "validation")
            if vproblem:
                return vproblem, 0
        return None, records

    def _check_file(self, uri: str, fmt: str, job: _CustomizationJob, role: str) -> tuple[str | None, int]:
        bucket, keys = self._data_keys(uri)
        if not keys:
            return (
                f"Unable to access the {role} data at {uri}: the object does not exist or the service role "
                "cannot read it."
            ), 0
        limits = job.info.limits if job.info is not None else None
        count = 0
        for key in keys:
            data = self._get(bucket, key) or b""
            for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
                if not line.strip():
                    continue
                count += 1
                try:
                    record = json.loads(line)
                except ValueError:
                    return f"Input data at {key} line {number} is not valid JSON.", 0
                problem = _record_problem(record, fmt)
                if problem:
                    return f"Input data at {key} must follow {problem} format (line {number}).", 0
                if (
                    limits is not None
                    and limits.max_tokens_per_record
                    and fmt != "any"
                    and job.customization_type != "DISTILLATION"
                ):
                    tokens = math.ceil(len(_record_text(record)) / limits.chars_per_token)
                    if tokens > limits.max_tokens_per_record:
                        return (
                            f"Maximum input token count {tokens} exceeds limit of "
                            f"{limits.max_tokens_per_record} for {role} data"
                        ), 0
        if (
            role == "train"
            and limits is not None
            and job.customization_type in ("FINE_TUNING", "CONTINUED_PRE_TRAINING")
            and limits.min_train_records
            and count < limits.min_train_records
        ):
            return (
                f"The training data has {count} records; "
                f"{job.info.id if job.info else 'this model'} needs at "
                f"least {limits.min_train_records}."
            ), 0
        return None, count

    def _count_logs(self, config: Mapping[str, Any]) -> int:
        uri = config["invocationLogSource"].get("s3Uri")
        if not uri:
            return 0
        bucket, prefix = _split_s3(uri)
        filters = config.get("requestMetadataFilters")
        count = 0
        for key in self._keys(bucket, prefix):
            raw = self._get(bucket, key) or b""
            if key.endswith(".gz"):
                try:
                    raw = gzip.decompress(raw)
                except OSError:
                    continue
            for line in raw.decode("utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict) or "input" not in record or "output" not in record:
                    continue
                if filters and not _filter_matches(filters, record.get("requestMetadata") or {}):
                    continue
                count += 1
        return count

    def _write_metrics(self, job: _CustomizationJob, records: int) -> None:
        hp = job.params.get("hyperParameters") or {}
        defaults = {h.name: h.default for h in job.info.hyperparameters} if job.info is not None else {}

        def number(name: str, fallback: float) -> float:
            value = hp.get(name, defaults.get(name))
            try:
                return float(value) if value is not None else fallback
            except (TypeError, ValueError):
                return fallback

        epochs = max(int(number("epochCount", 2)), 1)
        batch = max(int(number("batchSize", 8)), 1)
        per_epoch = min(max(math.ceil(max(records, 1) / batch), 1), 50)
        total = min(epochs * per_epoch, 1000)
        train_rows = []
        for step in range(total):
            loss = 0.35 + 2.1 * math.exp(-3.0 * (step + 1) / total)
            train_rows.append((step, step // per_epoch, round(loss, 6), round(math.exp(loss), 6)))
        base = _join_key(
            _split_s3(job.params["outputDataConfig"]["s3Uri"])[1], f"model-customization-job-{job.rid}"
        )
        bucket = _split_s3(job.params["outputDataConfig"]["s3Uri"])[0]
        self.s3.put_object(
            Bucket=bucket,
            Key=f"{base}/training_artifacts/step_wise_training_metrics.csv",
            Body=_csv(("step_number", "epoch_number", "training_loss", "perplexity"), train_rows),
        )
        job.training_loss = train_rows[-1][2]
        validators = (job.params.get("validationDataConfig") or {}).get("validators", [])
        if validators:
            val_rows = []
            for epoch in range(epochs):
                step = min((epoch + 1) * per_epoch, total) - 1
                loss = round(train_rows[step][2] + 0.07, 6)
                val_rows.append((step, epoch, loss, round(math.exp(loss), 6)))
            self.s3.put_object(
                Bucket=bucket,
                Key=f"{base}/validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
                Body=_csv(("step_number", "epoch_number", "validation_loss", "perplexity"), val_rows),
            )
            job.validation_losses = [val_rows[-1][2]] * len(validators)

    def _create_custom_model(self, job: _CustomizationJob) -> None:
        arn = self._arn(f"custom-model/{job.fm_id}/{self._new_id()}")
        model = _CustomModel(
            arn=arn,
            seq=self._next_seq(),
            name=job.params["customModelName"],
            job=job,
            fm_id=job.fm_id,
            created=self.clock.now(),
            customization_type=job.customization_type,
            info=job.info,
        )
        self._models[arn] = model
        job.model_arn = arn
        self._set_tags(arn, job.params.get("customModelTags"))

    # --- custom models --------------------------------------------------------------------------------------
    def _model_view(self, model: _CustomModel, *, summary: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "modelArn": model.arn,
            "modelName": model.name,
            "creationTime": model.created,
            "baseModelArn": self._fm_arn(model.fm_id),
            "customizationType": model.customization_type,
            "modelStatus": "Active",
        }
        if summary:
            view.update(
                {
                    "baseModelName": model.fm_id.split(":", 1)[0],
                    "ownerAccountId": self.account_id,
                }
            )
            return view
        job = model.job
        if job is not None:
            p = job.params
            view.update(
                {
                    "jobName": job.name,
                    "jobArn": job.arn,
                    "hyperParameters": p.get("hyperParameters"),
                    "trainingDataConfig": p["trainingDataConfig"],
                    "validationDataConfig": p.get("validationDataConfig"),
                    "outputDataConfig": p["outputDataConfig"],
                    "trainingMetrics": {"trainingLoss": job.training_loss}
                    if job.training_loss is not None
                    else None,
                    "validationMetrics": [{"validationLoss": v} for v in job.validation_losses] or None,
                    "customizationConfig": p.get("customizationConfig"),
                }
            )
        return view

    def _op_get_custom_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._custom_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("custom model", p["modelIdentifier"])
        return self._model_view(model, summary=False)

    def _op_list_custom_models(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._jobs.values():
            self._tick(job)
        items = list(self._models.values())
        if p.get("nameContains"):
            items = [m for m in items if p["nameContains"] in m.name]
        if p.get("baseModelArnEquals"):
            items = [m for m in items if self._fm_arn(m.fm_id) == p["baseModelArnEquals"]]
        if p.get("foundationModelArnEquals"):
            items = [m for m in items if self._fm_arn(m.fm_id) == p["foundationModelArnEquals"]]
        if p.get("modelStatus") and p["modelStatus"] != "Active":
            items = []
        page, token = self._page(items, p, "ListCustomModels", created=lambda m: m.created)
        return {"modelSummaries": [self._model_view(m, summary=True) for m in page], "nextToken": token}

    def _op_delete_custom_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._custom_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("custom model", p["modelIdentifier"])
        users = [pt.arn for pt in self._provisioned.values() if pt.model_arn == model.arn]
        users += [d.arn for d in self._deployments.values() if d.model is model]
        if users:
            raise _conflict(
                f"The custom model {model.name} is in use by {', '.join(users)}; delete those first."
            )
        del self._models[model.arn]
        return {}

    # --- Custom Model Import --------------------------------------------------------------------------------
    def _op_create_model_import_job(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("import", p)
        if existing is not None:
            return {"jobArn": existing}
        if any(j.name == p["jobName"] for j in self._import_jobs.values()):
            raise _conflict(f"A model import job with the name {p['jobName']} already exists.")
        if self._imported_model(p["importedModelName"]) is not None:
            raise _conflict(f"An imported model with the name {p['importedModelName']} already exists.")
        self._check_role(p["roleArn"])
        rid = self._new_id()
        arn = self._arn(f"model-import-job/{rid}")
        now = self.clock.now()
        job = _ImportJob(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="InProgress",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["jobName"],
            params=dict(p),
        )
        self._import_jobs[arn] = job
        self._remember("import", p, arn)
        self._set_tags(arn, p.get("jobTags"))
        return {"jobArn": arn}

    def _import_job(self, ident: str) -> _ImportJob:
        job = self._import_jobs.get(ident) or next(
            (j for j in self._import_jobs.values() if j.name == ident), None
        )
        if job is None:
            raise _not_found("model import job", ident)
        return job

    def _import_view(self, job: _ImportJob, *, summary: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "status": job.status,
            "creationTime": job.created,
            "lastModifiedTime": job.last_modified,
            "endTime": job.end_time,
            "importedModelArn": job.model_arn,
            "importedModelName": job.params["importedModelName"],
        }
        if not summary:
            view.update(
                {
                    "roleArn": job.params["roleArn"],
                    "modelDataSource": job.params["modelDataSource"],
                    "failureMessage": job.failure_message,
                    "vpcConfig": job.params.get("vpcConfig"),
                }
            )
        return view

    def _op_get_model_import_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._import_job(p["jobIdentifier"])
        self._tick(job, poll=True)
        return self._import_view(job, summary=False)

    def _op_list_model_import_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._import_jobs.values():
            self._tick(job)
        items = list(self._import_jobs.values())
        if p.get("statusEquals"):
            items = [j for j in items if j.status == p["statusEquals"]]
        if p.get("nameContains"):
            items = [j for j in items if p["nameContains"] in j.name]
        page, token = self._page(items, p, "ListModelImportJobs", created=lambda j: j.created)
        return {
            "modelImportJobSummaries": [self._import_view(j, summary=True) for j in page],
            "nextToken": token,
        }

    def _finish_import(self, job: _ImportJob) -> None:
        uri = job.params["modelDataSource"]["s3DataSource"]["s3Uri"]
        architecture, instruct = "llama", True
        if self.check_data:
            problem, architecture, instruct = self._inspect_model_folder(uri)
            if problem:
                self._fail(job, problem)
                return
        arn = self._arn(f"imported-model/{self._new_id()}")
        now = self.clock.now()
        self._imported[arn] = _ImportedModel(
            arn=arn,
            seq=self._next_seq(),
            name=job.params["importedModelName"],
            job=job,
            created=now,
            architecture=architecture,
            instruct=instruct,
        )
        self._set_tags(arn, job.params.get("importedModelTags"))
        job.model_arn = arn
        job.status = "Completed"
        job.end_time = job.last_modified = now

    def _inspect_model_folder(self, uri: str) -> tuple[str | None, str, bool]:
        bucket, prefix = _split_s3(uri)
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        keys = self._keys(bucket, prefix)
        names = {k[len(prefix) :] for k in keys}
        if "config.json" not in names:
            return (
                (
                    f"The model files at {uri} are missing config.json. Upload the Hugging Face model folder "
                    "(config.json, tokenizer files and .safetensors weights)."
                ),
                "",
                False,
            )
        if not any(n.endswith(".safetensors") for n in names):
            return f"No .safetensors weight files were found at {uri}.", "", False
        try:
            config = json.loads(self._get(bucket, prefix + "config.json") or b"")
        except ValueError:
            return f"config.json at {uri} is not valid JSON.", "", False
        architectures = config.get("architectures") or []
        arch = architectures[0] if architectures else ""
        if arch not in _IMPORT_ARCHITECTURES:
            return (
                (
                    f"The model architecture {arch or '(none)'} is not supported. Supported architectures: "
                    f"{', '.join(sorted(_IMPORT_ARCHITECTURES))}."
                ),
                "",
                False,
            )
        if int(config.get("max_position_embeddings") or 0) > 131072:
            return "The model's maximum context length must be below 128K tokens.", "", False
        instruct = False
        if prefix + "tokenizer_config.json" in keys:
            try:
                tokenizer = json.loads(self._get(bucket, prefix + "tokenizer_config.json") or b"{}")
                instruct = bool(tokenizer.get("chat_template"))
            except ValueError:
                instruct = False
        name = _IMPORT_ARCHITECTURES[arch]
        if name == "llama":
            name = "llama3" if int(config.get("vocab_size") or 0) >= 128000 else "llama2"
        return None, name, instruct

    def _imported_view(self, model: _ImportedModel, *, summary: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "modelArn": model.arn,
            "modelName": model.name,
            "creationTime": model.created,
            "instructSupported": model.instruct,
            "modelArchitecture": model.architecture,
        }
        if not summary:
            view.update(
                {
                    "jobName": model.job.name,
                    "jobArn": model.job.arn,
                    "modelDataSource": model.job.params["modelDataSource"],
                    "customModelUnits": {
                        "customModelUnitsPerModelCopy": 1,
                        "customModelUnitsVersion": "v1.0",
                    },
                }
            )
        return view

    def _op_get_imported_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._imported_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("imported model", p["modelIdentifier"])
        return self._imported_view(model, summary=False)

    def _op_list_imported_models(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._import_jobs.values():
            self._tick(job)
        items = list(self._imported.values())
        if p.get("nameContains"):
            items = [m for m in items if p["nameContains"] in m.name]
        page, token = self._page(items, p, "ListImportedModels", created=lambda m: m.created)
        return {"modelSummaries": [self._imported_view(m, summary=True) for m in page], "nextToken": token}

    def _op_delete_imported_model(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self._imported_model(p["modelIdentifier"])
        if model is None:
            raise _not_found("imported model", p["modelIdentifier"])
        del self._imported[model.arn]
        return {}

    # --- provisioned throughput -----------------------------------------------------------------------------
    def _op_create_provisioned_model_throughput(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("provisioned", p)
        if existing is not None:
            return {"provisionedModelArn": existing}
        if any(pt.name == p["provisionedModelName"] for pt in self._provisioned.values()):
            raise _conflict(f"A provisioned model with the name {p['provisionedModelName']} already exists.")
        model_id = p["modelId"]
        custom = self._custom_model(model_id)
        if custom is not None:
            model_arn, fm_arn, family, responder_id = (
                custom.arn,
                self._fm_arn(custom.fm_id),
                self._family(custom.info),
                custom.arn,
            )
        else:
            bare = (
                model_id.split("/", 1)[1]
                if model_id.startswith("arn:") and ":foundation-model/" in model_id
                else model_id
            )
            if model_id.startswith("arn:") and ":foundation-model/" not in model_id:
                raise _not_found("model", model_id)
            info = self._catalog_by_id(bare) or self._catalog_by_runtime(bare)
            if info is None:
                raise _invalid("The provided model identifier is invalid.")
            model_arn = fm_arn = self._fm_arn(info.id)
            family, responder_id = info.invoke_body, bare
        rid = self._new_id()
        arn = self._arn(f"provisioned-model/{rid}")
        now = self.clock.now()
        pt = _Provisioned(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="Creating",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["provisionedModelName"],
            params=dict(p),
            model_arn=model_arn,
            fm_arn=fm_arn,
            family=family,
            responder_id=responder_id,
        )
        self._provisioned[arn] = pt
        self._remember("provisioned", p, arn)
        self._set_tags(arn, p.get("tags"))
        return {"provisionedModelArn": arn}

    def _pt(self, ident: str) -> _Provisioned:
        pt = self._provisioned.get(ident) or next(
            (x for x in self._provisioned.values() if x.name == ident), None
        )
        if pt is None:
            raise _not_found("provisioned model", ident)
        return pt

    def _pt_view(self, pt: _Provisioned) -> dict[str, Any]:
        units = pt.params["modelUnits"]
        view: dict[str, Any] = {
            "modelUnits": units,
            "desiredModelUnits": units,
            "provisionedModelName": pt.name,
            "provisionedModelArn": pt.arn,
            "modelArn": pt.model_arn,
            "desiredModelArn": pt.model_arn,
            "foundationModelArn": pt.fm_arn,
            "status": pt.status,
            "creationTime": pt.created,
            "lastModifiedTime": pt.last_modified or pt.created,
            "commitmentDuration": pt.params.get("commitmentDuration"),
        }
        if pt.params.get("commitmentDuration"):
            months = 1 if pt.params["commitmentDuration"] == "OneMonth" else 6
            view["commitmentExpirationTime"] = pt.created + timedelta(days=30 * months)
        return view

    def _op_get_provisioned_model_throughput(self, p: dict[str, Any]) -> dict[str, Any]:
        pt = self._pt(p["provisionedModelId"])
        self._tick(pt, poll=True)
        view = self._pt_view(pt)
        view["failureMessage"] = pt.failure_message
        return view

    def _op_list_provisioned_model_throughputs(self, p: dict[str, Any]) -> dict[str, Any]:
        for pt in self._provisioned.values():
            self._tick(pt)
        items = list(self._provisioned.values())
        if p.get("statusEquals"):
            items = [x for x in items if x.status == p["statusEquals"]]
        if p.get("modelArnEquals"):
            items = [x for x in items if x.model_arn == p["modelArnEquals"]]
        if p.get("nameContains"):
            items = [x for x in items if p["nameContains"] in x.name]
        page, token = self._page(items, p, "ListProvisionedModelThroughputs", created=lambda x: x.created)
        return {"provisionedModelSummaries": [self._pt_view(x) for x in page], "nextToken": token}

    def _op_delete_provisioned_model_throughput(self, p: dict[str, Any]) -> dict[str, Any]:
        pt = self._pt(p["provisionedModelId"])
        del self._provisioned[pt.arn]
        return {}

    # --- on-demand custom model deployments -----------------------------------------------------------------
    def _op_create_custom_model_deployment(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("deployment", p)
        if existing is not None:
            return {"customModelDeploymentArn": existing}
        if any(d.name == p["modelDeploymentName"] for d in self._deployments.values()):
            raise _conflict(
                f"A custom model deployment with the name {p['modelDeploymentName']} already exists."
            )
        model = self._models.get(p["modelArn"])
        if model is None:
            raise _not_found("custom model", p["modelArn"])
        if model.info is not None and not model.info.on_demand_deployment:
            raise _invalid(
                f"On-demand deployment is not supported for custom models based on {model.info.id}; "
                "use Provisioned Throughput."
            )
        rid = self._new_id()
        arn = self._arn(f"custom-model-deployment/{rid}")
        now = self.clock.now()
        deployment = _Deployment(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="Creating",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["modelDeploymentName"],
            params=dict(p),
            model=model,
        )
        self._deployments[arn] = deployment
        self._remember("deployment", p, arn)
        self._set_tags(arn, p.get("tags"))
        return {"customModelDeploymentArn": arn}

    def _deployment(self, ident: str) -> _Deployment:
        found = self._deployments.get(ident) or next(
            (d for d in self._deployments.values() if d.name == ident), None
        )
        if found is None:
            raise _not_found("custom model deployment", ident)
        return found

    def _op_get_custom_model_deployment(self, p: dict[str, Any]) -> dict[str, Any]:
        d = self._deployment(p["customModelDeploymentIdentifier"])
        self._tick(d, poll=True)
        return {
            "customModelDeploymentArn": d.arn,
            "modelDeploymentName": d.name,
            "modelArn": d.params["modelArn"],
            "createdAt": d.created,
            "status": d.status,
            "description": d.params.get("description"),
            "failureMessage": d.failure_message,
            "lastUpdatedAt": d.last_modified,
        }

    def _op_list_custom_model_deployments(self, p: dict[str, Any]) -> dict[str, Any]:
        for d in self._deployments.values():
            self._tick(d)
        items = list(self._deployments.values())
        if p.get("statusEquals"):
            items = [d for d in items if d.status == p["statusEquals"]]
        if p.get("modelArnEquals"):
            items = [d for d in items if d.params["modelArn"] == p["modelArnEquals"]]
        if p.get("nameContains"):
            items = [d for d in items if p["nameContains"] in d.name]
        page, token = self._page(
            items,
            p,
            "ListCustomModelDeployments",
            created=lambda d: d.created,
            after="createdAfter",
            before="createdBefore",
        )
        return {
            "modelDeploymentSummaries": [
                {
                    "customModelDeploymentArn": d.arn,
                    "customModelDeploymentName": d.name,
                    "modelArn": d.params["modelArn"],
                    "createdAt": d.created,
                    "status": d.status,
                    "lastUpdatedAt": d.last_modified,
                    "failureMessage": d.failure_message,
                }
                for d in page
            ],
            "nextToken": token,
        }

    def _op_delete_custom_model_deployment(self, p: dict[str, Any]) -> dict[str, Any]:
        d = self._deployment(p["customModelDeploymentIdentifier"])
        del self._deployments[d.arn]
        return {}

    # --- batch inference ------------------------------------------------------------------------------------
    def _op_create_model_invocation_job(self, p: dict[str, Any]) -> dict[str, Any]:
        existing = self._idempotent("batch", p)
        if existing is not None:
            return {"jobArn": existing}
        if any(j.name == p["jobName"] for j in self._batch.values()):
            raise _conflict(f"A model invocation job with the name {p['jobName']} already exists.")
        model_id = p["modelId"]
        if ":imported-model/" in model_id:
            raise _invalid("Batch inference is not supported for imported models.")
        custom = self._models.get(model_id)
        if custom is not None:
            family, responder_id = self._family(custom.info), custom.arn
        else:
            target = self._runtime_target(model_id, api="InvokeModel")
            family, responder_id = target.family, target.responder_id
        self._check_role(p["roleArn"])
        rid = self._new_id()
        arn = self._arn(f"model-invocation-job/{rid}")
        now = self.clock.now()
        job = _BatchJob(
            arn=arn,
            rid=rid,
            seq=self._next_seq(),
            created=now,
            started=self.clock.monotonic(),
            status="Submitted",
            token=p.get("clientRequestToken"),
            last_modified=now,
            name=p["jobName"],
            params=dict(p),
            family=family,
            responder_id=responder_id,
        )
        self._batch[arn] = job
        self._remember("batch", p, arn)
        self._set_tags(arn, p.get("tags"))
        return {"jobArn": arn}

    def _batch_job(self, ident: str) -> _BatchJob:
        job = self._batch.get(ident) or next(
            (j for j in self._batch.values() if ident in (j.rid, j.name)), None
        )
        if job is None:
            raise _not_found("model invocation job", ident)
        return job

    def _batch_view(self, job: _BatchJob) -> dict[str, Any]:
        p = job.params
        hours = int(p.get("timeoutDurationInHours") or 24)
        view: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "modelId": p["modelId"],
            "clientRequestToken": p.get("clientRequestToken"),
            "roleArn": p["roleArn"],
            "status": job.status,
            "message": job.message,
            "submitTime": job.created,
            "lastModifiedTime": job.last_modified,
            "endTime": job.end_time,
            "inputDataConfig": p["inputDataConfig"],
            "outputDataConfig": p["outputDataConfig"],
            "vpcConfig": p.get("vpcConfig"),
            "timeoutDurationInHours": hours,
            "jobExpirationTime": job.created + timedelta(hours=hours),
            "modelInvocationType": p.get("modelInvocationType"),
        }
        view.update(job.counts)
        return view

    def _op_get_model_invocation_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._batch_job(p["jobIdentifier"])
        self._tick(job, poll=True)
        return self._batch_view(job)

    def _op_list_model_invocation_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        for job in self._batch.values():
            self._tick(job)
        items = list(self._batch.values())
        if p.get("statusEquals"):
            items = [j for j in items if j.status == p["statusEquals"]]
        if p.get("nameContains"):
            items = [j for j in items if p["nameContains"] in j.name]
        page, token = self._page(
            items,
            p,
            "ListModelInvocationJobs",
            created=lambda j: j.created,
            after="submitTimeAfter",
            before="submitTimeBefore",
        )
        return {"invocationJobSummaries": [self._batch_view(j) for j in page], "nextToken": token}

    def _op_stop_model_invocation_job(self, p: dict[str, Any]) -> dict[str, Any]:
        job = self._batch_job(p["jobIdentifier"])
        self._tick(job)
        if job.status not in ("Submitted", "InProgress", "Validating", "Scheduled"):
            raise _conflict(f"The job {job.name} cannot be stopped because it is {job.status}.")
        job.status = "Stopping"
        job.stop_at = self.clock.monotonic()
        job.last_modified = self.clock.now()
        return {}

    def _finish_batch(self, job: _BatchJob) -> None:
        p = job.params
        in_uri = p["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket, keys = self._data_keys(in_uri)
        if not keys:
            self._fail(job, f"No .jsonl input files were found at {in_uri}.")
            return
        out_bucket, out_prefix = _split_s3(p["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"])
        if not self._bucket_exists(out_bucket):
            self._fail(job, f"Unable to write to the output location s3://{out_bucket}/{out_prefix}.")
            return
        converse = p.get("modelInvocationType") == "Converse"
        totals = {"success": 0, "error": 0, "input": 0, "output": 0}
        for key in keys:
            lines: list[str] = []
            text = (self._get(bucket, key) or b"").decode("utf-8", errors="replace")
            for index, line in enumerate(text.splitlines()):
                if not line.strip():
                    continue
                lines.append(json.dumps(self._batch_record(job, line, index, converse, totals)))
            shuffled = list(lines)
            self._rng.shuffle(shuffled)
            if len(shuffled) > 1 and shuffled == lines:
                shuffled = shuffled[1:] + shuffled[:1]  # the service never promises order; make that visible
            name = key.rsplit("/", 1)[-1]
            self.s3.put_object(
                Bucket=out_bucket,
                Key=_join_key(out_prefix, job.rid, f"{name}.out"),
                Body="".join(line + "\n" for line in shuffled).encode(),
            )
        total = totals["success"] + totals["error"]
        manifest = {
            "totalRecordCount": total,
            "processedRecordCount": total,
            "successRecordCount": totals["success"],
            "errorRecordCount": totals["error"],
            "inputTokenCount": totals["input"],
            "outputTokenCount": totals["output"],
        }
        self.s3.put_object(
            Bucket=out_bucket,
            Key=_join_key(out_prefix, job.rid, "manifest.json.out"),
            Body=json.dumps(manifest).encode(),
        )
        job.counts = {
            "totalRecordCount": total,
            "processedRecordCount": total,
            "successRecordCount": totals["success"],
            "errorRecordCount": totals["error"],
        }
        now = self.clock.now()
        job.status = (
            "Completed" if totals["error"] == 0 else "PartiallyCompleted" if totals["success"] else "Failed"
        )
        if job.status == "Failed":
            job.message = "Every record failed; see the error field of each output record."
        job.end_time = job.last_modified = now

    def _batch_record(
        self, job: _BatchJob, line: str, index: int, converse: bool, totals: dict[str, int]
    ) -> dict[str, Any]:
        record_id = f"RECORD{index:010d}"
        model_input: Any = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "modelInput" not in record:
                raise rt.BodyError("each line needs a modelInput object")
            record_id = str(record.get("recordId") or record_id)
            model_input = record["modelInput"]
            if converse:
                prompt = rt.prompt_from_converse(model_input)
                gen = rt.generate(self.responder, job.responder_id, prompt)
                output: dict[str, Any] = {
                    "output": {"message": {"role": "assistant", "content": [{"text": gen.text}]}},
                    "stopReason": rt.stop_word("converse", gen.stop),
                    "usage": {
                        "inputTokens": gen.input_tokens,
                        "outputTokens": gen.output_tokens,
                        "totalTokens": gen.input_tokens + gen.output_tokens,
                    },
                    "metrics": {"latencyMs": gen.latency_ms},
                }
            else:
                body = json.dumps(model_input).encode()
                gen = rt.generate(self.responder, job.responder_id, rt.parse_invoke_body(job.family, body))
                output = rt.render_invoke_body(job.family, body, gen, request_id=f"{job.rid}-{index}")
        except (ValueError, TypeError, AttributeError) as exc:
            totals["error"] += 1
            return {
                "recordId": record_id,
                "modelInput": model_input,
                "error": {"errorCode": 400, "errorMessage": str(exc)},
            }
        totals["success"] += 1
        totals["input"] += gen.input_tokens
        totals["output"] += gen.output_tokens
        return {"recordId": record_id, "modelInput": model_input, "modelOutput": output}

    # --- invocation logging ---------------------------------------------------------------------------------
    def _op_put_model_invocation_logging_configuration(self, p: dict[str, Any]) -> dict[str, Any]:
        config = p["loggingConfig"]
        s3_config = config.get("s3Config")
        if s3_config and not self._bucket_exists(s3_config["bucketName"]):
            raise _invalid(
                f"The S3 bucket {s3_config['bucketName']} does not exist or Bedrock cannot write to it."
            )
        if not s3_config and not config.get("cloudWatchConfig"):
            raise _invalid("loggingConfig needs s3Config or cloudWatchConfig.")
        self._logging = dict(config)
        return {}

    def _op_get_model_invocation_logging_configuration(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"loggingConfig": self._logging}

    def _op_delete_model_invocation_logging_configuration(self, p: dict[str, Any]) -> dict[str, Any]:
        self._logging = None
        return {}

    def _log_record(
        self,
        *,
        operation: str,
        model_id: str,
        system: Any,
        prompt: str | None,
        response: str,
        metadata: Any,
        messages: list[dict[str, Any]] | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        msgs = messages if messages is not None else [{"role": "user", "content": [{"text": prompt or ""}]}]
        input_body: dict[str, Any] = {"messages": msgs}
        if system:
            input_body["system"] = [{"text": system}] if isinstance(system, str) else system
        in_tokens = input_tokens if input_tokens is not None else rt.estimate_tokens(prompt or "")
        out_tokens = output_tokens if output_tokens is not None else rt.estimate_tokens(response)
        self._request_seq += 1
        record: dict[str, Any] = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accountId": self.account_id,
            "identity": {"arn": f"arn:aws:sts::{self.account_id}:assumed-role/finetune-sdk/test"},
            "region": self.region,
            "requestId": request_id or f"00000000-0000-4000-9000-{self._request_seq:012d}",
            "operation": operation,
            "modelId": model_id,
            "input": {
                "inputContentType": "application/json",
                "inputBodyJson": input_body,
                "inputTokenCount": in_tokens,
            },
            "output": {
                "outputContentType": "application/json",
                "outputBodyJson": {
                    "output": {"message": {"role": "assistant", "content": [{"text": response}]}},
                    "stopReason": "end_turn",
                    "usage": {
                        "inputTokens": in_tokens,
                        "outputTokens": out_tokens,
                        "totalTokens": in_tokens + out_tokens,
                    },
                },
                "outputTokenCount": out_tokens,
            },
        }
        if metadata:
            record["requestMetadata"] = dict(metadata)
        return record

    def _write_logs(self, bucket: str, prefix: str, records: Sequence[Mapping[str, Any]]) -> str:
        now = self.clock.now()
        self._request_seq += 1
        key = _join_key(
            prefix,
            "AWSLogs",
            self.account_id,
            "BedrockModelInvocationLogs",
            self.region,
            now.strftime("%Y/%m/%d/%H"),
            f"{now.strftime('%Y%m%dT%H%M%S')}-{self._request_seq:08d}.json.gz",
        )
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
        self._ensure_bucket(bucket)
        self.s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body, mtime=0))
        return f"s3://{bucket}/{key}"

    def _maybe_log(self, record: dict[str, Any]) -> None:
        config = self._logging
        if not config or not config.get("s3Config") or config.get("textDataDeliveryEnabled") is False:
            return
        s3_config = config["s3Config"]
        self._write_logs(s3_config["bucketName"], s3_config.get("keyPrefix") or "", [record])

    # --- runtime --------------------------------------------------------------------------------------------
    def _op_converse(self, p: dict[str, Any]) -> dict[str, Any]:
        messages = p.get("messages") or []
        if not messages:
            raise _invalid(
                "A conversation must start with a user message. Try again with a conversation that "
                "starts with a user message."
            )
        if messages[0]["role"] != "user":
            raise _invalid(
                "A conversation must start with a user message. Try again with a conversation that "
                "starts with a user message."
            )
        for before, after in itertools.pairwise(messages):
            if before["role"] == after["role"]:
                raise _invalid(
                    "A conversation must alternate between user and assistant roles. Make sure the "
                    "conversation alternates between user and assistant roles and try again."
                )
        target = self._runtime_target(p["modelId"], api="Converse")
        prompt = rt.prompt_from_converse(p)
        gen = rt.generate(self.responder, target.responder_id, prompt)
        self._maybe_log(
            self._log_record(
                operation="Converse",
                model_id=p["modelId"],
                system=p.get("system"),
                prompt=prompt.text,
                response=gen.text,
                metadata=p.get("requestMetadata"),
                messages=_jsonable(messages),
                input_tokens=gen.input_tokens,
                output_tokens=gen.output_tokens,
            )
        )
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": gen.text}]}},
            "stopReason": rt.stop_word("converse", gen.stop),
            "usage": {
                "inputTokens": gen.input_tokens,
                "outputTokens": gen.output_tokens,
                "totalTokens": gen.input_tokens + gen.output_tokens,
            },
            "metrics": {"latencyMs": gen.latency_ms},
        }

    def _op_invoke_model(self, p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        target = self._runtime_target(p["modelId"], api="InvokeModel")
        body = p.get("body") or b""
        try:
            prompt = rt.parse_invoke_body(target.family, body)
        except rt.BodyError as exc:
            raise _invalid(str(exc)) from exc
        gen = rt.generate(self.responder, target.responder_id, prompt)
        out = rt.render_invoke_body(target.family, body, gen, request_id=f"{self._request_seq:012d}")
        self._maybe_log(
            self._log_record(
                operation="InvokeModel",
                model_id=p["modelId"],
                system=prompt.system,
                prompt=prompt.text,
                response=gen.text,
                metadata=None,
                messages=_jsonable(prompt.messages),
                input_tokens=gen.input_tokens,
                output_tokens=gen.output_tokens,
            )
        )
        headers = {
            "x-amzn-bedrock-input-token-count": str(gen.input_tokens),
            "x-amzn-bedrock-output-token-count": str(gen.output_tokens),
            "x-amzn-bedrock-invocation-latency": str(gen.latency_ms),
        }
        return {"body": json.dumps(out).encode(), "contentType": "application/json"}, headers

    # --- catalogue and tags ---------------------------------------------------------------------------------
    def _fm_view(self, info: catalog.BaseModelInfo, model_id: str, *, customization: bool) -> dict[str, Any]:
        return {
            "modelArn": self._fm_arn(model_id),
            "modelId": model_id,
            "modelName": info.name[:20],  # the service model caps modelName at 20 characters
            "providerName": info.provider.capitalize(),
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": list(info.customizations) if customization else [],
            "inferenceTypesSupported": ["PROVISIONED"] if customization else ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        }

    def _foundation_entries(self) -> list[dict[str, Any]]:
        entries = []
        for info in catalog.all_models():
            entries.append(self._fm_view(info, _strip_geo(info.runtime_id), customization=False))
            if info.customizations and info.id != _strip_geo(info.runtime_id):
                entries.append(self._fm_view(info, info.id, customization=True))
        return entries

    def _op_list_foundation_models(self, p: dict[str, Any]) -> dict[str, Any]:
        entries = self._foundation_entries()
        if p.get("byProvider"):
            entries = [e for e in entries if e["providerName"].lower() == p["byProvider"].lower()]
        if p.get("byCustomizationType"):
            entries = [e for e in entries if p["byCustomizationType"] in e["customizationsSupported"]]
        if p.get("byInferenceType"):
            entries = [e for e in entries if p["byInferenceType"] in e["inferenceTypesSupported"]]
        if p.get("byOutputModality"):
            entries = [e for e in entries if p["byOutputModality"] in e["outputModalities"]]
        return {"modelSummaries": entries}

    def _op_get_foundation_model(self, p: dict[str, Any]) -> dict[str, Any]:
        ident = p["modelIdentifier"]
        bare = _strip_geo(ident.rsplit("/", 1)[-1])
        for entry in self._foundation_entries():
            if entry["modelId"] == bare:
                return {"modelDetails": entry}
        raise _not_found("foundation model", ident)

    def _known_arn(self, arn: str) -> bool:
        stores: list[Mapping[str, Any]] = [
            self._jobs,
            self._models,
            self._import_jobs,
            self._imported,
            self._provisioned,
            self._deployments,
            self._batch,
        ]
        return any(arn in store for store in stores)

    def _op_list_tags_for_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceARN"]
        if not self._known_arn(arn):
            raise _not_found("resource", arn)
        return {"tags": [{"key": k, "value": v} for k, v in sorted(self._tags.get(arn, {}).items())]}

    def _op_tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceARN"]
        if not self._known_arn(arn):
            raise _not_found("resource", arn)
        self._set_tags(arn, p["tags"])
        if len(self._tags[arn]) > 200:
            raise _ApiError("TooManyTagsException", "A resource can have at most 200 tags.")
        return {}

    def _op_untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceARN"]
        if not self._known_arn(arn):
            raise _not_found("resource", arn)
        for key in p["tagKeys"]:
            self._tags.get(arn, {}).pop(key, None)
        return {}


# --- helpers ------------------------------------------------------------------------------------------------
def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


_LOADER: Any = None


def _shared_loader() -> Any:
    """One botocore data loader for every emulation in the process: service models are parsed once."""
    global _LOADER
    if _LOADER is None:
        import botocore.loaders

        _LOADER = botocore.loaders.create_loader()
    return _LOADER


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _filter_matches(filters: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    if "equals" in filters:
        return all(metadata.get(k) == v for k, v in filters["equals"].items())
    if "notEquals" in filters:
        return all(metadata.get(k) != v for k, v in filters["notEquals"].items())
    if "andAll" in filters:
        return all(_filter_matches(f, metadata) for f in filters["andAll"])
    if "orAll" in filters:
        return any(_filter_matches(f, metadata) for f in filters["orAll"])
    return True


_FORMAT_TEXT = {
    "prompt_completion": '\'{"prompt": "<input text>", "completion": "<output text>"}\'',
    "bedrock_messages": (
        '\'{"system": "<system>", "messages": [{"role": "user", "content": "<text>"}, ...]}\''
    ),
    "bedrock_conversation": (
        '\'{"schemaVersion": "bedrock-conversation-2024", "messages": [{"role": "user", '
        '"content": [{"text": "<text>"}]}, ...]}\''
    ),
    "text": '\'{"input": "<text>"}\'',
}


def _record_problem(record: Any, fmt: str) -> str | None:
    """The expected-format text when ``record`` does not follow ``fmt`` (``None`` when it does)."""
    if fmt == "any" or fmt not in _FORMAT_TEXT:
        return None
    wrong = _FORMAT_TEXT[fmt]
    if not isinstance(record, dict):
        return wrong
    if fmt == "prompt_completion":
        ok = isinstance(record.get("prompt"), str) and isinstance(record.get("completion"), str)
    elif fmt == "text":
        ok = isinstance(record.get("input"), str)
    elif fmt == "bedrock_messages":
        messages = record.get("messages")
        ok = (
            isinstance(messages, list)
            and len(messages) >= 2
            and all(
                isinstance(m, dict)
                and m.get("role") in ("user", "assistant")
                and isinstance(m.get("content"), str)
                for m in messages
            )
        )
    else:
        messages = record.get("messages")
        ok = (
            record.get("schemaVersion") == "bedrock-conversation-2024"
            and isinstance(messages, list)
            and bool(messages)
            and all(
                isinstance(m, dict)
                and m.get("role") in ("user", "assistant")
                and isinstance(m.get("content"), list)
                for m in messages
            )
        )
    return None if ok else wrong


def _record_text(record: Mapping[str, Any]) -> str:
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if key not in ("role", "schemaVersion", "format"):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(record)
    return "".join(parts)
