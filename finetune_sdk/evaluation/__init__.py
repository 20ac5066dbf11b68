"""Evaluate models on a blind test set and compare them: metrics, statistics, reports.

The entry point is :class:`Evaluator`::

    from finetune_sdk.evaluation import Evaluator, PromptTemplate
    report = Evaluator(["token_f1", "tatqa_em", "output_tokens"], checkpoint="eval.jsonl").compare(
        [base, tuned], test_set, baseline="base")
    print(report.to_markdown())

Modules: :mod:`~finetune_sdk.evaluation.metrics` (built-in and custom metrics),
:mod:`~finetune_sdk.evaluation.judge` (LLM-as-judge), :mod:`~finetune_sdk.evaluation.templates` (prompt
templates), :mod:`~finetune_sdk.evaluation.runner` (concurrency, adaptive rate limit, retries, checkpoint),
:mod:`~finetune_sdk.evaluation.statistics` (bootstrap, McNemar, permutation tests),
:mod:`~finetune_sdk.evaluation.report` (the report and its renderings) and
:mod:`~finetune_sdk.evaluation.bedrock_job` (the same comparison as a Bedrock evaluation job).
Importing this package loads neither numpy, pandas, matplotlib nor boto3.
"""

from __future__ import annotations

from finetune_sdk.evaluation._targets import ModelLike, SupportsChat
from finetune_sdk.evaluation.bedrock_job import (
    BedrockEvaluationJobAdapter,
    build_evaluation_job_request,
    build_prompt_dataset,
)
from finetune_sdk.evaluation.evaluator import Evaluator
from finetune_sdk.evaluation.judge import JudgeMetric
from finetune_sdk.evaluation.metrics import (
    CostUSD,
    ExactMatch,
    FunctionMetric,
    LatencySeconds,
    Metric,
    MetricInfo,
    MetricResult,
    MultipleChoiceAccuracy,
    OutputTokens,
    RougeL,
    Sample,
    TatQAExactMatch,
    TatQAF1,
    TokenF1,
)
from finetune_sdk.evaluation.report import EvaluationReport
from finetune_sdk.evaluation.runner import AdaptiveRateLimiter, Checkpoint, RetryPolicy
from finetune_sdk.evaluation.templates import PromptTemplate

__all__ = [
    "AdaptiveRateLimiter",
    "BedrockEvaluationJobAdapter",
    "Checkpoint",
    "CostUSD",
    "EvaluationReport",
    "Evaluator",
    "ExactMatch",
    "FunctionMetric",
    "JudgeMetric",
    "LatencySeconds",
    "Metric",
    "MetricInfo",
    "MetricResult",
    "ModelLike",
    "MultipleChoiceAccuracy",
    "OutputTokens",
    "PromptTemplate",
    "RetryPolicy",
    "RougeL",
    "Sample",
    "SupportsChat",
    "TatQAExactMatch",
    "TatQAF1",
    "TokenF1",
    "build_evaluation_job_request",
    "build_prompt_dataset",
]
