"""Statistics for evaluation reports: bootstrap confidence intervals and paired significance tests.

All resampling is seeded (``numpy.random.default_rng``), so a report is reproducible. numpy is imported
inside the functions; it comes with the ``pandas`` extra.

- :func:`bootstrap_ci`: percentile bootstrap interval of a mean (2,000 resamples by default).
- :func:`mcnemar_exact`: two-sided exact McNemar test (binomial on the discordant pairs), for binary
  metrics such as accuracy and exact match.
- :func:`paired_permutation_test`: two-sided sign-flip permutation test of a mean paired difference, for
  continuous metrics (F1, ROUGE-L, tokens, latency).
- :func:`win_tie_loss`: per-example comparison counts.

Examples:
    >>> mcnemar_exact(1, 6)  # 7 discordant pairs, 1 vs 6: 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8/128
    0.125
    >>> lo, hi = bootstrap_ci([0, 1] * 50, seed=1)
    >>> lo < 0.5 < hi
    True
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

__all__ = [
    "bootstrap_ci",
    "derive_seed",
    "mcnemar_exact",
    "paired_permutation_test",
    "percentile",
    "win_tie_loss",
]

_CHUNK = 256  # resamples per chunk: bounds memory at CHUNK x n indices


def _numpy() -> Any:
    try:
        import numpy
    except ModuleNotFoundError as exc:  # pragma: no cover - numpy ships with pandas
        raise ModuleNotFoundError(
            "evaluation statistics need numpy. Fix: pip install 'finetune-sdk[pandas]'"
        ) from exc
    return numpy


def derive_seed(seed: int, *parts: str) -> int:
    """A stable 63-bit seed from ``seed`` and names, so each (model, metric) gets its own stream."""
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _bootstrap_means(values: Any, n_resamples: int, rng: Any) -> Any:
    np_ = _numpy()
    n = values.shape[0]
    out = np_.empty(n_resamples, dtype=float)
    done = 0
    while done < n_resamples:
        k = min(_CHUNK, n_resamples - done)
        idx = rng.integers(0, n, size=(k, n))
        out[done : done + k] = values[idx].mean(axis=1)
        done += k
    return out


def bootstrap_ci(
    values: Sequence[float],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``.

    Returns ``(low, high)``; for one value (or identical values) both ends equal the mean.

    Raises:
        ValueError: ``values`` is empty, ``confidence`` is not in (0, 1), or ``n_resamples`` < 1.
    """
    if not values:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    np_ = _numpy()
    arr = np_.asarray(values, dtype=float)
    if arr.shape[0] == 1 or float(arr.min()) == float(arr.max()):
        m = float(arr.mean())
        return m, m
    rng = np_.random.default_rng(seed)
    means = _bootstrap_means(arr, n_resamples, rng)
    alpha = (1.0 - confidence) / 2.0
    low, high = np_.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    ``b``: examples only the first system got right; ``c``: only the second. Under the null each
    discordant pair is a fair coin: p = min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2).
    Computed with exact integers, so it stays accurate for thousands of pairs.

    Raises:
        ValueError: a negative count.
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def paired_permutation_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> float:
    """Two-sided paired (sign-flip) permutation test of ``mean(a - b) == 0``.

    Each resample flips the sign of every difference with probability 1/2; the p-value is
    ``(1 + #{|mean_perm| >= |mean_observed|}) / (1 + n_resamples)``, so it is never exactly 0.

    Raises:
        ValueError: the sequences differ in length or are empty.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    if not a:
        raise ValueError("paired_permutation_test needs at least one pair")
    np_ = _numpy()
    diff = np_.asarray(a, dtype=float) - np_.asarray(b, dtype=float)
    observed = abs(float(diff.mean()))
    if not np_.any(diff):
        return 1.0
    rng = np_.random.default_rng(seed)
    n = diff.shape[0]
    extreme = 0
    done = 0
    tol = 1e-12 * max(1.0, observed)
    while done < n_resamples:
        k = min(_CHUNK, n_resamples - done)
        signs = rng.integers(0, 2, size=(k, n)) * 2 - 1
        means = np_.abs((signs * diff).mean(axis=1))
        extreme += int(np_.count_nonzero(means >= observed - tol))
        done += k
    return (1 + extreme) / (1 + n_resamples)


def win_tie_loss(
    a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True, tol: float = 1e-12
) -> tuple[int, int, int]:
    """How often ``a`` beats, ties and loses to ``b``, example by example."""
    wins = ties = losses = 0
    for x, y in zip(a, b, strict=True):
        d = (x - y) if higher_is_better else (y - x)
        if d > tol:
            wins += 1
        elif d < -tol:
            losses += 1
        else:
            ties += 1
    return wins, ties, losses


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation), or ``None`` for no values."""
    if not values:
        return None
    np_ = _numpy()
    return float(np_.percentile(np_.asarray(values, dtype=float), q))
