"""Old module path of the AWS emulation, kept for one release: use :mod:`finetune_sdk.testing.emulation`.

Its names are re-exported here; ``AwsEmulation`` (now :class:`~finetune_sdk.testing.emulation.BedrockEmulation`)
warns when used.
"""

from __future__ import annotations

from typing import Any

from finetune_sdk.testing.emulation import (
    BedrockEmulation,
    EmulationBugError,
    FaultKind,
    RecordedRequest,
    Responder,
    Violation,
    deprecated_alias,
)

__all__ = ["BedrockEmulation", "EmulationBugError", "FaultKind", "RecordedRequest", "Responder", "Violation"]


def __getattr__(name: str) -> Any:
    try:
        return deprecated_alias(name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
