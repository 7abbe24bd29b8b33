"""Training dynamics: GRPO on the default model with each entropy term (none, entropy-adv,
entropy-reg, and the 80/20 baseline that trains only the top 20% of tokens by entropy), one
seed, then their reward, entropy, response length, pivotal-token entropy, reflection
frequency, ... curves side by side.

    python analyses/training_dynamics.py                   # 4 runs of 40 steps: about 75 minutes on 2 cores
    python analyses/training_dynamics.py --steps 2 --max-new-tokens 16 --modes none,entropy-adv   # a smoke run
    python analyses/training_dynamics.py --model Qwen/Qwen2.5-Math-1.5B --steps 500 --max-new-tokens 1024 \\
        --prompts-per-step 32 --group-size 8 --batch-size 64 --lr 1e-6 --device cuda

The defaults keep the reasoning in the responses, so that there are pivotal and reflective
tokens to study in the checkpoints: the step-by-step instruction, temperature 0.6 (at the
trainer's 1.0 the default model answers about 2% of the problems right, too few for GRPO to
learn from), 96 tokens, and the reasoned_outcome reward (a right answer counts only with
at least 8 words of working; with the plain outcome reward the responses shrink to the bare
sum). Runs go to
runs/training_dynamics/<settings digest>/<mode>/ and resume from their last checkpoint when
interrupted (a finished run is left as it is). Writes dynamics.csv and dynamics.png/.svg into
figures/training_dynamics/; DONE.json lists each mode's final checkpoint (figures.py hands
them to pass_at_k and rare_behaviours).
"""

from __future__ import annotations

import re
from pathlib import Path

import study
from entropy_lens_trainer.config import RESUMABLE_CHANGES  # settings a resumed run may change: not in the digest

# mode -> the TrainConfig settings that make it (the 80/20 quantile is a flag, filled in below)
MODES = {"none": {"shaping": "none"}, "entropy-adv": {"shaping": "entropy-adv"},
         "entropy-reg": {"shaping": "entropy-reg"}, "top-entropy": {"shaping": "none"}}


def final_checkpoint(run_dir: Path) -> Path:
    steps = [(int(m.group(1)), p) for p in (run_dir / "checkpoints").glob("step-*")
             if (m := re.fullmatch(r"step-(\d+)", p.name))]
    return max(steps)[1]


def main() -> None:
    parser = study.new_parser(__doc__)
    parser.add_argument("--model", default=study.DEFAULT_MODEL, help="policy to train")
    parser.add_argument("--tasks", default="arithmetic", help="training problems")
    parser.add_argument("--algorithm", default="grpo", choices=["grpo", "ppo"], help="policy-gradient algorithm")
    parser.add_argument("--steps", type=int, default=40, help="training steps of each mode")
    parser.add_argument("--prompts-per-step", type=int, default=4, help="problems per rollout batch")
    parser.add_argument("--group-size", type=int, default=4, help="responses per problem")
    parser.add_argument("--max-new-tokens", type=int, default=study.REASONING_TOKENS, help="rollout response budget")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    parser.add_argument("--lr", type=float, default=1e-5, help="policy learning rate")
    parser.add_argument("--instruction", default=None,
                        help="text after each problem (None: the trainer's own, which asks for step-by-step reasoning and \\boxed{})")
    parser.add_argument("--temperature", type=float, default=0.6,
                        help="rollout temperature (also that of the trained log-probs and entropy)")
    parser.add_argument("--reward", default="entropy_lens_trainer.rewards:reasoned_outcome",
                        help="reward 'module:function' (entropy_lens_trainer.rewards:outcome_reward: +1 right, -1 wrong, "
                             "the trainer's default)")
    parser.add_argument("--save-every", type=int, default=20, help="checkpoint every N steps (and at the end)")
    parser.add_argument("--top-entropy-quantile", type=float, default=0.2,
                        help="share of tokens the top-entropy mode trains on (0.2: the 80/20 rule)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    parser.add_argument("--smooth", type=int, default=10, help="moving average over N steps in the figure")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="training seed, the same for every mode")
    study.add_folder_flags(parser)
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        parser.error(f"unknown mode(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODES)}")

    import entropy_lens as el
    from entropy_lens_trainer import TrainConfig, train

    run = study.Study("training_dynamics", args)
    settings = dict(model=args.model, tasks=args.tasks, algorithm=args.algorithm, steps=args.steps,
                    prompts_per_step=args.prompts_per_step, group_size=args.group_size,
                    max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, lr=args.lr,
                    instruction=args.instruction, temperature=args.temperature, reward=args.reward,
                    save_every=args.save_every, seed=args.seed, device=args.device)
    if args.instruction is None:
        del settings["instruction"]  # the trainer's own
    setup = run.runs / study.digest({k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES})
    runs = {}
    for mode in modes:
        extra = dict(MODES[mode])
        name = mode
        if mode == "top-entropy":
            extra["top_entropy_quantile"] = args.top_entropy_quantile
            name = f"top-entropy-{args.top_entropy_quantile:g}"
        runs[name] = setup / name
        print(f"training_dynamics: {name} in {runs[name]}", flush=True)
        train(TrainConfig(**settings, **extra), runs[name], resume="or-start")

    result = el.dynamics(list(runs.values()), names=list(runs), smooth=args.smooth)
    el.write_dynamics(result, run.figures)
    last = result.long.sort_values("step").groupby(["run", "metric"]).tail(1)
    shown = last[last["metric"].isin(["reward_mean", "accuracy", "rollout_entropy", "response_length"])]
    print(shown.pivot(index="run", columns="metric", values="value").round(3).to_string())
    # the steps' own seconds, however many times the runs were interrupted and resumed
    step_seconds = result.long.loc[result.long["metric"] == "step_s", "value"].sum()
    run.finish(model=args.model, training_seconds=round(float(step_seconds)),
               checkpoints={name: study.repo_relative(final_checkpoint(path)) for name, path in runs.items()})


if __name__ == "__main__":
    study.run(main)
