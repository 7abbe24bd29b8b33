#!/usr/bin/env python
"""Peak memory and time of one training pass: log-probs and exact entropy of every response
token from hidden states a chunk at a time (``trainer/head.py``) against the full-logits
path, same model, same batch, in one run.

    python benchmarks/bench_train_memory.py [--lengths 512,2048,8192] [--vocabs 49152,151936]
        [--responses 1] [--device cpu] [--json out.json]

The model is a small random Llama (2 layers) with a real-sized head: hidden size 576 for
V = 49152 (SmolLM2's head), 896 for V = 151936 (Qwen2.5-0.5B's); a 64-token prompt and
``--responses`` responses of each length. One pass is what the trainer does per
micro-batch (``head.policy_loss``): forward, the clipped surrogate on random advantages
minus ``0.01 * H`` (so log-prob and entropy both carry gradient, as with ``entropy-reg``),
backward; the full side computes the same loss from the whole ``B x R x V`` logits. Each (side, length,
vocabulary) runs in a fresh subprocess, the sides alternating, so each peak is its own:
peak RSS above the RSS after the model and batch are built (CPU) or
``max_memory_allocated`` above the allocation before the pass (CUDA). A side that would
not fit in ``--memory-limit-gib`` is not run (its estimate is shown). Time: the median of
``--repeats`` passes after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

# vocabulary -> (hidden size, attention heads, key/value heads) of the model whose head it is
SHAPES = {49152: (576, 9, 3), 151936: (896, 14, 2)}
PROMPT = 64


def one_pass(args) -> dict:
    """Run in a subprocess: build the model and batch, time ``repeats`` passes, measure one."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from _memory import PeakExtra
    from entropy_lens_trainer import head, losses
    from entropy_lens_trainer.rollout import pad_batch

    torch.manual_seed(0)
    device = torch.device(args.device)
    d, heads, kv_heads = SHAPES.get(args.vocab, SHAPES[151936])
    config = LlamaConfig(vocab_size=args.vocab, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=2,
                         num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=PROMPT + args.length + 8, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).to(device).eval()
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(args.vocab, (PROMPT,), generator=gen).tolist() for _ in range(args.responses)]
    responses = [torch.randint(args.vocab, (args.length,), generator=gen).tolist() for _ in range(args.responses)]
    batch = {k: v.to(device) for k, v in pad_batch(prompts, responses, pad_id=0).items()}
    width = batch["input_ids"].shape[1] - args.length
    advantages = torch.randn(args.responses, args.length, generator=gen).to(device)
    full = args.side == "full"

    flat_advantages = advantages.reshape(-1)
    n_tokens = flat_advantages.numel()

    def token_loss(logprob, entropy, rows):  # the trainer's GRPO loss with entropy-reg, on-policy
        terms = losses.surrogate_terms(logprob, logprob.detach(), flat_advantages[rows], 0.2, 0.28) - 0.01 * entropy
        return terms.sum() / n_tokens

    def run() -> None:
        loss, _, _ = head.policy_loss(model, batch, width, 1.0, token_loss, full_logits=full)
        loss.backward()
        model.zero_grad(set_to_none=False)  # gradients stay allocated, as in training

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run()  # warm-up: gradient buffers allocated, one-time costs out of the figures
    with PeakExtra(device) as peak:
        run()
    seconds = []
    for _ in range(args.repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        seconds.append(time.perf_counter() - start)
    return {"peak_extra_gib": peak.bytes / 2**30, "peak_exact": peak.exact, "seconds": statistics.median(seconds),
            "hidden": d}


def full_logits_gib(length: int, vocab: int, responses: int) -> float:
    """What the full path holds at least: the logits, autograd's saved copy and their gradient, float32."""
    return 3 * 4 * length * vocab * responses / 2**30


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="512,2048,8192")
    parser.add_argument("--vocabs", default="49152,151936")
    parser.add_argument("--responses", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-limit-gib", type=float, default=16.0)
    parser.add_argument("--json")
    parser.add_argument("--one", nargs=3, metavar=("SIDE", "LENGTH", "VOCAB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        args.side, args.length, args.vocab = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps(one_pass(args)))
        return 0

    from _machine import cpu_info, load_average, publish

    rows, load_before = [], load_average()
    env = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024), **os.environ}  # freed blocks leave RSS at once
    for vocab in map(int, args.vocabs.split(",")):
        for length in map(int, args.lengths.split(",")):
            result = {"vocab": vocab, "length": length}
            sides = ("hidden", "full") if (length // 512) % 2 else ("full", "hidden")  # alternate which goes first
            for side in sides:
                if side == "full" and full_logits_gib(length, vocab, args.responses) > args.memory_limit_gib:
                    result[side] = {"skipped": f"needs over {full_logits_gib(length, vocab, args.responses):.0f} GiB"}
                    continue
                cmd = [sys.executable, __file__, "--one", side, str(length), str(vocab), "--device", args.device,
                       "--responses", str(args.responses), "--repeats", str(args.repeats)]
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    result[side] = {"skipped": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
                    continue
                result[side] = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"V={vocab} R={length} {side}: {result[side]}", file=sys.stderr, flush=True)
            rows.append(result)
    report = {"config": {"responses": args.responses, "prompt": PROMPT, "device": args.device, "repeats": args.repeats,
                         "loadavg_before": load_before, "loadavg_after": load_average(), **cpu_info()},
              "results": rows}
    publish(report, markdown(report), args.json)
    return 0


def _cell(side: dict) -> str:
    if "skipped" in side:
        return f"not run ({side['skipped']})"
    return f"{side['peak_extra_gib']:.2f} GiB, {side['seconds']:.2f} s"


def markdown(report: dict) -> str:
    cfg = report["config"]
    lines = [f"{cfg['responses']} response(s) of R tokens after a {cfg['prompt']}-token prompt, 2-layer random Llama, "
             f"on {cfg['device']} ({cfg['cpu_model']}, {', '.join(cfg['cpu_flags'])}, {cfg['cpu_count']} CPUs); "
             f"load average {cfg['loadavg_before']} before, {cfg['loadavg_after']} after",
             "", "| V | R | hidden-state chunks: peak extra, time | full logits: peak extra, time | memory ratio | time ratio |",
             "|---:|---:|---|---|---:|---:|"]
    for r in report["results"]:
        ours, full = r["hidden"], r["full"]
        both = "skipped" not in ours and "skipped" not in full
        mem = f"{ours['peak_extra_gib'] / full['peak_extra_gib']:.3f}x" if both else "-"
        tim = f"{ours['seconds'] / full['seconds']:.2f}x" if both else "-"
        lines.append(f"| {r['vocab']} | {r['length']} | {_cell(ours)} | {_cell(full)} | {mem} | {tim} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
