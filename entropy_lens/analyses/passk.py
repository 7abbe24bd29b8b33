"""Pass@k: the chance that at least one of k samples solves a problem (docs/method.md §6).

With ``n`` graded samples of a problem of which ``c`` are correct, the unbiased estimator
of Chen et al. (2021) is::

    pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k/i)

computed as the product (no huge binomials), and exactly 1.0 when ``n - c < k`` (every
k-subset then holds a correct sample). It is averaged over problems; the 95% CI of the mean
resamples *problems* (samples of one problem are not independent). ``n >= k`` is required
for every problem: a table with fewer samples is refused, never silently trimmed.
Bootstrapping "best of N" from the samples is a different, biased quantity.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable, NamedTuple

import numpy as np

from entropy_lens.errors import UserError
from entropy_lens.stats import N_BOOT

MEAN_COLUMNS = ["k", "pass_at_k", "ci_low", "ci_high", "problems"]


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of a problem with ``n`` samples, ``c`` of them correct.

    Raises ValueError unless ``n >= 1``, ``0 <= c <= n`` and ``1 <= k <= n`` (all integers).
    """
    n, c, k = _check_int("n", n), _check_int("c", c), _check_int("k", k)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be in [0, n] = [0, {n}], got {c}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"k = {k} is larger than n = {n}: pass@k needs at least k samples")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


class PassKTable(NamedTuple):
    """``per_problem``: one row per problem (prompt_id, n, c, pass@1, pass@2, ...);
    ``mean``: one row per k (k, pass_at_k, ci_low, ci_high, problems). Responses without a
    gold answer (``correct`` null) are left out; ``excluded`` counts them."""

    per_problem: "object"
    mean: "object"

    @property
    def excluded(self) -> int:
        return int(self.mean.attrs.get("excluded", 0))

    @property
    def skipped(self) -> str:
        """'' when every response was graded, else a note for the CLI's message."""
        n = self.excluded
        return f"left out {n} response{'s' * (n != 1)} without a gold answer" if n else ""


def check_ks(ks: Iterable) -> list[int]:
    """The distinct k values, sorted; UserError for anything but integers >= 1."""
    try:
        values = list(ks)
    except TypeError:
        raise UserError(f"k values {ks!r} are not a list", "pass k values such as 1,2,4,8") from None
    if not values:
        raise UserError("no k values given", "pass k values such as 1,2,4,8")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise UserError(f"k = {k!r} is not an integer >= 1", "pass k values such as 1,2,4,8")
    return sorted({int(k) for k in values})


def passk_table(rollouts, ks: Iterable[int], *, n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> PassKTable:
    """Pass@k of a rollout table (a DataFrame or a rollout directory) for each k in ``ks``.

    Returns ``(per_problem, mean)`` (a :class:`PassKTable`). Rows whose ``correct`` is null
    (no gold answer) are excluded and counted (``mean.attrs["excluded"]``). A k larger than
    some problem's number of graded samples raises :class:`UserError`.
    """
    import pandas as pd

    from entropy_lens.rollouts.load import as_frame
    from entropy_lens.stats import bootstrap_column_means

    ks = check_ks(ks)
    if n_boot < 1 or not 0 < level < 1:
        raise UserError(f"n_boot={n_boot}, level={level}", "use n_boot >= 1 and 0 < level < 1")
    rollouts = as_frame(rollouts, columns=["prompt_id", "sample_id", "correct"])
    missing = [c for c in ("prompt_id", "correct") if c not in rollouts.columns]
    if missing:
        raise UserError(f"rollout table lacks column(s) {missing}", "pass a rollout directory written by `entropy-lens generate`")
    graded = rollouts["correct"].notna().to_numpy()
    excluded = int((~graded).sum())
    if not graded.any():
        raise UserError(f"none of the {len(rollouts)} responses has a gold answer (column correct is null)",
                        "use a task set with answers (e.g. arithmetic, math500) so responses can be graded")
    table = pd.DataFrame({"prompt_id": rollouts["prompt_id"].to_numpy()[graded],
                          "correct": rollouts["correct"].to_numpy()[graded].astype(bool)})
    counts = table.groupby("prompt_id", sort=True)["correct"].agg(["size", "sum"])
    n = counts["size"].to_numpy(dtype=np.int64)
    c = counts["sum"].to_numpy(dtype=np.int64)

    too_few = n < ks[-1]
    if too_few.any():
        bad = [k for k in ks if (n < k).any()]
        fewest = int(n.min())
        raise UserError(
            f"k = {bad[0]} is larger than the number of graded samples of {int((n < bad[0]).sum())} of {len(n)} "
            f"problems (the fewest: {fewest}); pass@k needs at least k samples of every problem",
            f"sample at least {ks[-1]} responses per problem (--n {ks[-1]}) or use k <= {fewest}")

    per_problem = pd.DataFrame({"prompt_id": counts.index.to_numpy(), "n": n, "c": c})
    values = np.empty((len(n), len(ks)), dtype=np.float64)
    for j, k in enumerate(ks):
        values[:, j] = [pass_at_k(int(ni), int(ci), k) for ni, ci in zip(n, c)]
        per_problem[f"pass@{k}"] = values[:, j]

    problems = len(n)
    means = values.mean(axis=0)
    low, high = bootstrap_column_means(values, n_boot=n_boot, seed=seed, level=level)
    mean = pd.DataFrame({"k": ks, "pass_at_k": means, "ci_low": np.minimum(low, means),
                         "ci_high": np.maximum(high, means), "problems": problems})
    mean.attrs["excluded"] = excluded
    per_problem.attrs["excluded"] = excluded
    return PassKTable(per_problem, mean)
