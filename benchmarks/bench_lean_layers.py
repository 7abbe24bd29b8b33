"""One GRPO training pass (forward to the loss through the fused head, backward) of the
default model, with its own MLP blocks and RMSNorms against the lean ones
(``trainer/lean_layers.py``), in one process, the two sides alternating for ``--rounds``.

The reference is the model as transformers builds it. Reported: the bytes autograd keeps for
the backward pass (each saved tensor once; exact, the same every round), the seconds of the
pass (median over rounds) and the ratios. The batch is ``--responses`` responses of
``--length`` tokens after a 60-token prompt, in groups of 4 sharing their prompt, as the
trainer builds it.

    python benchmarks/bench_lean_layers.py [--model smollm2] [--responses 16] [--length 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path


def saved_bytes_and_seconds(model, tensors, prompt_width: int) -> tuple[int, float]:
    import torch

    from entropy_lens_trainer import head

    mask = tensors["response_mask"].float().reshape(-1)
    seen: dict = {}

    def pack(t):
        seen[(t.data_ptr(), tuple(t.shape), t.stride())] = t.numel() * t.element_size()
        return t

    started = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _, _ = head.policy_loss(model, tensors, prompt_width, 1.0,
                                      lambda logprob, entropy, rows: -(logprob * mask[rows]).sum() / mask.sum())
    loss.backward()
    seconds = time.perf_counter() - started
    model.zero_grad(set_to_none=True)
    return sum(seen.values()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--responses", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.responses % 4 or args.rounds < 1 or args.length < 1:
        parser.error("--responses must be a multiple of 4 (groups of 4), --rounds and --length >= 1")

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _machine
    import torch

    from _machine import cpu_info, cpu_label, load_average, publish
    from entropy_lens.measure.models import load_model
    from entropy_lens_trainer.lean_layers import use_lean_layers
    from entropy_lens_trainer.rollout import pad_batch

    load_before = load_average()
    plain = load_model(args.model, device="cpu", dtype="float32").model.eval()
    lean = copy.deepcopy(plain)
    swapped = use_lean_layers(lean)
    gen = torch.Generator().manual_seed(0)
    vocab = plain.config.vocab_size
    prompts = [torch.randint(vocab, (60,), generator=gen).tolist() for _ in range(args.responses // 4) for _ in range(4)]
    responses = [torch.randint(vocab, (args.length,), generator=gen).tolist() for _ in prompts]
    tensors = pad_batch(prompts, responses, pad_id=0)

    sides = {"transformers' layers": plain, "lean layers": lean}
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    saved: dict[str, int] = {}
    saved_bytes_and_seconds(plain, tensors, 60)  # warm-up, not counted
    for _ in range(args.rounds):
        for name, model in sides.items():
            saved[name], s = saved_bytes_and_seconds(model, tensors, 60)
            seconds[name].append(s)
    machine = cpu_info()
    report = {"model": args.model, "responses": args.responses, "length": args.length, "rounds": args.rounds,
              "swapped": swapped, "saved_bytes": saved, "seconds": seconds, "torch_threads": torch.get_num_threads(),
              "loadavg_before": load_before, "loadavg_after": load_average(), **machine}
    ref, ours = "transformers' layers", "lean layers"
    median = {name: statistics.median(values) for name, values in seconds.items()}
    table = (f"\nOne training pass of {args.model}, {args.responses} responses x {args.length} tokens after a 60-token "
             f"prompt, {args.rounds} alternating rounds; {cpu_label(machine)}, "
             f"{torch.get_num_threads()} threads, load average {load_before} before, {report['loadavg_after']} after; "
             f"swapped {swapped}\n\n"
             "| layers | saved for backward (GB) | seconds per pass (median) |\n| --- | ---: | ---: |\n"
             + "".join(f"| {name} | {saved[name] / 1e9:.2f} | {median[name]:.2f} |\n" for name in sides)
             + f"| ratio (lean vs transformers') | {saved[ours] / saved[ref]:.2f}x | {median[ours] / median[ref]:.2f}x |")
    publish(report, table, args.json)


if __name__ == "__main__":
    main()
