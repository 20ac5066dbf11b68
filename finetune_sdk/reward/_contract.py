"""The reward-function contract every consumer shares: the Lambda bundle, TRL and the SDK.

This module imports nothing but the standard library on purpose: :meth:`RewardFunction.to_lambda_zip` copies
its source into the deployment zip, so the Bedrock grader Lambda runs *this* code, byte for byte, and the
SDK's :class:`~finetune_sdk.reward.RewardFunction` delegates to it too. One implementation of "call the
user's function on one sample" and "the Bedrock grader batch contract" means the training grader, the local
GRPO reward and the evaluation metric cannot drift apart.

The grader contract (https://docs.aws.amazon.com/bedrock/latest/userguide/nova-rft.html and
reward-functions.html): the event is a JSON list of samples ``{"id", "messages": [..., {"role": "assistant",
"content": <rollout>}], "reference_answer" | "metadata": {"reference_answer", ...}}``; the answer is a list
with the same ids, ``{"id", "aggregate_reward_score": float, "metrics_list": [{"name", "value", "type"}]}``.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "CONTRACT_KEYS",
    "RewardCore",
    "completion_text",
    "reward",
    "sample_fields",
]

_log = logging.getLogger(__name__)

#: Keys of a grader sample that are not passed to the function as fields.
CONTRACT_KEYS = frozenset({"id", "messages", "metadata", "reference_answer"})
#: Keyword arguments TRL passes that are the trainer's, not the dataset's.
_TRL_KEYS = frozenset(
    {"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}
)


def completion_text(value: Any) -> str:
    """The text of a completion given as a string, a content list, one message or a list of messages
    (the last assistant message wins; its text parts are joined with newlines)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if "content" in value:
            return completion_text(value["content"])
        text = value.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(value, Sequence):
        items = list(value)
        if items and all(isinstance(m, Mapping) and "role" in m for m in items):
            for message in reversed(items):
                if message.get("role") == "assistant":
                    return completion_text(message.get("content", ""))
            return ""
        parts = [completion_text(p) for p in items if isinstance(p, (str, Mapping))]
        return "\n".join(p for p in parts if p)
    return "" if value is None else str(value)


