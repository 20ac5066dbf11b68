"""Content-addressed upload of dataset files to Amazon S3.

:func:`upload_file` puts a file at ``<prefix>/<first 16 hex digits of its SHA-256>-<file name>``, so the
same bytes always land on the same key and a second upload of them is skipped: the object is checked
first with ``HeadObject`` (size and the ``sha256`` metadata the SDK writes). Files from 64 MiB up go as
multipart uploads through boto3's transfer manager. The URI is checked locally before any request,
and service errors come back as :mod:`finetune_sdk.errors` classes with the botocore error as the cause.

Examples:
    >>> from finetune_sdk.data.upload import parse_s3_uri
    >>> parse_s3_uri("s3://my-bucket/datasets/v1/")
    ('my-bucket', 'datasets/v1')
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

from finetune_sdk._aws.errors import error_class, error_code, is_aws_error, status_code, translate_error
from finetune_sdk._aws.s3 import split_s3_uri
from finetune_sdk.errors import (
    AccessDeniedError,
    BackendError,
    ConfigurationError,
    FinetuneError,
)

__all__ = ["MULTIPART_CHUNKSIZE", "MULTIPART_THRESHOLD", "parse_s3_uri", "upload_file"]

logger = logging.getLogger(__name__)

#: files of at least this many bytes are sent as multipart uploads
MULTIPART_THRESHOLD = 64 * 1024 * 1024
#: part size of multipart uploads (S3 needs at least 5 MiB per part but the last)
MULTIPART_CHUNKSIZE = 16 * 1024 * 1024

_MAX_KEY_BYTES = 1024


#: ``(bucket, prefix)`` of ``s3://bucket/prefix`` with no leading or trailing ``/`` (the AWS core's one parser:
#: S3 bucket-name rules, no empty segments, ``..``, wildcards or control characters; raises ``S3UriError``, a
#: ``ConfigurationError``)
parse_s3_uri = functools.partial(split_s3_uri, field="s3_uri_prefix", strip=True)


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _translate(exc: BaseException, *, action: str, bucket: str, key: str) -> FinetuneError:
    """The SDK error for a botocore/boto3 failure of ``action`` on ``bucket``/``key`` (the AWS core's table, with
    S3-specific next steps)."""
    cause: BaseException = exc
    # boto3's transfer manager wraps the ClientError in S3UploadFailedError, raised inside its except block.
    while not is_aws_error(cause):
        if cause.__context__ is None or cause.__context__ is cause:
            break
        cause = cause.__context__
    target = f"s3://{bucket}/{key}"
    if not is_aws_error(cause):
        return BackendError(f"S3 failed to {action} {target}: {exc}", backend="s3")
    code = error_code(cause) or ""
    hint = None
    if code == "NoSuchBucket":
        hint = (
            f"bucket {bucket!r} does not exist (or is in another partition): create it with "
            f"`aws s3 mb s3://{bucket}` or fix s3_uri_prefix"
        )
    elif error_class(code) is AccessDeniedError:
        resource = f"arn:aws:s3:::{bucket}/{key.rsplit('/', 1)[0] + '/*' if '/' in key else '*'}"
        hint = f"the caller needs s3:PutObject and s3:GetObject on {resource}"
    return translate_error(cause, backend="s3", action=action, resource=target, hint=hint)


def _already_uploaded(client: Any, bucket: str, key: str, digest: str, size: int) -> bool:
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = error_code(exc) or str(status_code(exc) or "")
        if code in ("404", "NoSuchKey", "NotFound"):  # no such object (a missing bucket is an error)
            return False
        if error_class(code) is AccessDeniedError:
            # Some upload roles may write but not read; let the upload decide.
            logger.debug("HeadObject on s3://%s/%s denied (%s); uploading unchecked", bucket, key, code)
            return False
        raise _translate(exc, action="check", bucket=bucket, key=key) from exc
    same_size = int(head.get("ContentLength", -1)) == size
    same_digest = (head.get("Metadata") or {}).get("sha256") == digest
    if same_size and not same_digest:
        logger.info("s3://%s/%s exists without a matching sha256 tag; uploading it again", bucket, key)
    return same_size and same_digest


def upload_file(
    path: Path,
    s3_uri_prefix: str,
    *,
    session: Any = None,
    endpoint_url: str | None = None,
) -> str:
    """Upload a file under ``s3_uri_prefix`` at a content-addressed key, unless the same bytes are there.

    Args:
        path: the local file.
        s3_uri_prefix: ``s3://bucket`` or ``s3://bucket/some/prefix``.
        session: a ``boto3.Session`` (default: a new one from the environment).
        endpoint_url: an S3-compatible endpoint (LocalStack, a VPC endpoint...).

    Returns:
        The object's URI, ``s3://bucket/prefix/<sha256[:16]>-<name>``.

    Raises:
        ConfigurationError: the URI is malformed, ``path`` is not a file, the key would exceed 1024
            bytes, or there are no AWS credentials. Nothing is sent in these cases.
        ResourceNotFoundError: the bucket does not exist.
        AccessDeniedError: the credentials may not write (or read) the object.
        BackendError: any other S3 failure (subclasses for throttling, 5xx and invalid requests).

    Examples:
        >>> upload_file(Path("train.jsonl"), "s3://my-bucket/data")  # doctest: +SKIP
        's3://my-bucket/data/5f2b9c1e0d3a4b7c-train.jsonl'
    """
    bucket, prefix = parse_s3_uri(s3_uri_prefix)
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"path {str(path)!r} is not a file; pass the dataset file to upload.")
    digest, size = _sha256(path)
    name = f"{digest[:16]}-{path.name}"
    key = f"{prefix}/{name}" if prefix else name
    if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        raise ConfigurationError(
            f"S3 key {key[:60]!r}… is longer than {_MAX_KEY_BYTES} bytes; shorten the prefix or file name."
        )
    uri = f"s3://{bucket}/{key}"

    import boto3
    from boto3.exceptions import Boto3Error
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    from finetune_sdk._progress import progress_bar

    try:
        client = (session or boto3.session.Session()).client("s3", endpoint_url=endpoint_url)
        if _already_uploaded(client, bucket, key, digest, size):
            logger.info("%s already holds these bytes; not uploading again", uri)
            return uri
        config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNKSIZE,
            preferred_transfer_client="classic",
        )
        with progress_bar(total=size, desc=f"upload {path.name}", unit="B", unit_scale=True) as bar:
            client.upload_file(
                str(path),
                bucket,
                key,
                ExtraArgs={"Metadata": {"sha256": digest}},
                Config=config,
                Callback=bar.update,
            )
    except (ClientError, BotoCoreError, Boto3Error) as exc:
        raise _translate(exc, action="upload", bucket=bucket, key=key) from exc
    logger.info("uploaded %s (%d bytes) to %s", path, size, uri)
    return uri
