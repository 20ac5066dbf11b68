"""The Amazon SageMaker backend: JumpStart and script-mode training jobs, endpoints, export to Bedrock.

Registered as ``sagemaker``: ``backends.get("sagemaker", region=..., role_arn=..., output_uri=...)``.
Importing this package loads neither boto3 nor the optional ``sagemaker`` package; both load on first use.

Examples:
    >>> from finetune_sdk.backends.sagemaker import SageMakerOptions, JumpStartLlamaHyperparameters
    >>> SageMakerOptions(instance_type="ml.g5.12xlarge", accept_eula=True).accept_eula
    True
    >>> JumpStartLlamaHyperparameters(epoch=1, instruction_tuned=True).to_service()
    {'epoch': '1', 'instruction_tuned': 'True'}
"""

from __future__ import annotations

import importlib
from typing import Any

from finetune_sdk.backends.sagemaker._backend import SageMakerBackend
from finetune_sdk.backends.sagemaker.hyperparameters import JumpStartLlamaHyperparameters
from finetune_sdk.backends.sagemaker.jumpstart import HubDocument
from finetune_sdk.backends.sagemaker.options import SageMakerEndpointOptions, SageMakerOptions, VpcConfig

__all__ = [
    "HubDocument",
    "JumpStartLlamaHyperparameters",
    "SageMakerBackend",
    "SageMakerEndpointOptions",
    "SageMakerOptions",
    "VpcConfig",
    "export_to_bedrock",
]


def export_to_bedrock(job: Any, **kwargs: Any) -> Any:
    """Import a completed SageMaker job's weights into Bedrock: :func:`finetune_sdk.export.export_to_bedrock`.

    The move between backends lives in the API layer (no backend imports another); this name is kept here.
    """
    return importlib.import_module("finetune_sdk.export").export_to_bedrock(job, **kwargs)
