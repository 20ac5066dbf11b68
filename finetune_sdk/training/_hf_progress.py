"""transformers' own progress bars (loading, dequantising, writing shards) follow the SDK's switch.

The SDK shows progress bars unless ``FINETUNE_SDK_DISABLE_PROGRESS_BARS`` is set (see
:func:`finetune_sdk._progress.progress_enabled`); transformers has its own switch. :func:`transformers_progress`
turns transformers' bars off for the duration of a block when the SDK's are off, and restores the previous
setting afterwards. Imports transformers only when entered.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

__all__ = ["sync_transformers_progress", "transformers_progress"]


def sync_transformers_progress() -> None:
    """Turn transformers' progress bars off (for good, in this process) when the SDK's are off."""
    from finetune_sdk._progress import progress_enabled

    if not progress_enabled():
        hf_logging: Any = importlib.import_module("transformers.utils.logging")
        hf_logging.disable_progress_bar()


@contextlib.contextmanager
def transformers_progress() -> Iterator[None]:
    """Within the block, transformers shows progress bars only if the SDK does."""
    from finetune_sdk._progress import progress_enabled

    hf_logging: Any = importlib.import_module("transformers.utils.logging")
    before = hf_logging.is_progress_bar_enabled()
    if before and not progress_enabled():
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if before and not hf_logging.is_progress_bar_enabled():
            hf_logging.enable_progress_bar()
