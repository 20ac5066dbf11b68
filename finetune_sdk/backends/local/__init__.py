"""The ``local`` backend: real fine-tuning, continued pre-training and inference on this machine.

It trains Hugging Face causal LMs (LoRA through PEFT by default, or full fine-tuning) on the CPU or a CUDA
GPU, and writes Hugging Face safetensors folders in the layout Amazon Bedrock Custom Model Import accepts.
It is the SDK's embedded default: the quickstart (``finetune demo``) runs on it with no cloud account.

Each job is a run folder under ``root`` plus a detached worker process; see :mod:`._run` for the folder and
:mod:`.worker` for the process. Nothing heavy is imported here: the registry loads this module to build a
:class:`LocalBackend`, which works (listing, attaching, reading metrics) without torch; training and
inference raise ``BackendNotInstalledError`` with ``pip install 'finetune-sdk[local]'`` when the extra is
missing.

Examples:
    >>> import tempfile
    >>> from finetune_sdk.backends.local import LocalBackend, build_tiny_model
    >>> backend = LocalBackend(root=tempfile.mkdtemp())
    >>> base = backend.foundation_model(str(build_tiny_model(tempfile.mkdtemp(), hidden_size=32, layers=1,
    ...                                                      heads=2)))
    >>> base.kind
    'foundation'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_sdk.backends.local._backend import LocalBackend, default_root

if TYPE_CHECKING:
    from finetune_sdk.training.tiny import build_tiny_model

__all__ = ["LocalBackend", "build_tiny_model", "default_root"]


def __getattr__(name: str) -> Any:
    if name == "build_tiny_model":  # tiny.py is light too, but keep the registry's import minimal
        from finetune_sdk.training.tiny import build_tiny_model

        return build_tiny_model
    raise AttributeError(f"module 'finetune_sdk.backends.local' has no attribute {name!r}")
