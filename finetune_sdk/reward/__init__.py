"""One reward function for reinforcement fine-tuning, evaluation and local GRPO.

Write the reward once, per sample::

    from finetune_sdk.reward import reward

    @reward
    def answer_letter(completion, *, reference_answer=None, **fields):
        ...  # a float in [0, 1], or None when the sample cannot be graded

and use the same object everywhere:

- ``answer_letter.score(completion, record)``: one sample;
- ``Evaluator(metrics=[answer_letter])``: an evaluation metric (it *is* a ``Metric``);
- ``answer_letter.as_trl()``: a reward for TRL's ``GRPOTrainer`` (``finetune_sdk.reward.train_grpo`` runs it);
- ``answer_letter.lambda_handler`` / ``.to_lambda_zip(path)`` / ``.deploy_lambda(...)``: the Amazon Bedrock
  reinforcement fine-tuning grader (the zip runs the same contract code, standard library only);
- ``answer_letter.verify(dataset, completions)``: the score distribution and AWS's guidance before paying.

Examples:
    >>> from finetune_sdk.reward import reward
    >>> @reward
    ... def exact(completion, *, reference_answer=None, **fields):
    ...     return None if reference_answer is None else float(completion.strip() == reference_answer)
    >>> exact.score("4", {"messages": [{"role": "user", "content": "2+2?"}], "reference_answer": "4"})
    1.0
"""

from __future__ import annotations

from finetune_sdk.reward._bundle import HANDLER, LambdaBundle
from finetune_sdk.reward._contract import completion_text
from finetune_sdk.reward._function import RewardFunction, TRLRewardFunc, record_fields, reward
from finetune_sdk.reward._grpo import GRPOResult, GRPOSettings, local_generator, train_grpo
from finetune_sdk.reward._verify import RewardVerification, ScoreSummary

__all__ = [
    "HANDLER",
    "GRPOResult",
    "GRPOSettings",
    "LambdaBundle",
    "RewardFunction",
    "RewardVerification",
    "ScoreSummary",
    "TRLRewardFunc",
    "completion_text",
    "local_generator",
    "record_fields",
    "reward",
    "train_grpo",
]
