"""The one service-model request validator: every constraint botocore's model declares, checked before sending.

botocore validates required members, types, minimum lengths/values and unions, but not ``max``, ``pattern`` or
``enum`` (verified against botocore 1.43.11: ``jobName="job_bad!"``, ``customizationType="FOO"``, 11 validators
and a two-key ``requestMetadataFilters.equals`` are all sent). The service then rejects them, or worse, a job
fails hours later. :func:`validate_request` walks botocore's own service model and checks every constraint it
declares (patterns with the one engine, :mod:`finetune_sdk._aws.patterns`), so the rules never drift from the
API version installed. Bedrock, SageMaker and the IAM helpers call it before every request they build.

Examples:
    >>> problems = find_request_problems("bedrock", "StopModelCustomizationJob", {"jobIdentifier": "a_b"})
    >>> [p.field for p in problems]
    ['jobIdentifier']
    >>> validate_request("bedrock", "StopModelCustomizationJob", {"jobIdentifier": "job_1"})
    Traceback (most recent call last):
    ...
    finetune_sdk.errors.RequestValidationError: jobIdentifier = 'job_1' does not match ...
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from finetune_sdk._aws.patterns import pattern_matches
from finetune_sdk.errors import RequestValidationError

__all__ = ["RequestProblem", "find_request_problems", "service_model", "validate_request"]


@dataclass(frozen=True)
class RequestProblem:
    """One broken constraint: the member's path (``jobTags[3].key``) and a message (value, rule and fix)."""

    field: str
    message: str


