import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from entropy_lens.quantiles import sorted_quantiles
from entropy_lens.stats import (
    _cluster_index,
    _tie_sum_sorted,
    cluster_bootstrap_diff,
    compare,
    compare_groups,
    mann_whitney,
)


def _scipy(x, y):
    r = mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=False)
    return r.pvalue, 2 * r.statistic / (len(x) * len(y)) - 1


@pytest.mark.parametrize("seed", range(6))
def test_mann_whitney_equals_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 300, 2)
    levels = [3, 10, 1000][seed % 3]  # heavy ties, some ties, almost none
    x = rng.integers(0, levels, n) / 7.0 + (0.3 if seed % 2 else 0.0)
    y = rng.integers(0, levels, m) / 7.0
    p, effect = mann_whitney(x, np.sort(y))
    p_ref, effect_ref = _scipy(x, y)
    assert p == pytest.approx(p_ref, rel=1e-9, abs=1e-15)
    assert effect == pytest.approx(effect_ref, abs=1e-12)


def test_mann_whitney_known_values():
    # x entirely above y: U = n*m, effect 1; x entirely below: effect -1
    assert mann_whitney(np.array([5.0, 6.0]), np.array([1.0, 2.0, 3.0]))[1] == 1.0
    assert mann_whitney(np.array([0.0]), np.array([1.0, 2.0]))[1] == -1.0
    # all values equal: no evidence, effect 0
    p, effect = mann_whitney(np.array([1.0, 1.0]), np.array([1.0, 1.0, 1.0]))
    assert (p, effect) == (1.0, 0.0)
    assert all(math.isnan(v) for v in mann_whitney(np.array([]), np.array([1.0])))


def test_tie_sum_of_sorted_runs():
    values = np.sort(np.array([1, 1, 2, 3, 3, 3, 4, 5, 5, 5, 5], dtype=float))
    assert _tie_sum_sorted(values) == (2**3 - 2) + (3**3 - 3) + (4**3 - 4)
    assert _tie_sum_sorted(np.arange(10.0)) == 0.0
    assert _tie_sum_sorted(np.zeros(0)) == 0.0


def test_cluster_index_matches_unique():
    rng = np.random.default_rng(0)
    for ids in ([rng.integers(0, 50, 30), rng.integers(10, 80, 40)],          # small ints: bincount path
                [rng.integers(0, 10**9, 30), rng.integers(0, 10**9, 40)],    # large ints: sort path
                [np.array(["b", "a", "c"]), np.array(["c", "d"])]):          # strings
        mapped, k = _cluster_index(ids)
        _, inverse = np.unique(np.concatenate(ids), return_inverse=True)
        assert k == len(np.unique(np.concatenate(ids)))
        assert np.array_equal(np.concatenate(mapped), inverse)


def test_compare_fields():
    x, y = np.array([1.0, 2.0, 3.0, 10.0]), np.array([0.5, 1.5, 2.5])
    c = compare(x, y, np.array([0, 0, 1, 1]), np.array([0, 1, 1]), n_boot=500)
    assert (c.n, c.other_n) == (4, 3)
    assert c.mean == 4.0 and c.median == 2.5 and c.other_mean == 1.5 and c.other_median == 1.5
    assert c.diff == 2.5
    assert c.diff_ci_low <= c.diff_ci_high
    assert (c.p_value, c.effect_size) == pytest.approx(_scipy(x, y))
    empty = compare(np.array([]), y)
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.diff_ci_low) and math.isnan(empty.p_value)


def test_compare_groups_equals_separate_compares():
    rng = np.random.default_rng(3)
    y, yc = rng.gamma(1.0, 1.0, 2000), rng.integers(0, 100, 2000)
    groups = {"a": (rng.gamma(1.5, 1.0, 300), rng.integers(0, 100, 300)),
              "b": (rng.gamma(1.0, 1.0, 50), rng.integers(0, 100, 50)),
              "outside": (rng.gamma(1.0, 1.0, 20), rng.integers(100, 105, 20)),  # clusters not among y's
              "empty": (np.zeros(0), np.zeros(0, dtype=int))}
    together = compare_groups(groups, y, yc, n_boot=300, seed=5)
    for name, (x, xc) in groups.items():
        alone = compare(x, y, xc, yc, n_boot=300, seed=5)
        for field, value in alone.as_dict().items():
            other = together[name].as_dict()[field]
            assert (math.isnan(value) and math.isnan(other)) or other == pytest.approx(value, rel=1e-12), (name, field)


