"""Comparing the entropy of a group of tokens (or sentences) with the rest.

Every comparison reports counts, means, medians, a bootstrap 95% CI of the difference of
means, a two-sided Mann-Whitney U p-value and the rank-biserial effect size (equal to
Cliff's delta). The bootstrap resamples *responses* (clusters), not tokens: tokens of one
response are not independent, and a token-level bootstrap would give CIs that are too
narrow.

Cost: the test is O((n + m) log m) from binary searches into the sorted rest; the
bootstrap is O(n + m) to sum values per cluster, then O(n_boot x clusters). Several groups
compared with the same rest (:func:`compare_groups`) share the sort, the tie counts and the
bootstrap draws.

Intervals of independent units (responses, problems): :func:`mean_ci` of a mean,
:func:`wilson_interval` of a share, and of the differences between two checkpoints
:func:`mean_difference` (Welch) and :func:`newcombe_difference` (two shares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_BOOT = 2000
# Bootstrap draws are made this many (resample x cluster) entries at a time, bounding memory.
_BLOCK_ENTRIES = 4_000_000


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


def _tie_sum_sorted(values_sorted: np.ndarray) -> float:
    """sum(t^3 - t) over the runs of equal values of a sorted array (t = run length)."""
    equal = np.flatnonzero(values_sorted[1:] == values_sorted[:-1])  # i: value i+1 repeats value i
    if len(equal) == 0:
        return 0.0
    # consecutive repeats form one run; a run of r repeats is a tie of r + 1 values
    breaks = np.flatnonzero(np.diff(equal) != 1)
    repeats = np.diff(np.concatenate([[-1], breaks, [len(equal) - 1]]))
    t = repeats.astype(np.float64) + 1.0
    return float((t ** 3 - t).sum())


def mann_whitney(x: np.ndarray, y_sorted: np.ndarray, *, y_tie_sum: float | None = None) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test of ``x`` against ``y`` (given sorted), normal
    approximation with tie correction, no continuity correction (scipy's
    ``mannwhitneyu(x, y, method="asymptotic", use_continuity=False)``). Returns
    (p_value, rank-biserial effect size = P(x > y) - P(x < y), Cliff's delta).

    U counts pairs with x > y plus half the ties, from binary searches into the sorted
    ``y``: O((n + m) log m), so one sorted reference serves many groups. The tie term of the
    pooled sample is the one of ``y`` (``y_tie_sum``, computed if not given) corrected for
    the values of ``x``; nothing of size n + m is sorted.
    """
    x = np.asarray(x, dtype=np.float64)
    n1, n2 = len(x), len(y_sorted)
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    # distinct x values (sorted: the binary searches then walk y in order) and their counts
    x_sorted = np.sort(x)
    starts = np.flatnonzero(np.concatenate([[True], x_sorted[1:] != x_sorted[:-1]]))
    values = x_sorted[starts]
    tx = np.diff(np.concatenate([starts, [n1]]))
    below = np.searchsorted(y_sorted, values, side="left")
    ty = np.searchsorted(y_sorted, values, side="right") - below
    u = float(int((tx * below).sum()) + 0.5 * int((tx * ty).sum()))
    effect = 2.0 * u / (n1 * n2) - 1.0
    if y_tie_sum is None:
        y_tie_sum = _tie_sum_sorted(y_sorted)
    # ties of the pooled sample: each distinct x value adds its x count to its run in y
    t, ty = (tx + ty).astype(np.float64), ty.astype(np.float64)
    tie_sum = y_tie_sum + float(((t ** 3 - t) - (ty ** 3 - ty)).sum())
    n = n1 + n2
    tie_term = tie_sum / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0, effect
    z = (u - n1 * n2 / 2.0) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2.0)), effect


