"""Order statistics computed without a full float64 copy or a Python loop: quantiles of
sorted values, one quantile by partition, and medians of many groups from one sort."""

from __future__ import annotations

import math

import numpy as np


def sorted_quantiles(values_sorted: np.ndarray, q) -> np.ndarray:
    """``np.quantile(values, q)`` (linear interpolation) of values given sorted, without a
    pass over them."""
    q = np.atleast_1d(np.asarray(q, dtype=np.float64))
    n = len(values_sorted)
    if n == 0:
        return np.full(len(q), math.nan)
    position = q * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    a, b = values_sorted[low].astype(np.float64), values_sorted[high].astype(np.float64)
    return a + (b - a) * (position - low)


def quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (linear interpolation), selecting the two order statistics
    in the array's own dtype (no float64 copy of all token entropies)."""
    n = len(values)
    if n == 0:
        return math.nan
    position = q * (n - 1)
    low = int(math.floor(position))
    high = min(low + 1, n - 1)
    part = np.partition(values, [low, high]) if high != low else np.partition(values, low)
    a, b = float(part[low]), float(part[high])
    return a + (b - a) * (position - low)


def group_medians(ids: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` per group id in 0..n_groups-1 (NaN for empty groups), from one
    sort of packed (id, value-order) keys."""
    counts = np.bincount(ids, minlength=n_groups)
    out = np.full(n_groups, math.nan)
    if len(values) == 0:
        return out
    as32 = values.astype(np.float32) + np.float32(0.0)  # -0.0 becomes +0.0
    if values.min() >= 0 and np.array_equal(as32.astype(values.dtype), values):
        # non-negative float32: the bit pattern orders like the value
        keys = (ids.astype(np.uint64) << np.uint64(32)) | as32.view(np.uint32).astype(np.uint64)
        ordered = (np.sort(keys) & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32).astype(np.float64)
    else:
        order = np.argsort(values, kind="stable")
        rank = np.empty(len(values), dtype=np.uint64)
        rank[order] = np.arange(len(values), dtype=np.uint64)
        keys = (ids.astype(np.uint64) << np.uint64(32)) | rank
        ordered = values[order][(np.sort(keys) & np.uint64(0xFFFFFFFF)).astype(np.int64)]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    seen = counts > 0
    low = start[seen] + (counts[seen] - 1) // 2
    high = start[seen] + counts[seen] // 2
    out[seen] = 0.5 * (ordered[low] + ordered[high])
    return out
