"""Read Amazon Bedrock model invocation logs (S3 or a local folder) into canonical records.

Bedrock writes one JSON object per invocation, as JSON lines in gzipped (``.json.gz``) or plain objects under
``<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/<yyyy>/<mm>/<dd>/<hh>/``. Each object is a
``ModelInvocationLog``::

    {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2025-01-01T12:00:00Z",
     "accountId": "...", "region": "...", "requestId": "...", "operation": "Converse" | "InvokeModel" | ...,
     "modelId": "...", "input": {"inputContentType": ..., "inputBodyJson": {...}, "inputTokenCount": n},
     "output": {"outputContentType": ..., "outputBodyJson": {...}, "outputTokenCount": n},
     "requestMetadata": {"project": "faq", ...}}

:func:`read_invocation_logs` lists every object under the URI, parses the request body of each main model
family, and returns :class:`~finetune_sdk.data.records.Conversation` records (the prompt, plus the logged
answer as the final assistant turn with ``use_responses=True``) and a :class:`LogReadReport`. A record that
cannot be used never stops the read: it is counted under a stable reason (see :data:`SKIP_REASONS`), with a
few example locations, so a bad log line costs one record, not the run.

Request bodies understood (family: request -> response):

- ``converse``: ``{messages:[{role, content:[{text}]}], system:[{text}]}`` -> ``output.message.content``
- ``nova``: ``{schemaVersion:"messages-v1", messages, system}`` -> ``output.message.content[].text``
- ``anthropic``: ``{anthropic_version, messages, system}`` -> ``content[].text``
- ``anthropic_text``: ``{prompt:"\\n\\nHuman: ...\\n\\nAssistant:"}`` -> ``completion``
- ``llama``: ``{prompt}`` (the Llama 3 chat template is stripped back to system/user) -> ``generation``
- ``mistral``: ``{prompt:"<s>[INST] ... [/INST]"}`` -> ``outputs[0].text``
- ``cohere``: ``{prompt}`` -> ``generations[0].text``
- ``titan``: ``{inputText}`` -> ``results[0].outputText``
- ``openai``: ``{messages:[{role, content:"..."}]}`` -> ``choices[0].message.content``

Streaming operations (``ConverseStream``, ``InvokeModelWithResponseStream``) log the response as a list of
chunks; their text deltas are joined. Bodies too large for the log line (``inputBodyS3Path``) are fetched.

Examples:
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> entry = {"schemaType": "ModelInvocationLog", "timestamp": "2025-01-01T00:00:00Z",
    ...          "operation": "Converse", "modelId": "us.amazon.nova-pro-v1:0",
    ...          "requestMetadata": {"project": "faq"},
    ...          "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "Hi?"}]}]}},
    ...          "output": {"outputBodyJson": {"output": {"message": {"role": "assistant",
    ...                                                              "content": [{"text": "Hello."}]}}}}}
    >>> _ = (folder / "log.json").write_text(json.dumps(entry) + "\\nnot json\\n")
    >>> records, report = read_invocation_logs(str(folder), use_responses=True)
    >>> records[0].prompt_text, records[0].reference, report.skipped
    ('Hi?', 'Hello.', {'invalid_json': 1})
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import logging
import re
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from finetune_sdk.data._log_bodies import (
    _body,
    _is_embedding_response,
    _normalize_model_id,
    _parse_prompt,
    _response_text,
    _Skip,
)
from finetune_sdk.data.io import open_regular_file
from finetune_sdk.data.records import Conversation, Record, Turn
from finetune_sdk.errors import (
    AccessDeniedError,
    BackendError,
    ConfigurationError,
    DataError,
    ResourceNotFoundError,
)
from finetune_sdk.specs import MetadataFilter

if TYPE_CHECKING:
    import boto3

__all__ = [
    "FILTER_REASONS",
    "SKIP_REASONS",
    "LogReadReport",
    "parse_invocation_log",
    "read_invocation_logs",
]

logger = logging.getLogger(__name__)

#: the largest log object read, decompressed (bytes); larger ones are skipped as ``object_too_large``
MAX_LOG_OBJECT_BYTES = 512 * 1024 * 1024

#: why a log entry was not turned into a record (stable ids; counts are in ``LogReadReport.skipped``)
SKIP_REASONS: Mapping[str, str] = {
    "unreadable_object": "the object could not be read or decompressed (corrupt gzip, not UTF-8)",
    "object_too_large": "the object (decompressed) is larger than max_object_bytes; it was not read further",
    "invalid_json": "a line is not valid JSON",
    "not_an_invocation_log": "the JSON is not a ModelInvocationLog entry",
    "missing_input": "the entry has no input body (text data delivery off, or a body that could not be read)",
    "missing_response": "use_responses=True but the entry has no usable response text",
    "unsupported_body": "the request body is in no model family the reader knows",
    "embedding_request": "an embedding request, not a text generation",
    "multimodal": "the prompt holds an image, document, video or audio block (text-to-text only)",
    "tool_use": "the conversation holds tool calls or tool results",
    "empty_prompt": "the prompt has no user text",
    "bad_turn_order": "the turns do not start with the user and alternate user/assistant",
    "prefilled_response": "the prompt ends with an assistant turn (a prefill), so it is no prompt to answer",
    "bad_timestamp": "a time range was asked for and the entry's timestamp is missing or unreadable",
}

#: entries that parsed but were left out on purpose (counts are in ``LogReadReport.filtered``)
FILTER_REASONS: Mapping[str, str] = {
    "model_id": "the entry's modelId is not the one asked for",
    "time_range": "the entry's timestamp is outside [start, end)",
    "metadata_filter": "the entry's requestMetadata does not pass the filter",
}

_MAX_EXAMPLES = 3
_LIST_PAGE_SIZE = 1000  # S3's own maximum; tests lower it to exercise pagination
_LOG_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".gz")
_KEY_HOUR_RE = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/")
_TEXT_OPERATIONS = frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"})


class LogReadReport(BaseModel):
    """What :func:`read_invocation_logs` read, kept, filtered out and could not use.

    Attributes:
        source: the URI or folder that was read.
        objects_listed: objects (files) found under the source.
        objects_read: objects that were downloaded and parsed.
        objects_ignored: objects left unread: not log files by name (e.g. Bedrock's permission-check object),
            or an hour folder entirely outside the time range.
        entries: log entries (JSON values) seen in the objects read.
        records: records returned.
        filtered: entries left out by the model, time or metadata filters, per reason
            (:data:`FILTER_REASONS`).
        skipped: entries (or objects) that could not be used, per reason (:data:`SKIP_REASONS`).
        examples: up to three ``uri:line`` locations per skip reason, to go and look.
        families: returned records per request-body family (``converse``, ``anthropic``, ``llama``...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    objects_listed: int = 0
    objects_read: int = 0
    objects_ignored: int = 0
    entries: int = 0
    records: int = 0
    filtered: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(default_factory=dict)
    examples: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    families: dict[str, int] = Field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        """Entries (and unreadable objects) that could not be used."""
        return sum(self.skipped.values())

    @property
    def filtered_total(self) -> int:
        """Entries left out by the filters."""
        return sum(self.filtered.values())

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("source", self.source),
            ("objects listed / read / ignored",
             f"{self.objects_listed} / {self.objects_read} / {self.objects_ignored}"),
            ("log entries", str(self.entries)),
            ("records returned", str(self.records)),
        ]
        rows.extend((f"filtered: {k}", str(v)) for k, v in sorted(self.filtered.items()))
        rows.extend((f"skipped: {k}", str(v)) for k, v in sorted(self.skipped.items()))
        rows.extend((f"family: {k}", str(v)) for k, v in sorted(self.families.items()))
        return rows

    def to_markdown(self) -> str:
        """A markdown table of the counts, then an example location for each skip reason."""
        lines = ["| what | count |", "|---|---:|"]
        lines.extend(f"| {k} | {v} |" for k, v in self._rows())
        if self.examples:
            lines.append("")
            for reason, where in sorted(self.examples.items()):
                lines.append(f"- `{reason}` ({SKIP_REASONS.get(reason, '')}): {', '.join(where)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                       for k, v in self._rows())
        return f"<table><caption>invocation logs</caption>{body}</table>"

    def __str__(self) -> str:
        text = (f"read {self.entries} log entries from {self.objects_read} objects: {self.records} records, "
                f"{self.filtered_total} filtered out, {self.skipped_total} unusable")
        if self.skipped:
            text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) + ")"
        return text


def parse_invocation_log(
    entry: Any,
    *,
    use_responses: bool = False,
    fetch_body: Callable[[str], Any] | None = None,
) -> Conversation:
    """Turn one ``ModelInvocationLog`` entry into a :class:`~finetune_sdk.data.records.Conversation`.

    The record's metadata keeps ``source="invocation_logs"``, ``model_id``, ``operation``, ``timestamp``,
    ``request_id``, ``request_metadata`` and ``family`` (and ``stop_reason`` when the response says).

    Raises:
        DataError: the entry cannot be used; ``str(err)`` is a key of :data:`SKIP_REASONS`.

    Examples:
        >>> entry = {"schemaType": "ModelInvocationLog", "modelId": "amazon.titan-text-express-v1",
        ...          "operation": "InvokeModel",
        ...          "input": {"inputBodyJson": {"inputText": "User: Capital of France?\\nBot:"}},
        ...          "output": {"outputBodyJson": {"results": [{"outputText": "Paris."}]}}}
        >>> parse_invocation_log(entry, use_responses=True).to_messages()
        [{'role': 'user', 'content': 'Capital of France?'}, {'role': 'assistant', 'content': 'Paris.'}]
    """
    try:
        return _parse_entry(entry, use_responses=use_responses, fetch_body=fetch_body)
    except _Skip as skip:
        raise DataError(skip.reason) from None


def _parse_entry(entry: Any, *, use_responses: bool, fetch_body: Callable[[str], Any] | None) -> Conversation:
    if not isinstance(entry, Mapping):
        raise _Skip("not_an_invocation_log")
    schema = entry.get("schemaType")
    if schema is not None and schema != "ModelInvocationLog":
        raise _Skip("not_an_invocation_log")
    if schema is None and not ("modelId" in entry and "input" in entry):
        raise _Skip("not_an_invocation_log")
    model_id = str(entry.get("modelId") or "")
    operation = str(entry.get("operation") or "InvokeModel")
    if operation not in _TEXT_OPERATIONS:
        raise _Skip("unsupported_body")
    in_body = _body(entry.get("input"), "input", fetch_body)
    if not isinstance(in_body, Mapping):
        raise _Skip("missing_input")
    out_body = _body(entry.get("output"), "output", fetch_body)
    if _is_embedding_response(out_body):
        raise _Skip("embedding_request")
    prompt = _parse_prompt(in_body, operation=operation, model_id=model_id)

    turns = [(role, text.strip()) for role, text in prompt.turns]
    if not turns or not any(role == "user" and text for role, text in turns):
        raise _Skip("empty_prompt")
    if turns[0][0] != "user" or any(a[0] == b[0] for a, b in itertools.pairwise(turns)):
        raise _Skip("bad_turn_order")
    if turns[-1][0] == "assistant":
        raise _Skip("prefilled_response")
    if any(not text for _, text in turns):
        raise _Skip("empty_prompt")

    metadata: dict[str, Any] = {
        "source": "invocation_logs",
        "model_id": model_id,
        "operation": operation,
        "family": prompt.family,
    }
    for key, name in (("timestamp", "timestamp"), ("requestId", "request_id")):
        if entry.get(key) is not None:
            metadata[name] = str(entry[key])
    request_metadata = entry.get("requestMetadata")
    if isinstance(request_metadata, Mapping) and request_metadata:
        metadata["request_metadata"] = {str(k): str(v) for k, v in request_metadata.items()}
    stop = None
    if isinstance(out_body, Mapping):
        stop = out_body.get("stopReason") or out_body.get("stop_reason")
    if isinstance(stop, str):
        metadata["stop_reason"] = stop

    if use_responses:
        answer = _response_text(out_body)
        if answer is None or not answer.strip():
            raise _Skip("missing_response")
        turns.append(("assistant", answer.strip()))
    return Conversation(
        system=prompt.system,
        turns=tuple(Turn.of(role, text) for role, text in turns),  # type: ignore[arg-type]
        metadata=metadata,
    )


# --------------------------------------------------------------------------------------------------------
# filters


def _as_utc(value: datetime | str | None, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigurationError(
                f"{name}={value!r} is not an ISO 8601 time; use e.g. '2025-01-31T00:00:00Z' or a datetime"
            ) from exc
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _entry_time(entry: Mapping[str, Any]) -> datetime | None:
    raw = entry.get("timestamp")
    if not isinstance(raw, str):
        return None
    try:
        return _as_utc(raw, "timestamp")
    except ConfigurationError:
        return None


def _hour_outside(key: str, start: datetime | None, end: datetime | None) -> bool:
    """Whether the ``/yyyy/mm/dd/hh/`` folder of a Bedrock log key lies wholly outside [start, end)."""
    if start is None and end is None:
        return False
    match = _KEY_HOUR_RE.search(key)
    if match is None:
        return False
    try:
        year, month, day, hh = (int(g) for g in match.groups())
        hour = datetime(year, month, day, hh, tzinfo=timezone.utc)
    except ValueError:
        return False
    hour_end = hour.timestamp() + 3600
    if start is not None and hour_end <= start.timestamp():
        return True
    return end is not None and hour.timestamp() >= end.timestamp()


# --------------------------------------------------------------------------------------------------------
# sources


class _Source:
    """Lists and reads the objects under an ``s3://`` URI or a local path."""

    def __init__(self, uri: str, *, session: boto3.Session | None, endpoint_url: str | None) -> None:
        self.uri = uri
        self._client: Any = None
        if uri.startswith("s3://"):
            bucket, _, prefix = uri[len("s3://"):].partition("/")
            if not bucket:
                raise ConfigurationError(f"s3_uri={uri!r} has no bucket; use s3://bucket/prefix")
            self.bucket, self.prefix = bucket, prefix
            self._session, self._endpoint_url = session, endpoint_url
        else:
            path = Path(uri.removeprefix("file://")).expanduser()
            if not path.exists() and not path.is_symlink():
                raise ConfigurationError(f"{uri!r} is neither an s3:// URI nor an existing file or folder")
            if not path.is_dir():  # a FIFO, a device or a symlink loop is refused at once (InputFileError)
                open_regular_file(path, what="log file").close()
            self.path = path

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ModuleNotFoundError as exc:  # pragma: no cover - boto3 is a core dependency
                raise ModuleNotFoundError("reading S3 logs needs boto3: pip install 'finetune-sdk'") from exc
            session = self._session or boto3.Session()
            self._client = session.client("s3", endpoint_url=self._endpoint_url)
        return self._client

    def object_keys(self) -> Iterator[str]:
        if not self.is_s3:
            if self.path.is_file():
                yield str(self.path)
            else:
                yield from (str(p) for p in sorted(self.path.rglob("*")) if p.is_file())
            return
        folder = self.prefix if not self.prefix or self.prefix.endswith("/") else self.prefix + "/"
        try:
            paginator = self.client().get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix,
                                       PaginationConfig={"PageSize": _LIST_PAGE_SIZE})
            for page in pages:
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])
                    # "s3://b/logs" must not pick up "s3://b/logs-old/..."; a full object key is fine too.
                    if key == self.prefix or key.startswith(folder):
                        yield key
        except Exception as exc:
            raise _translate_s3_error(exc, f"s3://{self.bucket}/{self.prefix}") from exc

    def read(self, key: str, limit: int = MAX_LOG_OBJECT_BYTES) -> bytes:
        """The object's bytes, at most ``limit + 1`` of them (more means too large)."""
        if not self.is_s3:
            with open_regular_file(key, what="log file") as fh:  # never a FIFO or device
                return fh.read(limit + 1)
        from finetune_sdk.data.upload import _with_retries

        def attempt() -> bytes:
            try:
                body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"]
                data: bytes = body.read(limit + 1)
                with contextlib.suppress(Exception):
                    body.close()
                return data
            except Exception as exc:
                raise _translate_s3_error(exc, f"s3://{self.bucket}/{key}") from exc

        result: bytes = _with_retries(attempt, what=f"read s3://{self.bucket}/{key}")
        return result

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}" if self.is_s3 else key

    def fetch_uri(self, uri: str) -> Any:
        """A large request/response body that Bedrock moved to its own S3 object."""
        if not uri.startswith("s3://"):
            return None
        bucket, _, key = uri[len("s3://"):].partition("/")
        try:
            raw = self.client().get_object(Bucket=bucket, Key=key)["Body"].read(MAX_LOG_OBJECT_BYTES + 1)
            return json.loads(_decompress(raw).decode("utf-8"))
        except Exception as exc:  # a missing body costs one record, never the read
            logger.debug("could not read the logged body %s: %s", uri, exc)
            return None


