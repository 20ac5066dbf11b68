"""Loss curves from the CSV files a Bedrock customisation job writes to its S3 output.

Bedrock writes ``step_wise_training_metrics.csv`` (``step_number, epoch_number, training_loss, perplexity``)
and
``validation_metrics.csv`` (``validation_loss`` instead of ``training_loss``) somewhere under
``<output>/model-customization-job-<jobId>/``. The documented tree and the files seen in practice disagree on
the
folder of the validation file (``post_fine_tuning_validation/`` vs
``post_fine_tuning_validation/validation/``),
so the backend lists the prefix and parses whatever matches; this module holds the pure parsing and merging.

Examples:
    >>> csv_text = "step_number,epoch_number,training_loss,perplexity\\n0,0,2.5,12.2\\n1,0,2.1,8.1\\n"
    >>> rows = parse_metrics_csv(csv_text)
    >>> [(p.step, p.training_loss) for p in rows]
    [(0, 2.5), (1, 2.1)]
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable

from finetune_sdk.backends.base import MetricPoint

__all__ = [
    "TRAINING_METRICS_FILE",
    "VALIDATION_METRICS_FILE",
    "job_output_prefix",
    "merge_metric_points",
    "parse_metrics_csv",
]

TRAINING_METRICS_FILE = "step_wise_training_metrics.csv"
VALIDATION_METRICS_FILE = "validation_metrics.csv"

_COLUMNS = {
    "step": ("step_number", "step"),
    "epoch": ("epoch_number", "epoch"),
    "training_loss": ("training_loss", "train_loss"),
    "validation_loss": ("validation_loss", "val_loss", "eval_loss"),
    "perplexity": ("perplexity", "validation_perplexity", "training_perplexity"),
}


def job_output_prefix(output_uri: str, job_arn: str) -> str:
    """``<output>/model-customization-job-<jobId>/`` where ``jobId`` is the last segment of the job ARN.

    Examples:
        >>> arn = "arn:aws:bedrock:us-east-1:1:model-customization-job/amazon.titan-text-lite-v1:0:4k/ab12"
        >>> job_output_prefix("s3://b/out/", arn)
        's3://b/out/model-customization-job-ab12/'
    """
    job_id = job_arn.rsplit("/", 1)[-1]
    return f"{output_uri.rstrip('/')}/model-customization-job-{job_id}/"


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_metrics_csv(text: str, *, perplexity: bool = True) -> list[MetricPoint]:
    """Rows of one metrics CSV as :class:`MetricPoint` (unknown columns ignored, blank or NaN cells ``None``).

    Rows without a usable step number are skipped; a half-written last line (the job is still running) is too.
    ``perplexity=False`` drops that column (a validation file's perplexity is not the training perplexity
    that ``MetricPoint.perplexity`` reports).
    """
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        return []
    names = {name.strip().lower(): name for name in reader.fieldnames}

    def column(key: str) -> str | None:
        for alias in _COLUMNS[key]:
            if alias in names:
                return names[alias]
        return None

    cols = {key: column(key) for key in _COLUMNS}
    points: list[MetricPoint] = []
    for row in reader:
        step_col = cols["step"]
        step = _number(row.get(step_col)) if step_col else None
        if step is None:
            continue

        def get(key: str, row: dict[str, str] = row) -> float | None:
            col = cols[key]
            return _number(row.get(col)) if col else None

        points.append(
            MetricPoint(
                step=int(step),
                epoch=get("epoch"),
                training_loss=get("training_loss"),
                validation_loss=get("validation_loss"),
                perplexity=get("perplexity") if perplexity else None,
            )
        )
    return points


def merge_metric_points(*groups: Iterable[MetricPoint]) -> list[MetricPoint]:
    """One point per ``(step, epoch)``: values from later groups fill the gaps of earlier ones.

    Pass the training points first so their perplexity wins over a validation file's.
    """
    merged: dict[tuple[int, float | None], MetricPoint] = {}
    for group in groups:
        for point in group:
            key = (point.step, point.epoch)
            prior = merged.get(key)
            if prior is None:
                merged[key] = point
                continue
            merged[key] = MetricPoint(
                step=point.step,
                epoch=point.epoch,
                training_loss=prior.training_loss if prior.training_loss is not None else point.training_loss,
                validation_loss=prior.validation_loss
                if prior.validation_loss is not None
                else point.validation_loss,
                perplexity=prior.perplexity if prior.perplexity is not None else point.perplexity,
            )
    return sorted(merged.values(), key=lambda p: (p.step, p.epoch if p.epoch is not None else -1.0))
