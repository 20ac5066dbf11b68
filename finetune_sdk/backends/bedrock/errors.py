"""Bedrock's failure hints; service errors translate through the AWS core's one table.

:func:`translate_error` is :func:`finetune_sdk._aws.errors.translate_error` with ``backend="bedrock"``: it maps
a ``ClientError`` code (or a botocore connection error) to the most specific SDK class, keeps the service's code
and request id, and appends a hint when the message is one users meet often (an inference profile is required,
the model needs a deployment, model access is not enabled...). :func:`hint_for_failure` does the same for the
``failureMessage`` of a failed job, which the service reports hours after submission.

Examples:
    >>> hint_for_failure("Maximum input token count 4919 exceeds limit of 4096 for train data")[:40]
    'a training record has 4919 tokens, over '
    >>> hint_for_failure("something new") is None
    True
"""

from __future__ import annotations

import functools
import re
from typing import Any

from finetune_sdk._aws import errors as _core
from finetune_sdk._aws.errors import (
    RetryKind,
    classify_retry,
    error_code,
    hint_for_message,
    service_message,
)

__all__ = [
    "RetryKind",
    "classify_retry",
    "error_code",
    "hint_for_failure",
    "hint_for_message",
    "service_message",
    "translate_error",
]

BACKEND = "bedrock"

#: the AWS core's one translation, with Bedrock as the backend (``operation=``, ``region=``, ``model_id=``)
translate_error = functools.partial(_core.translate_error, backend=BACKEND)


#: (pattern on a job's failureMessage, hint); the first match wins
_FAILURE_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"maximum input token count (\d+) exceeds limit of (\d+)", re.I),
        "a training record has {0} tokens, over the model's limit of {1}. Run "
        "Dataset.validate(for_model=...) (it checks tokens per record), then shorten or drop long records "
        "(Dataset.clean(...)) and resubmit",
    ),
    (
        re.compile(r"must follow '?\{\s*\"(prompt|input|schemaVersion|system|messages)\"", re.I),
        'the training data is not in the format this model expects ({{"{0}": ...}} records). Convert it with '
        "Dataset.convert(...) to the catalog's format for the model (catalog.get(model).format) and resubmit",
    ),
    (
        re.compile(
            r"(number of (training |validation )?(records|samples|lines)|minimum of \d+ (records|samples))",
            re.I,
        ),
        "the dataset has too few or too many records for this model: check the counts with "
        "Dataset.validate(for_model=...) (the catalog holds each model's limits)",
    ),
    (
        re.compile(r"(assume|sts:assumerole|trust relationship)", re.I),
        "Bedrock could not assume the service role: its trust policy must allow bedrock.amazonaws.com "
        "(finetune_sdk.backends.bedrock.iam.trust_policy(...)) and the caller needs iam:PassRole",
    ),
    (
        re.compile(r"(kms|decrypt)", re.I),
        "the service role cannot use the KMS key: grant kms:Decrypt / kms:GenerateDataKey "
        "(iam.data_access_policy(kms_key_arns=...))",
    ),
    (
        re.compile(
            r"(access denied|accessdenied|not authorized|does not have (the )?permission|forbidden)", re.I
        ),
        "the service role cannot read the data or write the output in S3: check the role policy "
        "(finetune_sdk.backends.bedrock.iam.data_access_policy(...)) and any bucket policy",
    ),
    (
        re.compile(r"(no such (key|bucket)|does not exist|not found|could not find)", re.I),
        "an S3 object or bucket the job needs is missing: check the training, validation and output URIs "
        "(and that they are in the job's Region)",
    ),
    (
        re.compile(r"(internal (server )?error|internal failure|unexpected error)", re.I),
        "a service-side failure: resubmit (with a new job name); if it repeats, quote the job ARN to AWS "
        "Support",
    ),
)


def hint_for_failure(message: str | None) -> str | None:
    """What to do about a failed job, from the service's ``failureMessage`` (``None`` when unknown).

    Examples:
        >>> message = "Input data at t.jsonl must follow '{\\"prompt\\": \\"<in>\\"}' format"
        >>> print(hint_for_failure(message)[:83])
        the training data is not in the format this model expects ({"prompt": ...} records)
    """
    if not message:
        return None
    for pattern, template in _FAILURE_HINTS:
        found = pattern.search(message)
        if found:
            groups: list[Any] = [g for g in found.groups() if g is not None] or [""]
            return template.format(*groups)
    return None
