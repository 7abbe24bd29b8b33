"""CLI of ``entropy-lens passk`` and ``entropy-lens dynamics``: parsing only. The work is done
by the Python API (``passk.py``, ``dynamics.py``); files are written through a staging
folder (``outputs.py``), so they appear together or not at all. No heavy import here."""

from __future__ import annotations

import argparse
from pathlib import Path

from entropy_lens.errors import UserError

EXTRA_COMMANDS = ("passk", "dynamics")


def add_extra_parsers(sub) -> None:
    from entropy_lens.cli.analyses import _add_generation_options

    p = sub.add_parser("passk", help="pass@k curves (unbiased estimator) of one or more models, on one plot",
                       description="Pass@k = 1 - C(n-c, k) / C(n, k) per problem (n graded samples, c correct), "
                                   "averaged over problems, with a 95% bootstrap CI over problems. Every problem needs "
                                   "at least k graded samples (refused otherwise). Responses without a gold answer are "
                                   "left out and counted. Writes OUT/passk.csv (one row per model and k: model, k, "
                                   "pass_at_k, ci_low, ci_high, problems, excluded), OUT/passk_per_problem.csv (model, "
                                   "prompt_id, n, c, pass@k...) and OUT/passk.png/.svg (all models on one plot).")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", action="append", metavar="MODEL",
                        help="generate from this model first (repeat for several: each is kept in OUT/rollouts-<i>, "
                             "i = 1, 2, ...; one model: OUT/rollouts); give --n >= the largest k")
    source.add_argument("--rollouts", nargs="+", metavar="DIR",
                        help="one or more rollout directories (generate/score --out); each is a curve named after its folder")
    p.add_argument("--k", required=True, metavar="K,K,...", help="comma-separated k values, e.g. 1,2,4,8,16")
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier passk output)")
    p.add_argument("--n-boot", type=int, default=2000, metavar="N", help="bootstrap resamples of the problems (default: 2000)")
    _add_generation_options(p)

    p = sub.add_parser("dynamics", help="training dynamics of one or more runs, side by side",
                       description="Read RUN/metrics.jsonl of each run folder written by `entropy-lens train` and plot "
                                   "the runs against each other, one panel per metric: reward, accuracy, response "
                                   "length, mean entropy, the entropy term's share of the advantage, pivotal-token "
                                   "entropy, reflection frequency, repetition rate, clip fraction, approximate KL, grad "
                                   "norm (those the runs logged). Writes OUT/dynamics.png/.svg and OUT/dynamics.csv "
                                   "(long format: run, step, metric, value; plus smoothed with --smooth).")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s): the --out of `entropy-lens train`")
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier dynamics output)")
    p.add_argument("--smooth", type=int, default=None, metavar="N",
                   help="also draw a trailing moving average over N steps (the raw values stay in the CSV)")


def parse_ks(text: str | None) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4] (sorted, distinct); UserError for anything else."""
    fix = "pass comma-separated integers >= 1, e.g. --k 1,2,4,8"
    items = [item.strip() for item in (text or "").split(",")]
    if not any(items):
        raise UserError("--k is empty", fix)
    ks = []
    for item in items:
        try:
            k = int(item)
        except ValueError:
            raise UserError(f"--k {text!r}: {item!r} is not an integer", fix) from None
        if k < 1:
            raise UserError(f"--k {text!r}: k must be >= 1, got {k}", fix)
        ks.append(k)
    return sorted(set(ks))


def run_extra(args: argparse.Namespace) -> str:
    """Run ``passk`` or ``dynamics``; returns the line printed on success."""
    from entropy_lens.cli.analyses import _done, _generation_config, _with_output

    if args.command == "passk":
        ks = parse_ks(args.k)
        if args.n_boot < 1:
            raise UserError(f"--n-boot must be >= 1, got {args.n_boot}", "pass e.g. --n-boot 2000")
        from entropy_lens.analyses.dynamics import unique_names

        if args.model:
            config = _generation_config(args)
            config.validate()
            if config.n < ks[-1]:
                raise UserError(f"--k {ks[-1]} needs at least {ks[-1]} samples per problem, but --n is {config.n}",
                                f"pass --n {ks[-1]} (or more), or smaller k values")
            sources, names = list(args.model), unique_names(args.model)
        else:
            missing = [d for d in args.rollouts if not Path(d).is_dir()]
            if missing:
                raise UserError(f"rollout directory {missing[0]} does not exist",
                                "pass the --out folder of `entropy-lens generate` or `score`")
            sources, names = list(args.rollouts), unique_names(args.rollouts)

        def work(out_dir, staging):
            from entropy_lens.analyses.passk import passk_table, write_passk
            from entropy_lens.rollouts.store import read_rollouts
            from entropy_lens.cli.sources import obtain_rollouts

            tables = {}
            for i, (value, name) in enumerate(zip(sources, names), start=1):
                if args.model:
                    folder = "rollouts" if len(sources) == 1 else f"rollouts-{i}"
                    frame = obtain_rollouts(value, out_dir, folder, _generation_config(args))
                else:
                    frame = read_rollouts(value)
                try:
                    tables[name] = passk_table(frame, ks, n_boot=args.n_boot)
                except UserError as exc:
                    raise UserError(f"{name}: {exc.problem}", exc.fix) from None
            write_passk(tables, staging)
            notes = [f"{name}: {t.skipped}" for name, t in tables.items() if t.skipped]
            summary = "; ".join(
                f"{name} pass@{ks[0]} {t.mean['pass_at_k'].iloc[0]:.1%}"
                + (f", pass@{ks[-1]} {t.mean['pass_at_k'].iloc[-1]:.1%}" if len(ks) > 1 else "")
                for name, t in tables.items())
            message = f"wrote passk.csv, passk_per_problem.csv, passk.png/.svg to {out_dir} ({summary})"
            return message + (f" ({'; '.join(notes)})" if notes else "")
        return _with_output(args, work)

    if args.command == "dynamics":
        from entropy_lens.analyses.dynamics import dynamics, read_run, write_dynamics

        if args.smooth is not None and args.smooth < 1:
            raise UserError(f"--smooth must be >= 1, got {args.smooth}", "pass e.g. --smooth 5, or leave it out")
        for run in args.runs:  # every input is checked before OUT is touched
            read_run(run)

        def work(out_dir, staging):
            result = dynamics(args.runs, smooth=args.smooth)
            write_dynamics(result, staging)
            return _done(out_dir, f"dynamics.csv, dynamics.png/.svg ({len(result.runs)} runs, "
                                  f"{len(result.metrics)} panels)", result)
        return _with_output(args, work)
    raise UserError(f"unknown command {args.command}", "see entropy-lens --help")
