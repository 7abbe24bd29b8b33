"""Exact k nearest neighbours by cosine similarity, in bounded memory.

``nearest_neighbors(queries, base, k)`` takes unit vectors (rows), so cosine similarity is
the dot product. It is exact: the answer is the k base rows with the largest dot product
(computed in float64 from the float32 inputs), ties broken by the smaller base index,
listed by decreasing similarity then increasing index.

How (filter, then refine):

1. Queries are taken ``block`` rows at a time and the base ``base_block`` rows at a time.
   Each (block x base_block) tile of *approximate* similarities is one matrix product into
   a reused buffer: bfloat16 inputs with float32 accumulation where the CPU has native
   bfloat16 dot products (AVX512-BF16 / AMX: about 3x the float32 speed), else float32.
   The approximation error has a proven bound ``eps`` per query (below).
2. For each query, ``tau`` = the k-th largest approximate similarity seen so far. Every
   true top-k neighbour j satisfies ``approx_j >= tau - 2 eps`` (k rows have approx >= tau,
   so exact >= tau - eps, so the true k-th similarity is >= tau - eps, and approx_j >=
   exact_j - eps). ``torch.topk`` gives each tile's ``m`` best candidates; when the m-th is
   already below ``tau - 2 eps`` the list holds every candidate of that row, otherwise the
   row is scanned in full. A candidate must also reach the exact k-th best so far minus eps.
3. Candidates are scored exactly (float64, one ``einsum`` row per pair: the same loop for
   every pair, so identical base rows get identical scores) and merged into a running exact
   top-k by (similarity desc, index asc). Ties at the k-th place are therefore broken by
   index, never by ``topk``.

Error bound (``u`` = unit roundoff of the approximate dtype, 2^-8 for bfloat16; ``d`` the
dimension; ``g = d 2^-24 / (1 - d 2^-24)`` for float32 accumulation):
rounding the inputs costs ``(2u + u^2) |q| |b|``, accumulating ``g (1+u)^2 |q| |b|``,
rounding the output ``u (1+u)^2 (1+g) |q| |b|``; ``eps = 1.1 (3u + 4u^2 + 2g) |q_i| max|b|``
covers all three with 10% to spare. For float32 tiles (u = 0: no rounding but the accumulation's)
``eps = 1.1 * 2g |q_i| max|b|``. ``torch.float32_matmul_precision`` is held at "highest"
during the call so that float32 tiles are really float32.

Memory: the tile buffer (``block * base_block`` numbers: 64 MiB in bfloat16, 128 MiB in
float32 by default), a bfloat16 copy of the base and the candidates; 1e5 x 1e5 sentences of
dimension 384 took about 250 MB above the inputs (and under a minute on 2 cores).

Speed (``benchmarks/bench_rare.py``, 100k base x 10k queries, d=384, k=5, 2-core AMD EPYC
with AVX512-BF16): 2.1 s, against 8.6 s for sentence-transformers' ``semantic_search`` and
19.9 s for scikit-learn's brute-force cosine ``NearestNeighbors``, same neighbours (one run
each on a shared machine). With float32 tiles (CPUs without native bfloat16) one run took
5.4 s against 8.2 s for ``semantic_search``: there the float32 products dominate.
Problems under ``BFLOAT16_MIN_PAIRS`` pairs use float32 tiles: a small bfloat16 product
costs about a millisecond of oneDNN overhead.
"""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager

import numpy as np

QUERY_BLOCK = 1024
BASE_BLOCK = 32768
TOPK_CANDIDATES = 16  # per tile and query: enough that a full-row scan is rarely needed
BFLOAT16_MIN_PAIRS = 1 << 22  # "auto" uses bfloat16 tiles from this many (query, base) pairs
PAIR_CHUNK = 2048  # exact-scored (query, base) pairs per numpy batch (a few MB: reused, cache-sized)


def _as_tensor(x, name: str):
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach().to(device="cpu", dtype=torch.float32)
    else:
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of row vectors, got shape {tuple(t.shape)}")
    if not math.isfinite(float(t.sum())) and not bool(torch.isfinite(t).all()):  # cheap test first
        raise ValueError(f"{name} holds NaN or infinite values")
    return t.contiguous()


