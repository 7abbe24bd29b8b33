"""Reflective sentences (arXiv 2506.14758, section 3): the entropy of sentences in which the model
checks itself ("wait", "let me verify", ...) against every other sentence, and token-entropy
heatmaps of the responses.

    python analyses/reflective_sentences.py                             # SmolLM2, arithmetic, a few minutes on 2 cores
    python analyses/reflective_sentences.py --model Qwen/Qwen2.5-Math-7B --tasks champ --limit 270 --n 8 \\
        --max-new-tokens 2048 --batch-size 64

Rollouts: runs/rollouts/ (resumable, shared with pivotal_tokens). Writes sentences.parquet, reflect.csv and
reflect.png/.svg into figures/reflective_sentences/, with heatmap.html (the highest-entropy
responses) and heatmap.png (the highest-entropy one); an existing heatmap is kept.
"""

from __future__ import annotations

import study


def main() -> None:
    parser = study.new_parser(__doc__)
    study.add_generation_flags(parser, limit=16, n=2, max_new_tokens=128)
    parser.add_argument("--heatmap-top", type=int, default=6, help="responses shown in heatmap.html")
    args = parser.parse_args()

    import entropy_lens as el

    run = study.Study("reflective_sentences", args)
    rollouts = run.rollouts(args.model)
    result = el.reflect(rollouts, seed=args.seed)
    el.write_reflect(result, run.figures)
    print(result.summary.round(4).to_string(index=False))
    page, figure = run.figures / "heatmap.html", run.figures / "heatmap.png"
    study.keep_existing(page, lambda: el.write_heatmap(rollouts, page, top=args.heatmap_top))
    study.keep_existing(figure, lambda: el.write_heatmap(rollouts, figure))
    run.finish()


if __name__ == "__main__":
    study.run(main)
