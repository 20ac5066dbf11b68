"""Deprecated location of :func:`finetune_sdk.training.build_tiny_model` (moved with the shared trainer).

Importing this module is silent; taking ``build_tiny_model`` from it warns (``DeprecationWarning``), so
tools that import every module (doctest collection, API docs) are not affected.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["build_tiny_model"]  # noqa: F822 - provided by __getattr__, which warns


def __getattr__(name: str) -> Any:
    if name == "build_tiny_model":
        warnings.warn(
            "finetune_sdk.backends.local.tiny moved to finetune_sdk.training.tiny; import build_tiny_model from "
            "finetune_sdk.backends.local or finetune_sdk.training instead",
            DeprecationWarning,
            stacklevel=2,
        )
        from finetune_sdk.training.tiny import build_tiny_model

        return build_tiny_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
