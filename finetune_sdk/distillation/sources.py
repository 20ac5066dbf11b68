"""Where distillation prompts come from: a Dataset, records, a JSONL file, or Bedrock invocation logs.

Examples:
    >>> from finetune_sdk.data.records import Conversation
    >>> len(load_prompts([Conversation.from_pairs("Hi?")]))
    1
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Union

from finetune_sdk.backends.base import MetadataFilter
from finetune_sdk.data.logs import read_invocation_logs
from finetune_sdk.data.records import Conversation, Record, TextRecord
from finetune_sdk.errors import ConfigurationError

if TYPE_CHECKING:
    import boto3

    from finetune_sdk.data.dataset import Dataset

__all__ = ["PromptSource", "load_prompts", "prompts_from_logs"]

#: what the Distiller accepts as prompts (``InvocationLogSource`` is handled by the Distiller itself)
PromptSource = Union["Dataset", Sequence[Record | str], str, "os.PathLike[str]"]


def prompts_from_logs(
    s3_uri: str,
    *,
    session: boto3.Session | None = None,
    endpoint_url: str | None = None,
    model_id: str | Collection[str] | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    metadata_filter: MetadataFilter | None = None,
    use_responses: bool = False,
) -> Dataset:
    """Prompts (or prompt-response pairs) from Bedrock invocation logs, as a Dataset.

    A thin wrapper over :func:`finetune_sdk.data.logs.read_invocation_logs` (same arguments); the read
    report is the Dataset's ``last_report`` and first ``history`` entry.

    Raises:
        The errors of :func:`~finetune_sdk.data.logs.read_invocation_logs`.

    Examples:
        >>> ds = prompts_from_logs(  # doctest: +SKIP
        ...     "s3://my-logs/bedrock", model_id="us.amazon.nova-pro-v1:0",
        ...     metadata_filter=MetadataFilter(equals={"project": "faq"}))
    """
    from finetune_sdk.data.dataset import Dataset

    records, report = read_invocation_logs(
        s3_uri, session=session, endpoint_url=endpoint_url, model_id=model_id, start=start, end=end,
        metadata_filter=metadata_filter, use_responses=use_responses,
    )
    return Dataset(records, source=s3_uri, history=(report,))


def load_prompts(prompts: PromptSource) -> list[Record]:
    """The records of ``prompts``: a Dataset, a sequence of records (strings become single-turn prompts),
    or a JSONL path / ``s3://`` object.

    Raises:
        ConfigurationError: ``prompts`` is none of those, or holds no records.
        DataError: the file cannot be read.
    """
    from finetune_sdk.data.dataset import Dataset

    records: list[Record]
    if isinstance(prompts, Dataset):
        records = list(prompts)
    elif isinstance(prompts, (str, os.PathLike)):
        records = list(Dataset.from_jsonl(prompts))
    elif isinstance(prompts, Sequence):
        # plain strings are single-turn prompts
        records = [Conversation.from_pairs(r) if isinstance(r, str) else r for r in prompts]
        bad = next((i for i, r in enumerate(records) if not isinstance(r, (Conversation, TextRecord))), None)
        if bad is not None:
            raise ConfigurationError(
                f"prompt {bad} is a {type(records[bad]).__name__}; pass Conversation/TextRecord values, a "
                "Dataset (Dataset.from_records for dicts) or a JSONL path"
            )
    else:
        raise ConfigurationError(
            f"prompts must be a Dataset, a list of records, a JSONL path or an InvocationLogSource, "
            f"got {type(prompts).__name__}"
        )
    if not records:
        raise ConfigurationError("there are no prompts: the dataset is empty")
    return records
