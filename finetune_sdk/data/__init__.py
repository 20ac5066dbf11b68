"""Training data: the :class:`Dataset`, its wire formats, validation reports and canonical records.

Importing this package is light: no pandas, boto3 or datasets (they load inside the calls that need them).

Examples:
    >>> from finetune_sdk.data import Dataset, FORMATS
    >>> "bedrock_conversation" in FORMATS
    True
"""

from __future__ import annotations

from finetune_sdk.data.dataset import Dataset, DatasetSplits
from finetune_sdk.data.formats import FORMATS
from finetune_sdk.data.records import Conversation, MediaPart, Record, TextPart, TextRecord, Turn
from finetune_sdk.data.report import ConversionReport, Issue, StepReport, ValidationReport

__all__ = [
    "FORMATS",
    "Conversation",
    "ConversionReport",
    "Dataset",
    "DatasetSplits",
    "Issue",
    "MediaPart",
    "Record",
    "StepReport",
    "TextPart",
    "TextRecord",
    "Turn",
    "ValidationReport",
]
