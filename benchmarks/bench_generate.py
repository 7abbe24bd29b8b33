"""generate throughput with exact entropy recording vs plain HF ``generate``, same run.

Both sample the same batch of prompts (temperature 0.6, top-p 0.95, no top-k) for exactly
``--max-new-tokens`` tokens (EOS ignored), so both do the same work; the runs alternate
to spread machine noise. entropy-lens additionally records entropy and log-prob of every
token. Target: at least 0.9x plain HF's tokens/s.

    python benchmarks/bench_generate.py [--model smollm2] [--batch-size 8] [--max-new-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import torch

    from entropy_lens.measure.config import GenerateConfig
    from entropy_lens.measure.generate import sample_batch
    from entropy_lens.measure.models import load_model
    from entropy_lens.measure.prompts import prompt_token_ids
    from entropy_lens.tasks.load import load_tasks

    loaded = load_model(args.model, device=args.device)
    tok = loaded.tokenizer
    problems = load_tasks("arithmetic", args.batch_size)
    prompts = [prompt_token_ids(tok, p.prompt) for p in problems]
    cfg = GenerateConfig(max_new_tokens=args.max_new_tokens, temperature=0.6, top_p=0.95, top_k=0)

    width = max(map(len, prompts))
    input_ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for i, ids in enumerate(prompts):
        input_ids[i, width - len(ids):] = torch.tensor(ids)
        attention[i, width - len(ids):] = 1
    input_ids, attention = input_ids.to(loaded.device), attention.to(loaded.device)

    def plain_hf() -> int:
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=input_ids, attention_mask=attention, do_sample=True, temperature=0.6,
                                        top_p=0.95, top_k=0, max_new_tokens=args.max_new_tokens,
                                        min_new_tokens=args.max_new_tokens, pad_token_id=tok.pad_token_id)
        return int((out.shape[1] - width) * out.shape[0])

    def entropy_lens_generate() -> int:
        rows = sample_batch(loaded, prompts, list(range(len(prompts))), cfg, ignore_eos=True)
        return sum(len(r["token_ids"]) for r in rows)

    def sync():
        if loaded.device.type == "cuda":
            torch.cuda.synchronize()

    timings: dict[str, list[float]] = {"plain HF generate": [], "entropy-lens (entropy + log-prob)": []}
    plain_hf(), entropy_lens_generate()  # warm-up
    for _ in range(args.repeats):
        for name, fn in (("plain HF generate", plain_hf), ("entropy-lens (entropy + log-prob)", entropy_lens_generate)):
            sync()
            start = time.perf_counter()
            tokens = fn()
            sync()
            timings[name].append(tokens / (time.perf_counter() - start))

    reference = statistics.median(timings["plain HF generate"])
    results = [{"method": name, "tokens_per_s": statistics.median(v), "ratio_vs_hf": statistics.median(v) / reference}
               for name, v in timings.items()]
    print(f"model {args.model} on {loaded.device}, batch {args.batch_size} x {args.max_new_tokens} new tokens, "
          f"median of {args.repeats}")
    print("| method | tokens/s | ratio vs plain HF |\n| --- | ---: | ---: |")
    for r in results:
        print(f"| {r['method']} | {r['tokens_per_s']:.1f} | {r['ratio_vs_hf']:.2f}x |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"settings": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
