"""Writing a Dataset to S3 in the layouts SageMaker training jobs read.

``stage_data`` runs before the job spec exists (the ``Job`` handle stages first), so it cannot know whether
the job will be a JumpStart instruction, chat or domain-adaptation job, or a script-mode job. It therefore
writes every layout the records can be expressed in without loss, one folder each, plus a small manifest::

    <prefix>/finetune_sdk_manifest.json      {"layouts": ["instruction", "chat", "records"], "count": 254}
    <prefix>/instruction/train.jsonl          {"instruction", "context", "response"}   (single-turn records)
    <prefix>/instruction/template.json        the JumpStart instruction template
    <prefix>/chat/train.jsonl                 {"dialog": [{"role", "content"}, ...]}    (conversations)
    <prefix>/text/train.jsonl                 {"text": ...}                              (raw text records)
    <prefix>/records/train.jsonl              canonical records, for the SDK's own trainer (script mode)

and the training request points its ``training`` channel at the folder the job needs. Fine-tuning data is a
few megabytes, so the duplication is cheap; what it buys is that one ``Job.fine_tune`` call works for every
mode without the user picking a wire format.

Examples:
    >>> from finetune_sdk.backends.sagemaker.staging import render_layouts
    >>> from finetune_sdk.data.records import Conversation
    >>> layouts = render_layouts([Conversation.from_pairs("2+2?", "4")])
    >>> sorted(layouts)
    ['chat', 'instruction', 'records']
    >>> layouts["chat"][0]["dialog"][1], layouts["instruction"][0]["response"]
    ({'role': 'assistant', 'content': '4'}, '4')
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from finetune_sdk._aws.s3 import split_s3_uri
from finetune_sdk.data.records import Record, TextRecord
from finetune_sdk.errors import DataError

__all__ = [
    "DATA_FILE",
    "MANIFEST",
    "MULTIPART_THRESHOLD",
    "Layout",
    "channel_uri",
    "put_bytes",
    "read_manifest",
    "render_layouts",
    "split_s3_uri",
    "upload_layouts",
]

Layout = Literal["instruction", "chat", "text", "records"]
MANIFEST = "finetune_sdk_manifest.json"
DATA_FILE = "train.jsonl"


def render_layouts(records: Iterable[Record]) -> dict[Layout, list[dict[str, Any]]]:
    """Every layout the records fit without loss (see the module docstring), as lists of JSON rows.

    Single-turn conversations give ``instruction`` (a system prompt is folded into the instruction, as the
    ``jumpstart_instruction`` format does) and ``chat``; multi-turn ones only ``chat``; text records ``text``.
    ``records`` (canonical) is always written.

    Raises:
        DataError: no records, or conversations mixed with text records.
    """
    from finetune_sdk.data.formats import jumpstart_instruction

    rows: dict[Layout, list[dict[str, Any]]] = {"instruction": [], "chat": [], "text": [], "records": []}
    kinds: set[str] = set()
    single_turn = True
    for record in records:
        rows["records"].append(record.model_dump(mode="json"))
        if isinstance(record, TextRecord):
            kinds.add("text")
            rows["text"].append({"text": record.text})
            continue
        kinds.add("conversation")
        rows["chat"].append({"dialog": record.to_messages()})
        if single_turn and len(record.prompt_turns) == 1 and record.reference is not None:
            wire, _losses = jumpstart_instruction.render(record)
            if wire is not None:
                rows["instruction"].append(wire)
                continue
        single_turn = False
    if not rows["records"]:
        raise DataError("the dataset is empty; there is nothing to train on")
    if len(kinds) > 1:
        raise DataError(
            "the dataset mixes conversations and raw text records; fine-tuning takes conversations and "
            "continued pre-training takes text. Split them with dataset.filter(...)"
        )
    if not single_turn:
        rows["instruction"] = []
    return {k: v for k, v in rows.items() if v}


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def upload_layouts(
    s3: Any, prefix_uri: str, layouts: Mapping[Layout, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Upload the rendered layouts under ``prefix_uri`` (``s3://bucket/prefix/``) and write the manifest.

    Returns:
        The manifest that was written.
    """
    from finetune_sdk.data.formats.jumpstart_instruction import TEMPLATE

    bucket, key = split_s3_uri(prefix_uri if prefix_uri.endswith("/") else prefix_uri + "/")
    files: dict[str, bytes] = {}
    for layout, rows in layouts.items():
        files[f"{key}{layout}/{DATA_FILE}"] = _jsonl(rows)
        if layout == "instruction":
            files[f"{key}{layout}/template.json"] = (json.dumps(TEMPLATE, indent=2) + "\n").encode()
    manifest = {
        "layouts": sorted(layouts),
        "count": max(len(rows) for rows in layouts.values()),
        "writer": "finetune_sdk",
    }
    files[f"{key}{MANIFEST}"] = json.dumps(manifest, indent=2).encode()
    for object_key, body in files.items():
        put_bytes(s3, bucket, object_key, body)
    return manifest


#: bodies from this size up go through boto3's multipart transfer manager (it starts a thread pool)
MULTIPART_THRESHOLD = 64 * 1024 * 1024


def put_bytes(s3: Any, bucket: str, key: str, body: bytes) -> None:
    """Write ``body`` to ``s3://bucket/key``: one ``PutObject``, or a multipart upload for large bodies."""
    if len(body) < MULTIPART_THRESHOLD:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    else:
        s3.upload_fileobj(io.BytesIO(body), bucket, key)


def read_manifest(s3: Any, prefix_uri: str) -> dict[str, Any] | None:
    """The manifest under ``prefix_uri``, or ``None`` when the prefix was not staged by the SDK."""
    from botocore.exceptions import ClientError

    bucket, key = split_s3_uri(prefix_uri if prefix_uri.endswith("/") else prefix_uri + "/")
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{key}{MANIFEST}")["Body"].read()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound", "AccessDenied", "403"):
            return None
        raise
    try:
        manifest = json.loads(body)
    except json.JSONDecodeError:
        return None
    return manifest if isinstance(manifest, dict) else None


def channel_uri(prefix_uri: str, layout: str) -> str:
    """The channel URI of ``layout`` under a staged prefix."""
    return f"{prefix_uri.rstrip('/')}/{layout}/"