def _translate_s3_error(exc: Exception, where: str) -> Exception:
    """The AWS core's one translation, with the next step for reading invocation logs."""
    from finetune_sdk._aws.errors import error_class, error_code, is_aws_error, translate_error

    if isinstance(exc, BackendError) or not is_aws_error(exc):
        return exc if isinstance(exc, BackendError) else BackendError(f"could not read {where}: {exc}", backend="s3")
    cls = error_class(error_code(exc))
    hint = None
    if cls is AccessDeniedError:
        hint = "the caller needs s3:ListBucket and s3:GetObject on the bucket"
    elif cls is ResourceNotFoundError:
        hint = "check the bucket and prefix"
    return translate_error(exc, backend="s3", action="read", resource=where, hint=hint)


class _TooLargeError(Exception):
    pass


def _decompress(raw: bytes, limit: int = MAX_LOG_OBJECT_BYTES) -> bytes:
    """``raw`` gunzipped when it is gzip (several members are fine), streaming with a cap: more than ``limit``
    bytes out raises ``_TooLargeError`` after at most ``limit + 1`` bytes were produced (a small "zip bomb"
    never fills memory). A truncated stream raises ``EOFError`` and a corrupt one ``zlib.error``."""
    if raw[:2] != b"\x1f\x8b":
        if len(raw) > limit:
            raise _TooLargeError
        return raw
    out = bytearray()
    data = raw
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while data:
            out += d.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise _TooLargeError
            data = d.unconsumed_tail
            if d.eof:
                break
        if not d.eof:
            raise EOFError("the gzip stream ends before its end-of-stream marker")
        data = d.unused_data
        if data[:2] != b"\x1f\x8b":  # trailing bytes after the last member: ignored, as gzip does with zeros
            break
    return bytes(out)


