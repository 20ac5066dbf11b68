"""The work directory of a distillation run: one JSON marker per finished stage, plus its outputs.

A stage is finished when ``<stage>.json`` exists with the stage's ``key`` (a hash of everything the stage's
output depends on, chained from the previous stage). A rerun with the same inputs finds the marker and
reuses the outputs; anything upstream that changed gives a new key, so that stage and every later one run
again. Markers and record files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from finetune_sdk.data.records import Record
from finetune_sdk.errors import DataError

__all__ = ["StageStore", "stage_key"]

_RECORD: TypeAdapter[Record] = TypeAdapter(Record)


def stage_key(*parts: Any) -> str:
    """sha256 of the JSON of ``parts`` (sorted keys; objects that are not JSON by ``str``)."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StageStore:
    """Stage markers and outputs under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """A file in the work directory."""
        return self.root / name

    def finished(self, stage: str, key: str) -> dict[str, Any] | None:
        """The marker of ``stage`` when it finished with this ``key``, else ``None``."""
        marker = self.path(f"{stage}.json")
        if not marker.exists():
            return None
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            return None  # a marker we cannot read is a stage to run again
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return data

    def finish(self, stage: str, key: str, **payload: Any) -> None:
        """Write the marker of ``stage``."""
        body = {"stage": stage, "key": key, **payload}
        _atomic_write(self.path(f"{stage}.json"), json.dumps(body, indent=2, default=str).encode("utf-8"))

    def write_json(self, name: str, value: Mapping[str, Any] | str) -> None:
        """Write a JSON document (a mapping, or text that already is JSON)."""
        text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        _atomic_write(self.path(name), text.encode("utf-8"))

    def read_text(self, name: str) -> str:
        """A file's text.

        Raises:
            DataError: the file is missing (the work directory was edited by hand).
        """
        try:
            return self.path(name).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise DataError(
                f"{self.path(name)} is missing although its stage is marked finished; "
                "delete the work directory (or the stage's .json marker) to run the stage again"
            ) from exc

    def write_records(self, name: str, records: Iterable[Record]) -> None:
        """Canonical records as JSON lines."""
        data = "".join(r.model_dump_json() + "\n" for r in records)
        _atomic_write(self.path(name), data.encode("utf-8"))

    def read_records(self, name: str) -> list[Record]:
        """Records written by :meth:`write_records`.

        Raises:
            DataError: the file is missing or a line is not a canonical record.
        """
        out: list[Record] = []
        for n, line in enumerate(self.read_text(name).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(_RECORD.validate_json(line))
            except ValueError as exc:
                raise DataError(f"{self.path(name)}:{n} is not a canonical record: {exc}") from exc
        return out