# --- the generic service-model walker -------------------------------------------------------------------
@lru_cache(maxsize=16)
def service_model(service: str) -> Any:
    """botocore's ``ServiceModel`` for ``service`` (loaded once per process)."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_S3_HINT = (
    "Bedrock S3 URIs allow a lowercase bucket name and keys made of letters, digits and - ! _ * ' ( ) . "
    "separated by '/' (no spaces, '+', '=', '@', '&' or '%'); rename the object or folder"
)


def _suggest(pattern: str, value: str) -> str | None:
    """A nearby value that satisfies a name pattern, to quote in the message."""
    candidates = [
        re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9+.\-]+", "-", value)).strip("-+."),
        re.sub(r"[^A-Za-z0-9]+", "-", value).strip("-"),
        re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-"),
    ]
    for cand in candidates:
        if cand and cand != value and _pattern_matches(pattern, cand):
            return cand
    return None


#: plain-language descriptions of the patterns users meet most, keyed by the exact botocore pattern
_PATTERN_HINTS: dict[str, str] = {
    r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*": (
        "job names take letters, digits, '-', '+' and '.', start with a letter or digit, and cannot "
        "contain '_' or spaces"
    ),
    r"([0-9a-zA-Z][_-]?){1,63}": (
        "model and deployment names take letters and digits, optionally separated by a single '_' or '-' "
        "(no '.', no '--', no spaces), at most 63 characters"
    ),
    r"([0-9a-zA-Z][_-]?)+": "names take letters and digits, optionally separated by a single '_' or '-' "
    "(no '.', no '--', no spaces)",
    r"[a-zA-Z0-9\s._:/=+@-]*": "tags take letters, digits, spaces and _ . : / = + @ - only",
    r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?": "client request tokens take letters, digits and '-' and "
    "cannot start or end with '-'",
    r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+": "pass an IAM role ARN such as "
    "arn:aws:iam::123456789012:role/BedrockCustomization (see finetune_sdk.backends.bedrock.iam)",
}


def _pattern_matches(pattern: str, value: str) -> bool:
    return pattern_matches(pattern, value)  # never rejects on a pattern the engine cannot read


def _pattern_message(path: str, value: str, pattern: str) -> str:
    if pattern.startswith("s3://"):
        hint = _S3_HINT
    else:
        hint = _PATTERN_HINTS.get(pattern, "use only the characters and shape the pattern allows")
    suggestion = None if pattern.startswith(("s3://", "arn:")) else _suggest(pattern, value)
    fix = f"Fix: {hint}" + (f", e.g. {suggestion!r}." if suggestion else ".")
    return f"{path} = {_short(value)} does not match the pattern {pattern!r} required by the API. {fix}"


def _length_of(value: Any) -> int | None:
    if isinstance(value, (str, bytes, bytearray, list, tuple, Mapping)):
        return len(value)
    return None


class _Walker:
    def __init__(self, service: str) -> None:
        self.service = service
        self.problems: list[RequestProblem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(RequestProblem(field=path or "(request)", message=message))

    def walk(self, shape: Any, value: Any, path: str) -> None:
        kind = shape.type_name
        handler = getattr(self, f"_{kind}", None)
        if handler is not None:
            handler(shape, value, path)

    # containers
    def _structure(self, shape: Any, value: Any, path: str) -> None:
        if getattr(shape, "is_document_type", False) or shape.metadata.get("document"):
            return  # free-form JSON (additionalModelRequestFields...)
        if not isinstance(value, Mapping):
            self.add(
                path,
                f"{path or 'the request'} must be a dict (structure {shape.name}), got "
                f"{type(value).__name__}",
            )
            return
        members = shape.members
        for key in value:
            if key not in members:
                valid = ", ".join(members) or "none"
                self.add(
                    _join(path, str(key)),
                    f"{_join(path, str(key))} is not a member of {shape.name}; "
                    f"valid members: {valid}. Fix: remove it or correct its spelling.",
                )
        if shape.metadata.get("union"):
            present = [k for k in members if value.get(k) is not None]
            if len(present) != 1:
                got = ", ".join(present) if present else "none"
                self.add(
                    path,
                    f"{path or 'the request'} is a union and takes exactly one of "
                    f"{', '.join(members)}; got {got}. Fix: set exactly one.",
                )
        for name in shape.required_members:
            if value.get(name) is None:
                self.add(_join(path, name), f"{_join(path, name)} is required by {shape.name}. Fix: set it.")
        for name, member_shape in members.items():
            if name in value and value[name] is not None:
                self.walk(member_shape, value[name], _join(path, name))

    def _list(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, (list, tuple)):
            self.add(path, f"{path} must be a list, got {type(value).__name__}")
            return
        self._size(shape, len(value), path, "items", value)
        for i, item in enumerate(value):
            self.walk(shape.member, item, f"{path}[{i}]")

    def _map(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.add(path, f"{path} must be a dict, got {type(value).__name__}")
            return
        self._size(shape, len(value), path, "entries", value)
        for key, item in value.items():
            self.walk(shape.key, key, f"{path} (key {key!r})")
            self.walk(shape.value, item, _join(path, str(key)))

    # scalars
    def _string(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(
                path,
                f"{path} must be a string, got {type(value).__name__} {_short(value)}"
                + (
                    " (Bedrock hyperparameters are strings: '2', not 2)"
                    if path.startswith("hyperParameters")
                    else ""
                ),
            )
            return
        enum = shape.enum
        if enum and value not in enum:
            self.add(path, f"{path} = {value!r} is not one of {', '.join(enum)}. Fix: use one of them.")
            return
        self._size(shape, len(value), path, "characters", value)
        pattern = shape.metadata.get("pattern")
        if pattern is not None and not _pattern_matches(pattern, value):
            self.add(path, _pattern_message(path, value, pattern))

    def _number(self, shape: Any, value: Any, path: str, *, integral: bool) -> None:
        ok = isinstance(value, int) if integral else isinstance(value, (int, float))
        if not ok or isinstance(value, bool):
            want = "an integer" if integral else "a number"
            self.add(path, f"{path} must be {want}, got {type(value).__name__} {_short(value)}")
            return
        if not integral and isinstance(value, float) and not math.isfinite(value):
            self.add(path, f"{path} = {value!r} is not a finite number")
            return
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and value < lo:
            self.add(
                path,
                f"{path} = {value!r} is below the minimum {lo}. Fix: use a value in "
                f"[{lo}, {hi if hi is not None else '...'}].",
            )
        elif hi is not None and value > hi:
            self.add(
                path,
                f"{path} = {value!r} is above the maximum {hi}. Fix: use a value in "
                f"[{lo if lo is not None else '...'}, {hi}].",
            )

    def _integer(self, shape: Any, value: Any, path: str) -> None:
        self._number(shape, value, path, integral=True)

    _long = _integer

    def _float(self, shape: Any, value: Any, path: str) -> None:
        self._number(shape, value, path, integral=False)

    _double = _float

    def _boolean(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.add(path, f"{path} must be True or False, got {type(value).__name__} {_short(value)}")

    def _blob(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, (bytes, bytearray)):
            size = len(value)
        elif isinstance(value, str):
            size = len(value.encode("utf-8"))
        elif hasattr(value, "read"):
            return  # a stream: its size is not known without reading it
        else:
            self.add(path, f"{path} must be bytes, a str or a file object, got {type(value).__name__}")
            return
        self._size(shape, size, path, "bytes", None)

    def _timestamp(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, (_dt.datetime, _dt.date, str, int, float)) or isinstance(value, bool):
            self.add(path, f"{path} must be a datetime, got {type(value).__name__}")

    def _size(self, shape: Any, size: int, path: str, unit: str, value: Any) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        shown = f" ({_short(value, 60)})" if isinstance(value, str) else ""
        if lo is not None and size < lo:
            self.add(path, f"{path} has {size} {unit}{shown}; the API needs at least {lo}. Fix: add to it.")
        elif hi is not None and size > hi:
            fix = {"items": "split it or drop some", "entries": "keep fewer entries"}.get(unit, "shorten it")
            if path.endswith("requestMetadataFilters.equals") or path.endswith(
                "requestMetadataFilters.notEquals"
            ):
                fix = "filter on several keys with andAll/orAll (MetadataFilter.all_of(...)), one key each"
            self.add(path, f"{path} has {size} {unit}{shown}; the API allows at most {hi}. Fix: {fix}.")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def find_request_problems(service: str, operation: str, params: Mapping[str, Any]) -> list[RequestProblem]:
    """Every constraint of ``operation``'s input shape that ``params`` breaks (empty for a valid request).

    Checks required members, unknown members, types, enums, min/max lengths, values, list and map sizes,
    ``pattern`` (Java regex, full match, linear time) and unions (exactly one member set).

    Raises:
        botocore.exceptions.UnknownServiceError / OperationNotFoundError: no such service or operation.
    """
    model = service_model(service)
    op = model.operation_model(operation)
    walker = _Walker(service)
    if op.input_shape is not None:
        walker.walk(op.input_shape, params, "")
    return walker.problems


def validate_request(service: str, operation: str, params: Mapping[str, Any]) -> None:
    """Raise on the first problem :func:`find_request_problems` finds (the message counts the others).

    Raises:
        RequestValidationError: ``field`` names the member (``jobTags[3].key``); nothing was sent.
    """
    problems = find_request_problems(service, operation, params)
    if not problems:
        return
    first = problems[0]
    message = first.message
    if len(problems) > 1:
        others = "; ".join(f"{p.field}" for p in problems[1:6])
        message += f" ({len(problems) - 1} more problem(s) in this {operation} request: {others})"
    raise RequestValidationError(message, field=first.field)
