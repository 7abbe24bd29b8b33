"""Rare behaviours (arXiv 2506.14758, section 3): sentences of an RL checkpoint far from
everything its base model writes, and whether they carry higher entropy; with the base-vs-RL
report page (accuracy, entropy, pivotal tokens, reflection, rare sentences, heatmaps).

    python analyses/rare_behaviours.py --rl runs/training_dynamics/SETUP/entropy-adv/checkpoints/step-000040
    python analyses/rare_behaviours.py --base Qwen/Qwen2.5-Math-7B --rl PATH --tasks champ --limit 100 --n 4 \\
        --max-new-tokens 2048 --batch-size 64 \\
        --instruction "Please reason step by step, and put your final answer within \\boxed{}."

SETUP is the folder training_dynamics prints (its DONE.json lists the final checkpoints).
Both models answer the same problems (rollouts in runs/rollouts/, resumable). Writes
rare.csv, rare_summary.csv, rare.png/.svg and report.html into figures/rare_behaviours/ (an
existing report is kept).
"""

from __future__ import annotations

import study


def main() -> None:
    parser = study.new_parser(__doc__)
    study.add_generation_flags(parser, limit=16, n=4, max_new_tokens=study.REASONING_TOKENS,
                               model_flags=("--base", "--model"))
    parser.add_argument("--rl", required=True, metavar="CHECKPOINT", help="the RL checkpoint (a model folder or hub id)")
    parser.add_argument("--k", type=int, default=5, help="nearest base sentences per RL sentence")
    parser.add_argument("--quantile", type=float, default=0.9, help="rare = distance at or above this quantile")
    args = parser.parse_args()

    import entropy_lens as el

    run = study.Study("rare_behaviours", args)
    base, rl = run.rollouts(args.model, role="base"), run.rollouts(args.rl, role="rl")
    result = el.rare(base, rl, k=args.k, quantile=args.quantile, seed=args.seed)
    el.write_rare(result, run.figures)
    print(result.summary.round(4).T.to_string(header=False))
    report = run.figures / "report.html"
    study.keep_existing(report, lambda: el.write_report(base, rl, run.figures,
                                                        rare_options={"k": args.k, "quantile": args.quantile}))
    run.finish()


if __name__ == "__main__":
    study.run(main)