def _clustered(rng, responses, per_response, shift):
    """Values with a strong per-response effect: tokens of one response are correlated."""
    clusters = np.repeat(np.arange(responses), per_response)
    effect = np.repeat(rng.normal(0.0, 1.0, responses), per_response)
    return effect + rng.normal(0.0, 0.2, len(clusters)) + shift, clusters


def test_bootstrap_ci_covers_true_difference_and_shrinks():
    rng = np.random.default_rng(7)
    widths = []
    for n in (200, 5000):
        x = rng.normal(1.5, 1.0, n)
        y = rng.normal(1.0, 1.0, 2 * n)
        low, high = cluster_bootstrap_diff(x, np.arange(n), y, np.arange(n, 3 * n), n_boot=1000, seed=1)
        assert low < 0.5 < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # about 1/sqrt(25) = 1/5


def test_cluster_bootstrap_is_wider_than_token_bootstrap_for_correlated_tokens():
    rng = np.random.default_rng(11)
    # 60 responses hold both groups' tokens, each group with its own per-response effect
    x, xc = _clustered(rng, 60, 20, 0.3)
    y, yc = _clustered(rng, 60, 20, 0.0)
    low_c, high_c = cluster_bootstrap_diff(x, xc, y, yc, n_boot=1000, seed=2)
    low_t, high_t = cluster_bootstrap_diff(x, np.arange(len(x)), y, np.arange(len(x), len(x) + len(y)), n_boot=1000, seed=2)
    assert high_c - low_c > 2.0 * (high_t - low_t)
    assert low_c < x.mean() - y.mean() < high_c


def test_cluster_bootstrap_covers_the_true_shift_across_seeds():
    hits = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        x, xc = _clustered(rng, 40, 10, 0.5)
        y, yc = _clustered(rng, 40, 10, 0.0)
        yc = yc + 40  # different responses: the per-response effects do not cancel
        low, high = cluster_bootstrap_diff(x, xc, y, yc, n_boot=400, seed=seed)
        hits += low < 0.5 < high
    assert hits >= 16  # nominal 95%: 19 of 20 expected


def test_sorted_quantiles_equal_numpy():
    rng = np.random.default_rng(4)
    q = [0.0, 0.05, 0.25, 0.5, 0.8, 0.95, 1.0]
    for n in (1, 2, 7, 1000):
        x = rng.gamma(1.0, 1.0, n).astype(np.float32)
        assert sorted_quantiles(np.sort(x), q) == pytest.approx(np.quantile(x.astype(np.float64), q), rel=1e-12)
    assert np.isnan(sorted_quantiles(np.zeros(0), [0.5])).all()


def test_no_interval_for_a_group_seen_in_a_single_response():
    import math

    from entropy_lens.stats import compare

    x = np.array([2.0, 2.5, 3.0])
    y = np.array([1.0, 1.2, 0.8, 1.1, 0.9])
    result = compare(x, y, np.array([7, 7, 7]), np.array([1, 2, 3, 7, 8]))
    assert math.isnan(result.diff_ci_low) and math.isnan(result.diff_ci_high)
    assert result.n == 3 and result.p_value < 0.1  # the test itself still runs


def test_grouped_comparisons_give_no_interval_for_a_single_response_either():
    import math

    from entropy_lens.stats import compare_groups

    y = np.array([1.0, 1.2, 0.8, 1.1, 0.9])
    y_clusters = np.array([1, 2, 3, 4, 5])
    single = (np.array([2.0, 3.0]), np.array([2, 2]))
    spread = (np.array([2.0, 3.0, 2.5]), np.array([1, 2, 3]))
    out = compare_groups({"single": single, "spread": spread}, y, y_clusters)
    assert math.isnan(out["single"].diff_ci_low) and math.isnan(out["single"].diff_ci_high)
    assert math.isfinite(out["spread"].diff_ci_low) and math.isfinite(out["spread"].diff_ci_high)


def test_rank_correlation_matches_scipy_and_refuses_constant_input():
    from scipy.stats import spearmanr

    from entropy_lens.stats import rank_correlation

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert rank_correlation(x, y) == pytest.approx(tuple(spearmanr(x, y)))
    assert all(math.isnan(v) for v in rank_correlation(x, np.ones(50)))
    assert all(math.isnan(v) for v in rank_correlation(x[:2], y[:2]))


def test_bootstrap_column_means_brackets_each_mean():
    from entropy_lens.stats import bootstrap_column_means

    values = np.random.default_rng(4).random((40, 3))
    low, high = bootstrap_column_means(values, n_boot=500, seed=1)
    assert (low < values.mean(axis=0)).all() and (values.mean(axis=0) < high).all()
