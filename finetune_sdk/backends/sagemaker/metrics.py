"""Loss curves of SageMaker training jobs, read from the job's log lines.

SageMaker turns log lines into metrics with the ``MetricDefinitions`` regexes of the training request, but
only keeps time series in CloudWatch Metrics and the last value in ``FinalMetricDataList``. The SDK reads
the same lines from CloudWatch Logs (``/aws/sagemaker/TrainingJobs``, first host only) and applies the same
regexes, so the curve needs nothing beyond what the job printed:

- **script mode**: the SDK's entry script prints one structured line per logged step,
  ``finetune_sdk_metric {"step": 10, "epoch": 0.5, "training_loss": 1.23}`` (:data:`SDK_METRIC_DEFINITIONS`
  points SageMaker at the same lines);
- **JumpStart**: the Meta fine-tuning script prints per-epoch values (``train_epoch_loss=1.05`` and
  ``eval_epoch_loss=tensor(1.10, ...)``); the regexes come from the hub document's ``TrainingMetrics`` when it
  has them, else :data:`JUMPSTART_LLAMA_METRIC_DEFINITIONS` (written after the llama-recipes print format the
  script derives from; not checked against a live job). The n-th training value and the n-th validation
  value form step n.

Examples:
    >>> from finetune_sdk.backends.sagemaker.metrics import (
    ...     JUMPSTART_LLAMA_METRIC_DEFINITIONS, parse_metric_lines)
    >>> lines = [" eval_ppl=tensor(3.1, device='cuda:0') eval_epoch_loss=tensor(1.13, device='cuda:0')",
    ...          "Epoch 1: train_perplexity=3.4, train_epoch_loss=1.22, epoch time 98.1s"]
    >>> parse_metric_lines(lines, JUMPSTART_LLAMA_METRIC_DEFINITIONS)
    [MetricPoint(step=1, epoch=1.0, training_loss=1.22, validation_loss=1.13, perplexity=3.1)]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from finetune_sdk.backends.base import MetricPoint

__all__ = [
    "JUMPSTART_LLAMA_METRIC_DEFINITIONS",
    "SDK_METRIC_DEFINITIONS",
    "SDK_METRIC_PREFIX",
    "classify_metric",
    "format_metric_line",
    "parse_metric_lines",
]

#: the marker of the structured lines the SDK's entry script prints
SDK_METRIC_PREFIX = "finetune_sdk_metric "
_NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"

#: MetricDefinitions of script-mode jobs (they read the entry script's structured lines)
SDK_METRIC_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"Name": "train:loss", "Regex": SDK_METRIC_PREFIX + r'.*"training_loss": ' + _NUMBER},
    {"Name": "validation:loss", "Regex": SDK_METRIC_PREFIX + r'.*"validation_loss": ' + _NUMBER},
    {"Name": "train:epoch", "Regex": SDK_METRIC_PREFIX + r'.*"epoch": ' + _NUMBER},
)

#: MetricDefinitions for the JumpStart Meta text-generation script when the hub document has none
JUMPSTART_LLAMA_METRIC_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"Name": "huggingface-textgeneration:train-loss", "Regex": r"train_epoch_loss=([0-9\.]+)"},
    {"Name": "huggingface-textgeneration:eval-loss", "Regex": r"eval_epoch_loss=tensor\(([0-9\.]+)"},
    {"Name": "huggingface-textgeneration:eval-ppl", "Regex": r"eval_ppl=tensor\(([0-9\.]+)"},
)

MetricKind = Literal["training_loss", "validation_loss", "perplexity", "epoch"]
_EPOCH_IN_LINE = re.compile(r"\bEpoch (\d+)\b")


def classify_metric(name: str) -> MetricKind | None:
    """Which column a metric definition feeds, from its name (``None``: not a loss-curve metric).

    Examples:
        >>> names = ("train:loss", "huggingface-textgeneration:eval-loss", "eval-ppl", "x:f1")
        >>> [classify_metric(n) for n in names]
        ['training_loss', 'validation_loss', 'perplexity', None]
    """
    lowered = name.lower()
    if "ppl" in lowered or "perplexity" in lowered:
        return "perplexity"
    if "loss" in lowered:
        if any(k in lowered for k in ("eval", "valid", "val:", "val-", "val_", "test")):
            return "validation_loss"
        return "training_loss"
    if lowered.endswith("epoch"):
        return "epoch"
    return None


def format_metric_line(step: int, values: Mapping[str, float | None]) -> str:
    """The structured line the entry script prints for one logged step.

    Examples:
        >>> format_metric_line(10, {"epoch": 0.5, "training_loss": 1.25, "validation_loss": None})
        'finetune_sdk_metric {"step": 10, "epoch": 0.5, "training_loss": 1.25}'
    """
    payload: dict[str, float | int] = {"step": int(step)}
    payload.update({k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))})
    return SDK_METRIC_PREFIX + json.dumps(payload)


def _sdk_points(lines: Iterable[str]) -> list[MetricPoint]:
    by_step: dict[int, dict[str, float]] = {}
    for line in lines:
        at = line.find(SDK_METRIC_PREFIX)
        if at < 0:
            continue
        try:
            payload = json.loads(line[at + len(SDK_METRIC_PREFIX) :].strip())
            step = int(payload["step"])
        except (ValueError, KeyError, TypeError):
            continue
        row = by_step.setdefault(step, {})
        for key in ("epoch", "training_loss", "validation_loss", "perplexity"):
            value = payload.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[key] = float(value)
    return [
        MetricPoint(step=step, epoch=row.get("epoch"), training_loss=row.get("training_loss"),
                    validation_loss=row.get("validation_loss"), perplexity=row.get("perplexity"))
        for step, row in sorted(by_step.items())
    ]


def parse_metric_lines(
    lines: Iterable[str], definitions: Sequence[Mapping[str, str]] = SDK_METRIC_DEFINITIONS
) -> list[MetricPoint]:
    """Loss-curve points from log lines: structured SDK lines when present, else the ``definitions`` regexes.

    Args:
        lines: log messages in time order.
        definitions: ``[{"Name", "Regex"}]`` (a job's ``MetricDefinitions``); names are mapped to columns with
            :func:`classify_metric`.
    """
    lines = list(lines)
    if any(SDK_METRIC_PREFIX in line for line in lines):
        return _sdk_points(lines)
    compiled: list[tuple[MetricKind, re.Pattern[str]]] = []
    for d in definitions:
        kind = classify_metric(str(d.get("Name", "")))
        if kind is None or kind == "epoch":
            continue
        try:
            compiled.append((kind, re.compile(str(d.get("Regex", "")))))
        except re.error:
            continue
    series: dict[MetricKind, list[float]] = {"training_loss": [], "validation_loss": [], "perplexity": []}
    epochs: list[float] = []
    for line in lines:
        for kind, pattern in compiled:
            m = pattern.search(line)
            if not m:
                continue
            try:
                value = float(m.group(1))
            except (IndexError, ValueError):
                continue
            series[kind].append(value)
            if kind == "training_loss":
                e = _EPOCH_IN_LINE.search(line)
                epochs.append(float(e.group(1)) if e else float(len(series["training_loss"])))
    n = max((len(v) for v in series.values()), default=0)
    points: list[MetricPoint] = []
    for i in range(n):

        def at(kind: MetricKind, i: int = i) -> float | None:
            values = series[kind]
            return values[i] if i < len(values) else None

        epoch = epochs[i] if i < len(epochs) else float(i + 1)
        points.append(
            MetricPoint(
                step=i + 1,
                epoch=epoch,
                training_loss=at("training_loss"),
                validation_loss=at("validation_loss"),
                perplexity=at("perplexity"),
            )
        )
    return points
