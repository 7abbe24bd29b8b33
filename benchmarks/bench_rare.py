#!/usr/bin/env python
"""Exact k-nearest-neighbour search for rare behaviours: entropy_lens vs sentence-transformers
vs scikit-learn.

    python benchmarks/bench_rare.py [--base 100000 --queries 10000 --dim 384 --k 5]
                                    [--repeats 1] [--no-sklearn] [--json out.json]

All methods get the same random unit vectors (float32, seeded). Each first runs once on a
small slice (warm-up: imports, thread pools), then ``--repeats`` timed runs on the full
data; the table gives the best wall time and the best CPU time (all threads of the
process: steadier than wall time when other work shares the machine). Methods:

- ``entropy_lens nearest_neighbors`` (tiled bfloat16 or float32 filter + exact float64
  rescoring of the candidates, exact tie-breaking; ``--approx`` picks the tiles);
- ``sentence_transformers.util.semantic_search(top_k=k)`` with its default chunking and
  cosine score (it normalises each corpus chunk once);
- ``sklearn NearestNeighbors(algorithm="brute", metric="cosine")``, ``fit`` + ``kneighbors``
  (default ``n_jobs``; numpy's BLAS uses the cores).

Every method's neighbour indices are checked against entropy_lens: a row counts as the
same when its index list is identical, or when the lists differ only among neighbours whose
similarities tie (within 1e-6, recomputed in float64) with the ones they replace. Exit status
1 when any row differs beyond that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # entropy_lens from this checkout, installed or not

from entropy_lens.analyses.neighbors import native_bfloat16, nearest_neighbors  # noqa: E402

OURS = "entropy_lens nearest_neighbors"
ST = "sentence_transformers semantic_search"
SK = "sklearn NearestNeighbors brute cosine"
TIE_TOL = 1e-6


def unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def run_ours(queries: np.ndarray, base: np.ndarray, k: int, args) -> np.ndarray:
    return nearest_neighbors(queries, base, k, block=args.block, base_block=args.base_block, approx=args.approx)[0]


def run_st(queries: np.ndarray, base: np.ndarray, k: int, args) -> np.ndarray:
    import torch
    from sentence_transformers.util import semantic_search

    hits = semantic_search(torch.from_numpy(queries), torch.from_numpy(base), top_k=k)
    return np.asarray([[h["corpus_id"] for h in row] for row in hits], dtype=np.int64)


def run_sklearn(queries: np.ndarray, base: np.ndarray, k: int, args) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine").fit(base)
    return nn.kneighbors(queries, return_distance=False).astype(np.int64)


def agreement(found: np.ndarray, reference: np.ndarray, queries: np.ndarray, base: np.ndarray) -> dict:
    """Rows identical to the reference, rows that differ only by tied neighbours, others."""
    same = (found == reference).all(axis=1)
    tied, differ = 0, 0
    for r in np.flatnonzero(~same):
        q = queries[r].astype(np.float64)
        a = np.sort(base[found[r]].astype(np.float64) @ q)[::-1]
        b = np.sort(base[reference[r]].astype(np.float64) @ q)[::-1]
        if np.allclose(a, b, rtol=0, atol=TIE_TOL):
            tied += 1
        else:
            differ += 1
    return {"identical_rows": int(same.sum()), "tie_rows": tied, "different_rows": differ}


def timed(fn, queries, base, k, args) -> tuple[float, float, np.ndarray]:
    """Best wall time, best CPU time (all threads of this process) and the answer."""
    fn(queries[: min(64, len(queries))], base[: min(4096, len(base))], k, args)  # warm-up
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn(queries, base, k, args)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=int, default=100_000, help="base (corpus) vectors (default 100000)")
    p.add_argument("--queries", type=int, default=10_000, help="query vectors (default 10000)")
    p.add_argument("--dim", type=int, default=384, help="dimension (default 384, all-MiniLM-L6-v2)")
    p.add_argument("--k", type=int, default=5, help="neighbours per query (default 5)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per method; best is reported (default 1)")
    p.add_argument("--block", type=int, default=None, help="entropy_lens query block (default: its own)")
    p.add_argument("--base-block", type=int, default=None, help="entropy_lens base block (default: its own)")
    p.add_argument("--approx", default="auto", choices=["auto", "bfloat16", "float32"],
                   help="entropy_lens filter tiles (default auto: bfloat16 where the CPU has it natively)")
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn (the slowest)")
    p.add_argument("--no-st", action="store_true", help="skip sentence-transformers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)

    import torch

    rng = np.random.default_rng(args.seed)
    base = unit_vectors(args.base, args.dim, rng)
    queries = unit_vectors(args.queries, args.dim, rng)
    methods = {OURS: run_ours}
    if not args.no_st:
        methods[ST] = run_st
    if not args.no_sklearn:
        methods[SK] = run_sklearn

    results: dict[str, dict] = {}
    reference = None
    for name, fn in methods.items():
        seconds, cpu_seconds, found = timed(fn, queries, base, args.k, args)
        if reference is None:
            reference = found
        results[name] = {"seconds": seconds, "cpu_seconds": cpu_seconds,
                         **agreement(found, reference, queries, base)}
        print(f"{name}: {seconds:.2f} s", file=sys.stderr, flush=True)

    ours = results[OURS]["seconds"]
    print(f"\n{args.queries} queries x {args.base} base unit vectors, dim {args.dim}, k={args.k}; "
          f"best of {args.repeats}; {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"entropy_lens filter tiles: {args.approx} (native bfloat16: {native_bfloat16()})\n")
    ours_cpu = results[OURS]["cpu_seconds"]
    print("| method | wall (s) | wall / entropy_lens | CPU (s) | CPU / entropy_lens | identical rows "
          "| rows differing only by ties | other rows |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        r["ratio_to_entropy_lens"] = r["seconds"] / ours
        r["cpu_ratio_to_entropy_lens"] = r["cpu_seconds"] / ours_cpu
        print(f"| {name} | {r['seconds']:.2f} | {r['ratio_to_entropy_lens']:.2f}x | {r['cpu_seconds']:.2f} | "
              f"{r['cpu_ratio_to_entropy_lens']:.2f}x | {r['identical_rows']} | {r['tie_rows']} | {r['different_rows']} |")
    ok = all(r["different_rows"] == 0 for r in results.values())
    print("\nneighbours: " + ("identical (up to ties) for every method" if ok else "MISMATCH, see 'other rows'"))
    if args.json:
        payload = {
            "config": {"base": args.base, "queries": args.queries, "dim": args.dim, "k": args.k,
                       "repeats": args.repeats, "seed": args.seed, "block": args.block, "base_block": args.base_block,
                       "approx": args.approx, "native_bfloat16": native_bfloat16(),
                       "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                       "torch": torch.__version__, "python": platform.python_version(),
                       "machine": platform.machine()},
            "results": results, "neighbours_agree": ok,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
