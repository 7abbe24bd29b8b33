"""Reproduce the paper's entropy analyses (arXiv 2506.14758, section 3) for one model:
pivotal tokens, reflective sentences and a token-entropy heatmap, written to figures/.

    python analyses/exploration_entropy.py                       # SmolLM2 on the arithmetic tasks
    python analyses/exploration_entropy.py --model PATH --tasks champ --limit 40 --n 4

Rollouts are kept in ``runs/<name>/rollouts`` (resumable: a rerun generates nothing new),
and the figures go to ``figures/<name>/``. With ``--base`` as well, the rare-behaviour
analysis compares ``--model`` (the RL checkpoint) with it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import entropy_lens as el

ROOT = Path(__file__).resolve().parent.parent


def rollouts_for(model: str, args, name: str):
    return el.generate(model, args.tasks, limit=args.limit, n=args.n, max_new_tokens=args.max_new_tokens,
                       out=ROOT / "runs" / name / "rollouts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--base", help="base model for the rare-behaviour comparison")
    parser.add_argument("--tasks", default="arithmetic")
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--name", help="folder name under runs/ and figures/ (default: the model's name)")
    args = parser.parse_args()

    name = args.name or Path(args.model).name
    figures = ROOT / "figures" / name
    figures.mkdir(parents=True, exist_ok=True)
    rollouts = rollouts_for(args.model, args, name)

    pivotal = el.pivotal(rollouts, min_count=5)
    el.write_pivotal(pivotal, figures)
    print(pivotal.categories.round(4).to_string(index=False))

    reflect = el.reflect(rollouts)
    el.write_reflect(reflect, figures)
    print(reflect.summary.round(4).to_string(index=False))

    heatmap = figures / "heatmap.html"
    if not heatmap.exists():
        el.write_heatmap(rollouts, heatmap, top=6)

    if args.base:
        base = rollouts_for(args.base, args, f"{name}-base")
        rare = el.rare(base, rollouts)
        el.write_rare(rare, figures)
        print(rare.summary.round(4).to_string(index=False))
    print(f"figures in {figures}")


if __name__ == "__main__":
    main()
