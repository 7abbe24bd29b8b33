#!/usr/bin/env python
"""Time and memory of exact token entropy: entropy_lens vs TRL vs torch Categorical.

    python benchmarks/bench_entropy.py [--rows 4096 --vocab 49152 --repeats 5]
                                       [--device cuda] [--dtype bfloat16] [--json out.json]

Every method runs on the same logits tensor. Beside the entropies, ``torch.logsumexp``
over the whole tensor is timed as the exp-bound reference: one call that only
exponentiates and sums (not an entropy, so it has no error check); every row gives its
time as a multiple of it, a figure that travels across machines better than a ratio to
TRL, whose CPU time is bimodal (its per-chunk allocations fault in fresh pages on some
calls). On CPU, ATen's logsumexp materialises ``exp(z - max z)`` in a full-size
temporary, so a method can beat this reference.

Timing: a warm-up call of each, then ``--repeats`` rounds; each round calls entropy_lens,
TRL and logsumexp once each, in an order rotated every round, so load from other
processes falls on all sides alike. Categorical runs in a phase of its own afterwards: its
3 GB of temporaries would otherwise leave the allocator and caches in a state that slows
whichever method follows it. The table gives the median, the min (the better estimate on
a shared, noisy machine) and the min..max spread. The header names the CPU (model, AVX
flags, threads) and its load average before and after timing, and on CUDA the GPU; on
CUDA a call is timed with CUDA events after a synchronize, and the header says which TRL
path ran (TRL dispatches CUDA tensors to a fused Triton kernel where Triton is present).

Peak extra memory: on CPU each method runs in a fresh subprocess that first allocates and
touches the logits, then reports peak RSS minus RSS just before the call (under a fixed
glibc mmap threshold, see ``peak_extra``); on CUDA it is
``torch.cuda.max_memory_allocated`` above the allocation before the call. Every entropy
is checked against a float64 log_softmax reference; the exit status is 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _memory
sys.path.insert(0, str(HERE.parent))  # entropy_lens from this checkout, installed or not

from _machine import cpu_info, load_average  # noqa: E402
from _memory import PeakExtra  # noqa: E402

from entropy_lens.measure.entropy import token_entropy  # noqa: E402

OURS = "entropy_lens token_entropy"
CATEGORICAL = "torch Categorical.entropy"
TRL = "trl entropy_from_logits"
LOGSUMEXP = "torch.logsumexp (exp-bound limit)"
REFERENCES = {LOGSUMEXP}  # timed for scale, not entropies: no error check
ALONE = {CATEGORICAL}  # timed in a phase of its own, after the interleaved rounds
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def trl_entropy() -> Callable[[torch.Tensor], torch.Tensor] | None:
    try:
        from trl.trainer.utils import entropy_from_logits
    except Exception:  # not installed, or an incompatible version
        return None
    return entropy_from_logits


def methods() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    found: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {OURS: token_entropy}
    trl = trl_entropy()
    if trl is not None:
        found[TRL] = trl
    found[LOGSUMEXP] = lambda x: torch.logsumexp(x, dim=-1)
    found[CATEGORICAL] = lambda x: torch.distributions.Categorical(logits=x).entropy()
    return found


def trl_path(logits: torch.Tensor) -> str | None:
    """Which of its implementations TRL's entropy_from_logits runs on ``logits``."""
    if trl_entropy() is None:
        return None
    try:
        from trl.trainer import utils

        fused = utils.is_triton_available() and utils._supports_trl_loss_kernel(logits)
    except Exception:  # a TRL without the fused kernel (or its private helpers renamed)
        return "chunked log_softmax" if logits.device.type == "cpu" else "unknown"
    return "fused Triton kernel" if fused else "chunked log_softmax"


def make_logits(args: argparse.Namespace) -> torch.Tensor:
    """Random logits, filled in place: no transient copy to inflate the memory baseline."""
    device = torch.device(args.device)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    logits = torch.empty(args.rows, args.vocab, dtype=DTYPES[args.dtype], device=device)
    return logits.normal_(generator=gen).mul_(args.scale)


