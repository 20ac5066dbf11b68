"""upload_file against moto's S3: content addressing, no second upload, multipart, URI checks, errors."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.data import upload
from finetune_sdk.data.upload import parse_s3_uri, upload_file
from finetune_sdk.errors import AccessDeniedError, ConfigurationError, ResourceNotFoundError

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

BUCKET = "ft-data"


class CallLog:
    """Names of the S3 operations a session sent, from botocore's before-call event."""

    def __init__(self, session: Any) -> None:
        self.calls: list[str] = []
        session.events.register("before-call.s3", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def count(self, name: str) -> int:
        return self.calls.count(name)


@pytest.fixture
def s3() -> Iterator[tuple[Any, CallLog]]:
    with moto.mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket=BUCKET)
        yield session, CallLog(session)


def _file(
    tmp_path: Path, name: str = "train.jsonl", data: bytes = b'{"prompt": "a", "completion": "b"}\n'
) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_key_is_content_addressed_and_metadata_carries_the_digest(
    s3: tuple[Any, CallLog], tmp_path: Path
) -> None:
    session, _ = s3
    path = _file(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    uri = upload_file(path, f"s3://{BUCKET}/datasets/v1/", session=session)
    assert uri == f"s3://{BUCKET}/datasets/v1/{digest[:16]}-train.jsonl"
    head = session.client("s3").head_object(Bucket=BUCKET, Key=f"datasets/v1/{digest[:16]}-train.jsonl")
    assert head["Metadata"] == {"sha256": digest}
    body = session.client("s3").get_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["Body"].read()
    assert body == path.read_bytes()


def test_same_bytes_twice_is_one_put(s3: tuple[Any, CallLog], tmp_path: Path) -> None:
    session, log = s3
    path = _file(tmp_path)
    first = upload_file(path, f"s3://{BUCKET}/data", session=session)
    (tmp_path / "other").mkdir()
    copy = _file(tmp_path / "other")  # the same bytes under the same name, from another folder
    second = upload_file(copy, f"s3://{BUCKET}/data", session=session)
    assert first == second
    assert log.count("PutObject") == 1
    assert log.count("HeadObject") == 2
    listing = session.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"] for o in listing] == [first.split("/", 3)[3]]


def test_changed_bytes_go_to_a_new_key(s3: tuple[Any, CallLog], tmp_path: Path) -> None:
    session, log = s3
    path = _file(tmp_path)
    first = upload_file(path, f"s3://{BUCKET}", session=session)
    path.write_bytes(path.read_bytes() + b'{"prompt": "c", "completion": "d"}\n')
    second = upload_file(path, f"s3://{BUCKET}", session=session)
    assert first != second and first.endswith("-train.jsonl") and second.endswith("-train.jsonl")
    assert first.count("/") == second.count("/") == 3  # s3://bucket/key without a prefix
    assert log.count("PutObject") == 2


def test_object_without_the_digest_tag_is_uploaded_again(s3: tuple[Any, CallLog], tmp_path: Path) -> None:
    session, log = s3
    path = _file(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    key = f"data/{digest[:16]}-train.jsonl"
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())  # same size, no metadata
    assert upload_file(path, f"s3://{BUCKET}/data", session=session) == f"s3://{BUCKET}/{key}"
    assert log.count("PutObject") == 2
    assert session.client("s3").head_object(Bucket=BUCKET, Key=key)["Metadata"] == {"sha256": digest}


def test_large_files_use_multipart(
    s3: tuple[Any, CallLog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, log = s3
    monkeypatch.setattr(upload, "MULTIPART_THRESHOLD", 1024 * 1024)
    monkeypatch.setattr(upload, "MULTIPART_CHUNKSIZE", 5 * 1024 * 1024)
    data = os.urandom(11 * 1024 * 1024)
    path = _file(tmp_path, "big.jsonl", data)
    uri = upload_file(path, f"s3://{BUCKET}/big", session=session)
    assert log.count("CreateMultipartUpload") == 1
    assert log.count("UploadPart") == 3
    assert log.count("CompleteMultipartUpload") == 1
    assert log.count("PutObject") == 0
    key = uri.split("/", 3)[3]
    head = session.client("s3").head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    # and a second call sends nothing but the check
    log.calls.clear()
    assert upload_file(path, f"s3://{BUCKET}/big", session=session) == uri
    assert log.calls == ["HeadObject"]


def test_missing_bucket_is_resource_not_found(s3: tuple[Any, CallLog], tmp_path: Path) -> None:
    session, _ = s3
    with pytest.raises(ResourceNotFoundError, match="bucket 'no-such-bucket' does not exist") as info:
        upload_file(_file(tmp_path), "s3://no-such-bucket/data", session=session)
    assert info.value.code == "NoSuchBucket" and info.value.backend == "s3"
    from botocore.exceptions import ClientError

    assert isinstance(info.value.__cause__, ClientError)


def test_access_denied_on_put_is_translated(s3: tuple[Any, CallLog], tmp_path: Path) -> None:
    session, _ = s3
    from botocore.exceptions import ClientError

    def deny(**kwargs: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                "ResponseMetadata": {"RequestId": "REQ123", "HTTPStatusCode": 403},
            },
            "PutObject",
        )

    session.events.register("before-call.s3.PutObject", deny)
    with pytest.raises(AccessDeniedError, match="s3:PutObject") as info:
        upload_file(_file(tmp_path), f"s3://{BUCKET}/data", session=session)
    assert info.value.request_id == "REQ123" and info.value.code == "AccessDenied"
    assert isinstance(info.value, PermissionError)
    assert info.value.__cause__ is not None


def test_head_denied_still_uploads(s3: tuple[Any, CallLog], tmp_path: Path) -> None:
    session, log = s3
    from botocore.exceptions import ClientError

    def deny(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    session.events.register("before-call.s3.HeadObject", deny)
    uri = upload_file(_file(tmp_path), f"s3://{BUCKET}/data", session=session)
    assert log.count("PutObject") == 1 and uri.startswith(f"s3://{BUCKET}/data/")


@pytest.mark.parametrize(
    ("uri", "pattern"),
    [
        ("https://bucket/key", "must start with 's3://'"),
        ("s3:/bucket", "must start with 's3://'"),
        ("s3://", "has no bucket name"),
        ("s3://ab/x", "3 to 63 characters"),
        ("s3://" + "a" * 64, "3 to 63 characters"),
        ("s3://My_Bucket/x", "lowercase letters, digits, dots and hyphens"),
        ("s3://-bucket/x", "start and end with a letter or digit"),
        ("s3://bucket-/x", "start and end with a letter or digit"),
        ("s3://my..bucket/x", "two adjacent dots"),
        ("s3://192.168.10.1/x", "IP address"),
        ("s3://xn--bucket/x", "reserved prefix"),
        ("s3://bucket/a//b", "empty segment"),
    ],
)
def test_bad_uris_fail_before_any_request(uri: str, pattern: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=pattern):
        upload_file(_file(tmp_path), uri, session=object())  # the session would fail if it were used


def test_uri_parsing() -> None:
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/") == ("bucket", "")
    assert parse_s3_uri("s3://my.bucket-1/a/b/") == ("my.bucket-1", "a/b")


def test_missing_file_fails_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a file"):
        upload_file(tmp_path / "nope.jsonl", "s3://bucket/x", session=object())
    with pytest.raises(ConfigurationError, match="is not a file"):
        upload_file(tmp_path, "s3://bucket/x", session=object())


def test_no_credentials_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    session = boto3.Session(region_name="us-east-1")
    with pytest.raises(ConfigurationError, match="no usable AWS credentials"):
        upload_file(_file(tmp_path), "s3://bucket/x", session=session)


def test_boto3_is_not_imported_by_the_module() -> None:
    import subprocess
    import sys

    code = "import sys, finetune_sdk.data.upload; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
