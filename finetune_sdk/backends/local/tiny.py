"""Deprecated location of :func:`finetune_sdk.training.build_tiny_model` (moved with the shared trainer)."""

from __future__ import annotations

import warnings

from finetune_sdk.training.tiny import build_tiny_model

__all__ = ["build_tiny_model"]

warnings.warn(
    "finetune_sdk.backends.local.tiny moved to finetune_sdk.training.tiny; import build_tiny_model from "
    "finetune_sdk.backends.local or finetune_sdk.training instead",
    DeprecationWarning,
    stacklevel=2,
)
