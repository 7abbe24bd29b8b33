#!/usr/bin/env python
"""``generate --backend vllm`` (vLLM sampling + the exact entropy pass) against plain vLLM
sampling of the same prompts and against ``--backend hf``, in one run.

    .venv-vllm/bin/python benchmarks/bench_vllm.py [--model smollm2] [--prompts 8] [--n 2]
        [--max-new-tokens 64] [--rounds 3] [--device auto] [--json out.json]

The three sides sample the same requests (the built-in arithmetic prompts, temperature 0.6,
top-p 0.95, one seed per request) for exactly ``--max-new-tokens`` tokens each (EOS
ignored), so they do the same work:

- plain vLLM: ``LLM.generate`` on one engine, no log-probs, no entropy;
- entropy-lens vLLM: the same engine with the sampled token's log-prob, then the
  teacher-forced pass that records the exact entropy and log-prob (the code
  ``generate --backend vllm`` runs, without writing shards);
- entropy-lens HF: ``generate --backend hf``'s batched sampler with its recording sampler.

Each round runs every side once, in a rotating order, so machine load hits all alike; the
table gives each side's median tokens/s over the rounds and the ratios. Target: the vLLM
backend at least 0.7x plain vLLM's tokens/s. On a GPU machine pass ``--model`` a folder
(e.g. a model built from a config with random weights and saved with save_pretrained).
vLLM starts worker processes with spawn, hence the ``__main__`` guard.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _machine
sys.path.insert(0, str(HERE.parent))  # entropy_lens from this checkout, installed or not

PLAIN = "plain vLLM (no entropy)"
OURS = "entropy-lens --backend vllm (exact entropy)"
HF = "entropy-lens --backend hf"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--prompts", type=int, default=8, help="distinct prompts")
    parser.add_argument("--n", type=int, default=2, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-hf", action="store_true", help="leave out the HF side (e.g. for a large model on a GPU)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=None)
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from vllm import SamplingParams, __version__ as vllm_version

    from _machine import cpu_info, load_average, publish
    from entropy_lens.measure.config import GenerateConfig
    from entropy_lens.measure.generate import eos_token_ids, sample_batch
    from entropy_lens.measure.models import load_model
    from entropy_lens.measure.prompts import prompt_token_ids
    from entropy_lens.measure.sampling import stream_seed
    from entropy_lens.measure.vllm_engine import VllmSampler, add_exact_values
    from entropy_lens.tasks.load import load_tasks

    loaded = load_model(args.model, device=args.device)
    problems = load_tasks("arithmetic", args.prompts)
    cfg = GenerateConfig(model=args.model, backend="vllm", n=args.n, max_new_tokens=args.max_new_tokens,
                         temperature=0.6, top_p=0.95, top_k=0, batch_size=args.prompts * args.n,
                         gpu_memory_utilization=args.gpu_memory_utilization)
    prompts, seeds = [], []
    for problem in problems:
        ids = prompt_token_ids(loaded.tokenizer, problem.prompt)
        for sample in range(args.n):
            prompts.append(ids)
            seeds.append(stream_seed(0, problem.prompt_id, sample))
    started = time.perf_counter()
    engine = VllmSampler(loaded, cfg, longest_prompt=max(map(len, prompts)), eos_ids=eos_token_ids(loaded))
    engine_start_s = time.perf_counter() - started

    def plain() -> int:
        params = [SamplingParams(temperature=0.6, top_p=0.95, top_k=0, seed=s, max_tokens=args.max_new_tokens,
                                 ignore_eos=True, detokenize=False) for s in seeds]
        outputs = engine.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs)

    split = {"sample_s": [], "score_s": []}

    def ours() -> int:
        begin = time.perf_counter()
        sampled = engine.sample(prompts, seeds, ignore_eos=True)
        middle = time.perf_counter()
        add_exact_values(loaded, prompts, sampled, 1.0)
        split["sample_s"].append(middle - begin)
        split["score_s"].append(time.perf_counter() - middle)
        return sum(len(s["entropy"]) for s in sampled)

    def hf() -> int:
        total = 0
        for start in range(0, len(prompts), 8):  # generate's default --batch-size
            rows = sample_batch(loaded, prompts[start : start + 8], seeds[start : start + 8], cfg, ignore_eos=True)
            total += sum(len(r["entropy"]) for r in rows)
        return total

    sides = {PLAIN: plain, OURS: ours, **({} if args.no_hf else {HF: hf})}
    names = list(sides)
    for name in names:  # warm-up: first-call costs stay out of the figures
        sides[name]()
    split = {"sample_s": [], "score_s": []}
    load_before = load_average()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            if loaded.device.type == "cuda":
                torch.cuda.synchronize()
            begin = time.perf_counter()
            tokens = sides[name]()
            if loaded.device.type == "cuda":
                torch.cuda.synchronize()
            rates[name].append(tokens / (time.perf_counter() - begin))
    load_after = load_average()
    engine.close()

    median = {name: statistics.median(v) for name, v in rates.items()}
    results = [{"side": name, "median_tokens_per_s": median[name], "min_tokens_per_s": min(rates[name]),
                "max_tokens_per_s": max(rates[name]), "vs_plain_vllm": median[name] / median[PLAIN]} for name in names]
    report = {
        "config": {"model": args.model, "device": str(loaded.device), "dtype": str(loaded.dtype), "prompts": args.prompts,
                   "n": args.n, "max_new_tokens": args.max_new_tokens, "rounds": args.rounds,
                   "tokens_per_round": len(prompts) * args.max_new_tokens, "torch": torch.__version__,
                   "vllm": vllm_version, "torch_threads_main": torch.get_num_threads(),
                   "gpu": torch.cuda.get_device_name(loaded.device) if loaded.device.type == "cuda" else None,
                   "engine_start_s": engine_start_s, "loadavg_before": load_before, "loadavg_after": load_after,
                   **cpu_info()},
        "ours_split": {"sampling_s_median": statistics.median(split["sample_s"]),
                       "entropy_pass_s_median": statistics.median(split["score_s"])},
        "results": results,
    }
    publish(report, markdown(report), args.json)
    return 0


def markdown(report: dict) -> str:
    cfg, split = report["config"], report["ours_split"]
    machine = cfg["gpu"] or f"CPU {cfg['cpu_model']} ({', '.join(cfg['cpu_flags']) or 'no AVX2'}), {cfg['cpu_count']} CPUs"
    lines = [
        f"{cfg['prompts']} prompts x {cfg['n']} samples x {cfg['max_new_tokens']} tokens per round, {cfg['rounds']} "
        f"rounds, model {cfg['model']} ({cfg['dtype']}) on {cfg['device']}: {machine}; vLLM {cfg['vllm']}, "
        f"torch {cfg['torch']}; load average {cfg['loadavg_before']} before, {cfg['loadavg_after']} after; "
        f"engine start {cfg['engine_start_s']:.0f} s",
        "",
        "| side | median tokens/s | min..max | vs plain vLLM |",
        "|---|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['side']} | {r['median_tokens_per_s']:.1f} | {r['min_tokens_per_s']:.1f}..{r['max_tokens_per_s']:.1f} "
                     f"| {r['vs_plain_vllm']:.2f}x |")
    lines += ["", f"entropy-lens vLLM round: sampling {split['sampling_s_median']:.1f} s, exact entropy pass "
                  f"{split['entropy_pass_s_median']:.1f} s (medians)"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
