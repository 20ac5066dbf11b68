"""Deprecated: the SageMaker-to-Bedrock export moved to :mod:`finetune_sdk.export` (the API layer, since no backend
imports another). Importing this module warns; its names still work for one release."""

import importlib
import warnings

warnings.warn(
    "finetune_sdk.backends.sagemaker.export moved to finetune_sdk.export; import export_to_bedrock and "
    "check_model_files from there",
    DeprecationWarning,
    stacklevel=2,
)

_export = importlib.import_module("finetune_sdk.export")
check_model_files = _export.check_model_files
export_to_bedrock = _export.export_to_bedrock

__all__ = ["check_model_files", "export_to_bedrock"]
