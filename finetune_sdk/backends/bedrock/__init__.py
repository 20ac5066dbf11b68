"""The Amazon Bedrock backend (``backends.get("bedrock", ...)``) and its helpers.

``BedrockBackend`` needs boto3 and is loaded on first access, so the helpers that do not (the Custom Model
Import pre-flight on a local folder, IAM policy documents, failure hints) import without it.

Examples:
    >>> from finetune_sdk.backends.bedrock import preflight_import, trust_policy
    >>> preflight_import("/nonexistent").ok
    False
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_sdk.backends.bedrock.errors import hint_for_failure
from finetune_sdk.backends.bedrock.iam import create_service_role, data_access_policy, trust_policy
from finetune_sdk.backends.bedrock.options import BedrockOptions
from finetune_sdk.backends.bedrock.preflight import (
    ImportPreflightReport,
    preflight_import,
    preflight_import_source,
)

if TYPE_CHECKING:
    from finetune_sdk.backends.bedrock._backend import BedrockBackend

__all__ = [
    "BedrockBackend",
    "BedrockOptions",
    "ImportPreflightReport",
    "create_service_role",
    "data_access_policy",
    "hint_for_failure",
    "preflight_import",
    "preflight_import_source",
    "trust_policy",
]


def __getattr__(name: str) -> Any:
    # loaded lazily: the backend imports boto3/botocore, the helpers above do not
    if name == "BedrockBackend":
        from finetune_sdk.backends.bedrock._backend import BedrockBackend

        return BedrockBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
