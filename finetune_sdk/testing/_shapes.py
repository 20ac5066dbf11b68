"""botocore service models as a server would use them: route, parse, validate in full, serialise.

botocore validates requests only for required members, types, minimums and unions. A server also checks
maximums, patterns (Java regular expressions, matched by the same engine as the SDK's own request checks,
:mod:`finetune_sdk._aws.patterns`) and enums; this module does all of it so the AWS emulation
rejects what AWS would reject. It works on the serialised HTTP request, so the client's real serialisation
is exercised, and it serialises responses with the same rules botocore's parser reads them back with.

Only the ``rest-json`` protocol is handled (Bedrock and Bedrock Runtime use it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from finetune_sdk._aws.patterns import UnsupportedPattern, compile_java_pattern, pattern_matches
from finetune_sdk._aws.validation import service_model

__all__ = [
    "Router",
    "UnsupportedPatternError",
    "Violation",
    "format_violations",
    "java_regex",
    "parse_request",
    "serialize_output",
    "service_model",
    "validate",
]


# --- Java regular expressions: the SDK's one engine (linear time, look-around, Unicode categories) -------
#: kept under the emulation's old names; both are the runtime checks' engine
UnsupportedPatternError = UnsupportedPattern
java_regex = compile_java_pattern


# --- service models -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    """One constraint a request (or response) broke.

    Attributes:
        operation: the API operation (``"CreateModelCustomizationJob"``).
        field: the member path, dotted with list indexes (``"jobTags[3].key"``).
        rule: ``required``, ``type``, ``min``, ``max``, ``pattern``, ``enum``, ``union`` or ``unknown``.
        message: AWS's wording (``"Value 'x' at 'jobName' failed to satisfy constraint: ..."``).
    """

    operation: str
    field: str
    rule: str
    message: str


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _constraint(path: str, value: Any, text: str) -> str:
    shown = "null" if value is None else f"'{_show(value)}'"
    return f"Value {shown} at '{path or '<root>'}' failed to satisfy constraint: {text}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate(shape: Any, value: Any, *, operation: str = "", path: str = "") -> list[Violation]:
    """Every constraint of ``shape`` that ``value`` breaks: required, types, min/max (lengths, sizes and
    values), patterns, enums, unions (exactly one member) and unknown members.

    Examples:
        >>> model = service_model("bedrock")
        >>> shape = model.operation_model("GetCustomModel").input_shape
        >>> [v.rule for v in validate(shape, {"modelIdentifier": "bad name!"})]
        ['pattern']
    """
    found: list[Violation] = []
    _check(shape, value, operation, path, found)
    return found


def _check(shape: Any, value: Any, operation: str, path: str, found: list[Violation]) -> None:
    def bad(rule: str, text: str, shown: Any = value) -> None:
        found.append(Violation(operation, path, rule, _constraint(path, shown, text)))

    type_name = shape.type_name
    meta = shape.metadata
    if type_name == "structure":
        if getattr(shape, "is_document_type", False) or meta.get("document"):
            return
        if not isinstance(value, Mapping):
            bad("type", "Member must be a structure")
            return
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                found.append(
                    Violation(
                        operation,
                        _join(path, name),
                        "required",
                        _constraint(_join(path, name), None, "Member must not be null"),
                    )
                )
        for key in value:
            if key not in members:
                found.append(
                    Violation(
                        operation,
                        _join(path, str(key)),
                        "unknown",
                        f"'{_join(path, str(key))}' is not a member of {shape.name}",
                    )
                )
        if meta.get("union"):
            set_members = [k for k in members if value.get(k) is not None]
            if len(set_members) != 1:
                bad(
                    "union",
                    f"Member must have exactly one of {sorted(members)} set, got {set_members or 'none'}",
                    shown=None,
                )
        for name, member in members.items():
            if value.get(name) is not None:
                _check(member, value[name], operation, _join(path, name), found)
        return
    if type_name == "list":
        if not isinstance(value, (list, tuple)):
            bad("type", "Member must be a list")
            return
        _sizes(len(value), meta, bad, "length")
        for i, item in enumerate(value):
            if item is None:
                found.append(
                    Violation(
                        operation,
                        f"{path}[{i}]",
                        "required",
                        _constraint(f"{path}[{i}]", None, "Member must not be null"),
                    )
                )
            else:
                _check(shape.member, item, operation, f"{path}[{i}]", found)
        return
    if type_name == "map":
        if not isinstance(value, Mapping):
            bad("type", "Member must be a map")
            return
        _sizes(len(value), meta, bad, "length")
        for key, item in value.items():
            _check(shape.key, key, operation, f"{path}.<key>", found)
            if item is None:
                found.append(
                    Violation(
                        operation,
                        f"{path}.{key}",
                        "required",
                        _constraint(f"{path}.{key}", None, "Member must not be null"),
                    )
                )
            else:
                _check(shape.value, item, operation, f"{path}.{key}", found)
        return
    if type_name == "string":
        if not isinstance(value, str):
            bad("type", "Member must be a string")
            return
        _sizes(len(value), meta, bad, "length")
        pattern = meta.get("pattern")
        if pattern and not pattern_matches(pattern, value):  # an unreadable pattern is skipped (debug log)
            bad("pattern", f"Member must satisfy regular expression pattern: {pattern}")
        enum = meta.get("enum")
        if enum and value not in enum:
            bad("enum", f"Member must satisfy enum value set: [{', '.join(enum)}]")
        return
    if type_name in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            bad("type", f"Member must be an {type_name}")
            return
        _sizes(value, meta, bad, "value")
        return
    if type_name in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("type", "Member must be a number")
            return
        _sizes(value, meta, bad, "value")
        return
    if type_name == "boolean":
        if not isinstance(value, bool):
            bad("type", "Member must be a boolean")
        return
    if type_name == "blob":
        if not isinstance(value, (bytes, bytearray)):
            bad("type", "Member must be binary data")
            return
        _sizes(len(value), meta, bad, "length")
        return
    if type_name == "timestamp" and not isinstance(value, datetime):
        bad("type", "Member must be a timestamp")


def _sizes(size: float, meta: Mapping[str, Any], bad: Any, word: str) -> None:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        bad("min", f"Member must have {word} greater than or equal to {low}")
    if high is not None and size > high:
        bad("max", f"Member must have {word} less than or equal to {high}")


def format_violations(violations: Sequence[Violation]) -> str:
    """AWS's ValidationException message for ``violations``."""
    n = len(violations)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(
        v.message for v in violations
    )


