"""Statistics for evaluation reports: bootstrap confidence intervals and paired significance tests.

All resampling is seeded (``numpy.random.default_rng``), so a report is reproducible. numpy is imported
inside the functions; it comes with the ``pandas`` extra.

- :func:`bootstrap_ci`: percentile bootstrap interval of a mean (2,000 resamples by default).
- :func:`wilson_ci`: Wilson score interval of a proportion (binary metrics: never zero-width at 0/n or
  n/n, where a bootstrap interval collapses to a point).
- :func:`paired_proportion_ci`: Newcombe's hybrid score interval (method 10) for the difference of two
  paired proportions (the same examples scored for two models).
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
    >>> [round(x, 3) for x in wilson_ci(100, 100)]
    [0.963, 1.0]
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
    "paired_proportion_ci",
    "percentile",
    "wilson_ci",
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


def _z(confidence: float) -> float:
    """The two-sided standard-normal quantile for ``confidence`` (e.g. 1.95996 for 0.95)."""
    from statistics import NormalDist

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_ci(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / n``.

    Unlike a bootstrap or Wald interval it has width at 0/n and n/n: 100/100 gives about [0.963, 1.0],
    0/100 about [0.0, 0.037].

    Raises:
        ValueError: ``n`` < 1, ``successes`` outside [0, n], or ``confidence`` not in (0, 1).

    Examples:
        >>> [round(x, 4) for x in wilson_ci(0, 10)]
        [0.0, 0.2775]
        >>> [round(x, 4) for x in wilson_ci(5, 10)]
        [0.2366, 0.7634]
    """
    if n < 1:
        raise ValueError(f"wilson_ci needs n >= 1, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = _z(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def paired_proportion_ci(
    both: int, only_first: int, only_second: int, neither: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval of ``p_first - p_second`` for paired binary outcomes (Newcombe 1998, method 10).

    ``both``/``neither``: examples both/neither got right; ``only_first``/``only_second``: the discordant
    pairs. Built from the two Wilson intervals and the correlation of the pairs, it stays inside [-1, 1] and
    has width even when every pair is discordant the same way (e.g. 100/100 vs 0/100 gives about
    [0.948, 1.0] for the difference, where a bootstrap interval of the differences is [1, 1]).

    Raises:
        ValueError: a negative count or no pairs at all.

    Examples:
        >>> [round(x, 3) for x in paired_proportion_ci(0, 100, 0, 0)]
        [0.948, 1.0]
    """
    counts = (both, only_first, only_second, neither)
    if min(counts) < 0:
        raise ValueError(f"counts must be >= 0, got {counts}")
    n = sum(counts)
    if n == 0:
        raise ValueError("paired_proportion_ci needs at least one pair")
    a, b, c, d = counts
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_ci(a + b, n, confidence=confidence)
    l2, u2 = wilson_ci(a + c, n, confidence=confidence)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denom) if denom > 0 else 0.0
    phi = max(-1.0, min(1.0, phi))
    delta = p1 - p2
    low = delta - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = delta + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, low), min(1.0, high)


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
