"""Streamed JSONL reading that never crashes and never silently drops a line; JSONL writing.

:func:`iter_jsonl` reads physical lines as bytes, one at a time (peak memory is one line, so files larger
than memory work), and yields a :class:`JsonLine` per line: the parsed object, or the issues that stopped
it. Every line is accounted for: records + invalid lines + blank lines == total lines. It reports, at the
1-based physical line:

- a UTF-8 byte order mark on line 1 (warning ``encoding.bom``; the line is then parsed);
- bytes that are not UTF-8 (``encoding.invalid_utf8``, with the byte column);
- blank or whitespace-only lines (warning ``line.blank``);
- malformed JSON, including ``NaN``/``Infinity`` (``json.malformed``, with the column of the error);
- keys repeated in one object (``json.duplicate_key``);
- lines that are JSON arrays, numbers, strings... rather than objects (``json.not_object``).

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
import functools
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from finetune_sdk._aws.s3 import split_s3_uri
from finetune_sdk.data.report import Issue
from finetune_sdk.errors import DataError

__all__ = [
    "JsonLine",
    "Source",
    "dumps_line",
    "fast_codec",
    "has_big_int",
    "is_s3_uri",
    "iter_jsonl",
    "open_binary",
    "parse_line",
    "parse_s3_uri",
    "source_size",
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


# One decoder built once: json.loads(..., object_pairs_hook=...) would build a new one per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)


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


def parse_line(raw: bytes, number: int) -> JsonLine:
    """Parse one physical line (with or without its line end) into a :class:`JsonLine`. Never raises."""
    nbytes = len(raw)
    issues: list[Issue] = []
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
            if (
                raw.count(b":") == _fast_dumps(obj).count(b":")
                and b"\\u003" not in raw
                and not has_big_int(raw)
            ):
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
        issues.append(
            _issue(
                number,
                "json.malformed",
                "error",
                f"invalid JSON: {exc.msg} at column {exc.pos + 1}",
                "fix the JSON syntax; each line must be one complete JSON object",
            )
        )
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    except (ValueError, RecursionError) as exc:
        msg = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
        issues.append(
            _issue(
                number,
                "json.malformed",
                "error",
                f"invalid JSON: {msg}",
                "fix the JSON syntax; each line must be one complete JSON object",
            )
        )
        return JsonLine(number, None, tuple(issues), "invalid", nbytes)
    if type(obj) is dict:
        return JsonLine(number, obj, tuple(issues), "record", nbytes)
    return _not_object(obj, number, issues, nbytes)


def iter_jsonl(source: Source, *, session: Any = None, endpoint_url: str | None = None) -> Iterator[JsonLine]:
    """Yield one :class:`JsonLine` per physical line of ``source`` (a path, an ``s3://`` URI or a binary
    file object), streaming.

    Raises:
        DataError: the file cannot be opened (missing, a directory, no permission, S3 error).
    """
    with open_binary(source, session=session, endpoint_url=endpoint_url) as fh:
        for number, raw in enumerate(fh, 1):
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
        data = self._body.read(len(buffer))
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
        DataError: the path does not exist, is a directory, cannot be read, or the S3 object cannot be got.
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
            raise DataError(f"cannot read {source}: {exc}") from exc
        reader = io.BufferedReader(_StreamingRaw(body), buffer_size=1 << 20)
        try:
            yield reader
        finally:
            reader.close()
        return
    path = Path(source)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally; a generator-based context manager
    except FileNotFoundError as exc:
        raise DataError(f"dataset file {str(path)!r} does not exist") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{str(path)!r} is a directory; pass a .jsonl file") from exc
    except OSError as exc:
        raise DataError(f"cannot open {str(path)!r}: {exc.strerror}") from exc
    try:
        yield fh
    finally:
        fh.close()


def source_size(source: Source, *, session: Any = None, endpoint_url: str | None = None) -> int | None:
    """Size in bytes of a local file or S3 object; ``None`` for file objects or when it cannot be found."""
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


def write_jsonl(path: str | os.PathLike[str], objects: Iterable[Any]) -> int:
    """Write ``objects`` as JSONL to ``path`` atomically (a temp file renamed on success); returns the bytes
    written. Parent folders are created. If iterating ``objects`` raises, ``path`` is left untouched.

    Raises:
        DataError: the file cannot be written.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise DataError(f"cannot write {str(target)!r}: {exc.strerror}") from exc
    written = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            for obj in objects:
                line = dumps_line(obj)
                fh.write(line)
                written += len(line)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written
