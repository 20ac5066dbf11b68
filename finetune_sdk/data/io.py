"""Streamed JSONL reading that never crashes and never silently drops a line; JSONL writing.

:func:`iter_jsonl` reads physical lines as bytes, one at a time (peak memory is one line, so files larger
than memory work), and yields a :class:`JsonLine` per line: the parsed object, or the issues that stopped
it. Every line is accounted for: records + invalid lines + blank lines == total lines. It reports, at the
1-based physical line:

- a UTF-8 byte order mark on line 1 (warning ``encoding.bom``; the line is then parsed);
- bytes that are not UTF-8 (``encoding.invalid_utf8``, with the byte column);
- blank or whitespace-only lines (warning ``line.blank``);
- malformed JSON, including ``NaN``/``Infinity`` and numbers that overflow a double such as ``1e999``
  (``json.malformed``, with the column of the error);
- objects nested deeper than :data:`MAX_JSON_DEPTH` (``json.too_deep``): the one limit validation,
  record building and every later serialisation share, so a record that validates always serialises;
- keys repeated in one object (``json.duplicate_key``);
- lines that are JSON arrays, numbers, strings... rather than objects (``json.not_object``);
- lines longer than ``max_line_bytes`` (``line.too_long``; default :data:`DEFAULT_MAX_LINE_BYTES`, or
  ``$FINETUNE_SDK_MAX_LINE_BYTES``), read in bounded chunks and skipped, so memory stays bounded whatever
  the line length.

Local paths must be regular files: a directory, FIFO, socket or device, a symlink loop or a missing file is
refused at once with :class:`~finetune_sdk.errors.InputFileError` (nothing blocks on a FIFO, nothing reads
``/dev/zero`` forever).

Trailing whitespace and CRLF line ends are tolerated. ``orjson`` is used when installed (it is several
times faster); without it the standard library does the same job.

Examples:
    >>> import io
    >>> from finetune_sdk.data.io import iter_jsonl
    >>> data = io.BytesIO(b'{"prompt": "a", "completion": "b"}\\r\\n\\n[1, 2]\\n{"a": 1, "a": 2}\\n')
    >>> for ln in iter_jsonl(data):
    ...     print(ln.number, ln.kind, [i.rule for i in ln.issues])
    1 record []
    2 blank ['line.blank']
    3 invalid ['json.not_object']
    4 invalid ['json.duplicate_key']
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from finetune_sdk._aws.s3 import split_s3_uri
from finetune_sdk.data.report import Issue
from finetune_sdk.errors import DataError, InputFileError, ServiceUnavailableError

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "MAX_JSON_DEPTH",
    "JsonLine",
    "Source",
    "check_name_part",
    "dumps_line",
    "fast_codec",
    "has_big_int",
    "is_s3_uri",
    "iter_jsonl",
    "iter_lines",
    "json_depth",
    "lone_surrogate",
    "max_line_bytes",
    "may_be_too_deep",
    "open_binary",
    "open_regular_file",
    "parse_line",
    "parse_s3_uri",
    "source_size",
    "too_deep",
    "write_atomic",
    "write_jsonl",
]

BOM = b"\xef\xbb\xbf"
Source = str | os.PathLike[str] | IO[bytes]

_fast_loads: Callable[[bytes], Any] | None
_fast_dumps: Callable[[Any], bytes] | None
try:  # orjson is optional: several times faster than json, same results for valid input.
    import orjson as _orjson

    _fast_loads = _orjson.loads
    _fast_dumps = _orjson.dumps
except ImportError:  # pragma: no cover - exercised by the no-orjson test through monkeypatching
    _fast_loads = None
    _fast_dumps = None


# A run of 19+ digits may be an integer beyond 64 bits, which orjson reads as a float: such lines go to
# json, which keeps them exact (false positives, e.g. digits inside strings, only cost speed). Mapping
# digits to "0" and the rest to " " and searching for 19 zeros is ~10x faster than a regex.
_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_DIGIT_RUN = b"0" * 19


def has_big_int(raw: bytes) -> bool:
    """Whether ``raw`` holds a run of 19 or more digits (an integer orjson might not keep exact)."""
    return _DIGIT_RUN in raw.translate(_DIGITS)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (JSON has no NaN or Infinity)")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise ValueError(
            f"the number {text[:40]} overflows a 64-bit float (JSON has no NaN or Infinity); write it smaller "
            "or as a string"
        )
    return value


_INF = float("inf")

# One decoder built once: json.loads(..., object_pairs_hook=...) would build a new one per call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs_hook, parse_constant=_reject_constant, parse_float=_parse_float
)

#: the deepest nesting of objects and arrays accepted (a line ``{"a": [1]}`` is 2 deep). Validation reports
#: deeper records (``json.too_deep``), so every later serialisation (orjson stops at 254, pydantic at about
#: 255 levels including the record's own) has room to spare.
MAX_JSON_DEPTH = 64


def may_be_too_deep(raw: bytes) -> bool:
    """Cheap filter: whether a line has enough ``[`` and ``{`` to nest deeper than :data:`MAX_JSON_DEPTH`."""
    return raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH


def too_deep(obj: Any) -> bool:
    """Whether ``obj`` nests dicts and lists deeper than :data:`MAX_JSON_DEPTH`, cheaply: objects whose JSON
    holds fewer ``[``/``{`` than the limit cannot be (one orjson call); only the rest are walked."""
    if _fast_dumps is not None:
        try:
            raw = _fast_dumps(obj)
        except TypeError:  # past orjson's own depth limit, or not JSON types: walk it
            return json_depth(obj) > MAX_JSON_DEPTH
        if not may_be_too_deep(raw):
            return False
    return json_depth(obj) > MAX_JSON_DEPTH


def json_depth(obj: Any, *, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of dicts, lists and tuples in ``obj`` (a scalar is 0), iteratively (no recursion limit);
    counting stops once it passes ``limit`` (the result is then ``limit + 1``).

    Examples:
        >>> json_depth({"a": [1, {"b": []}]}), json_depth("x"), json_depth([[[[]]]], limit=2)
        (4, 0, 3)
    """
    if not isinstance(obj, (dict, list, tuple)):
        return 0
    deepest = 0
    level: list[Any] = [obj]
    while level:  # breadth first, one level at a time
        deepest += 1
        if deepest > limit:
            return limit + 1
        nxt: list[Any] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, (dict, list, tuple)):
                    nxt.append(child)
        level = nxt
    return deepest


def _too_deep_issue(number: int) -> Issue:
    return _issue(
        number,
        "json.too_deep",
        "error",
        f"objects and arrays are nested more than {MAX_JSON_DEPTH} levels deep",
        f"flatten the record to at most {MAX_JSON_DEPTH} levels; no model input needs more",
    )


class JsonLine(NamedTuple):
    """One physical line: its 1-based number, the parsed object (``None`` unless ``kind == "record"``),
    the issues found reading it, and its size in bytes."""

    number: int
    value: dict[str, Any] | None
    issues: tuple[Issue, ...]
    kind: Literal["record", "blank", "invalid"]
    nbytes: int


def _issue(line: int, rule: str, severity: Literal["error", "warning"], message: str, hint: str) -> Issue:
    return Issue.model_construct(
        line=line, path="", rule=rule, severity=severity, message=message, hint=hint, source=None
    )


_BOM_ISSUE_HINT = "save the file as UTF-8 without BOM; Bedrock may reject the first record"


#: the longest physical line read (bytes, without its line end); longer lines are reported and skipped
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
_SKIP_CHUNK = 1 << 20
_MAX_SKIP = 1 << 30  # a "line" longer than this (and 16x the limit) is not JSONL: reading stops


def max_line_bytes(value: int | None = None) -> int:
    """The line-length limit in effect: ``value``, else ``$FINETUNE_SDK_MAX_LINE_BYTES``, else the default.

    Raises:
        ConfigurationError: the value is not a positive integer.
    """
    from finetune_sdk.errors import ConfigurationError

    if value is None:
        env = os.environ.get("FINETUNE_SDK_MAX_LINE_BYTES")
        if not env:
            return DEFAULT_MAX_LINE_BYTES
        try:
            value = int(env)
        except ValueError:
            raise ConfigurationError(
                f"FINETUNE_SDK_MAX_LINE_BYTES={env!r} is not an integer; set a byte count such as 67108864"
            ) from None
    if value < 1:
        raise ConfigurationError(f"max_line_bytes must be a positive number of bytes, got {value}")
    return value


class _TooLongLine(bytes):
    """Stands for a line over the limit: empty content (so no parser sees it), its real length and the limit."""

    length: int
    limit: int

    def __new__(cls, length: int, limit: int) -> _TooLongLine:
        obj = super().__new__(cls, b"")
        obj.length = length
        obj.limit = limit
        return obj


def iter_lines(fh: Any, *, max_bytes: int | None = None) -> Iterator[bytes]:
    """Physical lines of a binary file, each read with a bounded ``readline(limit)``: a line longer than
    ``max_bytes`` is skipped in 1 MiB chunks and stands as an empty placeholder that :func:`parse_line` reports
    as ``line.too_long``. Peak memory is about ``max_bytes`` whatever the file holds; a line running past
    ``max(16 * max_bytes, 1 GiB)`` without a line end (``/dev/zero`` as a file object) raises ``DataError``.

    Objects without ``readline`` (plain iterables of lines) are passed through as they are.

    Examples:
        >>> import io
        >>> [parse_line(raw, n).kind for n, raw in enumerate(iter_lines(io.BytesIO(b'{}\\n' + b'x' * 50 + b'\\n{}'),
        ...  max_bytes=10), 1)]
        ['record', 'invalid', 'record']
    """
    readline = getattr(fh, "readline", None)
    if readline is None:
        yield from fh
        return
    limit = max_line_bytes(max_bytes)
    while True:
        raw = readline(limit + 2)  # the content, then room for "\r\n"
        if not raw:
            return
        if len(raw) <= limit or (raw.endswith(b"\n") and len(raw.rstrip(b"\r\n")) <= limit):
            yield raw
            continue
        length = len(raw)
        ended = raw.endswith(b"\n")
        del raw
        give_up = max(16 * limit, _MAX_SKIP)
        while not ended:
            part = readline(_SKIP_CHUNK)
            length += len(part)
            ended = not part or part.endswith(b"\n")
            if length > give_up:  # /dev/zero handed in as a file object, a binary blob...
                raise DataError(
                    f"a line runs past {give_up:,} bytes without a line end; this is not a JSONL file "
                    "(stopped reading)"
                )
        yield _TooLongLine(length, limit)


def _too_long(raw: _TooLongLine, number: int) -> JsonLine:
    issue = _issue(
        number,
        "line.too_long",
        "error",
        f"the line is {raw.length:,} bytes, over the limit of {raw.limit:,} bytes; it was skipped",
        "split or shorten the record, or raise the limit (max_line_bytes= or $FINETUNE_SDK_MAX_LINE_BYTES)",
    )
    return JsonLine(number, None, (issue,), "invalid", raw.length)


def parse_line(raw: bytes, number: int) -> JsonLine:
    """Parse one physical line (with or without its line end) into a :class:`JsonLine`. Never raises."""
    if type(raw) is _TooLongLine:
        return _too_long(raw, number)
    nbytes = len(raw)
    issues: list[Issue] = []
    if may_be_too_deep(raw):
        return _parse_slow(raw, number, issues, nbytes)
    if number == 1 and raw.startswith(BOM):
        issues.append(
            _issue(
                1, "encoding.bom", "warning", "the file starts with a UTF-8 byte order mark", _BOM_ISSUE_HINT
            )
        )
        raw = raw[3:]
    if _fast_loads is not None and _fast_dumps is not None:
        try:
            obj = _fast_loads(raw)
        except Exception:  # orjson rejects more than json (huge ints, lone surrogates): let json decide
            return _parse_slow(raw, number, issues, nbytes)
        if type(obj) is dict:
            # orjson keeps the last of duplicated keys silently. A duplicate shows up as a colon that the
            # re-serialised object lacks: every key outside strings carries one colon, and colons inside
            # strings survive the round trip unless written as \u003a escapes (then we ask json).
            try:
                colons = _fast_dumps(obj).count(b":")
            except TypeError:  # nested past orjson's limit: json reports it
                return _parse_slow(raw, number, issues, nbytes)
            if raw.count(b":") == colons and b"\\u003" not in raw and not has_big_int(raw):
                return JsonLine(number, obj, tuple(issues) if issues else (), "record", nbytes)
            return _parse_slow(raw, number, issues, nbytes)
        return _not_object(obj, number, issues, nbytes)
    return _parse_slow(raw, number, issues, nbytes)


def fast_codec() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]] | None:
    """orjson's ``(loads, dumps)`` when it is installed, else ``None`` (read on each call, so tests can
    turn it off)."""
    if _fast_loads is None or _fast_dumps is None:
        return None
    return _fast_loads, _fast_dumps


def _not_object(obj: Any, number: int, issues: list[Issue], nbytes: int) -> JsonLine:
    kind = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(obj), "null"
    )
    issues.append(
        _issue(
            number,
            "json.not_object",
            "error",
            f"the line is {kind}, not a JSON object",
            "each line of a JSONL dataset must be one JSON object {...}",
        )
    )
    return JsonLine(number, None, tuple(issues), "invalid", nbytes)