def reference(logits: torch.Tensor) -> torch.Tensor:
    """Float64 full-softmax entropy, a few rows at a time."""
    parts = []
    for block in logits.split(128):
        logp = torch.log_softmax(block.double(), dim=-1)
        parts.append(-(logp.exp() * logp).sum(-1))
    return torch.cat(parts)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable, logits: torch.Tensor) -> float:
    """Seconds of one call: CUDA events on a GPU (after a synchronize), else wall clock."""
    if logits.device.type == "cuda":
        sync(logits.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(logits)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000
    start_s = time.perf_counter()
    fn(logits)
    return time.perf_counter() - start_s


def rotations(names: list[str], repeats: int) -> list[list[str]]:
    """Call order of each round: round r starts at name r mod len(names)."""
    return [names[r % len(names):] + names[: r % len(names)] for r in range(repeats)] if names else []


def time_all(found: dict, logits: torch.Tensor, repeats: int) -> tuple[dict, dict]:
    """Seconds per call for each method, and its output (from a warm-up call).

    The main sides run interleaved, one call each per round in a rotating order; the
    methods in ``ALONE`` (Categorical) run back to back afterwards, see the module doc.
    """
    seconds: dict[str, list[float]] = {name: [] for name in found}
    outputs = {}
    together = [name for name in found if name not in ALONE]
    for name in together:
        outputs[name] = found[name](logits)
    for order in rotations(together, repeats):
        for name in order:
            seconds[name].append(timed(found[name], logits))
    for name in found:
        if name in ALONE:
            outputs[name] = found[name](logits)
            seconds[name] = [timed(found[name], logits) for _ in range(repeats)]
            gc.collect()
    return seconds, outputs


def peak_extra_here(fn: Callable, logits: torch.Tensor) -> tuple[int, bool]:
    """Peak extra bytes of one call in this process, after a small warm-up call.

    The warm-up keeps one-time costs (thread pools, lazy library state) out of the figure.
    """
    fn(logits[:8])
    gc.collect()
    with PeakExtra(logits.device) as peak:
        result = fn(logits)
    del result
    return peak.bytes, peak.exact


def peak_extra(name: str, args: argparse.Namespace, logits: torch.Tensor) -> tuple[int, bool]:
    """On CPU, in a fresh subprocess (RSS only shows a process's high-water mark)."""
    if logits.device.type == "cuda":
        torch.cuda.empty_cache()
        return peak_extra_here(methods()[name], logits)
    cmd = [sys.executable, __file__, "--measure-memory-of", name]
    for key in ("rows", "vocab", "dtype", "device", "scale", "seed", "threads"):
        cmd += [f"--{key}", str(getattr(args, key))]
    # A fixed glibc mmap threshold returns every freed large block to the OS at once, so
    # peak RSS tracks what a method holds. With glibc's adaptive default, freed per-chunk
    # temporaries may stay on the heap: TRL's figure then swung from 70 to 770 MB run to run.
    env = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024), **os.environ}
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["bytes"], answer["exact"]


def run(args: argparse.Namespace) -> dict:
    found = methods()
    logits = make_logits(args)
    logits_mib = logits.numel() * logits.element_size() / 2**20
    load_before = load_average()
    seconds, outputs = time_all(found, logits, args.repeats)
    load_after = load_average()
    truth = reference(logits)
    trl_median = statistics.median(seconds[TRL]) if TRL in seconds else None
    lse_median = statistics.median(seconds[LOGSUMEXP])
    rows = []
    for name in found:
        median = statistics.median(seconds[name])
        extra, exact = peak_extra(name, args, logits)
        is_reference = name in REFERENCES
        error = None if is_reference else (outputs[name].double() - truth).abs().max().item()
        rows.append({
            "method": name,
            "median_s": median,
            "min_s": min(seconds[name]),
            "max_s": max(seconds[name]),
            "seconds": seconds[name],
            "speedup_vs_trl": trl_median / median if trl_median else None,
            "x_logsumexp_time": median / lse_median,
            "peak_extra_mib": extra / 2**20,
            "peak_extra_pct_of_logits": 100 * extra / 2**20 / logits_mib,
            "peak_is_exact": exact,
            "is_reference": is_reference,
            "max_abs_err_vs_float64": error,
            "agrees": None if is_reference else error <= args.atol,
        })
    cfg = config(args, logits_mib)
    cfg.update(loadavg_before=load_before, loadavg_after=load_after, trl_path=trl_path(logits))
    return {"config": cfg, "trl_available": TRL in found, "results": rows}


