"""The SageMaker emulation's module path; it now lives in :mod:`finetune_sdk.testing.emulation` (re-exported here)."""

from finetune_sdk.testing.emulation._sagemaker import (
    LLAMA3_MODEL_IDS,
    EndpointResponder,
    FaultKind,
    SageMakerEmulation,
    default_endpoint_responder,
    llama3_hub_document,
    model_folder_files,
)

__all__ = [
    "LLAMA3_MODEL_IDS",
    "EndpointResponder",
    "FaultKind",
    "SageMakerEmulation",
    "default_endpoint_responder",
    "llama3_hub_document",
    "model_folder_files",
]