def _parse_slow(raw: bytes, number: int, issues: list[Issue], nbytes: int) -> JsonLine:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        issues.append(
            _issue(
                number,
                "encoding.invalid_utf8",
                "error",
                f"byte 0x{raw[exc.start]:02x} at byte column {exc.start + 1} is not valid UTF-8",
                "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            )
        )
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    if not text.strip():
        issues.append(
            _issue(
                number,
                "line.blank",
                "warning",
                "blank line",
                "remove empty lines; a blank line is not a record and some readers reject it",
            )
        )
        return JsonLine(number, None, tuple(issues), "blank", nbytes)
    try:
        obj = _DECODER.decode(text)
    except _DuplicateKeyError as exc:
        issues.append(
            _issue(
                number,
                "json.duplicate_key",
                "error",
                f"key {exc.key!r} appears twice in one object",
                "keep one value per key; JSON parsers silently keep only the last",
            )
        )
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    except json.JSONDecodeError as exc:
        # json's messages sometimes end in "at" ("Unterminated string starting at"): say the column once.
        msg = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg
        body = raw.rstrip(b"\r\n")
        hint = (
            "the file uses CR-only line ends (old Mac style), so it reads as one line: convert them to "
            "LF (e.g. tr '\\r' '\\n' < in.jsonl > out.jsonl)"
            if b"\r" in body and b"\n" not in body
            else "fix the JSON syntax; each line must be one complete JSON object"
        )
        issues.append(_issue(number, "json.malformed", "error", f"invalid JSON: {msg} at column {exc.pos + 1}", hint))
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    except RecursionError:
        issues.append(_too_deep_issue(number))
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    except ValueError as exc:
        issues.append(
            _issue(
                number,
                "json.malformed",
                "error",
                f"invalid JSON: {exc}",
                "fix the JSON syntax; each line must be one complete JSON object",
            )
        )
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    if json_depth(obj) > MAX_JSON_DEPTH:
        issues.append(_too_deep_issue(number))
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    if type(obj) is dict:
        if b"\\u" in raw and (where := lone_surrogate(obj)) is not None:
            issues.append(
                _issue(
                    number,
                    "encoding.lone_surrogate",
                    "error",
                    f"the string at {where} holds a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair)",
                    "write the character itself or its full surrogate pair; a lone surrogate is not text "
                    "and cannot be encoded as UTF-8",
                )
            )
            return JsonLine(number, None, tuple(issues), "invalid", nbytes)
        return JsonLine(number, obj, tuple(issues), "record", nbytes)
    return _not_object(obj, number, issues, nbytes)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate(value: Any, path: str = "") -> str | None:
    """The JSON path of the first string (key or value) in ``value`` holding a lone surrogate, else ``None``."""
    if type(value) is str:
        return (path or "the line") if _has_surrogate(value) else None
    if type(value) is dict:
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            if _has_surrogate(k):
                return f"{sub} (the key)"
            found = lone_surrogate(v, sub)
            if found is not None:
                return found
    elif type(value) is list:
        for i, v in enumerate(value):
            found = lone_surrogate(v, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def iter_jsonl(
    source: Source, *, session: Any = None, endpoint_url: str | None = None, max_line_bytes: int | None = None
) -> Iterator[JsonLine]:
    """Yield one :class:`JsonLine` per physical line of ``source`` (a path, an ``s3://`` URI or a binary
    file object), streaming. Lines over ``max_line_bytes`` (see :func:`iter_lines`) are reported, not read.

    Raises:
        InputFileError: the path is missing, not a regular file (directory, FIFO, device), a symlink loop or
            unreadable.
        DataError: the S3 object cannot be read.
    """
    with open_binary(source, session=session, endpoint_url=endpoint_url) as fh:
        for number, raw in enumerate(iter_lines(fh, max_bytes=max_line_bytes), 1):
            yield parse_line(raw, number)


def is_s3_uri(value: object) -> bool:
    """Whether ``value`` is a string starting with ``s3://``."""
    return isinstance(value, str) and value.startswith("s3://")


#: ``(bucket, key)`` of an ``s3://BUCKET/KEY`` object URI (the AWS core's one parser; raises ``S3UriError``,
#: a ``DataError``, for anything else)
parse_s3_uri = functools.partial(split_s3_uri, field="data source", require_key=True)


class _StreamingRaw(io.RawIOBase):
    """Adapts a botocore StreamingBody (``read(n)``) to RawIOBase so BufferedReader can split lines."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except Exception as exc:  # a read timeout mid-object: transient, not a crash
            from finetune_sdk._aws.errors import is_connection_error

            if is_connection_error(exc):
                raise ServiceUnavailableError(f"S3 stopped answering mid-object: {exc}", backend="s3") from exc
            raise
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


def _s3_client(session: Any, endpoint_url: str | None) -> Any:
    try:
        import boto3
    except ModuleNotFoundError as exc:  # pragma: no cover - boto3 is a core dependency
        raise ModuleNotFoundError("reading s3:// URIs needs boto3: pip install 'finetune-sdk'") from exc
    sess = session if session is not None else boto3.session.Session()
    return sess.client("s3", endpoint_url=endpoint_url)


@contextlib.contextmanager
def open_binary(
    source: Source, *, session: Any = None, endpoint_url: str | None = None
) -> Iterator[IO[bytes]]:
    """Open ``source`` for binary reading: a local path, an ``s3://`` URI (streamed with boto3, imported
    only then), or an already open binary file object (left open).

    Raises:
        InputFileError: the path does not exist, is not a regular file, is a symlink loop or cannot be read.
        DataError: the S3 object cannot be got.
    """
    if not isinstance(source, (str, os.PathLike)):
        yield source
        return
    if is_s3_uri(source):
        bucket, key = parse_s3_uri(str(source))
        client = _s3_client(session, endpoint_url)
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as exc:  # botocore ClientError and friends, without importing botocore here
            from finetune_sdk._aws.errors import is_connection_error

            if is_connection_error(exc):  # a timeout is transient: the caller may retry
                raise ServiceUnavailableError(f"cannot read {source}: {exc}", backend="s3") from exc
            raise DataError(f"cannot read {source}: {exc}") from exc
        reader = io.BufferedReader(_StreamingRaw(body), buffer_size=1 << 20)
        try:
            yield reader
        finally:
            reader.close()
        return
    fh = open_regular_file(source)
    try:
        yield fh
    finally:
        fh.close()


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular_file(path: str | os.PathLike[str], *, what: str = "dataset file") -> IO[bytes]:
    """Open a local path for binary reading, refusing at once anything but a regular file.

    The file is opened non-blocking (so a FIFO cannot hang the call) and checked with ``fstat`` on the open
    descriptor (so it cannot be swapped after the check).

    Raises:
        InputFileError: missing, a directory, FIFO, socket or device, a symlink loop, or not readable; the
            message names the path and the problem.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError as exc:
        raise InputFileError(f"{what} {name!r} does not exist (no such file)") from exc
    except IsADirectoryError as exc:
        raise InputFileError(f"{what} {name!r} is a directory; pass a .jsonl file") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError(f"{what} {name!r} is a symbolic link loop; point it at a real file") from exc
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket (or a FIFO with no reader)
            raise InputFileError(f"{what} {name!r} is not a regular file; pass a .jsonl file") from exc
        raise InputFileError(f"cannot open {what} {name!r}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputFileError(
                f"{what} {name!r} is {_kind(mode)}, not a regular file; pass a .jsonl file "
                "(copy streamed data to a file first)"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular_file(path: str | os.PathLike[str], *, what: str = "dataset file") -> None:
    """Refuse at once, without opening it, a local path that :func:`open_regular_file` would refuse (``stat``
    and ``access`` only, so checking a file is not a read of it).

    Raises:
        InputFileError: as :func:`open_regular_file`.
    """
    name = os.fspath(path)
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError as exc:
        raise InputFileError(f"{what} {name!r} does not exist (no such file)") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError(f"{what} {name!r} is a symbolic link loop; point it at a real file") from exc
        raise InputFileError(f"cannot open {what} {name!r}: {exc.strerror}") from exc
    if stat.S_ISDIR(mode):
        raise InputFileError(f"{what} {name!r} is a directory; pass a .jsonl file")
    if not stat.S_ISREG(mode):
        raise InputFileError(
            f"{what} {name!r} is {_kind(mode)}, not a regular file; pass a .jsonl file "
            "(copy streamed data to a file first)"
        )
    if not os.access(name, os.R_OK):
        raise InputFileError(f"cannot open {what} {name!r}: {os.strerror(errno.EACCES)}")


class FileBytes(io.BytesIO):
    """The bytes of a local file read once, standing in for the file: ``name`` is its path (reports name
    it) and :func:`source_size` gives its size, so validating the bytes checks what validating the file does."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name
        self.size = len(data)


def source_size(source: Source, *, session: Any = None, endpoint_url: str | None = None) -> int | None:
    """Size in bytes of a local file or S3 object; ``None`` for file objects or when it cannot be found."""
    if isinstance(source, FileBytes):
        return source.size
    if is_s3_uri(source):
        bucket, key = parse_s3_uri(str(source))
        try:
            head = _s3_client(session, endpoint_url).head_object(Bucket=bucket, Key=key)
        except Exception:
            return None
        return int(head["ContentLength"])
    if isinstance(source, (str, os.PathLike)):
        try:
            return os.path.getsize(source)
        except OSError:
            return None
    return None


def dumps_line(obj: Any) -> bytes:
    """One JSONL line (UTF-8, no ASCII escaping, ending in ``\\n``) for ``obj``."""
    if _fast_dumps is not None:
        try:
            return _fast_dumps(obj) + b"\n"
        except TypeError:  # lone surrogates or non-JSON types: let json decide
            pass
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # lone surrogates cannot be UTF-8; \u escapes keep the line valid
        return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"


def _umask() -> int:
    """The process umask, read without changing it where Linux exposes it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-and-restore
    os.umask(mask)
    return mask


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name_part(name: str, *, what: str = "split name") -> str:
    """Check that ``name`` can go into a file name or S3 key as one plain segment: letters, digits, ``.``,
    ``_`` and ``-``, starting with a letter or digit, at most 100 characters (no ``/``, ``..``, newlines).

    Raises:
        ConfigurationError: it cannot; the message names it and the rule.

    Examples:
        >>> check_name_part("validation")
        'validation'
        >>> check_name_part("../etc")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        finetune_sdk.errors.ConfigurationError: split name '../etc' ...
    """
    from finetune_sdk.errors import ConfigurationError

    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ConfigurationError(
            f"{what} {name!r} cannot be used in a file name: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', '..', spaces or newlines), e.g. 'train' or 'test-2024'"
        )
    return name


def write_atomic(path: str | os.PathLike[str], chunks: Iterable[bytes], *, overwrite: bool = True) -> int:
    """Write ``chunks`` to ``path`` through a temporary file in the same folder renamed over it, so readers see
    the old file or the whole new one, never a part. The rename replaces a symlink at ``path`` itself: nothing
    is written through a planted link. The new file gets the usual ``0o666 & ~umask`` mode. Returns the bytes
    written; if ``chunks`` raises, ``path`` is left untouched.

    Raises:
        DataError: ``path`` exists and ``overwrite`` is false, or the file cannot be written.
    """
    target = Path(path)
    if not overwrite and (target.exists() or target.is_symlink()):
        raise DataError(
            f"{str(target)!r} already exists; pass overwrite=True (CLI: --force) to replace it, or pick "
            "another path"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise DataError(f"cannot write {str(target)!r}: {exc.strerror}") from exc
    written = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                written += len(chunk)
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600 whatever the umask
        if not overwrite and (target.exists() or target.is_symlink()):  # appeared meanwhile
            raise DataError(f"{str(target)!r} appeared while it was written; pass overwrite=True to replace it")
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise DataError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written


def write_jsonl(path: str | os.PathLike[str], objects: Iterable[Any], *, overwrite: bool = True) -> int:
    """Write ``objects`` as JSONL to ``path`` atomically (see :func:`write_atomic`: a temp file renamed on
    success, never through a symlink, the umask honoured); returns the bytes written. Parent folders are
    created. If iterating ``objects`` raises, ``path`` is left untouched.

    Raises:
        DataError: the file cannot be written, or it exists and ``overwrite`` is false.
    """
    return write_atomic(path, (dumps_line(obj) for obj in objects), overwrite=overwrite)