def config(args: argparse.Namespace, logits_mib: float) -> dict:
    trl = sys.modules.get("trl")
    device = torch.device(args.device)
    cpu = cpu_info()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "rows": args.rows,
        "vocab": args.vocab,
        "dtype": args.dtype,
        "device": args.device,
        "device_name": gpu or cpu["cpu_model"],
        "gpu_name": gpu,
        **cpu,
        "threads": torch.get_num_threads(),
        "logits_mib": logits_mib,
        "scale": args.scale,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "trl": getattr(trl, "__version__", None),
    }


def loads(average: list[float] | None) -> str:
    return "/".join(f"{x:.2f}" for x in average) if average else "n/a"


def markdown(report: dict) -> str:
    cfg = report["config"]
    flags = "/".join(cfg["cpu_flags"]) or "no AVX2"
    where = f"GPU {cfg['gpu_name']}; host CPU" if cfg["gpu_name"] else "CPU"
    lines = [
        f"{cfg['rows']} x {cfg['vocab']} {cfg['dtype']} logits ({cfg['logits_mib']:.0f} MiB) on {cfg['device']}: "
        f"{where} {cfg['cpu_model']} ({flags}), {cfg['threads']} torch threads of {cfg['cpu_count']} CPUs; "
        f"load average {loads(cfg['loadavg_before'])} before timing, {loads(cfg['loadavg_after'])} after",
        f"{cfg['repeats']} interleaved rounds (Categorical alone, after); torch {cfg['torch']}, "
        f"trl {cfg['trl'] or 'not installed'}" + (f" ({cfg['trl_path']})" if cfg["trl_path"] else ""),
        "",
        "| method | median s | min s | min..max s | speed vs TRL | x logsumexp time | peak extra MiB | "
        "extra % of logits | max abs err vs float64 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        ratio = f"{r['speedup_vs_trl']:.2f}x" if r["speedup_vs_trl"] else "n/a"
        mark = "" if r["peak_is_exact"] else " (upper bound)"
        if r["is_reference"]:
            error = "reference, not an entropy"
        else:
            error = f"{r['max_abs_err_vs_float64']:.1e}" + ("" if r["agrees"] else " MISMATCH")
        lines.append(
            f"| {r['method']} | {r['median_s']:.3g} | {r['min_s']:.3g} | {r['min_s']:.3g}..{r['max_s']:.3g} | "
            f"{ratio} | {r['x_logsumexp_time']:.2f}x | {r['peak_extra_mib']:.1f}{mark} | "
            f"{r['peak_extra_pct_of_logits']:.1f}% | {error} |"
        )
    if not report["trl_available"]:
        lines += ["", "trl is not importable: no TRL row (pip install trl)."]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--scale", type=float, default=3.0, help="logits ~ N(0, scale^2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--atol", type=float, default=1e-4, help="max abs error vs float64 to count as agreeing")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--measure-memory-of", help=argparse.SUPPRESS)  # internal: the CPU subprocess
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.measure_memory_of:
        extra, exact = peak_extra_here(methods()[args.measure_memory_of], make_logits(args))
        print(json.dumps({"bytes": extra, "exact": exact}))
        return 0
    report = run(args)
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["agrees"] is not False for r in report["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
