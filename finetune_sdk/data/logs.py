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

import gzip
import html
import itertools
import json
import logging
import re
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

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

#: why a log entry was not turned into a record (stable ids; counts are in ``LogReadReport.skipped``)
SKIP_REASONS: Mapping[str, str] = {
    "unreadable_object": "the object could not be read or decompressed (corrupt gzip, not UTF-8)",
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


# --------------------------------------------------------------------------------------------------------
# body parsing


class _Skip(Exception):
    """An entry cannot be used; ``reason`` is a key of :data:`SKIP_REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Prompt:
    family: str
    system: str | None
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, text)


_MEDIA_BLOCKS = frozenset({"image", "document", "video", "audio", "image_url", "input_image"})
_TOOL_BLOCKS = frozenset({"toolUse", "toolResult", "tool_use", "tool_result", "tool_calls", "function_call"})
_IGNORED_BLOCKS = frozenset({"cachePoint", "guardContent", "reasoningContent", "thinking",
                             "redacted_thinking", "cache_control"})


def _block_text(block: Any) -> str | None:
    """The text of one content block, ``None`` for blocks without text that may be ignored."""
    if isinstance(block, str):
        return block
    if not isinstance(block, Mapping):
        raise _Skip("unsupported_body")
    kind = block.get("type")
    if kind in _MEDIA_BLOCKS or any(k in block for k in _MEDIA_BLOCKS):
        raise _Skip("multimodal")
    if kind in _TOOL_BLOCKS or any(k in block for k in _TOOL_BLOCKS):
        raise _Skip("tool_use")
    if "text" in block and isinstance(block["text"], str):
        return str(block["text"])
    if kind in _IGNORED_BLOCKS or any(k in block for k in _IGNORED_BLOCKS):
        return None
    raise _Skip("unsupported_body")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [t for t in (_block_text(b) for b in content) if t is not None]
        return "\n".join(texts)
    raise _Skip("unsupported_body")


def _system_text(system: Any) -> str | None:
    if system is None:
        return None
    text = _content_text(system).strip()
    return text or None


def _parse_messages(body: Mapping[str, Any], family: str) -> _Prompt:
    messages = body.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        raise _Skip("unsupported_body")
    prompt = _Prompt(family=family, system=_system_text(body.get("system")))
    for message in messages:
        if not isinstance(message, Mapping):
            raise _Skip("unsupported_body")
        role = message.get("role")
        if message.get("tool_calls"):
            raise _Skip("tool_use")
        text = _content_text(message.get("content", ""))
        if role == "system":  # OpenAI-style system message inside the list
            prompt.system = f"{prompt.system}\n{text}" if prompt.system else (text.strip() or None)
            continue
        if role == "tool":
            raise _Skip("tool_use")
        if role not in ("user", "assistant"):
            raise _Skip("unsupported_body")
        prompt.turns.append((str(role), text))
    return prompt


_LLAMA3_HEADER_RE = re.compile(
    r"<\|start_header_id\|>(?P<role>[a-z]+)<\|end_header_id\|>\n?\n?(?P<text>.*?)(?=<\|eot_id\|>|<\|start_header_id\|>|\Z)",
    re.DOTALL,
)
_LLAMA2_SYS_RE = re.compile(r"<<SYS>>\s*(?P<sys>.*?)\s*<</SYS>>\s*", re.DOTALL)
_INST_RE = re.compile(
    r"\[INST\](?P<user>.*?)\[/INST\](?P<answer>.*?)(?=(?:</s>)?\s*(?:<s>)?\s*\[INST\]|\Z)", re.DOTALL
)


def _parse_llama3(prompt: str) -> _Prompt:
    """Recover system and turns from a prompt written with the Llama 3 chat template."""
    parsed = _Prompt(family="llama", system=None)
    for match in _LLAMA3_HEADER_RE.finditer(prompt):
        role, text = match.group("role"), match.group("text")
        if role == "system":
            parsed.system = text.strip() or None
        elif role in ("user", "assistant"):
            parsed.turns.append((role, text))
        elif role in ("ipython", "tool"):
            raise _Skip("tool_use")
        else:
            raise _Skip("unsupported_body")
    # The template ends with an empty assistant header: the generation prompt, not a turn.
    if parsed.turns and parsed.turns[-1][0] == "assistant" and not parsed.turns[-1][1].strip():
        parsed.turns.pop()
    return parsed


def _parse_inst(prompt: str, family: str) -> _Prompt:
    """Recover system and turns from a ``[INST] ... [/INST]`` prompt (Llama 2, Mistral)."""
    parsed = _Prompt(family=family, system=None)
    for match in _INST_RE.finditer(prompt):
        user = match.group("user")
        sys_match = _LLAMA2_SYS_RE.search(user)
        if sys_match:
            if parsed.system is None:
                parsed.system = sys_match.group("sys").strip() or None
            user = _LLAMA2_SYS_RE.sub("", user, count=1)
        parsed.turns.append(("user", user.strip()))
        answer = match.group("answer").replace("</s>", "").strip()
        if answer:
            parsed.turns.append(("assistant", answer))
    return parsed


_HUMAN_RE = re.compile(r"\n\nHuman:|\n\nAssistant:")


def _parse_anthropic_text(prompt: str) -> _Prompt:
    """``"\\n\\nHuman: ...\\n\\nAssistant:"`` (Claude text completions)."""
    parsed = _Prompt(family="anthropic_text", system=None)
    pieces = _HUMAN_RE.split(prompt)
    markers = _HUMAN_RE.findall(prompt)
    head = pieces[0].strip()
    parsed.system = head or None
    for marker, text in zip(markers, pieces[1:], strict=True):
        role = "user" if marker.endswith("Human:") else "assistant"
        parsed.turns.append((role, text.strip()))
    if parsed.turns and parsed.turns[-1][0] == "assistant" and not parsed.turns[-1][1]:
        parsed.turns.pop()
    return parsed


def _parse_titan(text: str) -> _Prompt:
    # Titan's documented conversational convention is "User: ...\nBot:"; keep only the user's words.
    body = text.strip()
    if body.startswith("User:") and body.endswith("Bot:"):
        body = body[len("User:"):-len("Bot:")].strip()
    return _Prompt(family="titan", system=None, turns=[("user", body)])


def _family_of(model_id: str) -> str:
    tail = _normalize_model_id(model_id)
    for prefix, family in (("anthropic.", "anthropic"), ("meta.", "llama"), ("mistral.", "mistral"),
                           ("cohere.", "cohere"), ("amazon.titan", "titan"), ("amazon.nova", "nova"),
                           ("openai.", "openai")):
        if tail.startswith(prefix):
            return family
    return ""


def _parse_prompt(body: Mapping[str, Any], *, operation: str, model_id: str) -> _Prompt:
    """The system prompt and turns of a request body, whatever the family."""
    if operation.startswith("Converse"):
        return _parse_messages(body, "converse")
    if "messages" in body:
        if "anthropic_version" in body:
            return _parse_messages(body, "anthropic")
        if body.get("schemaVersion") == "messages-v1" or _family_of(model_id) == "nova":
            return _parse_messages(body, "nova")
        return _parse_messages(body, _family_of(model_id) or "openai")
    if "inputText" in body:
        if "embed" in model_id or "dimensions" in body or "embeddingTypes" in body:
            raise _Skip("embedding_request")
        text = body["inputText"]
        if not isinstance(text, str):
            raise _Skip("unsupported_body")
        return _parse_titan(text)
    if "texts" in body or "input_type" in body:
        raise _Skip("embedding_request")
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        family = _family_of(model_id)
        if "<|start_header_id|>" in prompt:
            return _parse_llama3(prompt)
        if "[INST]" in prompt:
            return _parse_inst(prompt, family or "mistral")
        if "\n\nHuman:" in prompt:
            return _parse_anthropic_text(prompt)
        return _Prompt(family=family or "prompt", system=None, turns=[("user", prompt)])
    raise _Skip("unsupported_body")


def _message_text(message: Any) -> str | None:
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if content is None:
        return None
    try:
        return _content_text(content)
    except _Skip:
        # A response with a tool call or an image has no plain-text answer to learn from.
        return None


def _response_text(body: Any) -> str | None:
    """The generated text of a response body of any family (``None`` when there is none)."""
    if isinstance(body, list):  # streaming: a list of chunks
        pieces = [_chunk_text(chunk) for chunk in body]
        joined = "".join(p for p in pieces if p)
        return joined or None
    if not isinstance(body, Mapping):
        return None
    output = body.get("output")
    if isinstance(output, Mapping) and "message" in output:  # Converse, Nova
        return _message_text(output["message"])
    content = body.get("content")
    if isinstance(content, list):  # Anthropic messages
        return _message_text({"content": content})
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):  # OpenAI
        first = choices[0]
        return _message_text(first.get("message")) if "message" in first else _str(first.get("text"))
    for key in ("generation", "completion"):  # Llama, Claude text completions
        if isinstance(body.get(key), str):
            return str(body[key])
    for key, inner in (("results", "outputText"), ("outputs", "text"), ("generations", "text")):
        items = body.get(key)  # Titan, Mistral, Cohere
        if isinstance(items, list) and items and isinstance(items[0], Mapping):
            return _str(items[0].get(inner))
    return None


def _chunk_text(chunk: Any) -> str | None:
    if not isinstance(chunk, Mapping):
        return None
    delta = chunk.get("contentBlockDelta")  # ConverseStream
    if isinstance(delta, Mapping):
        inner = delta.get("delta")
        return _str(inner.get("text")) if isinstance(inner, Mapping) else None
    if chunk.get("type") == "content_block_delta":  # Anthropic stream
        inner = chunk.get("delta")
        return _str(inner.get("text")) if isinstance(inner, Mapping) else None
    if chunk.get("type") or "messageStart" in chunk or "messageStop" in chunk or "metadata" in chunk:
        return None
    if "outputText" in chunk:  # Titan stream
        return _str(chunk.get("outputText"))
    return _response_text(chunk)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_embedding_response(body: Any) -> bool:
    return isinstance(body, Mapping) and ("embedding" in body or "embeddings" in body)


def _body(part: Any, key: str, fetch: Callable[[str], Any] | None) -> Any:
    """``input.inputBodyJson`` (or the S3 object a large body was moved to)."""
    if not isinstance(part, Mapping):
        return None
    body = part.get(f"{key}BodyJson")
    if body is None and isinstance(part.get(f"{key}BodyS3Path"), str) and fetch is not None:
        body = fetch(str(part[f"{key}BodyS3Path"]))
    if isinstance(body, str):  # some writers log the body as a JSON string
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return body


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


def _normalize_model_id(model_id: str) -> str:
    """``arn:...:foundation-model/x`` and ``us.x`` (a system inference profile) both become ``x``."""
    key = model_id.strip()
    if key.startswith("arn:") and "/" in key:
        key = key.rsplit("/", 1)[1]
    return re.sub(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.", "", key)


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
            if not path.exists():
                raise ConfigurationError(f"{uri!r} is neither an s3:// URI nor an existing file or folder")
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

    def read(self, key: str) -> bytes:
        if not self.is_s3:
            return Path(key).read_bytes()
        try:
            body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"]
            data: bytes = body.read()
            return data
        except Exception as exc:
            raise _translate_s3_error(exc, f"s3://{self.bucket}/{key}") from exc

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}" if self.is_s3 else key

    def fetch_uri(self, uri: str) -> Any:
        """A large request/response body that Bedrock moved to its own S3 object."""
        if not uri.startswith("s3://"):
            return None
        bucket, _, key = uri[len("s3://"):].partition("/")
        try:
            raw = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
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


def _decompress(raw: bytes) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    return raw


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
            text = _decompress(source.read(key)).decode("utf-8")
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
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
