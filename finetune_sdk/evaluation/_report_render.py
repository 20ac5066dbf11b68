"""Formatting helpers for :class:`~finetune_sdk.evaluation.report.EvaluationReport`'s Markdown, HTML and plots
(numbers, confidence intervals, table cells and tables).

Private: used by :mod:`finetune_sdk.evaluation.report`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetune_sdk.evaluation.report import ModelInfo


def _pandas() -> Any:
    try:
        import pandas
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError("DataFrames need pandas. Fix: pip install 'finetune-sdk[pandas]'") from exc
    return pandas


def _fmt(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 0.01:  # e.g. dollars per request
        return f"{value:+.3g}" if signed else f"{value:.3g}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _fmt_ci(mean: float | None, low: float | None, high: float | None, *, signed: bool = False) -> str:
    if mean is None:
        return "-"
    if low is None or high is None:
        return _fmt(mean, signed=signed)
    return f"{_fmt(mean, signed=signed)} [{_fmt(low, signed=signed)}, {_fmt(high, signed=signed)}]"


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _hourly_note(m: ModelInfo) -> str:
    price = "-" if m.hourly_price is None else f"${m.hourly_price:,.2f}/hour"
    return f"{m.key} {price}" + (f" ({m.price_source})" if m.price_source else "")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = [
        "| " + " | ".join(_md_cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows)
    return out


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: fields that differ between two runs of the same evaluation (wall time, latencies)
TIMING_FIELDS = frozenset({"run", "latency_s", "latency_mean_s", "latency_p50_s", "latency_p95_s"})


def strip_timing(payload: Any) -> Any:
    """A JSON-like value with :data:`TIMING_FIELDS` removed at every depth (to compare two runs' reports)."""
    if isinstance(payload, Mapping):
        return {k: strip_timing(v) for k, v in payload.items() if k not in TIMING_FIELDS}
    if isinstance(payload, list):
        return [strip_timing(v) for v in payload]
    return payload