def sample_fields(sample: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(reference_answer, fields)`` of a grader sample or an RFT data line: ``reference_answer`` from the
    top level, else from ``metadata``; the fields are the other top-level keys and ``metadata``'s keys."""
    metadata = sample.get("metadata")
    meta = dict(metadata) if isinstance(metadata, Mapping) else {}
    reference = sample["reference_answer"] if "reference_answer" in sample else meta.get("reference_answer")
    meta.pop("reference_answer", None)
    fields = {k: v for k, v in sample.items() if k not in CONTRACT_KEYS}
    for key, value in meta.items():
        fields.setdefault(key, value)
    return reference, fields


class RewardCore:
    """A per-sample function ``fn(completion, *, reference_answer=None, **fields) -> float | None`` with the
    call conventions every consumer shares.

    Args:
        fn: the function. It receives the completion text, ``reference_answer`` and, as keyword arguments,
            the sample's other fields: all of them when it takes ``**fields``, else only those it names.
        name: the metric name (default: the function's name).
        none_score: the score the Bedrock grader reports for a sample the function cannot grade (``None``)
            or that raised; Bedrock needs a number.
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, none_score: float = 0.0) -> None:
        if not callable(fn):
            raise TypeError(f"reward() needs a function, got {type(fn).__name__}")
        self.fn = fn
        fn_name = getattr(fn, "__name__", None)
        self.name = name or (fn_name if isinstance(fn_name, str) and fn_name != "<lambda>" else "reward")
        self.none_score = float(none_score)
        params = inspect.signature(fn).parameters
        self._var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self._named = frozenset(
            n
            for n, p in params.items()
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        )
        positional = [
            p
            for p in params.values()
            if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        if not positional and not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params.values()):
            raise TypeError(
                f"reward function {self.name!r} must take the completion as its first positional argument: "
                "def fn(completion, *, reference_answer=None, **fields)"
            )
        self._first = positional[0].name if positional else None

    # -- one sample -------------------------------------------------------------------------------------------

    def call(
        self, completion: str, reference_answer: Any = None, fields: Mapping[str, Any] | None = None
    ) -> float | None:
        """The function's score for one sample: a float, or ``None`` when it is not gradable (``None``, NaN).

        Raises:
            TypeError: the function returned something that is not a number, a bool or ``None``.
            Exception: whatever the function raised.
        """
        kwargs: dict[str, Any] = {}
        for key, value in (fields or {}).items():
            if key in ("reference_answer", self._first):
                continue
            if self._var_kw or key in self._named:
                kwargs[key] = value
        if self._var_kw or "reference_answer" in self._named:
            kwargs["reference_answer"] = reference_answer
        value = self.fn(completion, **kwargs)
        if value is None:
            return None
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if not isinstance(value, (int, float)):
            raise TypeError(
                f"reward function {self.name!r} returned {type(value).__name__}; return a float (or None "
                "when the sample cannot be graded)"
            )
        out = float(value)
        return None if math.isnan(out) else out

    # -- Bedrock grader Lambda --------------------------------------------------------------------------------

    def grade_sample(self, sample: Any, index: int = 0) -> dict[str, Any]:
        """One output entry of the grader contract for one input sample; never raises."""
        sample_id = sample.get("id") if isinstance(sample, Mapping) else None
        if sample_id is None:
            sample_id = str(index)
        error: str | None = None
        score: float | None = None
        try:
            if not isinstance(sample, Mapping):
                raise TypeError(f"a sample is a JSON object, got {type(sample).__name__}")
            reference, fields = sample_fields(sample)
            score = self.call(completion_text(sample.get("messages", [])), reference, fields)
            if score is not None and math.isinf(score):
                raise ValueError(f"score {score} is not finite")
        except Exception as exc:  # a failing sample is reported, never the batch
            error = f"{type(exc).__name__}: {exc}"
            _log.warning("reward %s: sample %s failed: %s", self.name, sample_id, error)
        metrics: list[dict[str, Any]] = []
        if error is not None:
            aggregate = self.none_score
            metrics.append({"name": "grader_error", "value": 1.0, "type": "Metric"})
        elif score is None:
            aggregate = self.none_score
            metrics.append({"name": "gradable", "value": 0.0, "type": "Metric"})
        else:
            aggregate = score
            metrics.append({"name": self.name, "value": score, "type": "Reward"})
        return {"id": sample_id, "aggregate_reward_score": aggregate, "metrics_list": metrics}

    def lambda_handler(self, event: Any, context: Any = None) -> list[dict[str, Any]]:
        """The Bedrock RFT grader: a list of samples in, a list of ``{"id", "aggregate_reward_score",
        "metrics_list"}`` out, one per sample in order. A JSON string event is parsed; a single sample
        object is treated as a batch of one."""
        if isinstance(event, (str, bytes)):
            event = json.loads(event)
        if isinstance(event, Mapping):
            event = [event]
        if not isinstance(event, Sequence):
            raise TypeError(f"the grader event is a JSON list of samples, got {type(event).__name__}")
        return [self.grade_sample(sample, i) for i, sample in enumerate(event)]

    # -- TRL --------------------------------------------------------------------------------------------------

    def trl_rewards(self, completions: Sequence[Any], kwargs: Mapping[str, Any]) -> list[float | None]:
        """TRL's reward-function call: one score per completion; dataset columns arrive as lists aligned with
        the completions. A sample whose function raises scores ``None`` (logged)."""
        columns = {k: v for k, v in kwargs.items() if k not in _TRL_KEYS}
        out: list[float | None] = []
        for i, completion in enumerate(completions):
            row = {
                k: (v[i] if isinstance(v, Sequence) and not isinstance(v, str) and len(v) > i else v)
                for k, v in columns.items()
            }
            reference, fields = sample_fields(row)
            try:
                out.append(self.call(completion_text(completion), reference, fields))
            except Exception as exc:
                _log.warning("reward %s: completion %d failed: %s: %s", self.name, i, type(exc).__name__, exc)
                out.append(None)
        return out


def reward(fn: Callable[..., Any] | None = None, *, name: str | None = None, none_score: float = 0.0, **_: Any) -> Any:
    """The decorator as the Lambda bundle provides it: returns a :class:`RewardCore` (its ``lambda_handler``
    is the grader). The SDK's own ``finetune_sdk.reward.reward`` returns the richer ``RewardFunction``."""
    if fn is None:
        return lambda f: RewardCore(f, name=name, none_score=none_score)
    return RewardCore(fn, name=name, none_score=none_score)
