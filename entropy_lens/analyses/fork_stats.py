"""Summary of ``entropy-lens fork``: does resampling at a high-entropy token change the answer
more often than at a low-entropy one?

``fork_summary(forks)`` reads the table of probed positions (``FORK_COLUMNS``: one row per
(response, kind, position) with the outcome of its K continuations, see
:func:`entropy_lens.tasks.outcomes.answer_outcomes`) and returns ``(summary, correlation)``.

``summary`` (``SUMMARY_COLUMNS``) has two sorts of row, told apart by ``row``:

- ``row="kind"``, one per kind present (``high``, ``low``, ``pivotal``): ``positions``
  (probed positions of that kind), ``responses`` (distinct (prompt_id, sample_id)),
  ``mean_entropy`` (nats, of the probed tokens), ``mean_changed`` (mean share of
  continuations whose final answer differs from the original one) with
  ``changed_ci_low``/``changed_ci_high``, ``mean_answer_entropy`` (nats, of the distribution
  of the continuations' answers) with ``answer_entropy_ci_low``/``_high``, and
  ``mean_accuracy`` (NaN where no problem has a gold answer). The CIs are 95% percentile
  bootstrap intervals of the mean over positions, resampling responses (a response brings
  all its positions), NaN with fewer than 2 responses.
- ``row="comparison"``, ``kind`` ``"high-low"`` and ``"pivotal-low"`` (when both kinds are
  present): ``diff_changed`` = mean changed of the first kind minus that of ``low``, its
  bootstrap CI over responses (``diff_changed_ci_low``/``_high``), the two-sided
  Mann-Whitney p-value ``p_changed`` and the rank-biserial effect size ``effect_changed``
  (P(first > low) - P(first < low)); the same for the answer entropy
  (``diff_answer_entropy``, ``diff_answer_entropy_ci_low``/``_high``, ``p_answer_entropy``,
  ``effect_answer_entropy``). ``positions``/``responses`` count both kinds together.
  Computed by :func:`entropy_lens.stats.compare`.

Columns a row does not fill are NaN (``positions``/``responses``: pandas' nullable Int64).
Rows whose ``changed`` (or answer entropy) is NaN (a fork with no continuation) leave
that number out.

``correlation``: Spearman's rank correlation of token entropy and changed over the probed
positions, each distinct (response, position) once (a position probed under two kinds
counts once, with its mean changed): ``{"rho", "p_value", "n"}``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from entropy_lens.errors import UserError
from entropy_lens.stats import N_BOOT, cluster_mean_ci, compare, rank_correlation

FORK_COLUMNS = ["prompt_id", "sample_id", "position", "token", "entropy", "kind", "n_samples", "accuracy", "changed",
                "answers", "answer_entropy"]
SUMMARY_COLUMNS = ["row", "kind", "positions", "responses", "mean_entropy", "mean_changed", "changed_ci_low",
                   "changed_ci_high", "mean_answer_entropy", "answer_entropy_ci_low", "answer_entropy_ci_high",
                   "mean_accuracy", "diff_changed", "diff_changed_ci_low", "diff_changed_ci_high", "p_changed",
                   "effect_changed", "diff_answer_entropy", "diff_answer_entropy_ci_low",
                   "diff_answer_entropy_ci_high", "p_answer_entropy", "effect_answer_entropy"]
COMPARISONS = (("high", "low"), ("pivotal", "low"))


@dataclass
class ForkResult:
    """What ``entropy-lens fork`` found. ``forks``: one row per probed (response, kind,
    position) (``FORK_COLUMNS``); ``summary`` and ``correlation``: :func:`fork_summary`;
    ``settings``: the run's settings (model, K, positions, seed, ...); ``skipped``: '' or a
    note on the rows left out; ``responses``: the probed rollout rows (for the figure's
    token-entropy strip), or None."""

    forks: Any  # pandas.DataFrame
    summary: Any  # pandas.DataFrame
    correlation: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    skipped: str = ""
    responses: Any = None  # pandas.DataFrame


def _finite(values: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(values)
    return values[keep], clusters[keep]


def _mean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else math.nan


def _kind_row(part, clusters: np.ndarray, *, n_boot: int, seed: int) -> dict:
    changed, answer_entropy = (part[c].to_numpy(dtype=np.float64) for c in ("changed", "answer_entropy"))
    accuracy = part["accuracy"].astype("float64").to_numpy(dtype=np.float64)  # None -> NaN
    row = {"positions": len(part), "responses": len(np.unique(clusters)),
           "mean_entropy": _mean(part["entropy"].to_numpy(dtype=np.float64)),
           "mean_changed": _mean(changed), "mean_answer_entropy": _mean(answer_entropy), "mean_accuracy": _mean(accuracy)}
    row["changed_ci_low"], row["changed_ci_high"] = cluster_mean_ci(*_finite(changed, clusters), n_boot=n_boot, seed=seed)
    row["answer_entropy_ci_low"], row["answer_entropy_ci_high"] = cluster_mean_ci(
        *_finite(answer_entropy, clusters), n_boot=n_boot, seed=seed)
    return row


def _comparison_row(x_part, x_clusters, y_part, y_clusters, *, n_boot: int, seed: int) -> dict:
    row = {"positions": len(x_part) + len(y_part),
           "responses": len(np.union1d(x_clusters, y_clusters))}
    for column in ("changed", "answer_entropy"):
        x, xc = _finite(x_part[column].to_numpy(dtype=np.float64), x_clusters)
        y, yc = _finite(y_part[column].to_numpy(dtype=np.float64), y_clusters)
        if len(x) == 0 or len(y) == 0:
            cmp = dict.fromkeys(("diff", "diff_ci_low", "diff_ci_high", "p_value", "effect_size"), math.nan)
        else:
            cmp = compare(x, y, xc, yc, n_boot=n_boot, seed=seed).as_dict()
        row[f"diff_{column}"] = cmp["diff"]
        row[f"diff_{column}_ci_low"], row[f"diff_{column}_ci_high"] = cmp["diff_ci_low"], cmp["diff_ci_high"]
        row[f"p_{column}"], row[f"effect_{column}"] = cmp["p_value"], cmp["effect_size"]
    return row


def fork_correlation(forks) -> dict:
    """Spearman's rho of entropy and changed over the distinct probed (response, position)."""
    if len(forks) == 0:
        return {"rho": math.nan, "p_value": math.nan, "n": 0}
    distinct = (forks.assign(changed=forks["changed"].astype("float64"), entropy=forks["entropy"].astype("float64"))
                .groupby(["prompt_id", "sample_id", "position"], sort=False)[["entropy", "changed"]].mean())
    distinct = distinct[np.isfinite(distinct["changed"]) & np.isfinite(distinct["entropy"])]
    rho, p = rank_correlation(distinct["entropy"].to_numpy(dtype=np.float64), distinct["changed"].to_numpy(dtype=np.float64))
    return {"rho": rho, "p_value": p, "n": int(len(distinct))}


