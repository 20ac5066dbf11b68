"""The trainer shared by the ``local`` backend and SageMaker script mode.

One engine, two callers: :class:`finetune_sdk.backends.local.LocalBackend` starts
``python -m finetune_sdk.training.worker <run_dir>`` on this machine, and the SageMaker backend ships this
package in its source tarball and starts the same worker under ``torchrun`` inside the training container.
Nothing here imports a backend; nothing heavy (torch, transformers, peft) is imported until training starts.

Examples:
    >>> import tempfile
    >>> from finetune_sdk.training import build_tiny_model
    >>> folder = build_tiny_model(tempfile.mkdtemp(), hidden_size=32, layers=1, heads=2)
    >>> (folder / "config.json").is_file()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetune_sdk.training.tiny import build_tiny_model

__all__ = ["build_tiny_model"]


def __getattr__(name: str) -> Any:
    if name == "build_tiny_model":
        from finetune_sdk.training.tiny import build_tiny_model

        return build_tiny_model
    raise AttributeError(f"module 'finetune_sdk.training' has no attribute {name!r}")