# --- routing and request parsing ----------------------------------------------------------------------------
class Router:
    """Finds the operation of an HTTP request from the service model's ``http.requestUri`` templates."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.model = service_model(service)
        routes: list[tuple[int, str, re.Pattern[str], list[tuple[str, bool]], Any]] = []
        for name in self.model.operation_names:
            op = self.model.operation_model(name)
            uri = op.http["requestUri"].split("?", 1)[0]
            labels: list[tuple[str, bool]] = []
            parts: list[str] = []
            literal = 0
            for piece in re.split(r"(\{[^}]+\})", uri):
                if piece.startswith("{") and piece.endswith("}"):
                    label = piece[1:-1]
                    greedy = label.endswith("+")
                    labels.append((label.rstrip("+"), greedy))
                    parts.append("(.+)" if greedy else "([^/]+)")
                else:
                    literal += len(piece)
                    parts.append(re.escape(piece))
            routes.append((literal, op.http["method"].upper(), re.compile("".join(parts)), labels, op))
        # More literal characters first, so "/a/{x}" never shadows "/a/b".
        self._routes = sorted(routes, key=lambda r: -r[0])

    def match(self, method: str, path: str) -> tuple[Any, dict[str, str]] | None:
        """``(operation_model, uri_params)`` for a request, or ``None``."""
        for _, verb, regex, labels, op in self._routes:
            if verb != method.upper():
                continue
            m = regex.fullmatch(path)
            if m is None:
                continue
            return op, {name: unquote(m.group(i + 1)) for i, (name, _) in enumerate(labels)}
        return None


def _member_name(shape: Any, member: str) -> str:
    return str(shape.members[member].serialization.get("name", member))


def _parse_scalar(shape: Any, text: str) -> Any:
    """A query-string or header value converted to the member's type (left as text when it does not parse,
    so validation reports the type error)."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            return text
        if kind == "timestamp":
            return _parse_timestamp(text)
    except (TypeError, ValueError):
        return text
    return text


def _parse_timestamp(value: Any) -> datetime:
    from botocore.utils import parse_timestamp

    parsed = parse_timestamp(value)
    if not isinstance(parsed, datetime):  # pragma: no cover - botocore always returns datetimes
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _from_json(shape: Any, value: Any) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if (
            getattr(shape, "is_document_type", False)
            or shape.metadata.get("document")
            or not isinstance(value, Mapping)
        ):
            return value
        by_wire: dict[str, str] = {
            str(m.serialization.get("name", n)): str(n) for n, m in shape.members.items()
        }
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = by_wire.get(str(key), str(key))
            out[name] = _from_json(shape.members[name], item) if name in shape.members else item
        return out
    if kind == "list":
        return [_from_json(shape.member, v) for v in value] if isinstance(value, list) else value
    if kind == "map":
        return (
            {k: _from_json(shape.value, v) for k, v in value.items()} if isinstance(value, Mapping) else value
        )
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
    if kind == "timestamp" and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return _parse_timestamp(value)
        except (TypeError, ValueError):
            return value
    return value


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    read = getattr(body, "read", None)
    if callable(read):
        data = read()
        seek = getattr(body, "seek", None)
        if callable(seek):
            seek(0)
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    return bytes(body)


