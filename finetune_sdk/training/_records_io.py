"""Staged data of the local backend: canonical records, one JSON object per line.

The local trainer reads the SDK's own record model (``Conversation`` / ``TextRecord`` dumps), so nothing is
lost in a wire-format round trip and the worker needs no format detection. Files in a wire format
(Bedrock conversation, prompt/completion, ``{"input": ...}``...) are converted once, when the job is
submitted, through ``Dataset.from_jsonl``; errors therefore surface in the caller, before a worker starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from finetune_sdk.data.records import Conversation, Record, TextRecord
from finetune_sdk.errors import DataError

__all__ = ["is_canonical", "read_records", "to_canonical", "write_records"]

_ADAPTER: TypeAdapter[Conversation | TextRecord] = TypeAdapter(Conversation | TextRecord)


def _line(record: Record) -> str:
    return json.dumps(record.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


def write_records(records: Iterable[Record], path: Path) -> str:
    """Write ``records`` to ``path`` and return the sha256 of the content."""
    text = "".join(_line(r) + "\n" for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _first_object(path: Path) -> dict[str, Any] | None:
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            if raw.strip():
                try:
                    value = json.loads(raw)
                except json.JSONDecodeError:
                    return None
                return value if isinstance(value, dict) else None
    return None


def is_canonical(path: Path) -> bool:
    """Whether ``path`` holds canonical record dumps (as written by :func:`write_records`)."""
    first = _first_object(path)
    if first is None:
        return False
    return (first.get("kind") == "conversation" and "turns" in first) or \
        (first.get("kind") == "text" and "text" in first)


def read_records(path: Path) -> list[Record]:
    """Read a canonical records file.

    Raises:
        DataError: a line is not a canonical record; the message gives the line number.
    """
    records: list[Record] = []
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                records.append(_ADAPTER.validate_json(raw))
            except ValidationError as exc:
                raise DataError(f"{path}:{number}: not a canonical record: {exc.errors()[0]['msg']}") from exc
    return records


def to_canonical(source: Path, dest: Path) -> int:
    """Convert a JSONL file in any format the SDK reads into canonical records at ``dest``.

    Returns the number of records.

    Raises:
        DataError: the file cannot be read or its format is not recognised.
    """
    if is_canonical(source):
        records = read_records(source)
    else:
        from finetune_sdk.data.dataset import Dataset

        records = list(Dataset.from_jsonl(str(source)))
    write_records(records, dest)
    return len(records)
