"""The one S3 URI value: parsing, bucket-name rules, safe key joins.

Every ``s3://`` string the SDK takes (upload prefixes, data sources, job outputs, IAM policy resources, staging
folders) is read by :meth:`S3Uri.parse`, so one rule set applies everywhere and one error class is raised:
:class:`finetune_sdk.errors.S3UriError` (a ``ConfigurationError`` and a ``DataError``), whose message names
the field, the rule broken and the fix.

Rules: the ``s3://`` scheme; a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens that starts
and ends with a letter or digit, has no ``..``, is not an IP address and has no reserved prefix; a key without
control characters, wildcards (``*``, ``?``), ``.``/``..`` segments or empty segments (``//``), and at most
1,024 UTF-8 bytes.

Examples:
    >>> uri = S3Uri.parse("s3://my-bucket/datasets/v1/")
    >>> uri.bucket, uri.key, uri.prefix
    ('my-bucket', 'datasets/v1/', 'datasets/v1')
    >>> str(uri.join("train.jsonl"))
    's3://my-bucket/datasets/v1/train.jsonl'
    >>> uri.join("../other")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    finetune_sdk.errors.S3UriError: key part '../other' joined to 's3://my-bucket/datasets/v1/' has a '.' or ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finetune_sdk.errors import S3UriError

__all__ = ["S3Uri", "split_s3_uri"]

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_MAX_KEY_BYTES = 1024
_WILDCARDS = "*?"
_EXAMPLE = "e.g. 's3://my-bucket/data/train.jsonl'"


def _control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def _key_rule(key: str) -> str | None:
    if _control(key):
        return "has a control character (newline, tab, NUL...)"
    if any(ch in key for ch in _WILDCARDS):
        return "has a wildcard ('*' or '?'); S3 URIs here name one object or prefix, not a pattern"
    segments = key.strip("/").split("/")
    if any(seg in (".", "..") for seg in segments):
        return "has a '.' or '..' segment; S3 keys are not paths, so name the object directly"
    if "//" in key.strip("/"):
        return "has an empty segment ('//'); remove it"
    if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        return f"is {len(key.encode('utf-8'))} bytes long; S3 keys are at most {_MAX_KEY_BYTES} bytes"
    return None


def _bucket_rule(bucket: str) -> str | None:
    if not bucket:
        return "has no bucket name"
    if not 3 <= len(bucket) <= 63:
        return f"bucket name {bucket!r} must be 3 to 63 characters long"
    if not _BUCKET_RE.match(bucket):
        return (
            f"bucket name {bucket!r} may only hold lowercase letters, digits, dots and hyphens, and must "
            "start and end with a letter or digit"
        )
    if ".." in bucket:
        return f"bucket name {bucket!r} must not contain two adjacent dots"
    if _IP_RE.match(bucket):
        return f"bucket name {bucket!r} must not look like an IP address"
    if bucket.startswith(_RESERVED_PREFIXES):
        return f"bucket name {bucket!r} starts with a reserved prefix ({', '.join(_RESERVED_PREFIXES)})"
    return None


@dataclass(frozen=True)
class S3Uri:
    """An ``s3://bucket/key`` location, checked on construction by :meth:`parse`.

    Attributes:
        bucket: the bucket name.
        key: the key as written (a trailing ``/`` marks a folder-like prefix; no leading ``/``).
    """

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, uri: object, *, field: str = "S3 URI", require_key: bool = False) -> S3Uri:
        """Read and check ``uri``.

        Args:
            uri: the ``s3://`` string.
            field: the argument's name, for the message (``"s3_uri_prefix"``).
            require_key: the URI must name an object (a non-empty key not ending in ``/``... a prefix is
                accepted when it has a key at all).

        Raises:
            S3UriError: not an S3 URI, or a rule is broken; the message names the field, the rule and the fix.
        """
        where = f"{field} {uri!r}"
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise S3UriError(f"{where} is not an S3 URI: it must start with 's3://', {_EXAMPLE}.")
        bucket, _, key = uri[len("s3://") :].partition("/")
        rule = _bucket_rule(bucket)
        if rule:
            raise S3UriError(f"{where}: {rule}. Use the name of an existing bucket, {_EXAMPLE}.")
        if key.startswith("/"):
            raise S3UriError(f"{where}: the key starts with '/' (an empty segment); remove it.")
        rule = _key_rule(key)
        if rule:
            raise S3UriError(f"{where}: the key {rule}.")
        if require_key and not key.strip("/"):
            raise S3UriError(f"{where} names a bucket, not an object; expected s3://BUCKET/KEY, {_EXAMPLE}.")
        return cls(bucket, key)

    @property
    def prefix(self) -> str:
        """The key without leading or trailing ``/``."""
        return self.key.strip("/")

    def join(self, *parts: str) -> S3Uri:
        """This location with ``parts`` appended as key segments (one ``/`` between each).

        Raises:
            S3UriError: a part is empty, absolute, or breaks a key rule (``..``, control characters, wildcards).
        """
        key = self.key
        for part in parts:
            shown = f"key part {part!r} joined to {str(self)!r}"
            if not isinstance(part, str) or not part.strip("/"):
                raise S3UriError(f"{shown} is empty; pass a file or folder name.")
            rule = _key_rule(part)
            if rule:
                raise S3UriError(f"{shown} {rule}.")
            key = f"{key.rstrip('/')}/{part.lstrip('/')}" if key else part.lstrip("/")
        rule = _key_rule(key)
        if rule:
            raise S3UriError(f"the joined key {key!r} {rule}.")
        return S3Uri(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def split_s3_uri(
    uri: str, *, field: str = "S3 URI", require_key: bool = False, strip: bool = False
) -> tuple[str, str]:
    """``(bucket, key)`` of ``uri`` after :meth:`S3Uri.parse` (``strip``: key without edge slashes).

    Raises:
        S3UriError: see :meth:`S3Uri.parse`.

    Examples:
        >>> split_s3_uri("s3://my-bucket/data/train.jsonl")
        ('my-bucket', 'data/train.jsonl')
        >>> split_s3_uri("s3://my-bucket/datasets/v1/", strip=True)
        ('my-bucket', 'datasets/v1')
    """
    parsed = S3Uri.parse(uri, field=field, require_key=require_key)
    return parsed.bucket, parsed.prefix if strip else parsed.key
