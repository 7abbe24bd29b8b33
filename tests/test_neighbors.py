"""Exact nearest neighbours: identical to a brute-force float64 reference, ties included,
whatever the block sizes and the filter's tile dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entropy_lens.analyses.neighbors import brute_force_neighbors, error_bound, nearest_neighbors

APPROX = ["bfloat16", "float32"]


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def lattice(n: int, seed: int) -> np.ndarray:
    """Unit vectors with four entries +-0.5 in 8 dimensions: every dot product is a multiple
    of 0.25, exact in any arithmetic, so ties are everywhere (and duplicates too)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 8), dtype=np.float32)
    for row in out:
        row[rng.choice(8, 4, replace=False)] = rng.choice([0.5, -0.5], 4)
    return out


@pytest.mark.parametrize("approx", APPROX)
@pytest.mark.parametrize("block,base_block,k", [(15, 13, 4), (20, 9, 1), (7, 37, 30), (64, 400, 30), (1000, 1000, 4)])
def test_ties_break_by_smaller_index_like_the_reference(approx, block, base_block, k):
    vectors = lattice(460, seed=0)
    base, queries = vectors[:400], vectors[400:]
    idx, sim = nearest_neighbors(queries, base, k, block=block, base_block=base_block, approx=approx)
    ref_idx, ref_sim = brute_force_neighbors(queries, base, k)
    assert idx.dtype == np.int64 and sim.dtype == np.float32 and idx.shape == (60, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sim, ref_sim)


@pytest.mark.parametrize("approx", APPROX)
def test_random_vectors_match_the_reference_with_blocks_smaller_than_the_data(approx):
    base, queries = unit(3000, 48, seed=1), unit(257, 48, seed=2)
    idx, sim = nearest_neighbors(queries, base, 5, block=50, base_block=700, approx=approx)
    ref_idx, ref_sim = brute_force_neighbors(queries, base, 5)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(sim, ref_sim, atol=1e-6)
    assert (np.diff(sim, axis=1) <= 0).all()  # decreasing similarity


@pytest.mark.parametrize("approx", APPROX)
def test_near_ties_finer_than_bfloat16_are_ranked_exactly(approx):
    # 300 base vectors whose similarities to the query differ by ~1e-5: one bfloat16 step
    # (2^-8 = 0.004) holds them all, so the order comes from the exact rescoring alone.
    rng = np.random.default_rng(3)
    query = unit(1, 32, seed=4)
    noise = rng.standard_normal((300, 32)).astype(np.float32)
    noise -= (noise @ query.T) * query  # orthogonal to the query
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    cos = 0.6 + rng.uniform(0, 3e-3, size=(300, 1)).astype(np.float32)
    base = np.concatenate([cos * query + np.sqrt(1 - cos ** 2) * noise, unit(2000, 32, seed=5) * 0.3], axis=0)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    idx, _ = nearest_neighbors(query, base, 20, base_block=128, approx=approx)
    np.testing.assert_array_equal(idx, brute_force_neighbors(query, base, 20)[0])


@pytest.mark.parametrize("approx", APPROX)
def test_many_duplicates_force_a_full_row_scan_and_keep_the_first_copies(approx):
    # 200 copies of one vector (more than the per-tile candidate list) spread over the base
    base = unit(1000, 16, seed=6)
    copies = np.arange(3, 1000, 5)
    base[copies] = base[3]
    idx, sim = nearest_neighbors(base[3:4], base, 7, base_block=256, approx=approx)
    np.testing.assert_array_equal(idx[0], copies[:7])
    np.testing.assert_allclose(sim[0], 1.0, atol=1e-6)


def test_bfloat16_tiles_stay_inside_the_proven_error_bound():
    # the filter is exact only if bfloat16 products accumulate in float32 as the bound assumes
    queries, base = unit(200, 384, seed=7), unit(3000, 384, seed=8)
    approx = (torch.from_numpy(queries).bfloat16() @ torch.from_numpy(base).bfloat16().T).double().numpy()
    exact = queries.astype(np.float64) @ base.astype(np.float64).T
    assert np.abs(approx - exact).max() <= error_bound(torch.bfloat16, 384) / 1.1


def test_inputs_and_edge_cases():
    base = unit(10, 4, seed=9)
    idx, sim = nearest_neighbors(torch.from_numpy(base[:2]).double(), base, 10)  # tensor input, k = n_base
    assert idx.shape == (2, 10) and sorted(idx[0]) == list(range(10)) and idx[0, 0] == 0
    empty_idx, empty_sim = nearest_neighbors(np.zeros((0, 4), np.float32), base, 3)
    assert empty_idx.shape == (0, 3) and empty_sim.shape == (0, 3)
    with pytest.raises(ValueError, match="k=11"):
        nearest_neighbors(base, base, 11)
    with pytest.raises(ValueError, match="k=0"):
        nearest_neighbors(base, base, 0)
    with pytest.raises(ValueError, match="dimension"):
        nearest_neighbors(unit(2, 5, seed=1), base, 1)
    with pytest.raises(ValueError, match="NaN"):
        nearest_neighbors(np.full((1, 4), np.nan, np.float32), base, 1)
