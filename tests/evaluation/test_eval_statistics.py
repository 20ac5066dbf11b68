"""Statistics: bootstrap intervals, exact McNemar, the paired permutation test, determinism."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from finetune_sdk.evaluation.statistics import (
    bootstrap_ci,
    derive_seed,
    mcnemar_exact,
    paired_permutation_test,
    percentile,
    win_tie_loss,
)


def test_mcnemar_exact_hand_computed() -> None:
    # b=1, c=6: n=7, P(X<=1) = (C(7,0)+C(7,1))/2^7 = 8/128, two-sided 16/128
    assert mcnemar_exact(1, 6) == 0.125
    # b=10, c=2: n=12, P(X<=2) = (1+12+66)/4096 = 79/4096, two-sided 158/4096
    assert mcnemar_exact(10, 2) == 158 / 4096
    assert mcnemar_exact(5, 5) == 1.0  # symmetric: capped at 1
    assert mcnemar_exact(0, 0) == 1.0
    # large tables stay exact (integers), e.g. 101 vs 25 discordant pairs
    n = 126
    assert mcnemar_exact(101, 25) == pytest.approx(
        2 * sum(math.comb(n, k) for k in range(26)) / 2**n, rel=1e-12
    )
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_bootstrap_ci_contains_true_mean_known_case() -> None:
    # 400 evenly spaced normal quantiles around 3: the sample mean is exactly the true mean 3
    values = [3.0 + NormalDist().inv_cdf((i + 0.5) / 400) for i in range(400)]
    low, high = bootstrap_ci(values, seed=1)
    assert low < 3.0 < high
    # the percentile interval of a mean is about +-1.96 sigma/sqrt(n) = +-0.098 wide here
    assert 0.15 < high - low < 0.25


def test_bootstrap_ci_coverage_is_near_nominal() -> None:
    # 200 samples of 60 Bernoulli(0.3) draws: a 90% interval should cover 0.3 about 90% of the time
    rng = np.random.default_rng(11)
    covered = 0
    for i in range(200):
        sample = (rng.random(60) < 0.3).astype(float).tolist()
        low, high = bootstrap_ci(sample, n_resamples=500, confidence=0.9, seed=i)
        covered += low <= 0.3 <= high
    assert 0.82 <= covered / 200 <= 0.97


def test_bootstrap_is_deterministic_with_a_seed() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.5, 0.25]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert derive_seed(0, "a", "b") == derive_seed(0, "a", "b") != derive_seed(0, "b", "a")
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_paired_permutation_test() -> None:
    a = [1.0 + 0.01 * i for i in range(30)]
    b = [0.0] * 30
    # every difference is positive: no sign flip reaches the observed mean except all-plus (p 2^-30)
    assert paired_permutation_test(a, b, n_resamples=2000, seed=0) == 1 / 2001
    assert paired_permutation_test(a, a) == 1.0
    noise = np.random.default_rng(5).normal(0, 1, 40)
    centred = (noise - noise.mean()).tolist()  # mean difference 0: nothing to detect
    p = paired_permutation_test(centred, [0.0] * 40, seed=2)
    assert p == paired_permutation_test(centred, [0.0] * 40, seed=2)  # seeded
    assert p > 0.9
    shifted = (noise - noise.mean() + 1.0).tolist()  # a 1-sigma shift over 40 pairs is clearly detected
    assert paired_permutation_test(shifted, [0.0] * 40, seed=2) < 0.001
    with pytest.raises(ValueError):
        paired_permutation_test([1.0], [1.0, 2.0])


def test_win_tie_loss_and_percentile() -> None:
    assert win_tie_loss([1, 0, 1, 0.5], [0, 0, 1, 1]) == (1, 2, 1)
    assert win_tie_loss([10, 20], [15, 15], higher_is_better=False) == (1, 0, 1)  # fewer tokens wins
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([], 95) is None