def _cluster_index(clusters: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Map cluster ids (any comparable type) to 0..k-1 in sorted order of the ids.

    Small non-negative integer ids (response indices) are mapped with a bincount instead of
    a sort; the result is the same as ``np.unique(..., return_inverse=True)``.
    """
    sizes = [len(c) for c in clusters]
    allc = np.concatenate(clusters) if clusters else np.zeros(0, dtype=np.int64)
    if allc.dtype.kind in "iu" and len(allc) and allc.min() >= 0 and allc.max() < 4 * len(allc) + 1024:
        present = np.bincount(allc) > 0
        remap = np.cumsum(present) - 1
        inverse, k = remap[allc], int(present.sum())
    else:
        ids, inverse = np.unique(allc, return_inverse=True)
        k = len(ids)
    return np.split(inverse.reshape(-1), np.cumsum(sizes)[:-1]), k


def bootstrap_weights(k: int, n_boot: int, seed: int):
    """Yield blocks of resample multiplicities, shape (rows, k): each row is a resample of k
    clusters drawn with replacement (multinomial(k, 1/k), as counts of uniform draws)."""
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ENTRIES // max(k, 1))
    dtype = np.int32 if k < 2**31 else np.int64
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        # row r's draws index the r-th k-wide slot of one bincount
        draws = np.add(rng.integers(0, k, size=(rows, k), dtype=dtype), (np.arange(rows, dtype=np.int64) * k)[:, None],
                       dtype=np.int64)
        yield np.bincount(draws.ravel(), minlength=rows * k).reshape(rows, k).astype(np.float64)


def bootstrap_column_means(values: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0,
                           level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of each column's mean of ``values`` (rows: independent units,
    e.g. problems, resampled with replacement): ``(low, high)``, one entry per column."""
    rows = len(values)
    boot = np.concatenate([w @ values for w in bootstrap_weights(rows, n_boot, seed)]) / rows
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return low, high


def cluster_mean_ci(values: np.ndarray, clusters: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values``, resampling their ``clusters`` (e.g.
    responses) with replacement; NaN with fewer than 2 clusters."""
    present, index = np.unique(clusters, return_inverse=True)
    if len(values) == 0 or len(present) < 2:
        return math.nan, math.nan
    sums = np.stack([np.bincount(index, weights=values), np.bincount(index).astype(np.float64)], axis=1)
    boot = np.concatenate([w @ sums for w in bootstrap_weights(len(present), n_boot, seed)])
    return _percentile_ci(boot[:, 0] / boot[:, 1], level)  # every resample holds a cluster


def rank_correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's rho of ``x`` and ``y`` and its two-sided p-value (scipy's ``spearmanr``);
    NaN for fewer than 3 pairs or a constant side (no ranking to correlate)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    from scipy.stats import spearmanr

    rho, p = spearmanr(x, y)
    return float(rho), float(p)


def _percentile_ci(diffs: np.ndarray, level: float) -> tuple[float, float]:
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return math.nan, math.nan
    alpha = (1 - level) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return float(low), float(high)


def _bootstrap_many(groups: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, y_clusters: np.ndarray, *,
                    n_boot: int, seed: int, level: float) -> list[tuple[float, float]]:
    """Percentile CIs of mean(x_g) - mean(y) for each group g, resampling clusters.

    Each group's CI is what :func:`cluster_bootstrap_diff` gives for it alone; groups whose
    clusters all appear among ``y``'s share one set of draws.
    """
    out: list[tuple[float, float]] = [(math.nan, math.nan)] * len(groups)
    if len(y) == 0:
        return out
    shared, alone = [], []
    y_ids = np.asarray(y_clusters)
    if len(np.unique(y_ids)) < 2:
        return out
    for g, (x, xc) in enumerate(groups):
        if len(x) == 0 or len(np.unique(xc)) < 2:  # see _bootstrap_pair: no interval from one response
            continue
        (shared if _is_subset(np.asarray(xc), y_ids) else alone).append(g)
    if shared:
        (y_map, *x_maps), k = _cluster_index([y_ids] + [np.asarray(groups[g][1]) for g in shared])
        columns = [np.bincount(y_map, weights=y, minlength=k), np.bincount(y_map, minlength=k).astype(np.float64)]
        for g, cx in zip(shared, x_maps):
            x = groups[g][0]
            columns += [np.bincount(cx, weights=x, minlength=k), np.bincount(cx, minlength=k).astype(np.float64)]
        stats = np.stack(columns, axis=1)
        sums = np.concatenate([w @ stats for w in bootstrap_weights(k, n_boot, seed)])
        with np.errstate(invalid="ignore", divide="ignore"):
            y_mean = sums[:, 0] / sums[:, 1]
            for j, g in enumerate(shared):
                out[g] = _percentile_ci(sums[:, 2 + 2 * j] / sums[:, 3 + 2 * j] - y_mean, level)
    for g in alone:
        x, xc = groups[g]
        out[g] = _bootstrap_pair(x, np.asarray(xc), y, y_ids, n_boot=n_boot, seed=seed, level=level)
    return out


def _is_subset(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether every id of ``a`` occurs in ``b`` (a lookup table for small integer ranges)."""
    if len(a) == 0:
        return True
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        return bool(np.isin(a, b).all())
    lo = min(int(a.min()), int(b.min()) if len(b) else 0)
    hi = max(int(a.max()), int(b.max()) if len(b) else 0)
    if lo >= 0 and hi < 4 * (len(a) + len(b)) + 1024:
        seen = np.zeros(hi + 1, dtype=bool)
        seen[b] = True
        return bool(seen[a].all())
    return bool(np.isin(a, b).all())


def _bootstrap_pair(x, x_clusters, y, y_clusters, *, n_boot: int, seed: int, level: float) -> tuple[float, float]:
    # A group seen in a single response has no between-response variation to resample:
    # any interval would be an artefact, so there is none.
    if len(np.unique(x_clusters)) < 2 or len(np.unique(y_clusters)) < 2:
        return math.nan, math.nan
    (cx, cy), k = _cluster_index([np.asarray(x_clusters), np.asarray(y_clusters)])
    stats = np.stack([np.bincount(cx, weights=x, minlength=k), np.bincount(cx, minlength=k).astype(np.float64),
                      np.bincount(cy, weights=y, minlength=k), np.bincount(cy, minlength=k).astype(np.float64)], axis=1)
    sums = np.concatenate([w @ stats for w in bootstrap_weights(k, n_boot, seed)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return _percentile_ci(sums[:, 0] / sums[:, 1] - sums[:, 2] / sums[:, 3], level)


def cluster_bootstrap_diff(x: np.ndarray, x_clusters: np.ndarray, y: np.ndarray, y_clusters: np.ndarray, *,
                           n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(x) - mean(y), resampling clusters (e.g. responses).

    Clusters are ids shared by x and y: a resampled response brings its tokens of both
    groups. Works on per-cluster sums and counts, so the cost is O(n_boot x clusters).
    Resamples where a group is empty are dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) == 0 or len(y) == 0:
        return math.nan, math.nan
    return _bootstrap_pair(x, x_clusters, y, y_clusters, n_boot=n_boot, seed=seed, level=level)


def _comparison(x: np.ndarray, y: np.ndarray, y_sorted: np.ndarray, p_value: float, effect: float,
                ci: tuple[float, float]) -> Comparison:
    nan = math.nan
    m = len(y_sorted)
    y_median = float(0.5 * (y_sorted[(m - 1) // 2] + y_sorted[m // 2])) if m else nan
    return Comparison(
        n=len(x), mean=float(x.mean()) if len(x) else nan, median=float(np.median(x)) if len(x) else nan,
        other_n=len(y), other_mean=float(y.mean()) if len(y) else nan, other_median=y_median,
        diff=float(x.mean() - y.mean()) if len(x) and len(y) else nan,
        diff_ci_low=ci[0], diff_ci_high=ci[1], p_value=p_value, effect_size=effect,
    )


def compare(x: np.ndarray, y: np.ndarray, x_clusters: np.ndarray | None = None, y_clusters: np.ndarray | None = None,
            *, y_sorted: np.ndarray | None = None, n_boot: int = N_BOOT, seed: int = 0) -> Comparison:
    """Compare values ``x`` (a group) with ``y`` (the rest); see module docstring.

    ``*_clusters`` give each value's response id for the cluster bootstrap; without them
    each value is its own cluster. ``y_sorted`` may pass ``np.sort(y)`` when ``y`` is
    reused across many comparisons (or use :func:`compare_groups`).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x_clusters is None or y_clusters is None:
        x_clusters = np.arange(len(x))
        y_clusters = np.arange(len(x), len(x) + len(y))
    y_sorted = np.sort(y) if y_sorted is None else np.asarray(y_sorted, dtype=np.float64)
    p_value, effect = mann_whitney(x, y_sorted)
    ci = cluster_bootstrap_diff(x, np.asarray(x_clusters), y, np.asarray(y_clusters), n_boot=n_boot, seed=seed)
    return _comparison(x, y, y_sorted, p_value, effect, ci)


def compare_groups(groups: dict[str, tuple[np.ndarray, np.ndarray]], y: np.ndarray, y_clusters: np.ndarray, *,
                   y_sorted: np.ndarray | None = None, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Comparison]:
    """``compare(x, y, x_clusters, y_clusters)`` for every ``name: (x, x_clusters)`` of
    ``groups``, with the same results, sharing the work that depends on ``y`` only: one
    sort (or ``y_sorted``, if given), one tie count, and one set of bootstrap draws for the
    groups whose clusters all occur in ``y_clusters`` (the usual case: responses)."""
    y = np.asarray(y, dtype=np.float64)
    y_clusters = np.asarray(y_clusters)
    y_sorted = np.sort(y) if y_sorted is None else np.asarray(y_sorted, dtype=np.float64)
    y_ties = _tie_sum_sorted(y_sorted)
    prepared = [(np.asarray(x, dtype=np.float64), np.asarray(xc)) for x, xc in groups.values()]
    cis = _bootstrap_many(prepared, y, y_clusters, n_boot=n_boot, seed=seed, level=0.95)
    out = {}
    for name, (x, _), ci in zip(groups, prepared, cis):
        p_value, effect = mann_whitney(x, y_sorted, y_tie_sum=y_ties)
        out[name] = _comparison(x, y, y_sorted, p_value, effect, ci)
    return out


def mean_ci(values, *, lower_bound: float | None = None) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% CI ``(mean, low, high)`` of independent values
    (e.g. one number per response). ``lower_bound`` clips the interval (0 for counts)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(len(values))
    low = mean - half if lower_bound is None else max(lower_bound, mean - half)
    return mean, low, mean + half


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (stays inside [0, 1], fine for small counts)."""
    if total == 0:
        return (math.nan, math.nan)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (centre - half, centre + half)


def newcombe_difference(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """p2 - p1 and its 95% Newcombe (hybrid Wilson score) interval, independent samples."""
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan, math.nan
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def mean_difference(x, y) -> tuple[float, float, float]:
    """mean(y) - mean(x) and its 95% normal (Welch) interval, independent values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        return float(np.mean(y) - np.mean(x)) if len(x) and len(y) else math.nan, math.nan, math.nan
    d = float(y.mean() - x.mean())
    half = 1.96 * math.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
    return d, d - half, d + half
