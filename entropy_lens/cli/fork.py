"""CLI of ``entropy-lens fork``: the causal probe of high-entropy tokens. Parsing only; the
plan (positions and cost) is printed before a model is loaded, ``--dry-run`` stops there."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from entropy_lens.cli.flags import add_config_flags, config_from_args
from entropy_lens.cli.sources import done, obtain_rollouts
from entropy_lens.errors import UserError
from entropy_lens.measure.config import ForkConfig, GenerateConfig

COMMANDS = ("fork",)
# generate's options that fork sets itself (one response per problem, its --limit, --seed, ...)
OWN = {f.name for f in fields(ForkConfig)} | {"n"}
GENERATION_FIELDS = [f.name for f in fields(GenerateConfig) if f.name not in OWN]


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "fork", help="causal probe: resample at high-, low-entropy and pivotal tokens; does the answer change?",
        description="At probed token positions of real responses (high: among a response's top 10% entropy "
                    "tokens; low: its lower half, matched in relative position; pivotal: first tokens of pivotal "
                    "words), sample --samples continuations from the prompt and the response up to that token (the "
                    "token itself is resampled) with the rollouts' sampling settings, grade them, and measure how "
                    "often the final answer changes. Writes OUT/forks.parquet (one row per probed position: "
                    "prompt_id, sample_id, position, token, entropy, kind, n_samples, accuracy, changed, answers, "
                    "answer_entropy), OUT/fork_summary.csv (per kind, high vs low and pivotal vs low: bootstrap CI "
                    "over responses, Mann-Whitney p, effect size; rank correlation of entropy and changed) and "
                    "OUT/fork.png/.svg. Finished positions are kept in OUT/probes: a rerun samples only the rest.")
    p.add_argument("--rollouts", metavar="DIR", help="rollout directory to probe (its _run.json names the model and "
                                                     "the sampling settings); without it, --model generates first")
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier fork output)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (positions, continuations) and stop")
    add_config_flags(p.add_argument_group("probe"), ForkConfig)
    group = p.add_argument_group("generation (used when --model is given without --rollouts)")
    add_config_flags(group, GenerateConfig, skip=tuple(OWN))


def _generation_config(args: argparse.Namespace, cfg: ForkConfig) -> GenerateConfig:
    """One response to each of the first --limit problems, with the probe's model and seed."""
    config = GenerateConfig(model=cfg.model, n=1, limit=cfg.limit, seed=cfg.seed, batch_size=cfg.batch_size,
                            device=cfg.device, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code,
                            lenient_truncated=cfg.lenient_truncated,
                            **{name: getattr(args, name) for name in GENERATION_FIELDS})
    config.validate()
    return config


def _headline(result) -> str:
    rows = result.summary[result.summary["row"] == "kind"].set_index("kind")
    parts = [f"{kind}: changed {row['mean_changed']:.2f} over {int(row['positions'])} positions"
             for kind, row in rows.iterrows()]
    rho, p = result.correlation.get("rho"), result.correlation.get("p_value")
    if rho is not None and rho == rho:
        parts.append(f"Spearman rho(entropy, changed) {rho:+.2f} (p {p:.2g})")
    return "; ".join(parts)


def run(args: argparse.Namespace) -> str:
    from entropy_lens.analyses.fork import prepare_fork, run_fork
    from entropy_lens.outputs import staged_output, write_fork

    cfg = config_from_args(ForkConfig, args)
    cfg.validate()
    plan = None
    if not args.rollouts and not cfg.model:
        raise UserError("fork needs --rollouts DIR or --model", "pass the rollout directory to probe, or a model to generate from")
    if args.rollouts:
        plan = prepare_fork(args.rollouts, cfg)  # reads the table, checks it, chooses the positions
        if args.dry_run:
            return plan.describe(cfg.samples) + " (dry run: nothing sampled)"
        generation = None
    else:
        if cfg.limit is None:  # one response to every problem of a task set is rarely what a probe wants
            raise UserError("fork --model without --rollouts needs --limit N",
                            "pass e.g. --limit 8: one response to each of the first 8 problems is generated, then probed")
        generation = _generation_config(args, cfg)
        if args.dry_run:
            most = cfg.limit * 3 * cfg.positions
            return (f"fork: one response to each of {cfg.limit} {generation.tasks} problems is generated first "
                    f"(up to {generation.max_new_tokens} tokens), then up to {most} positions ({cfg.positions} of each "
                    f"of 3 kinds per response) x {cfg.samples} samples = up to {most * cfg.samples:,} continuations "
                    "(dry run: nothing sampled)")

    def work(out_dir, staging):
        nonlocal plan
        if generation is not None:
            frame = obtain_rollouts(generation.model, out_dir, "rollouts", generation)
            plan = prepare_fork(frame, cfg, run_settings=generation.run_settings())
        print(plan.describe(cfg.samples), file=sys.stderr)
        result = run_fork(plan, cfg, out_dir / "probes")
        write_fork(result, staging)
        return done(out_dir, f"forks.parquet, fork_summary.csv, fork.png/.svg ({_headline(result)})", result)

    return staged_output(args.out, args.command, work)
