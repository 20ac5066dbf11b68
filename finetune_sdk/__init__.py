"""finetune_sdk: one typed lifecycle for customising foundation models.

``Dataset`` → ``Job`` → ``Model`` / ``Deployment`` → ``Evaluator`` (and ``Distiller``), the same calls on
Amazon Bedrock, Amazon SageMaker, this machine (``local``) and any registered backend.

The public API (each name has its own page: ``help(finetune_sdk.Dataset)``):

    Dataset            records in one canonical form: from_jsonl/records/pandas/hf, validate, clean,
                       dedupe, split, stats, to_jsonl, upload
    ValidationReport   what Dataset.validate() found (Issue: one finding)
    Job                one training run: fine_tune, continue_pretraining, distill, import_model, attach,
                       list, wait, stop, metrics, estimate_cost, .model
    Model              something to invoke: chat, invoke, deploy, delete
    Deployment         provisioned throughput, on-demand deployment or endpoint; a context manager
    Evaluator          runs a test set through models and scores them: evaluate, compare, estimate_cost
    EvaluationReport   scores with intervals, paired comparisons, usage and cost; markdown, HTML, JSON
    Distiller          teacher → data → student, from prompts or invocation logs
    backends           get(name, ...), register_backend, the capability matrix
    catalog            base models: ids, Regions, formats, limits, hyperparameters, prices
    errors             the exception tree (FinetuneError at its root)
    InferenceConfig, ChatResponse, CostEstimate, JobKind, JobStatus, JobSpec, DeploymentSpec,
    DeploymentStatus, TeacherConfig, InvocationLogSource, MetadataFilter
                       the values the calls above take and return
    Hyperparameters    typed hyperparameters per model family: ClaudeHaikuHyperparameters,
                       NovaHyperparameters, LlamaHyperparameters, TitanTextHyperparameters,
                       CohereCommandHyperparameters
    disable_progress_bars / enable_progress_bars

Public names are bound lazily, so ``import finetune_sdk`` stays fast and imports no boto3, pandas or torch.
The command line is ``finetune`` (``finetune --help``).

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
    if _rendering_help():
        # help(finetune_sdk) is the map in the docstring above plus the package contents; the classes have
        # pages of their own, and rendering all of them here (pydantic's inherited members included) ran to
        # thousands of lines
        return [name for name in __all__ if _LAZY.get(name, ("", None))[1] is None or name.islower()]
    return __all__


def _rendering_help() -> bool:
    """Whether ``pydoc`` (``help()``, ``python -m pydoc``) is listing this module's members."""
    import sys

    frame: Any = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_globals.get("__name__") == "pydoc":
            return True
        frame = frame.f_back
    return False
