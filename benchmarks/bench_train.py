"""GRPO training steps: the bundled trainer (``entropy_lens_trainer``) against TRL's
``GRPOTrainer``, same work per step, in one run.

Each step of either trainer: 4 arithmetic prompts (the same prompts, in the same order,
through the model's chat template with the default instruction) x 4 samples, up to 64 new
tokens at temperature 1 (top-p off), the same outcome reward (+1 correct, -1 otherwise),
group-normalised advantages, a token-level clipped loss (TRL ``loss_type="dapo"``,
eps 0.2 / 0.28), one AdamW step (lr 1e-6, weight decay 0.01, grad clip 1.0) per generation
batch, no KL term, float32 on the CPU, no gradient checkpointing. TRL: per_device_train_batch_size=16,
num_generations=4, steps_per_generation=1. The bundled trainer additionally computes the
exact full-vocabulary entropy of every token (sampling and training passes) and, with
``--shaping entropy-adv`` (the default), shapes the advantage with it. Both sides update in
one micro-batch of all 16 responses. What the bundled trainer does differently is its own
implementation, not a different task: it runs a group's shared prompt once, samples with
oneDNN products and reserved key/value buffers, keeps fewer activations for the backward
pass (recomputing, with the same values), and keeps freed memory in its process between a
step's phases (``trainer/allocator.py``); ``--trl-keep-freed-memory`` gives TRL's process the
same malloc setting, to see what that alone is worth.

Each side runs in its own subprocess (so its peak RSS, ``ru_maxrss``, is its own), and the
sides alternate, ours then TRL, ``--rounds`` times, so that a change of load on a shared
machine reaches both alike; each process's first step is a warm-up and is excluded, and a
round repeats the same steps. Seconds per step, completion tokens per second (generated
tokens, EOS included, over the measured steps' time) and peak RSS (the largest over the
rounds) are printed as a markdown table with ratios.

    python benchmarks/bench_train.py [--steps 4] [--rounds 2] [--model smollm2] [--json bench-out/train.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS_PER_STEP = 4
GROUP_SIZE = 4
SEED = 0
LR = 1e-6
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
EPS_LOW, EPS_HIGH = 0.2, 0.28


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak if sys.platform == "darwin" else peak * 1024


def _step_prompts(steps: int):
    """The problems of steps 1..steps, in the bundled trainer's order (seeded per epoch)."""
    from entropy_lens.tasks.load import load_tasks
    from entropy_lens_trainer.rollout import step_problems

    problems = load_tasks("arithmetic")
    return [p for step in range(steps) for p in step_problems(problems, step, PROMPTS_PER_STEP, SEED)]


# ------------------------------------------------------------------------------ ours


def run_ours(args) -> dict:
    from entropy_lens_trainer import TrainConfig, train

    cfg = TrainConfig(model=args.model, tasks="arithmetic", device="cpu", dtype="float32", algorithm="grpo",
                      shaping=args.shaping, steps=args.steps, prompts_per_step=PROMPTS_PER_STEP, group_size=GROUP_SIZE,
                      max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=1.0, batch_size=PROMPTS_PER_STEP * GROUP_SIZE,
                      lr=LR, weight_decay=WEIGHT_DECAY, max_grad_norm=MAX_GRAD_NORM, eps_low=EPS_LOW, eps_high=EPS_HIGH,
                      kl_coef=0.0, seed=SEED, save_every=0)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        started = time.perf_counter()
        metrics = train(cfg, Path(folder) / "run", verbose=False)
        total = time.perf_counter() - started
    steps = [{"seconds": float(r["step_s"]), "tokens": int(r["tokens"]), "reward": float(r["reward_mean"]),
              "rollout_s": float(r["rollout_s"])}
             for r in metrics.to_dict("records")]
    return {"steps": steps, "total_s": total}


# ------------------------------------------------------------------------------ TRL


