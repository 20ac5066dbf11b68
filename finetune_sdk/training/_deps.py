"""Where a missing ``[local]`` extra is reported: when training or inference is attempted, not at import.

The registry imports ``finetune_sdk.backends.local`` to build a ``LocalBackend``; that must work without
torch so ``finetune jobs list --backend local`` and ``Job.attach`` work everywhere. Anything that needs the
heavy libraries calls :func:`require_local_deps` first, which checks for them without importing them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any

from finetune_sdk.errors import BackendNotInstalledError

__all__ = ["INSTALL_HINT", "TRAINING_DEPS", "require_local_deps"]

INSTALL_HINT = "pip install 'finetune-sdk[local]'"
#: what a training run imports (peft only for LoRA, but it is part of the extra)
TRAINING_DEPS = ("torch", "transformers", "peft", "safetensors")
INFERENCE_DEPS = ("torch", "transformers")


def _available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None  # None marks a module blocked on purpose
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_local_deps(what: str, modules: Sequence[str] = TRAINING_DEPS) -> None:
    """Raise ``BackendNotInstalledError`` naming the missing modules unless all of ``modules`` are importable.

    Raises:
        BackendNotInstalledError: e.g. "the local backend needs torch to train a model, but it is not
            installed. Fix: pip install 'finetune-sdk[local]'".
    """
    missing = [m for m in modules if not _available(m)]
    if missing:
        names = ", ".join(missing)
        verb = "it is" if len(missing) == 1 else "they are"
        raise BackendNotInstalledError(
            f"the local backend needs {names} to {what}, but {verb} not installed. Fix: {INSTALL_HINT}"
        )


def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """``from_pretrained``'s keyword for the weights' dtype: ``dtype`` since transformers 4.56, ``torch_dtype``
    before (4.51.3 is what Bedrock Custom Model Import runs, and what the ``[local]`` extra's lower bound allows).

    A ``dtype=`` passed to an older transformers lands in the config as a ``torch.dtype`` and breaks its JSON.
    """
    import transformers
    from packaging.version import Version

    name = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {name: dtype}
