"""Deprecated module path: import :class:`SageMakerBackend` from :mod:`finetune_sdk.backends.sagemaker`.

The backend is now composed from one private module per capability (``_jobs``, ``_models``, ``_runtime``,
``_export``); this module only re-exports the class, and importing it warns.
"""

import warnings

from finetune_sdk.backends.sagemaker._backend import SageMakerBackend

warnings.warn(
    "finetune_sdk.backends.sagemaker.backend is deprecated; import SageMakerBackend from "
    "finetune_sdk.backends.sagemaker",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["SageMakerBackend"]
