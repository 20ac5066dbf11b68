"""The source tarball of script-mode jobs: the installed ``finetune_sdk`` package, ``sm_entry.py`` and a
``requirements.txt``, packed reproducibly (sorted entries, zeroed times and owners, gzip without a timestamp).

The same SDK version therefore always gives the same bytes and the same content hash, so the tarball is
uploaded once per version (:func:`tarball_uri`: ``<output>/finetune-sdk-code/<sha256[:16]>/sourcedir.tar.gz``)
and every job of that version reuses it.

Examples:
    >>> import hashlib, io, tarfile
    >>> from finetune_sdk.backends.sagemaker.code import build_source_tarball
    >>> blob = build_source_tarball()
    >>> names = tarfile.open(fileobj=io.BytesIO(blob)).getnames()
    >>> "sm_entry.py" in names, "requirements.txt" in names, "finetune_sdk/training/_run.py" in names
    (True, True, True)
    >>> hashlib.sha256(blob).digest() == hashlib.sha256(build_source_tarball()).digest()
    True
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["CONTAINER_REQUIREMENTS", "build_source_tarball", "tarball_uri", "upload_source_tarball"]

#: what the training container needs beyond the PyTorch / Hugging Face image (torch is already there)
CONTAINER_REQUIREMENTS: tuple[str, ...] = (
    "pydantic>=2.6,<3",
    "jsonlines>=4",
    "tenacity>=8.2",
    "tqdm>=4.66",
    "transformers>=4.51",
    "peft>=0.11",
    "accelerate>=0.30",
    "safetensors>=0.4",
)

_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so.tmp")


def _package_root() -> Path:
    # this file is finetune_sdk/backends/sagemaker/code.py
    return Path(__file__).resolve().parents[2]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _sources(root: Path) -> tuple[tuple[str, Path, int, int], ...]:
    """``(archive name, path, mtime_ns, size)`` of every file that goes into the tarball, sorted."""
    found: list[tuple[str, Path, int, int]] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        skipped = any(part in _SKIP_DIRS for part in rel.parts) or path.name.endswith(_SKIP_SUFFIXES)
        if skipped or not path.is_file():
            continue
        stat = path.stat()
        found.append((f"finetune_sdk/{rel.as_posix()}", path, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


@lru_cache(maxsize=4)
def _pack(sources: tuple[tuple[str, Path, int, int], ...], requirements: tuple[str, ...]) -> bytes:
    files = [(name, path.read_bytes()) for name, path, _, _ in sources]
    entry = _package_root() / "backends" / "sagemaker" / "sm_entry.py"
    files.append(("sm_entry.py", entry.read_bytes()))
    files.append(("requirements.txt", ("\n".join(requirements) + "\n").encode() if requirements else b""))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files):
            _add(tar, name, data)
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def build_source_tarball(*, requirements: Sequence[str] = CONTAINER_REQUIREMENTS) -> bytes:
    """The ``sourcedir.tar.gz`` bytes: ``sm_entry.py``, ``requirements.txt`` and ``finetune_sdk/``.

    Packed once per process for the same files (names, times and sizes) and requirements.
    """
    return _pack(_sources(_package_root()), tuple(requirements))


def tarball_uri(base_uri: str, blob: bytes) -> str:
    """Where ``blob`` is kept: ``<base_uri>/finetune-sdk-code/<sha256[:16]>/sourcedir.tar.gz``."""
    digest = hashlib.sha256(blob).hexdigest()[:16]
    return f"{base_uri.rstrip('/')}/finetune-sdk-code/{digest}/sourcedir.tar.gz"


def upload_source_tarball(s3: Any, uri: str, blob: bytes) -> str:
    """Upload ``blob`` to ``uri`` unless an object of the same size is already there (the key is its hash)."""
    from botocore.exceptions import ClientError

    from finetune_sdk.backends.sagemaker.staging import put_bytes, split_s3_uri

    bucket, key = split_s3_uri(uri)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        if int(head.get("ContentLength", -1)) == len(blob):
            return uri
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchKey", "NotFound", "403"):
            raise
    put_bytes(s3, bucket, key, blob)
    return uri