class RequestParseError(ValueError):
    """The HTTP request body is not what the protocol says (e.g. invalid JSON)."""


def parse_request(
    op: Any, uri_params: Mapping[str, str], url: str, headers: Mapping[str, Any], body: Any
) -> dict[str, Any]:
    """The operation's input parameters, rebuilt from the serialised HTTP request.

    Raises:
        RequestParseError: the body is not valid JSON.
    """
    shape = op.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    lowered = {str(k).lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()}
    payload = shape.serialization.get("payload")
    raw = _body_bytes(body)
    body_members: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = str(member.serialization.get("name", name))
        if location == "uri":
            if wire in uri_params:
                params[name] = _parse_scalar(member, uri_params[wire])
        elif location == "querystring":
            if wire in query:
                values = query[wire]
                if member.type_name == "list":
                    params[name] = [_parse_scalar(member.member, v) for v in values]
                else:
                    params[name] = _parse_scalar(member, values[0])
        elif location == "header":
            if wire.lower() in lowered:
                params[name] = _parse_scalar(member, lowered[wire.lower()])
        elif name == payload:
            if member.type_name in ("blob", "string"):
                if raw:
                    params[name] = raw if member.type_name == "blob" else raw.decode("utf-8")
            elif raw:
                try:
                    params[name] = _from_json(member, json.loads(raw))
                except ValueError as exc:
                    raise RequestParseError(f"the request body is not valid JSON: {exc}") from exc
        else:
            body_members[wire] = name
    if payload is None and raw.strip():
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise RequestParseError(f"the request body is not valid JSON: {exc}") from exc
        if not isinstance(document, Mapping):
            raise RequestParseError("the request body must be a JSON object")
        for key, value in document.items():
            name = body_members.get(str(key), str(key))
            params[name] = _from_json(shape.members[name], value) if name in shape.members else value
    return params


# --- response serialisation ---------------------------------------------------------------------------------
def _to_json(shape: Any, value: Any) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if getattr(shape, "is_document_type", False) or shape.metadata.get("document"):
            return value
        out: dict[str, Any] = {}
        for name, item in value.items():
            if item is None:
                continue
            member = shape.members.get(name)
            if member is None:
                out[name] = item
            else:
                out[str(member.serialization.get("name", name))] = _to_json(member, item)
        return out
    if kind == "list":
        return [_to_json(shape.member, v) for v in value]
    if kind == "map":
        return {k: _to_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return round(when.timestamp(), 3)
    if kind == "blob" and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _header_text(shape: Any, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        from email.utils import format_datetime

        return format_datetime(value.astimezone(timezone.utc), usegmt=True)
    if shape.metadata.get("jsonvalue"):
        return base64.b64encode(json.dumps(value).encode()).decode()
    return str(value)


def serialize_output(op: Any, output: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a successful response carrying ``output``."""
    status = int(op.http.get("responseCode", 200))
    headers: dict[str, str] = {}
    shape = op.output_shape
    if shape is None:
        return status, {"Content-Type": "application/json"}, b"{}"
    payload = shape.serialization.get("payload")
    document: dict[str, Any] = {}
    body: bytes | None = None
    for name, value in output.items():
        if value is None:
            continue
        member = shape.members.get(name)
        if member is None:
            raise KeyError(f"{op.name} has no output member {name!r}")
        location = member.serialization.get("location")
        wire = str(member.serialization.get("name", name))
        if location == "header":
            headers[wire] = _header_text(member, value)
        elif location == "statusCode":
            status = int(value)
        elif name == payload:
            if member.type_name == "blob":
                body = bytes(value)
            elif member.type_name == "string":
                body = str(value).encode("utf-8")
            else:
                body = json.dumps(_to_json(member, value)).encode("utf-8")
        else:
            document[wire] = _to_json(member, value)
    if body is None:
        body = json.dumps(document).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    return status, headers, body


def error_status(model: Any, code: str, default: int = 400) -> int:
    """The HTTP status the service model gives error ``code`` (``default`` when it is not modelled)."""
    try:
        shape = model.shape_for(code)
    except Exception:  # botocore raises NoShapeFoundError, which we do not import here
        return default
    return int(shape.metadata.get("error", {}).get("httpStatusCode", default))
