"""Distillation: a teacher's answers become a smaller student, on any backend.

- :class:`Distiller` chains generate → filter → train → wait → evaluate, with resumable stages.
- :class:`QualityGate` / :class:`GateReport`: the checks between teacher answers and training.
- :func:`generate_responses` / :class:`GenerationResult`: teacher generation (real time through the
  Evaluator's runner, or a batch inference job) with a checkpoint and a cost guard.
- :func:`prompts_from_logs`: prompts (or prompt-response pairs) from Bedrock invocation logs.
- :func:`check_distillation_pair`: whether Bedrock's managed distillation supports a teacher/student pair.

Importing this package loads neither boto3, pandas nor torch.
"""

from __future__ import annotations

from finetune_sdk.distillation.distiller import DistillationPlan, DistillationResult, Distiller, Method
from finetune_sdk.distillation.gate import GATE_STEPS, GateReport, GateStep, QualityGate, RecordDecision
from finetune_sdk.distillation.generate import (
    BATCH_DISCOUNT,
    DEFAULT_CONFIRM_ABOVE,
    GenerationFailure,
    GenerationResult,
    count_requests,
    estimate_generation_cost,
    generate_responses,
)
from finetune_sdk.distillation.pairs import (
    check_distillation_data,
    check_distillation_pair,
    distillation_pairs,
)
from finetune_sdk.distillation.sources import load_prompts, prompts_from_logs

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_CONFIRM_ABOVE",
    "GATE_STEPS",
    "DistillationPlan",
    "DistillationResult",
    "Distiller",
    "GateReport",
    "GateStep",
    "GenerationFailure",
    "GenerationResult",
    "Method",
    "QualityGate",
    "RecordDecision",
    "check_distillation_data",
    "check_distillation_pair",
    "count_requests",
    "distillation_pairs",
    "estimate_generation_cost",
    "generate_responses",
    "load_prompts",
    "prompts_from_logs",
]
