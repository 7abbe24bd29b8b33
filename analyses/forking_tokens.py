"""Forking tokens, probed causally: resample a response's continuation at its high-entropy tokens,
at low-entropy tokens in matched places and at pivotal words, and measure how often the final
answer changes. The paper shows high-entropy tokens coincide with exploration; this intervenes.

    python analyses/forking_tokens.py                                   # SmolLM2, arithmetic, a few minutes on 2 cores
    python analyses/forking_tokens.py --model Qwen/Qwen2.5-Math-7B --tasks champ --limit 64 \\
        --max-new-tokens 1024 --positions 4 --samples 16 --batch-size 64

One response to each of the first --limit problems (--n per problem) is sampled into
runs/rollouts/ and probed next to them (both resumable); the continuations use the rollouts'
own sampling settings. Writes forks.parquet, fork_summary.csv, fork_settings.json and
fork.png/.svg into figures/forking_tokens/.
"""

from __future__ import annotations

import study


def main() -> None:
    parser = study.new_parser(__doc__)
    study.add_generation_flags(parser, limit=4, n=1, max_new_tokens=64)
    parser.add_argument("--positions", type=int, default=2, help="positions probed per kind (high, low, pivotal) per response")
    parser.add_argument("--samples", type=int, default=4, help="continuations sampled at each position")
    args = parser.parse_args()

    import entropy_lens as el

    run = study.Study("forking_tokens", args)
    rollouts = run.rollouts(args.model)
    # the probe store refuses other settings, so each (positions, samples) gets its own folder
    probes = rollouts.with_name(f"{rollouts.name}-probes-p{args.positions}-s{args.samples}")
    # the folder, not a DataFrame: its _run.json names the model and the sampling settings
    result = el.fork(str(rollouts), out=probes, positions=args.positions, samples=args.samples, seed=args.seed,
                     batch_size=args.batch_size, device=args.device)
    el.write_fork(result, run.figures)
    columns = ["row", "kind", "positions", "mean_entropy", "mean_changed", "changed_ci_low", "changed_ci_high",
               "diff_changed", "p_changed"]
    print(result.summary[columns].round(4).to_string(index=False))
    rho, p = (float("nan") if result.correlation.get(key) is None else result.correlation[key] for key in ("rho", "p_value"))
    print(f"Spearman rho(entropy, changed) = {rho:.3f} (p = {p:.3g}, n = {result.correlation.get('n')})")
    run.finish()


if __name__ == "__main__":
    study.run(main)
