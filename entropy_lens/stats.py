"""Comparing the entropy of a group of tokens (or sentences) with the rest.

Every comparison reports counts, means, medians, a bootstrap 95% CI of the difference of
means, a two-sided Mann-Whitney U p-value and the rank-biserial effect size (equal to
Cliff's delta). The bootstrap resamples *responses* (clusters), not tokens: tokens of one
response are not independent, and a token-level bootstrap would give CIs that are too
narrow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_BOOT = 2000


@dataclass
class Comparison:
    n: int
    mean: float
    median: float
    other_n: int
    other_mean: float
    other_median: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    p_value: float
    effect_size: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def mann_whitney(x: np.ndarray, y_sorted: np.ndarray) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test of ``x`` against ``y`` (given sorted), normal
    approximation with tie correction. Returns (p_value, rank-biserial effect size).

    U counts pairs with x > y plus half the ties, from binary searches into the sorted
    ``y``: O((n + m) log m), so one sorted reference serves many groups.
    """
    n1, n2 = len(x), len(y_sorted)
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    below = np.searchsorted(y_sorted, x, side="left")
    not_above = np.searchsorted(y_sorted, x, side="right")
    u = float(below.sum() + 0.5 * (not_above - below).sum())
    effect = 2.0 * u / (n1 * n2) - 1.0
    pooled = np.sort(np.concatenate([x, y_sorted]), kind="stable")  # two sorted-ish runs: cheap merge
    _, ties = np.unique(pooled, return_counts=True)
    n = n1 + n2
    tie_term = float(((ties.astype(np.float64) ** 3) - ties).sum()) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0, effect
    z = (u - n1 * n2 / 2.0) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2.0)), effect


def cluster_bootstrap_diff(x: np.ndarray, x_clusters: np.ndarray, y: np.ndarray, y_clusters: np.ndarray, *,
                           n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(x) - mean(y), resampling clusters (e.g. responses).

    Clusters are ids shared by x and y: a resampled response brings its tokens of both
    groups. Works on per-cluster sums and counts, so the cost is O(n_boot x clusters).
    """
    if len(x) == 0 or len(y) == 0:
        return math.nan, math.nan
    ids, inverse = np.unique(np.concatenate([x_clusters, y_clusters]), return_inverse=True)
    cx, cy = inverse[: len(x)], inverse[len(x):]
    k = len(ids)
    sums_x = np.bincount(cx, weights=x, minlength=k)
    count_x = np.bincount(cx, minlength=k).astype(np.float64)
    sums_y = np.bincount(cy, weights=y, minlength=k)
    count_y = np.bincount(cy, minlength=k).astype(np.float64)
    rng = np.random.default_rng(seed)
    diffs = []
    block = max(1, 4_000_000 // max(k, 1))  # bound the (block x k) index matrix
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        # multiplicities of each cluster in each resample: multinomial(k, 1/k) per row
        weights = rng.multinomial(k, np.full(k, 1.0 / k), size=rows).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            diffs.append(weights @ sums_x / (weights @ count_x) - weights @ sums_y / (weights @ count_y))
    diffs = np.concatenate(diffs)
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return math.nan, math.nan
    alpha = (1 - level) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return float(low), float(high)


def compare(x: np.ndarray, y: np.ndarray, x_clusters: np.ndarray | None = None, y_clusters: np.ndarray | None = None,
            *, y_sorted: np.ndarray | None = None, n_boot: int = N_BOOT, seed: int = 0) -> Comparison:
    """Compare values ``x`` (a group) with ``y`` (the rest); see module docstring.

    ``*_clusters`` give each value's response id for the cluster bootstrap; without them
    each value is its own cluster. ``y_sorted`` may pass ``np.sort(y)`` when ``y`` is
    reused across many comparisons.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x_clusters is None or y_clusters is None:
        x_clusters = np.arange(len(x))
        y_clusters = np.arange(len(x), len(x) + len(y))
    y_sorted = np.sort(y) if y_sorted is None else np.asarray(y_sorted, dtype=np.float64)
    p_value, effect = mann_whitney(x, y_sorted)
    low, high = cluster_bootstrap_diff(x, np.asarray(x_clusters), y, np.asarray(y_clusters), n_boot=n_boot, seed=seed)
    nan = math.nan
    return Comparison(
        n=len(x), mean=float(x.mean()) if len(x) else nan, median=float(np.median(x)) if len(x) else nan,
        other_n=len(y), other_mean=float(y.mean()) if len(y) else nan,
        other_median=float(np.median(y)) if len(y) else nan,
        diff=float(x.mean() - y.mean()) if len(x) and len(y) else nan,
        diff_ci_low=low, diff_ci_high=high, p_value=p_value, effect_size=effect,
    )
