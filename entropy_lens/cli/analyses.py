"""CLI of the analyses: ``pivotal``, ``reflect``, ``rare``, ``passk`` and ``dynamics``.

Parsing only: every option is checked before a model is loaded or a table read, the work is
done by the Python API (``entropy_lens.analyses``), and files are written through a staging
folder (``entropy_lens.outputs``), so they appear together or not at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from entropy_lens.cli.sources import (add_generation_options, add_paired_sources, add_single_source, done, generation_config, obtain_rollouts,
                                      paired_sources, single_source)
from entropy_lens.errors import UserError

COMMANDS = ("pivotal", "reflect", "rare", "passk", "dynamics")


def add_parsers(sub) -> None:
    p = sub.add_parser("pivotal", help="entropy of pivotal tokens (because, however, first, suggest, ...) vs ordinary tokens",
                       description="Compare the entropy of pivotal words (causal, contrastive, sequential, reasoning "
                                   "verbs) with ordinary word-initial tokens. Writes OUT/pivotal.csv (one row per "
                                   "category: n, mean, median, ordinary_n, ordinary_mean, diff_ci_low, diff_ci_high, "
                                   "p_value, effect_size, forking_share), OUT/pivotal_words.csv and OUT/pivotal.png/.svg.")
    add_single_source(p)
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier pivotal output)")
    p.add_argument("--lexicon", metavar="FILE", help="JSON {category: [words]} or CSV (word,category) replacing the built-in lexicon")
    p.add_argument("--word-entropy", choices=["first", "mean"], default="first",
                   help="a word's entropy: at its first token (default) or the mean over its tokens")
    p.add_argument("--min-count", type=int, default=20, metavar="N", help="data-driven list: words seen at least N times (default: 20)")
    add_generation_options(p)

    p = sub.add_parser("reflect", help="entropy of reflective sentences (wait, verify, check, ...) vs other sentences",
                       description="Split responses into sentences and compare the mean entropy of reflective sentences "
                                   "with the others. Writes OUT/sentences.parquet, OUT/reflect.csv and OUT/reflect.png/.svg.")
    add_single_source(p)
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier reflect output)")
    p.add_argument("--pattern", metavar="REGEX", help="regular expression replacing the built-in reflection pattern (case-insensitive)")
    add_generation_options(p)

    p = sub.add_parser("rare", help="rare behaviours: RL sentences far from every base-model sentence, and their entropy",
                       description="Embed the sentences of a base and an RL model's responses; an RL sentence is rare "
                                   "when its mean cosine distance to its k nearest base sentences is in the top 10%. "
                                   "Writes OUT/rare.csv, OUT/rare_summary.csv and OUT/rare.png/.svg.")
    add_paired_sources(p, "rare")
    p.add_argument("--k", type=int, default=5, help="nearest base sentences per RL sentence (default: 5)")
    p.add_argument("--quantile", type=float, default=0.9, help="rare = distance above this quantile (default: 0.9)")
    p.add_argument("--embedder", metavar="MODEL", help="sentence-transformers model path or id (default: offline all-MiniLM-L6-v2)")
    add_generation_options(p)

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
    add_generation_options(p)

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


def _run_pivotal(args):
    from entropy_lens.analyses.pivotal import load_lexicon, pivotal
    from entropy_lens.outputs import staged_output, write_pivotal

    if args.min_count < 1:
        raise UserError(f"--min-count must be >= 1, got {args.min_count}", "pass e.g. --min-count 20")
    lexicon = load_lexicon(args.lexicon)  # a bad lexicon file fails before any work
    table = single_source(args)

    def work(out_dir, staging):
        result = pivotal(table(out_dir), lexicon=lexicon, word_entropy=args.word_entropy, min_count=args.min_count)
        write_pivotal(result, staging)
        return done(out_dir, "pivotal.csv, pivotal_words.csv, pivotal.png/.svg", result)
    return staged_output(args.out, args.command, work)


def _run_reflect(args):
    from entropy_lens.analyses.reflect import compile_pattern, reflect
    from entropy_lens.outputs import staged_output, write_reflect

    compile_pattern(args.pattern)  # a bad pattern fails before any work
    table = single_source(args)

    def work(out_dir, staging):
        result = reflect(table(out_dir), pattern=args.pattern)
        write_reflect(result, staging)
        return done(out_dir, "sentences.parquet, reflect.csv, reflect.png/.svg", result)
    return staged_output(args.out, args.command, work)


def _run_rare(args):
    from entropy_lens.analyses.rare import check_options, rare
    from entropy_lens.outputs import staged_output, write_rare

    check_options(args.k, args.quantile)
    base_and_rl = paired_sources(args)

    def work(out_dir, staging):
        base, rl = base_and_rl(out_dir)
        result = rare(base, rl, k=args.k, quantile=args.quantile, embedder=args.embedder)
        write_rare(result, staging)
        return done(out_dir, "rare.csv, rare_summary.csv, rare.png/.svg", result)
    return staged_output(args.out, args.command, work)


def _run_passk(args):
    from entropy_lens.analyses.dynamics import unique_names
    from entropy_lens.outputs import staged_output, write_passk

    ks = parse_ks(args.k)
    if args.n_boot < 1:
        raise UserError(f"--n-boot must be >= 1, got {args.n_boot}", "pass e.g. --n-boot 2000")
    if args.model:
        config = generation_config(args)
        if config.n < ks[-1]:
            raise UserError(f"--k {ks[-1]} needs at least {ks[-1]} samples per problem, but --n is {config.n}",
                            f"pass --n {ks[-1]} (or more), or smaller k values")
        sources, names, tables = list(args.model), unique_names(args.model), {}
    else:
        missing = [d for d in args.rollouts if not Path(d).exists()]
        if missing:
            raise UserError(f"rollout directory {missing[0]} does not exist",
                            "pass the --out folder of `entropy-lens generate` or `score`")
        sources, names = list(args.rollouts), unique_names(args.rollouts)
        from entropy_lens.rollouts.load import read_rollouts

        tables = {value: read_rollouts(value) for value in sources}

    def work(out_dir, staging):
        from entropy_lens.analyses.passk import passk_table

        results = {}
        for i, (value, name) in enumerate(zip(sources, names), start=1):
            folder = "rollouts" if len(sources) == 1 else f"rollouts-{i}"
            frame = tables[value] if value in tables else obtain_rollouts(value, out_dir, folder, config)
            try:
                results[name] = passk_table(frame, ks, n_boot=args.n_boot)
            except UserError as exc:
                raise UserError(f"{name}: {exc.problem}", exc.fix) from None
        write_passk(results, staging)
        notes = [f"{name}: {t.skipped}" for name, t in results.items() if t.skipped]
        summary = "; ".join(
            f"{name} pass@{ks[0]} {t.mean['pass_at_k'].iloc[0]:.1%}"
            + (f", pass@{ks[-1]} {t.mean['pass_at_k'].iloc[-1]:.1%}" if len(ks) > 1 else "")
            for name, t in results.items())
        message = f"wrote passk.csv, passk_per_problem.csv, passk.png/.svg to {out_dir} ({summary})"
        return message + (f" ({'; '.join(notes)})" if notes else "")
    return staged_output(args.out, args.command, work)


def _run_dynamics(args):
    from entropy_lens.analyses.dynamics import dynamics, read_run
    from entropy_lens.outputs import staged_output, write_dynamics

    if args.smooth is not None and args.smooth < 1:
        raise UserError(f"--smooth must be >= 1, got {args.smooth}", "pass e.g. --smooth 5, or leave it out")
    for run in args.runs:  # every input is checked before OUT is touched
        read_run(run)

    def work(out_dir, staging):
        result = dynamics(args.runs, smooth=args.smooth)
        write_dynamics(result, staging)
        return done(out_dir, f"dynamics.csv, dynamics.png/.svg ({len(result.runs)} runs, "
                             f"{len(result.metrics)} panels)", result)
    return staged_output(args.out, args.command, work)


RUNS = {"pivotal": _run_pivotal, "reflect": _run_reflect, "rare": _run_rare, "passk": _run_passk,
        "dynamics": _run_dynamics}


def run(args: argparse.Namespace) -> str:
    """Run one analysis command; returns the line printed on success."""
    return RUNS[args.command](args)
