#!/usr/bin/env python
"""Speed of the analyses that read a whole rollout table: pivotal (and reflect).

    python benchmarks/bench_analyses.py [--tokens 10000000] [--repeats 3] [--json out.json]

Builds a synthetic rollout table of reasoning-like text (benchmarks/synthetic.py) with
about ``--tokens`` tokens, in the layout ``pandas.read_parquet`` gives (offsets as arrays
of small arrays), then times each analysis on it: a warm-up-free first call is not
special here (nothing is cached between calls), so the table reports the median and the
min of ``--repeats`` calls, their CPU time, and tokens per second from the min. ``entropy_lens.analyses.reflect``
is timed when it can be imported; otherwise the table says why it was left out. Prints
a markdown table; ``--json PATH`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # synthetic
sys.path.insert(0, str(HERE.parent))  # entropy_lens from this checkout, installed or not

from synthetic import synthetic_rollouts  # noqa: E402

TARGET = 1_000_000  # tokens/s for pivotal + reflect together


def analyses() -> tuple[dict, dict[str, str]]:
    """name -> function(frame); and name -> why it is missing."""
    from entropy_lens.analyses.pivotal import pivotal

    found = {"pivotal": lambda frame: pivotal(frame)}
    missing = {}
    try:
        from entropy_lens.analyses.reflect import reflect
    except Exception as e:  # not written yet, or broken
        missing["reflect"] = f"entropy_lens.analyses.reflect not importable ({type(e).__name__}: {e})"
    else:
        found["reflect"] = lambda frame: reflect(frame)
    return found, missing


def time_calls(fn, frame, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (this process) of each call. On a shared machine the CPU
    time shows what the call costs when other processes take turns on the cores."""
    wall, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(frame)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def peak_rss_mib() -> float | None:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=float, default=10_000_000, help="tokens in the synthetic table (default 1e7)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per analysis (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    frame = synthetic_rollouts(int(args.tokens), seed=args.seed)
    build = time.perf_counter() - start
    n_tokens = int(sum(map(len, frame["entropy"])))
    found, missing = analyses()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    results = []
    for name, fn in found.items():
        times, cpu = time_calls(fn, frame, args.repeats)
        results.append({"analysis": name, "median_s": statistics.median(times), "min_s": min(times),
                        "tokens_per_s": n_tokens / min(times), "times_s": times, "cpu_s": cpu})
    total_min = sum(r["min_s"] for r in results)
    summary = {
        "tokens": n_tokens, "responses": len(frame), "table_build_s": build, "repeats": args.repeats,
        "results": results, "missing": missing,
        "together_tokens_per_s": n_tokens / total_min if results else None,
        "together_covers": [r["analysis"] for r in results], "target_tokens_per_s": TARGET,
        "peak_rss_mib": peak_rss_mib(), "cpus": os.cpu_count(), "load_average": load,
        "python": platform.python_version(), "machine": platform.machine(),
    }

    print(f"synthetic table: {n_tokens:,} tokens, {len(frame):,} responses (built in {build:.1f}s); "
          f"{os.cpu_count()} CPUs" + (f", load average {load[0]:.1f} before the runs" if load else ""))
    print()
    print("| analysis | median (s) | min (s) | CPU min (s) | tokens/s (from min) |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['analysis']} | {r['median_s']:.2f} | {r['min_s']:.2f} | {min(r['cpu_s']):.2f} | "
              f"{r['tokens_per_s'] / 1e6:.2f} M |")
    if len(results) > 1:
        print(f"| together | | {total_min:.2f} | {sum(min(r['cpu_s']) for r in results):.2f} | "
              f"{n_tokens / total_min / 1e6:.2f} M |")
    for name, why in missing.items():
        print(f"| {name} | not timed: {why} | | | |")
    if results:
        verdict = "meets" if n_tokens / total_min >= TARGET else "misses"
        print(f"\n{' + '.join(summary['together_covers'])}: {n_tokens / total_min / 1e6:.2f} M tokens/s, "
              f"{verdict} the target of {TARGET / 1e6:.0f} M tokens/s")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
