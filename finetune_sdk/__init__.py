"""finetune_sdk: one typed lifecycle for customising foundation models.

``Dataset`` → ``Job`` → ``Model`` / ``Deployment`` → ``Evaluator`` (and ``Distiller``), the same calls on
Amazon Bedrock, Amazon SageMaker, this machine (``local``) and any registered backend.

Public names are bound lazily, so ``import finetune_sdk`` stays fast and imports no boto3, pandas or torch.

Examples:
    >>> import finetune_sdk as ft
    >>> ft.Dataset.from_records([{"prompt": "2+2?", "completion": "4"}]).format
    'prompt_completion'
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from finetune_sdk._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from finetune_sdk import backends, catalog, errors
    from finetune_sdk._progress import disable_progress_bars, enable_progress_bars
    from finetune_sdk.backends import register_backend
    from finetune_sdk.data.dataset import Dataset
    from finetune_sdk.data.report import Issue, ValidationReport
    from finetune_sdk.distillation import Distiller
    from finetune_sdk.errors import FinetuneError
    from finetune_sdk.evaluation import EvaluationReport, Evaluator
    from finetune_sdk.hyperparameters import (
        ClaudeHaikuHyperparameters,
        CohereCommandHyperparameters,
        Hyperparameters,
        LlamaHyperparameters,
        NovaHyperparameters,
        TitanTextHyperparameters,
    )
    from finetune_sdk.jobs import Job
    from finetune_sdk.models import Deployment, Model
    from finetune_sdk.specs import (
        ChatResponse,
        CostEstimate,
        DeploymentSpec,
        DeploymentStatus,
        InferenceConfig,
        InvocationLogSource,
        JobKind,
        JobSpec,
        JobStatus,
        MetadataFilter,
        TeacherConfig,
    )

_LAZY: dict[str, tuple[str, str | None]] = {
    "backends": ("finetune_sdk.backends", None),
    "catalog": ("finetune_sdk.catalog", None),
    "errors": ("finetune_sdk.errors", None),
    "disable_progress_bars": ("finetune_sdk._progress", "disable_progress_bars"),
    "enable_progress_bars": ("finetune_sdk._progress", "enable_progress_bars"),
    "register_backend": ("finetune_sdk.backends", "register_backend"),
    "ChatResponse": ("finetune_sdk.specs", "ChatResponse"),
    "CostEstimate": ("finetune_sdk.specs", "CostEstimate"),
    "DeploymentSpec": ("finetune_sdk.specs", "DeploymentSpec"),
    "DeploymentStatus": ("finetune_sdk.specs", "DeploymentStatus"),
    "InferenceConfig": ("finetune_sdk.specs", "InferenceConfig"),
    "InvocationLogSource": ("finetune_sdk.specs", "InvocationLogSource"),
    "JobKind": ("finetune_sdk.specs", "JobKind"),
    "JobSpec": ("finetune_sdk.specs", "JobSpec"),
    "JobStatus": ("finetune_sdk.specs", "JobStatus"),
    "MetadataFilter": ("finetune_sdk.specs", "MetadataFilter"),
    "TeacherConfig": ("finetune_sdk.specs", "TeacherConfig"),
    "ClaudeHaikuHyperparameters": ("finetune_sdk.hyperparameters", "ClaudeHaikuHyperparameters"),
    "CohereCommandHyperparameters": ("finetune_sdk.hyperparameters", "CohereCommandHyperparameters"),
    "Hyperparameters": ("finetune_sdk.hyperparameters", "Hyperparameters"),
    "LlamaHyperparameters": ("finetune_sdk.hyperparameters", "LlamaHyperparameters"),
    "NovaHyperparameters": ("finetune_sdk.hyperparameters", "NovaHyperparameters"),
    "TitanTextHyperparameters": ("finetune_sdk.hyperparameters", "TitanTextHyperparameters"),
    "Dataset": ("finetune_sdk.data.dataset", "Dataset"),
    "Issue": ("finetune_sdk.data.report", "Issue"),
    "ValidationReport": ("finetune_sdk.data.report", "ValidationReport"),
    "Distiller": ("finetune_sdk.distillation", "Distiller"),
    "FinetuneError": ("finetune_sdk.errors", "FinetuneError"),
    "EvaluationReport": ("finetune_sdk.evaluation", "EvaluationReport"),
    "Evaluator": ("finetune_sdk.evaluation", "Evaluator"),
    "Job": ("finetune_sdk.jobs", "Job"),
    "Deployment": ("finetune_sdk.models", "Deployment"),
    "Model": ("finetune_sdk.models", "Model"),
}

__all__ = [
    "ChatResponse",
    "ClaudeHaikuHyperparameters",
    "CohereCommandHyperparameters",
    "CostEstimate",
    "Dataset",
    "Deployment",
    "DeploymentSpec",
    "DeploymentStatus",
    "Distiller",
    "EvaluationReport",
    "Evaluator",
    "FinetuneError",
    "Hyperparameters",
    "InferenceConfig",
    "InvocationLogSource",
    "Issue",
    "Job",
    "JobKind",
    "JobSpec",
    "JobStatus",
    "LlamaHyperparameters",
    "MetadataFilter",
    "Model",
    "NovaHyperparameters",
    "TeacherConfig",
    "TitanTextHyperparameters",
    "ValidationReport",
    "__version__",
    "backends",
    "catalog",
    "disable_progress_bars",
    "enable_progress_bars",
    "errors",
    "register_backend",
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'finetune_sdk' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
