"""Writers: atomic, never through a planted symlink, no silent overwrite from the CLI, the umask honoured,
split names and upload prefixes checked, stale multipart uploads aborted, S3 timeouts transient and retried."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_sdk.cli.main import main
from finetune_sdk.data.dataset import Dataset
from finetune_sdk.data.io import write_jsonl
from finetune_sdk.data.records import Conversation
from finetune_sdk.errors import ConfigurationError, DataError, ServiceUnavailableError

ROWS = [{"prompt": f"What is {i} + {i}?", "completion": str(2 * i)} for i in range(8)]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_jumpstart_sidecar_never_written_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "template.json").symlink_to(victim)
    ds = Dataset.from_records([Conversation.from_pairs("q", "a")])
    ds.to_jsonl(out / "train.jsonl", format="jumpstart_instruction")
    assert victim.read_text() == "precious\n"
    sidecar = out / "template.json"
    assert not sidecar.is_symlink() and "prompt" in json.loads(sidecar.read_text())


def test_data_file_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "train.jsonl"
    link.symlink_to(victim)
    write_jsonl(link, ROWS)
    assert victim.read_text() == "precious\n" and not link.is_symlink()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        write_jsonl(tmp_path / "a.jsonl", ROWS)
        Dataset.from_records([Conversation.from_pairs("q", "a")]).to_jsonl(
            tmp_path / "j.jsonl", format="jumpstart_instruction"
        )
    finally:
        os.umask(old)
    for name in ("a.jsonl", "j.jsonl", "template.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_overwrite_false_refuses_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("old\n")
    ds = Dataset.from_records([Conversation.from_pairs("q", "a")])
    with pytest.raises(DataError, match="already exists; pass overwrite=True"):
        ds.to_jsonl(path, format="openai_chat", overwrite=False)
    assert path.read_text() == "old\n"
    ds.to_jsonl(path, format="openai_chat")  # the API's default keeps replacing, as before
    assert path.read_text() != "old\n"


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    def rows() -> Iterator[dict[str, str]]:
        yield ROWS[0]
        raise KeyboardInterrupt

    path = tmp_path / "a.jsonl"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        write_jsonl(path, rows())
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["a.jsonl"]


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "convert", "{src}", "--to", "openai_chat", "-o", "{out}"],
        ["data", "dedupe", "{src}", "-o", "{out}"],
    ],
    ids=["convert", "dedupe"],
)
def test_cli_refuses_to_overwrite_without_force(
    src: Path, tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    args = [a.format(src=src, out=out) for a in argv]
    assert main(args) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert main([*args, "--force"]) == 0
    assert out.read_text() != "keep me\n"


def test_cli_split_refuses_to_overwrite_without_force(src: Path, tmp_path: Path) -> None:
    argv = ["data", "split", str(src), "--ratios", "train=0.5,test=0.5", "-o", str(tmp_path / "s")]
    assert main(argv) == 0
    assert main(argv) == 2
    assert main([*argv, "--force"]) == 0


@pytest.mark.parametrize("name", ["../evil", "a/b", "x\ny", "..", ".hidden", "a b", ""])
def test_split_names_are_checked(name: str, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = Dataset.from_jsonl(src)
    with pytest.raises(ConfigurationError, match="cannot be used in a file name"):
        ds.split({name: 0.5, "train": 0.5})
    ratios = f"{name}=0.5,train=0.5"
    assert main(["data", "split", str(src), "--ratios", ratios, "-o", str(tmp_path / "s")]) == 2
    assert not (tmp_path / "s").exists() and not list(tmp_path.glob("*evil*"))
    assert "Traceback" not in capsys.readouterr().err


# --- upload ------------------------------------------------------------------------------------------------

moto = pytest.importorskip("moto")
BUCKET = "ft-hostile"


@pytest.fixture
def s3() -> Iterator[Any]:
    import boto3

    with moto.mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket=BUCKET)
        yield session


@pytest.mark.parametrize(
    "prefix", ["../up", "a/../b", "a/./b", "data\nx", "data\rx", "da\x00ta", "a/..", "./a"]
)
def test_upload_prefixes_are_checked_before_any_request(prefix: str, src: Path) -> None:
    from finetune_sdk.data.upload import upload_file

    with pytest.raises(ConfigurationError, match=r"control character|'\.' or '\.\.' segment"):
        upload_file(src, f"s3://{BUCKET}/{prefix}")


def test_upload_file_name_with_a_newline_is_refused(tmp_path: Path) -> None:
    from finetune_sdk.data.upload import upload_file

    bad = tmp_path / "a\nb.jsonl"
    bad.write_text("{}\n")
    with pytest.raises(ConfigurationError, match="control character"):
        upload_file(bad, f"s3://{BUCKET}/data")


def test_rerun_aborts_the_stale_multipart_upload(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from finetune_sdk.data import upload

    monkeypatch.setattr(upload, "MULTIPART_THRESHOLD", 1024 * 1024)
    monkeypatch.setattr(upload, "MULTIPART_CHUNKSIZE", 5 * 1024 * 1024)
    data = os.urandom(6 * 1024 * 1024)
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    key = f"big/{hashlib.sha256(data).hexdigest()[:16]}-big.jsonl"
    client = s3.client("s3")
    # what a kill -9 mid-upload leaves: an open multipart upload with a part, billed until aborted
    stale = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    client.upload_part(Bucket=BUCKET, Key=key, UploadId=stale, PartNumber=1, Body=data[: 5 * 1024 * 1024])
    other = client.create_multipart_upload(Bucket=BUCKET, Key="big/unrelated.jsonl")["UploadId"]
    uri = upload.upload_file(path, f"s3://{BUCKET}/big", session=s3)
    assert uri == f"s3://{BUCKET}/{key}"
    left = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["UploadId"] for u in left] == [other]  # ours aborted, someone else's untouched
    assert client.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(data)


def _timeouts(session: Any, times: int) -> list[int]:
    from botocore.exceptions import ReadTimeoutError

    seen = [0]

    def fail(**_: Any) -> None:
        seen[0] += 1
        if seen[0] <= times:
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")

    session.events.register("before-send.s3.PutObject", fail)
    return seen


def test_s3_read_timeout_is_transient_and_retried(s3: Any, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_sdk.data import upload

    monkeypatch.setattr(upload, "_RETRY_DELAY_S", 0.0)
    seen = _timeouts(s3, times=1)
    uri = upload.upload_file(src, f"s3://{BUCKET}/data", session=s3)
    assert seen[0] == 2 and uri.startswith(f"s3://{BUCKET}/data/")


def test_s3_timeouts_past_the_retries_are_service_unavailable(
    s3: Any, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_sdk.data import upload

    monkeypatch.setattr(upload, "_RETRY_DELAY_S", 0.0)
    seen = _timeouts(s3, times=99)
    with pytest.raises(ServiceUnavailableError, match=r"could not reach S3|timed out|Read timeout"):
        upload.upload_file(src, f"s3://{BUCKET}/data", session=s3)
    assert seen[0] == upload.UPLOAD_ATTEMPTS


def test_s3_read_timeout_reading_logs_is_service_unavailable() -> None:
    from botocore.exceptions import ReadTimeoutError

    from finetune_sdk.data.logs import _translate_s3_error

    err = _translate_s3_error(ReadTimeoutError(endpoint_url="https://s3"), "s3://b/k")
    assert isinstance(err, ServiceUnavailableError)
