"""The trainer's sampling of one GRPO step (``trainer/rollout.py``: ``--prompts`` problems x
``--group-size`` samples, up to ``--max-new-tokens`` tokens) with its linear layers packed for
oneDNN three ways (``trainer/packed_weights.py``): every layer (what the trainer does), the
LM head only, and none (MKL's products, the reference), in one process, the three sides
alternating for ``--rounds``.

Reported: seconds per rollout (mean and range over rounds) and whether every side sampled
the same tokens as the reference.

    python benchmarks/bench_packed_sampling.py [--model smollm2] [--prompts 4] [--group-size 4] [--max-new-tokens 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if min(args.prompts, args.group_size, args.max_new_tokens, args.rounds) < 1:
        parser.error("--prompts, --group-size, --max-new-tokens and --rounds must be >= 1")

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _machine
    import torch

    from _machine import cpu_info, cpu_label, load_average, publish
    from entropy_lens.measure.models import load_model
    from entropy_lens.tasks import load_tasks
    from entropy_lens_trainer import rollout
    from entropy_lens_trainer.packed_weights import packed_linears

    load_before = load_average()
    loaded = load_model(args.model, device="cpu", dtype="float32")
    problems = load_tasks("arithmetic", args.prompts)
    sides = {"every layer packed (the trainer)": lambda model: packed_linears(model, every_layer=True),
             "LM head packed": lambda model: packed_linears(model, every_layer=False),
             "none packed (MKL)": lambda model: contextlib.nullcontext()}
    reference = "none packed (MKL)"
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    tokens: dict[str, list] = {}
    own = rollout.packed_linears
    try:
        for _ in range(args.rounds):
            for name, packing in sides.items():
                rollout.packed_linears = packing  # what sample_rollouts multiplies through
                started = time.perf_counter()
                sampled = rollout.sample_rollouts(loaded, problems, step=1, group_size=args.group_size, seed=0,
                                                  max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=1.0,
                                                  instruction="", chat_template=True)
                seconds[name].append(time.perf_counter() - started)
                tokens.setdefault(name, sampled.token_ids)
    finally:
        rollout.packed_linears = own
    machine = cpu_info()
    mean = {name: statistics.mean(values) for name, values in seconds.items()}
    same = {name: tokens[name] == tokens[reference] for name in sides}
    report = {"model": args.model, "prompts": args.prompts, "group_size": args.group_size,
              "max_new_tokens": args.max_new_tokens, "rounds": args.rounds, "seconds": seconds,
              "same_tokens_as_reference": same, "tokens_per_rollout": sum(map(len, tokens[reference])),
              "torch_threads": torch.get_num_threads(),
              "loadavg_before": load_before, "loadavg_after": load_average(), **machine}
    table = (f"\nSampling {args.prompts} x {args.group_size} responses of <= {args.max_new_tokens} tokens with "
             f"{args.model}, {args.rounds} alternating rounds; {cpu_label(machine)}, "
             f"{torch.get_num_threads()} threads, load average {load_before} before, {report['loadavg_after']} after\n\n"
             "| products | seconds per rollout (mean) | range | vs none packed | same tokens |\n"
             "| --- | ---: | --- | ---: | --- |\n"
             + "".join(f"| {name} | {mean[name]:.2f} | {min(seconds[name]):.2f}-{max(seconds[name]):.2f} | "
                       f"{mean[name] / mean[reference]:.2f}x | {'yes' if same[name] else 'no'} |\n" for name in sides))
    publish(report, table, args.json)


if __name__ == "__main__":
    main()