def _iter_json(text: str) -> Iterator[tuple[int, Any]]:
    """JSON values in ``text`` with their 1-based line: JSON lines, concatenated or pretty-printed objects.

    A value that does not parse yields ``(line, _INVALID)`` and reading goes on at the next line.
    """
    decoder = json.JSONDecoder()
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n\ufeff":
            pos += 1
        if pos >= n:
            return
        line = text.count("\n", 0, pos) + 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError:
            yield line, _INVALID
            nl = text.find("\n", pos)
            pos = n if nl < 0 else nl + 1
            continue
        if isinstance(value, list):  # a file holding one JSON array of entries
            for item in value:
                yield line, item
        else:
            yield line, value
        pos = end


_INVALID = object()


# --------------------------------------------------------------------------------------------------------
# the reader


class _Tally:
    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self.filtered: Counter[str] = Counter()
        self.families: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        seen = self.examples.setdefault(reason, [])
        if len(seen) < _MAX_EXAMPLES:
            seen.append(where)


def read_invocation_logs(
    s3_uri: str,
    *,
    session: boto3.Session | None = None,
    endpoint_url: str | None = None,
    model_id: str | Collection[str] | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    metadata_filter: MetadataFilter | None = None,
    use_responses: bool = False,
    max_object_bytes: int = MAX_LOG_OBJECT_BYTES,
) -> tuple[list[Record], LogReadReport]:
    """Read Bedrock model invocation logs into records, with a report of what was kept and why not.

    Args:
        s3_uri: ``s3://bucket/prefix`` (the logging configuration's bucket and key prefix, or any folder below
            it), or a local file or folder holding downloaded logs.
        session: the ``boto3.Session`` to read S3 with (default: a new default session).
        endpoint_url: an S3 endpoint override (an emulator, a VPC endpoint).
        model_id: keep only entries of this model (or these models). Foundation-model ARNs and system
            inference profiles (``us.`` ...) of the same model match.
        start, end: keep entries with ``start <= timestamp < end`` (ISO strings or datetimes; naive is UTC).
            Hour folders wholly outside the range are not downloaded.
        metadata_filter: keep entries whose ``requestMetadata`` passes the filter (the same
            :class:`~finetune_sdk.backends.base.MetadataFilter` a Bedrock distillation job takes).
        use_responses: keep the logged response as the final assistant turn (prompt-response pairs);
            entries without response text are then skipped as ``missing_response``.
        max_object_bytes: the largest log object read, decompressed; a larger one (a small gzip can expand
            to gigabytes) is skipped as ``object_too_large`` after reading at most this much.

    Returns:
        The records in log order (objects sorted by key), and a :class:`LogReadReport`.

    Raises:
        ConfigurationError: the URI is neither ``s3://`` nor an existing path, or ``start``/``end`` is bad.
        AccessDeniedError / ResourceNotFoundError / BackendError: S3 refused the listing or a read.

    Examples:
        >>> from finetune_sdk.specs import MetadataFilter
        >>> records, report = read_invocation_logs(  # doctest: +SKIP
        ...     "s3://my-logs/bedrock", model_id="us.amazon.nova-pro-v1:0", start="2025-01-01",
        ...     metadata_filter=MetadataFilter.all_of(project="faq", stage="prod"), use_responses=True)
    """
    start_at, end_at = _as_utc(start, "start"), _as_utc(end, "end")
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise ConfigurationError(f"start ({start_at.isoformat()}) must be before end ({end_at.isoformat()})")
    wanted: set[str] | None = None
    if model_id is not None:
        ids = [model_id] if isinstance(model_id, str) else list(model_id)
        wanted = {_normalize_model_id(m) for m in ids}
    if max_object_bytes < 1:
        raise ConfigurationError(f"max_object_bytes must be a positive number of bytes, got {max_object_bytes}")
    limit = max_object_bytes
    source = _Source(s3_uri, session=session, endpoint_url=endpoint_url)
    fetch = source.fetch_uri if source.is_s3 else None

    tally = _Tally()
    records: list[Record] = []
    listed = read = ignored = entries = 0
    for key in source.object_keys():
        listed += 1
        name = key.rsplit("/", 1)[-1].lower()
        if not name.endswith(_LOG_SUFFIXES) or _hour_outside(key, start_at, end_at):
            ignored += 1
            continue
        where = source.location(key)
        try:
            text = _decompress(source.read(key, limit), limit).decode("utf-8")
        except _TooLargeError:
            logger.warning("skipping %s: larger than max_object_bytes=%d once decompressed", where, limit)
            tally.skip("object_too_large", where)
            continue
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, DataError) as exc:
            logger.warning("skipping %s: %s", where, exc)
            tally.skip("unreadable_object", where)
            continue
        read += 1
        for line, value in _iter_json(text):
            entries += 1
            loc = f"{where}:{line}"
            if value is _INVALID:
                tally.skip("invalid_json", loc)
                continue
            if not isinstance(value, Mapping):
                tally.skip("not_an_invocation_log", loc)
                continue
            if wanted is not None and _normalize_model_id(str(value.get("modelId") or "")) not in wanted:
                tally.filtered["model_id"] += 1
                continue
            if start_at is not None or end_at is not None:
                at = _entry_time(value)
                if at is None:
                    tally.skip("bad_timestamp", loc)
                    continue
                if (start_at is not None and at < start_at) or (end_at is not None and at >= end_at):
                    tally.filtered["time_range"] += 1
                    continue
            if metadata_filter is not None:
                meta = value.get("requestMetadata")
                if not metadata_filter.matches(meta if isinstance(meta, Mapping) else {}):
                    tally.filtered["metadata_filter"] += 1
                    continue
            try:
                record = _parse_entry(value, use_responses=use_responses, fetch_body=fetch)
            except _Skip as skip:
                tally.skip(skip.reason, loc)
                continue
            record = record.with_metadata(log=loc)
            tally.families[str(record.metadata["family"])] += 1
            records.append(record)

    report = LogReadReport(
        source=s3_uri,
        objects_listed=listed,
        objects_read=read,
        objects_ignored=ignored,
        entries=entries,
        records=len(records),
        filtered=dict(tally.filtered),
        skipped=dict(tally.skipped),
        examples={k: tuple(v) for k, v in tally.examples.items()},
        families=dict(tally.families),
    )
    logger.info("%s", report)
    return records, report
