"""The emulation base: resource lifecycle, fault injection, call recording, idempotency tokens, pagination
and the clock. Each service adds its handler table: mixins of ``_op_<operation>`` methods.

Private; :mod:`finetune_sdk.testing.emulation` re-exports the public names.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import random
import string
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

from finetune_sdk._aws.s3 import split_s3_uri
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

from finetune_sdk.testing.emulation._resources import (
    _BatchJob,
    _CustomizationJob,
    _CustomModel,
    _Deployment,
    _ImportedModel,
    _ImportJob,
    _Provisioned,
    _RawBody,
    _Resource,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)

_E = TypeVar("_E", bound="_EmulationBase")

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


#: the SDK's one S3 URI parser (raises S3UriError, a ValueError)
_split_s3 = split_s3_uri


def _join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


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


# --- the emulation ------------------------------------------------------------------------------------------


class _EmulationBase:
    """The emulation base: lifecycle, faults, call recording, idempotency, pagination, clock."""

    if TYPE_CHECKING:  # each service's state and handler tables provide these

        def _finish(self, resource: _Resource) -> None: ...

        def _fail(self, resource: _Resource, message: str) -> None: ...

        def _log_record(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...

        def _write_logs(self, bucket: str, prefix: str, records: Sequence[Mapping[str, Any]]) -> str: ...

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
    def start(self: _E) -> _E:
        """Start moto and the Bedrock handlers (``__enter__`` does this)."""
        import boto3
        from moto import mock_aws

        if self._mock is not None:
            raise RuntimeError(f"this {type(self).__name__} is already started")
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

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def session(self) -> Any:
        """The ``boto3.Session`` whose clients reach the emulation."""
        if self._session is None:
            raise RuntimeError("start the emulation first: `with BedrockEmulation() as aws: ...`")
        return self._session

    @property
    def s3(self) -> Any:
        """An S3 client on the emulated account."""
        if self._s3 is None:
            raise RuntimeError("start the emulation first: `with BedrockEmulation() as aws: ...`")
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
            raise NotImplementedError(f"the emulation cannot route {request.method} {url} ({event_name})")
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
            if handler is None:
                raise NotImplementedError(
                    f"the emulation does not emulate {service} {op.name} (see finetune_sdk/testing/emulation/)"
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