@functools.lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), where a bfloat16
    matrix product is about 3x faster than float32. Elsewhere it is emulated and slow."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _unit_roundoff(dtype) -> float:
    import torch

    return {torch.bfloat16: 2.0 ** -8, torch.float32: 0.0}[dtype]


def error_bound(dtype, dim: int) -> float:
    """``eps / (|q| max|b|)``: the bound on |approximate - exact| similarity for unit-norm
    inputs (see the module docstring)."""
    u = _unit_roundoff(dtype)
    g = dim * 2.0 ** -24 / (1 - dim * 2.0 ** -24)
    return 1.1 * (3 * u + 4 * u * u + 2 * g)


@contextmanager
def _highest_matmul_precision():
    import torch

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _exact_scores(q64: np.ndarray, base: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float64 dot products of query ``rows`` (of the block) with base ``cols``."""
    out = np.empty(len(rows), dtype=np.float64)
    for s in range(0, len(rows), PAIR_CHUNK):
        e = min(s + PAIR_CHUNK, len(rows))
        # einsum's per-row loop is the same for every row: identical rows score identically
        out[s:e] = np.einsum("ij,ij->i", q64[rows[s:e]], base[cols[s:e]].astype(np.float64))
    return out


def _merge(best_v: np.ndarray, best_i: np.ndarray, rows: np.ndarray, cols: np.ndarray,
           vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best of (its current best) + (new pairs), by (value desc, index asc)."""
    n, k = best_v.shape
    all_r = np.concatenate([np.repeat(np.arange(n), k), rows])
    all_c = np.concatenate([best_i.ravel(), cols])
    all_v = np.concatenate([best_v.ravel(), vals])
    order = np.lexsort((all_c, -all_v, all_r))  # last key is the primary one
    all_r, all_c, all_v = all_r[order], all_c[order], all_v[order]
    starts = np.concatenate([[0], np.cumsum(np.bincount(all_r, minlength=n))[:-1]])
    keep = (np.arange(len(all_r)) - starts[all_r]) < k  # every row has at least k entries
    return all_v[keep].reshape(n, k), all_c[keep].reshape(n, k)


def nearest_neighbors(queries, base, k: int, *, block: int | None = None, base_block: int | None = None,
                      approx: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar ``base`` rows of every ``queries`` row (exact).

    ``queries`` (n_q, d) and ``base`` (n_b, d) are unit vectors (numpy arrays or torch
    tensors, any float dtype; CPU). ``block`` queries and ``base_block`` base rows are
    processed at a time (tile memory at most ``4 * block * base_block`` bytes). ``approx``
    chooses the filter's tile dtype: "auto" (bfloat16 where the CPU has native bfloat16
    and there are at least ``BFLOAT16_MIN_PAIRS`` pairs, else float32), "bfloat16" or
    "float32"; the answer is the same (exact) for all three.

    Returns ``(indices, similarities)``, both (n_q, k): int64 base row numbers and float32
    similarities, sorted by decreasing similarity, ties by increasing index.
    """
    import torch

    q = _as_tensor(queries, "queries")
    b = _as_tensor(base, "base")
    if q.shape[1] != b.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but base vectors {b.shape[1]}")
    k = int(k)
    if k < 1 or k > len(b):
        raise ValueError(f"k={k} must be between 1 and the number of base vectors ({len(b)})")
    block = int(block or QUERY_BLOCK)
    base_block = int(base_block or BASE_BLOCK)
    if block < 1 or base_block < 1:
        raise ValueError("block and base_block must be positive")
    if approx == "auto":  # small problems: float32 (bfloat16 only pays off at scale)
        big = len(q) * len(b) >= BFLOAT16_MIN_PAIRS
        dtype = torch.bfloat16 if big and native_bfloat16() else torch.float32
    elif approx in ("bfloat16", "float32"):
        dtype = getattr(torch, approx)
    else:
        raise ValueError(f"approx must be 'auto', 'bfloat16' or 'float32', not {approx!r}")

    n_q, n_b, dim = len(q), len(b), q.shape[1]
    out_idx = np.empty((n_q, k), dtype=np.int64)
    out_sim = np.empty((n_q, k), dtype=np.float32)
    if n_q == 0:
        return out_idx, out_sim
    base_np = b.numpy()
    base_approx = b.to(dtype)
    eps_scale = error_bound(dtype, dim) * float(torch.linalg.vector_norm(b, dim=1).max())
    rows_max, cols_max = min(block, n_q), min(base_block, n_b)
    buffer = torch.empty(rows_max * cols_max, dtype=dtype)  # reused: no page faults per tile
    with torch.inference_mode(), _highest_matmul_precision():
        for qs in range(0, n_q, block):
            qe = min(qs + block, n_q)
            nr = qe - qs
            q_blk = q[qs:qe]
            q_approx = q_blk.to(dtype)
            q64 = q_blk.numpy().astype(np.float64)
            eps = torch.linalg.vector_norm(q_blk, dim=1) * eps_scale  # (nr,) float32
            best_v = np.full((nr, k), -np.inf)
            best_i = np.full((nr, k), n_b, dtype=np.int64)
            top_approx = None  # (nr, <=k) largest approximate similarities seen so far
            for bs in range(0, n_b, base_block):
                be = min(bs + base_block, n_b)
                w = be - bs
                tile = buffer[: nr * w].view(nr, w)
                torch.mm(q_approx, base_approx[bs:be].T, out=tile)
                m = min(TOPK_CANDIDATES + k, w)
                v, i = torch.topk(tile, m, dim=1, largest=True, sorted=True)
                v = v.float()
                seen = v[:, :k] if top_approx is None else torch.cat([top_approx, v[:, :k]], dim=1)
                top_approx = torch.topk(seen, min(k, seen.shape[1]), dim=1, sorted=True).values
                tau = top_approx[:, k - 1] if top_approx.shape[1] == k else torch.full((nr,), -math.inf)
                first = 0  # top-m positions already scored in this tile
                if np.isneginf(best_v[:, k - 1]).any():
                    # Fewer than k scored yet (the first tile): score each row's approximate
                    # top k first, so the exact k-th best (a tighter bound than tau) filters the rest.
                    first = min(k, m)
                    rows = np.repeat(np.arange(nr), first)
                    cols = i[:, :first].numpy().ravel() + bs
                    best_v, best_i = _merge(best_v, best_i, rows, cols, _exact_scores(q64, base_np, rows, cols))
                exact_k = torch.from_numpy(best_v[:, k - 1].astype(np.float32))  # -inf until k scored
                # float32 rounding of the threshold itself is far inside eps's 10% margin
                low = torch.maximum(tau - 2 * eps, exact_k - eps)
                complete = (v[:, m - 1] < low) if m < w else torch.ones(nr, dtype=torch.bool)
                r_list, c_list = [], []
                hit = (v[:, first:] >= low[:, None]) & complete[:, None]
                r, c = torch.nonzero(hit, as_tuple=True)
                if len(r):
                    r_list.append(r.numpy())
                    c_list.append(i[r, c + first].numpy() + bs)
                partial = torch.nonzero(~complete).flatten()
                if len(partial):  # more candidates than the top-m list: scan these rows
                    scan = tile[partial].float()
                    if first:
                        scan.scatter_(1, i[partial, :first], -math.inf)  # scored above
                    pr, pc = torch.nonzero(scan >= low[partial, None], as_tuple=True)
                    r_list.append(partial[pr].numpy())
                    c_list.append(pc.numpy() + bs)
                if r_list:
                    rows = np.concatenate(r_list)
                    cols = np.concatenate(c_list)
                    if len(rows):
                        best_v, best_i = _merge(best_v, best_i, rows, cols, _exact_scores(q64, base_np, rows, cols))
            out_idx[qs:qe] = best_i
            out_sim[qs:qe] = best_v.astype(np.float32)
    return out_idx, out_sim


def brute_force_neighbors(queries, base, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: the full float64 similarity matrix and one sort per row (ties by smaller
    index). For tests and small inputs only."""
    q = np.asarray(queries, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    sims = q @ b.T
    cols = np.broadcast_to(np.arange(b.shape[0]), sims.shape)
    order = np.lexsort((cols, -sims), axis=1)[:, :k]
    return order.astype(np.int64), np.take_along_axis(sims, order, axis=1).astype(np.float32)
