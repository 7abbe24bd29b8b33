"""Pass@k (k = 1 ... n) of the base model and of RL checkpoints: does entropy-based training
keep the model's reach at large k, or only sharpen pass@1?

    python analyses/pass_at_k.py                                        # the base model alone, a few minutes on 2 cores
    python analyses/pass_at_k.py --checkpoint none=runs/training_dynamics/SETUP/none/checkpoints/step-000040 \\
        --checkpoint entropy-adv=runs/training_dynamics/SETUP/entropy-adv/checkpoints/step-000040
    python analyses/pass_at_k.py --model Qwen/Qwen2.5-Math-7B --checkpoint adv=PATH --tasks champ --limit 270 \\
        --n 32 --max-new-tokens 2048 --batch-size 128 \\
        --instruction "Please reason step by step, and put your final answer within \\boxed{}."

SETUP is the folder training_dynamics prints (its DONE.json lists the final checkpoints).
Rollouts: runs/rollouts/ (resumable). Writes passk.csv, passk_per_problem.csv and
passk.png/.svg into figures/pass_at_k/ (the checkpoints in the order given, the base model last).
"""

from __future__ import annotations

import argparse

import study


def checkpoint(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not (sep and name and path):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=PATH (e.g. entropy-adv=runs/x/checkpoints/step-000040)")
    return name, path


def main() -> None:
    parser = study.new_parser(__doc__)
    study.add_generation_flags(parser, limit=32, n=8, max_new_tokens=study.REASONING_TOKENS, batch_size=32)
    parser.add_argument("--checkpoint", type=checkpoint, action="append", default=[], metavar="NAME=PATH",
                        help="an RL checkpoint to evaluate next to the base model (repeatable)")
    parser.add_argument("--base-name", default="base", help="the base model's name in the table and figure")
    args = parser.parse_args()
    names = [name for name, _ in args.checkpoint] + [args.base_name]
    if len(set(names)) != len(names):
        parser.error(f"model names must be distinct, got {', '.join(names)}")

    import entropy_lens as el

    run = study.Study("pass_at_k", args)
    models = args.checkpoint + [(args.base_name, args.model)]
    ks = range(1, args.n + 1)
    tables = {name: el.passk_table(run.rollouts(path, role=name), ks, seed=args.seed) for name, path in models}
    el.write_passk(tables, run.figures)
    for name, table in tables.items():
        values = ", ".join(f"pass@{int(k)} {v:.3f}" for k, v in zip(table.mean["k"], table.mean["pass_at_k"]))
        print(f"{name}: {values}")
    run.finish()


if __name__ == "__main__":
    study.run(main)