def fork_summary(forks, *, n_boot: int = N_BOOT, seed: int = 0):
    """``(summary, correlation)`` of a forks table; see the module docstring."""
    import pandas as pd

    from entropy_lens.analyses.fork_positions import KINDS

    clusters = forks.groupby(["prompt_id", "sample_id"], sort=False).ngroup().to_numpy(dtype=np.int64)
    kinds = forks["kind"].to_numpy()
    present = [k for k in KINDS if (kinds == k).any()] + sorted(set(kinds.tolist()) - set(KINDS))
    rows = []
    for kind in present:
        mask = kinds == kind
        rows.append({"row": "kind", "kind": kind, **_kind_row(forks[mask], clusters[mask], n_boot=n_boot, seed=seed)})
    for first, second in COMPARISONS:
        if first in present and second in present:
            a, b = kinds == first, kinds == second
            rows.append({"row": "comparison", "kind": f"{first}-{second}",
                         **_comparison_row(forks[a], clusters[a], forks[b], clusters[b], n_boot=n_boot, seed=seed)})
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS).astype({"positions": "Int64", "responses": "Int64"})
    return summary, fork_correlation(forks)


def load_fork(result_or_folder) -> ForkResult:
    """A fork result as given, or read from the output folder of ``entropy-lens fork``: its
    ``forks.parquet`` and ``fork_settings.json``; the summary is computed again from them,
    with the run's seed, so it equals the run's ``fork_summary.csv``."""
    import pandas as pd

    if isinstance(result_or_folder, ForkResult):
        return result_or_folder
    if not isinstance(result_or_folder, (str, os.PathLike)):
        raise UserError(f"fork={type(result_or_folder).__name__} is neither a fork result nor a folder",
                        "pass the result of entropy_lens.fork(...) or the --out folder of `entropy-lens fork`")
    path = Path(result_or_folder) / "forks.parquet"
    if not path.is_file():
        raise UserError(f"{result_or_folder} holds no forks.parquet", "pass the --out folder of `entropy-lens fork`")
    forks = pd.read_parquet(path)
    settings_file = Path(result_or_folder) / "fork_settings.json"
    settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
    summary, correlation = fork_summary(forks, seed=int(settings.get("seed", 0)))
    return ForkResult(forks=forks, summary=summary, correlation=correlation, settings=settings)