def run_trl(args) -> dict:
    import torch

    if args.trl_keep_freed_memory:  # the bundled trainer's allocator setting (trainer/allocator.py), for TRL too
        from entropy_lens_trainer.allocator import keep_freed_memory

        keep_freed_memory()
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from entropy_lens.measure.models import load_model
    from entropy_lens.measure.prompts import DEFAULT_INSTRUCTION
    from entropy_lens_trainer.rewards import outcome_reward

    problems = _step_prompts(args.steps)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": f"{p.prompt}\n\n{DEFAULT_INSTRUCTION}"}],
                               "answer": p.answer} for p in problems])
    loaded = load_model(args.model, device="cpu", dtype="float32")
    counter = {"tokens": 0}

    def correctness(completions, answer, completion_ids=None, **_):
        """The bundled trainer's outcome reward; also counts the generated tokens."""
        counter["tokens"] += sum(len(ids) for ids in completion_ids)
        return [outcome_reward(c[0]["content"] if isinstance(c, list) else c, a) for c, a in zip(completions, answer)]

    steps: list[dict] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            counter["tokens"] = 0
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            steps.append({"seconds": time.perf_counter() - self.started, "tokens": counter["tokens"]})

    with tempfile.TemporaryDirectory(prefix="bench-trl-") as folder:
        config = GRPOConfig(
            output_dir=folder, per_device_train_batch_size=PROMPTS_PER_STEP * GROUP_SIZE, num_generations=GROUP_SIZE,
            steps_per_generation=1, num_iterations=1, max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0,
            loss_type="dapo", epsilon=EPS_LOW, epsilon_high=EPS_HIGH, beta=0.0, learning_rate=LR,
            weight_decay=WEIGHT_DECAY, max_grad_norm=MAX_GRAD_NORM, lr_scheduler_type="constant", warmup_steps=0,
            bf16=False, use_cpu=True, gradient_checkpointing=args.trl_gradient_checkpointing, max_steps=args.steps, shuffle_dataset=False,
            seed=SEED, logging_steps=1, save_strategy="no", report_to="none", dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = GRPOTrainer(model=loaded.model, reward_funcs=correctness, args=config, train_dataset=data,
                              processing_class=loaded.tokenizer, callbacks=[StepTimer()])
        started = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - started
    rewards = [row["reward"] for row in trainer.state.log_history if "reward" in row]
    for step, reward in zip(steps, rewards):
        step["reward"] = float(reward)
    return {"steps": steps, "total_s": total, "torch_threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------ driver


def _side(args) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renames, TRL's config
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    result = run_ours(args) if args.side == "ours" else run_trl(args)
    result["peak_rss_bytes"] = _peak_rss_bytes()
    Path(args.result).write_text(json.dumps(result))


def _summarise(name: str, rounds: list[dict]) -> dict:
    measured = [s for result in rounds for s in (result["steps"][1:] or result["steps"])]  # step 1: warm-up
    seconds = sum(s["seconds"] for s in measured)
    tokens = sum(s["tokens"] for s in measured)
    return {"trainer": name, "measured_steps": len(measured), "s_per_step": seconds / len(measured),
            "completion_tokens_per_step": tokens / len(measured), "completion_tokens_per_s": tokens / seconds,
            "peak_rss_gb": max(r["peak_rss_bytes"] for r in rounds) / 1e9,
            "s_per_step_by_round": [sum(s["seconds"] for s in r["steps"][1:]) / max(1, len(r["steps"]) - 1) for r in rounds],
            "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="training steps per process; the first is a warm-up (default: 4)")
    parser.add_argument("--rounds", type=int, default=2, help="times each side runs, alternating (default: 2)")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--shaping", default="entropy-adv", choices=["none", "entropy-adv"],
                        help="the bundled trainer's shaping (default: entropy-adv, the paper's method)")
    parser.add_argument("--only", choices=["ours", "trl"], help="run one side only")
    parser.add_argument("--trl-gradient-checkpointing", action="store_true",
                        help="TRL with its default gradient checkpointing (recomputes the forward pass in the backward "
                             "pass: more work per step than the bundled trainer; off by default)")
    parser.add_argument("--trl-keep-freed-memory", action="store_true",
                        help="give TRL's process the bundled trainer's malloc setting too (trainer/allocator.py)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)    # internal: one side, in a subprocess
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be >= 2 (the first step is a warm-up)")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.side:
        _side(args)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _machine
    from _machine import cpu_info, cpu_label, load_average

    load_before = load_average()
    trl_name = ("TRL GRPOTrainer" + (" (gradient checkpointing)" if args.trl_gradient_checkpointing else "")
                + (" (the trainer's malloc setting)" if args.trl_keep_freed_memory else ""))
    sides = [("ours", "entropy-lens trainer"), ("trl", trl_name)]
    sides = [(side, name) for side, name in sides if not args.only or side == args.only]
    results: dict[str, list[dict]] = {side: [] for side, _ in sides}
    for round_ in range(1, args.rounds + 1):
        for side, name in sides:
            with tempfile.TemporaryDirectory() as folder:
                result_file = Path(folder) / "result.json"
                command = [sys.executable, __file__, "--side", side, "--steps", str(args.steps), "--model", args.model,
                           "--max-new-tokens", str(args.max_new_tokens), "--shaping", args.shaping,
                           "--result", str(result_file)]
                command += [flag for flag, on in (("--trl-gradient-checkpointing", args.trl_gradient_checkpointing),
                                                  ("--trl-keep-freed-memory", args.trl_keep_freed_memory)) if on]
                print(f"round {round_}/{args.rounds}: {name} ({args.steps} steps) ...", file=sys.stderr, flush=True)
                subprocess.run(command, check=True, stdout=sys.stderr)  # TRL's log lines stay out of the table
                results[side].append(json.loads(result_file.read_text()))
    summaries = [_summarise(name, results[side]) for side, name in sides]

    load_after = load_average()
    machine = cpu_info()
    import torch
    import transformers

    try:
        import trl

        trl_version = trl.__version__
    except ImportError:
        trl_version = "not installed"
    print(f"\nGRPO on {args.model}, CPU ({torch.get_num_threads()} threads), {PROMPTS_PER_STEP} prompts x {GROUP_SIZE} samples, "
          f"<= {args.max_new_tokens} new tokens, temperature 1; mean over steps 2..{args.steps} of {args.rounds} rounds "
          f"(torch {torch.__version__}, transformers {transformers.__version__}, trl {trl_version}); "
          f"{cpu_label(machine)}, load average {load_before} before, "
          f"{load_after} after; the sides alternate, ours then TRL, each round\n")
    print("| trainer | s / step | completion tokens / step | completion tokens / s | peak RSS (GB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for s in summaries:
        print(f"| {s['trainer']} | {s['s_per_step']:.1f} | {s['completion_tokens_per_step']:.0f} | "
              f"{s['completion_tokens_per_s']:.1f} | {s['peak_rss_gb']:.2f} |")
    ratios = {}
    if len(summaries) == 2:
        ours, ref = summaries
        ratios = {"speedup_s_per_step": ref["s_per_step"] / ours["s_per_step"],
                  "tokens_per_s_ratio": ours["completion_tokens_per_s"] / ref["completion_tokens_per_s"],
                  "peak_rss_ratio": ours["peak_rss_gb"] / ref["peak_rss_gb"]}
        print(f"| ratio (ours vs TRL) | {ratios['speedup_s_per_step']:.2f}x faster | | "
              f"{ratios['tokens_per_s_ratio']:.2f}x | {ratios['peak_rss_ratio']:.2f}x |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": args.model, "steps": args.steps, "rounds": args.rounds,
                                               "shaping": args.shaping,
                                               "max_new_tokens": args.max_new_tokens, "results": summaries,
                                               "ratios": ratios, "trl_gradient_checkpointing": args.trl_gradient_checkpointing,
                                               "trl_keep_freed_memory": args.trl_keep_freed_memory,
                                               "torch": torch.__version__, "loadavg_before": load_before,
                                               "loadavg_after": load_after, **machine,
                                               "transformers": transformers.__version__, "trl": trl_version}, indent=2))


if __name__ == "__main__":
    main()
