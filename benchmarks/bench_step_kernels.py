"""Two kernels of a GRPO step against what they replace, interleaved in one process:

- drawing the next token of every row (``entropy_lens/measure/sampling.py``, ``draw_tokens``)
  against one ``torch.multinomial`` per row with the row's own generator, ``--rows`` rows of a
  ``--vocab`` vocabulary, ``--steps`` draws per round; the two sides must pick the same tokens;
- one chunk of the training pass's LM head (``trainer/head.py``): ``--chunk`` positions times
  a ``--vocab`` x ``--hidden`` weight through oneDNN with the weight reordered once per pass
  (``trainer/packed_weights.py``, ``reordered_product``; the reorder is counted, spread over
  the ``--chunks`` chunks of a pass) against ``F.linear`` (MKL); the largest difference of the
  products is reported.

Each round runs both sides of both kernels, alternating which side goes first; reported are
the median milliseconds per step (draws) and per chunk (head) and their ratios, with the CPU
(and any instruction limits in force) and the load.

    python benchmarks/bench_step_kernels.py [--rows 16] [--vocab 49152] [--hidden 576] [--chunk 128] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--hidden", type=int, default=576)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--chunks", type=int, default=8, help="chunks per training pass (the reorder's share)")
    parser.add_argument("--steps", type=int, default=20, help="draws per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if min(args.rows, args.vocab, args.hidden, args.chunk, args.chunks, args.steps, args.rounds) < 1:
        parser.error("every size and count must be >= 1")

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _machine
    import torch
    import torch.nn.functional as F

    from _machine import cpu_info, cpu_label, load_average, publish
    from entropy_lens.measure.sampling import draw_tokens
    from entropy_lens_trainer.packed_weights import reordered_product

    load_before = load_average()
    data = torch.Generator().manual_seed(0)
    logits = torch.randn(args.steps, args.rows, args.vocab, generator=data) * 3
    probs = torch.softmax(logits, dim=-1)
    weight = torch.randn(args.vocab, args.hidden, generator=data) * 0.02
    hidden = torch.randn(args.chunk, args.hidden, generator=data)

    def multinomial_per_row(seed: int) -> tuple[float, list]:
        generators = [torch.Generator().manual_seed(seed + i) for i in range(args.rows)]
        started, picks = time.perf_counter(), []
        for p in probs:
            picks.append(torch.cat([torch.multinomial(p[i], 1, generator=g) for i, g in enumerate(generators)]))
        return (time.perf_counter() - started) / args.steps, picks

    def vectorised(seed: int) -> tuple[float, list]:
        generators = [torch.Generator().manual_seed(seed + i) for i in range(args.rows)]
        started = time.perf_counter()
        picks = [draw_tokens(p, generators) for p in probs]
        return (time.perf_counter() - started) / args.steps, picks

    def mkl_chunk() -> float:
        started = time.perf_counter()
        for _ in range(args.chunks):
            F.linear(hidden, weight)
        return (time.perf_counter() - started) / args.chunks

    def onednn_chunk() -> float:
        started = time.perf_counter()
        head = reordered_product(weight)  # once per pass, as trainer/head.py does
        for _ in range(args.chunks):
            head(hidden)
        return (time.perf_counter() - started) / args.chunks

    vectorised(1), multinomial_per_row(1), mkl_chunk(), onednn_chunk()  # warm-up
    draws = {"draw_tokens": [], "torch.multinomial per row": []}
    chunks = {"oneDNN, reordered once": [], "F.linear (MKL)": []}
    same_tokens = True
    for round_ in range(args.rounds):
        order = [0, 1] if round_ % 2 == 0 else [1, 0]
        results = {}
        for side in order:
            results[side] = (vectorised if side == 0 else multinomial_per_row)(1000 + round_)
            (chunks["oneDNN, reordered once"] if side == 0 else chunks["F.linear (MKL)"]).append(
                onednn_chunk() if side == 0 else mkl_chunk())
        draws["draw_tokens"].append(results[0][0])
        draws["torch.multinomial per row"].append(results[1][0])
        same_tokens &= all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))
    difference = float((reordered_product(weight)(hidden) - F.linear(hidden, weight)).abs().max())

    machine = cpu_info()
    median = {name: statistics.median(v) * 1e3 for name, v in {**draws, **chunks}.items()}
    report = {"rows": args.rows, "vocab": args.vocab, "hidden": args.hidden, "chunk": args.chunk,
              "chunks": args.chunks, "steps": args.steps, "rounds": args.rounds, "seconds": {**draws, **chunks},
              "median_ms": median, "same_tokens": same_tokens, "head_max_abs_difference": difference,
              "torch_threads": torch.get_num_threads(), "loadavg_before": load_before,
              "loadavg_after": load_average(), **machine}
    draw_ratio = median["draw_tokens"] / median["torch.multinomial per row"]
    head_ratio = median["oneDNN, reordered once"] / median["F.linear (MKL)"]
    table = (f"\n{args.rounds} alternating rounds; {cpu_label(machine)}, {torch.get_num_threads()} threads, "
             f"load average {load_before} before, {report['loadavg_after']} after\n\n"
             "| kernel | ours (median ms) | reference (median ms) | ratio | check |\n| --- | ---: | ---: | ---: | --- |\n"
             f"| next token of {args.rows} rows, V={args.vocab} (per step) | {median['draw_tokens']:.2f} | "
             f"{median['torch.multinomial per row']:.2f} | {draw_ratio:.2f}x | "
             f"{'the same tokens' if same_tokens else 'DIFFERENT TOKENS'} |\n"
             f"| head chunk {args.chunk} x {args.hidden} by {args.vocab} x {args.hidden} (per chunk, reorder included) | "
             f"{median['oneDNN, reordered once']:.1f} | {median['F.linear (MKL)']:.1f} | {head_ratio:.2f}x | "
             f"max difference {difference:.1e} |\n")
    publish(report, table, args.json)


if __name__ == "__main__":
    main()
