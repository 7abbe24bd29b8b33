"""Pivotal tokens (arXiv 2506.14758, section 3): the entropy of words that link reasoning steps
(causal, contrastive, sequential, reasoning verbs) against every other word.

    python analyses/pivotal_tokens.py                                   # SmolLM2, arithmetic, a few minutes on 2 cores
    python analyses/pivotal_tokens.py --model Qwen/Qwen2.5-Math-7B --tasks champ --limit 270 --n 8 \\
        --max-new-tokens 2048 --batch-size 64 --min-count 20

Rollouts: runs/rollouts/ (resumable, shared with reflective_sentences). Writes pivotal.csv, pivotal_words.csv and
pivotal.png/.svg into figures/pivotal_tokens/.
"""

from __future__ import annotations

import study


def main() -> None:
    parser = study.new_parser(__doc__)
    study.add_generation_flags(parser, limit=16, n=2, max_new_tokens=128)
    # a short run sees few words often: 5 instead of the library's 20 for the data-driven word list
    parser.add_argument("--min-count", type=int, default=5, help="occurrences a word needs to enter the top-word list")
    args = parser.parse_args()

    import entropy_lens as el

    run = study.Study("pivotal_tokens", args)
    rollouts = run.rollouts(args.model)
    result = el.pivotal(rollouts, min_count=args.min_count, seed=args.seed)
    el.write_pivotal(result, run.figures)
    columns = ["category", "n", "mean", "ordinary_mean", "diff_ci_low", "diff_ci_high", "p_value", "forking_share"]
    print(result.categories[columns].round(4).to_string(index=False))
    run.finish()


if __name__ == "__main__":
    study.run(main)
