import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu, spearmanr

from entropy_lens.analyses.fork_stats import (
    FORK_COLUMNS,
    SUMMARY_COLUMNS,
    ForkResult,
    fork_summary,
)
from entropy_lens.stats import cluster_mean_ci

# prompt_id, sample_id, position, entropy, kind, changed, answer_entropy, accuracy
ROWS = [
    ("p0", 0, 3, 2.0, "high", 0.75, 1.0, 0.25),
    ("p0", 1, 5, 2.5, "high", 1.0, 0.6, 0.0),
    ("p1", 0, 2, 3.0, "high", 0.5, 0.7, None),
    ("p0", 0, 4, 0.1, "low", 0.0, 0.0, 1.0),
    ("p0", 1, 6, 0.2, "low", 0.25, 0.5, 0.75),
    ("p1", 0, 1, 0.05, "low", 0.0, 0.0, None),
    ("p0", 0, 3, 2.0, "pivotal", 0.75, 1.0, 0.25),  # also probed as high
    ("p1", 0, 7, 1.0, "pivotal", 0.5, 0.3, None),
]


def _forks(rows=ROWS):
    frame = pd.DataFrame(rows, columns=["prompt_id", "sample_id", "position", "entropy", "kind", "changed",
                                        "answer_entropy", "accuracy"])
    frame["token"] = " t"
    frame["n_samples"] = 4
    frame["answers"] = [["4"]] * len(frame)
    return frame[FORK_COLUMNS]


def _column(kind, name):
    return np.array([r[{"entropy": 3, "changed": 5, "answer_entropy": 6}[name]] for r in ROWS if r[4] == kind])


def test_kind_rows():
    summary, _ = fork_summary(_forks(), n_boot=500)
    assert list(summary.columns) == SUMMARY_COLUMNS
    kinds = summary[summary["row"] == "kind"].set_index("kind")
    assert list(kinds.index) == ["high", "low", "pivotal"]
    assert kinds.loc["high", "positions"] == 3 and kinds.loc["high", "responses"] == 3
    assert kinds.loc["pivotal", "positions"] == 2 and kinds.loc["pivotal", "responses"] == 2
    for kind in ("high", "low", "pivotal"):
        row = kinds.loc[kind]
        assert row["mean_entropy"] == pytest.approx(_column(kind, "entropy").mean())
        assert row["mean_changed"] == pytest.approx(_column(kind, "changed").mean())
        assert row["mean_answer_entropy"] == pytest.approx(_column(kind, "answer_entropy").mean())
        changed = _column(kind, "changed")
        assert changed.min() <= row["changed_ci_low"] <= row["mean_changed"] <= row["changed_ci_high"] <= changed.max()
        assert math.isnan(row["diff_changed"])
    assert kinds.loc["high", "mean_accuracy"] == pytest.approx(0.125)  # None (no gold) left out
    assert kinds.loc["low", "mean_accuracy"] == pytest.approx(0.875)


def test_comparison_rows():
    summary, _ = fork_summary(_forks(), n_boot=500, seed=1)
    rows = summary[summary["row"] == "comparison"].set_index("kind")
    assert list(rows.index) == ["high-low", "pivotal-low"]
    high, low = _column("high", "changed"), _column("low", "changed")
    row = rows.loc["high-low"]
    assert row["diff_changed"] == pytest.approx(high.mean() - low.mean()) and row["diff_changed"] > 0
    assert row["diff_changed_ci_low"] <= row["diff_changed"] <= row["diff_changed_ci_high"]
    expected = mannwhitneyu(high, low, method="asymptotic", use_continuity=False)
    assert row["p_changed"] == pytest.approx(expected.pvalue)
    assert row["effect_changed"] == pytest.approx(1.0)  # every high changed more than every low
    ae_high, ae_low = _column("high", "answer_entropy"), _column("low", "answer_entropy")
    assert row["diff_answer_entropy"] == pytest.approx(ae_high.mean() - ae_low.mean())
    assert row["p_answer_entropy"] == pytest.approx(
        mannwhitneyu(ae_high, ae_low, method="asymptotic", use_continuity=False).pvalue)
    assert row["positions"] == 6 and row["responses"] == 3
    assert rows.loc["pivotal-low", "diff_changed"] > 0
    assert pd.isna(row["mean_changed"])


def test_signs_turn_with_the_data():
    flipped = [r[:5] + (1.0 - r[5],) + r[6:] for r in ROWS]
    summary, _ = fork_summary(_forks(flipped), n_boot=200)
    row = summary.set_index("kind").loc["high-low"]
    assert row["diff_changed"] < 0 and row["effect_changed"] == pytest.approx(-1.0)


def test_correlation_counts_each_position_once():
    _, corr = fork_summary(_forks(), n_boot=100)
    distinct = {(r[0], r[1], r[2]): (r[3], r[5]) for r in ROWS}
    x, y = zip(*distinct.values())
    rho, p = spearmanr(x, y)
    assert corr["n"] == 7
    assert corr["rho"] == pytest.approx(rho) and corr["p_value"] == pytest.approx(p)
    assert corr["rho"] > 0


def test_missing_kinds_and_nan_outcomes():
    only_high = [r for r in ROWS if r[4] == "high"]
    only_high.append(("p2", 0, 1, 1.5, "high", math.nan, math.nan, None))  # a fork with no continuation
    summary, corr = fork_summary(_forks(only_high), n_boot=100)
    assert summary["row"].tolist() == ["kind"]
    row = summary.iloc[0]
    assert row["positions"] == 4 and row["mean_changed"] == pytest.approx(0.75)
    assert corr["n"] == 3
    empty, corr = fork_summary(_forks([]), n_boot=10)
    assert len(empty) == 0 and corr["n"] == 0 and math.isnan(corr["rho"])


def test_cluster_mean_ci():
    values = np.array([0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.25])
    clusters = np.array([0, 0, 1, 1, 2, 2, 3])
    low, high = cluster_mean_ci(values, clusters, n_boot=1000, seed=0)
    assert low < values.mean() < high
    assert (low, high) == cluster_mean_ci(values, clusters, n_boot=1000, seed=0)
    assert all(math.isnan(v) for v in cluster_mean_ci(values[:2], clusters[:2]))  # one response: no interval


def test_result_holds_the_parts():
    summary, corr = fork_summary(_forks(), n_boot=50)
    result = ForkResult(forks=_forks(), summary=summary, correlation=corr, settings={"samples": 4})
    assert result.skipped == "" and result.settings["samples"] == 4
