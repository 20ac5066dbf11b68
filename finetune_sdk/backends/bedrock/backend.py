"""Deprecated module path: import :class:`BedrockBackend` from :mod:`finetune_sdk.backends.bedrock`.

The backend is now composed from one private module per capability (``_jobs``, ``_models``, ``_runtime``,
``_batch``); this module only re-exports the class, and importing it warns.
"""

import warnings

from finetune_sdk.backends.bedrock._backend import BedrockBackend

warnings.warn(
    "finetune_sdk.backends.bedrock.backend is deprecated; import BedrockBackend from finetune_sdk.backends.bedrock",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["BedrockBackend"]
