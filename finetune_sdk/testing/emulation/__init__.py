"""The AWS emulation: Amazon Bedrock with no network, behind real boto3 request serialisation, on top of moto.

One base (:mod:`._base`: resource lifecycle, fault injection, call recording, idempotency tokens, pagination,
the clock, routing and validation against the service model) and, per service, handler tables of
``_op_<operation>`` methods composed into the emulation class: :class:`BedrockEmulation` (customisation and
import jobs, models, Provisioned Throughput, deployments, batch inference, invocation logging, Converse and
InvokeModel). :class:`SageMakerEmulation` fills moto's SageMaker gaps (training jobs that move, hub documents,
endpoints); it has its own event-handler table and does not use the base yet. ``AwsEmulation`` is the old
name of :class:`BedrockEmulation`, kept for one release; using it warns.

Examples:
    >>> from finetune_sdk.testing.emulation import BedrockEmulation
    >>> with BedrockEmulation() as aws:
    ...     aws.session.client("bedrock").list_custom_models()["modelSummaries"]
    []
"""

from __future__ import annotations

import warnings
from typing import Any

from finetune_sdk.testing._shapes import Violation
from finetune_sdk.testing.emulation._base import EmulationBugError, FaultKind, RecordedRequest, Responder
from finetune_sdk.testing.emulation._bedrock import BedrockEmulation
from finetune_sdk.testing.emulation._sagemaker import SageMakerEmulation

__all__ = [
    "BedrockEmulation",
    "EmulationBugError",
    "FaultKind",
    "RecordedRequest",
    "Responder",
    "SageMakerEmulation",
    "Violation",
]


def deprecated_alias(name: str) -> Any:
    """``AwsEmulation`` -> :class:`BedrockEmulation`, with a ``DeprecationWarning`` (for module ``__getattr__``)."""
    if name == "AwsEmulation":
        warnings.warn(
            "AwsEmulation is now BedrockEmulation (finetune_sdk.testing.emulation); the old name goes in the next "
            "release",
            DeprecationWarning,
            stacklevel=3,
        )
        return BedrockEmulation
    raise AttributeError(name)


def __getattr__(name: str) -> Any:
    try:
        return deprecated_alias(name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
