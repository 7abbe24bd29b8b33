"""CLI of the analyses: pivotal, reflect, rare, heatmap, report. Parsing only; the work is
done by the Python API, and files are written through a staging folder (outputs.py)."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from entropy_lens.measure.config import GenerateConfig
from entropy_lens.errors import UserError

# generation options an analysis passes on when it is given a model instead of rollouts
GENERATION_FIELDS = [f.name for f in fields(GenerateConfig) if f.name != "model"]


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    from entropy_lens.cli.main import _add_config_arguments

    group = parser.add_argument_group("generation (used when a model is given instead of a rollout directory)")
    _add_config_arguments(group, GenerateConfig, skip=("model",))


def _generation_config(args: argparse.Namespace, model: str = "smollm2") -> GenerateConfig:
    return GenerateConfig(model=model, **{name: getattr(args, name) for name in GENERATION_FIELDS})


def _single_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="generate from this model first (HF id, folder, .gguf, or smollm2); "
                                        "the table is kept in OUT/rollouts")
    source.add_argument("--rollouts", metavar="DIR", help="an existing rollout directory (generate/score --out)")


def add_analysis_parsers(sub) -> None:
    p = sub.add_parser("pivotal", help="entropy of pivotal tokens (because, however, first, suggest, ...) vs ordinary tokens",
                       description="Compare the entropy of pivotal words (causal, contrastive, sequential, reasoning "
                                   "verbs) with ordinary word-initial tokens. Writes OUT/pivotal.csv (one row per "
                                   "category: n, mean, median, ordinary_n, ordinary_mean, diff_ci_low, diff_ci_high, "
                                   "p_value, effect_size, forking_share), OUT/pivotal_words.csv and OUT/pivotal.png/.svg.")
    _single_source(p)
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier pivotal output)")
    p.add_argument("--lexicon", metavar="FILE", help="JSON {category: [words]} or CSV (word,category) replacing the built-in lexicon")
    p.add_argument("--word-entropy", choices=["first", "mean"], default="first",
                   help="a word's entropy: at its first token (default) or the mean over its tokens")
    p.add_argument("--min-count", type=int, default=20, metavar="N", help="data-driven list: words seen at least N times (default: 20)")
    _add_generation_options(p)

    p = sub.add_parser("reflect", help="entropy of reflective sentences (wait, verify, check, ...) vs other sentences",
                       description="Split responses into sentences and compare the mean entropy of reflective sentences "
                                   "with the others. Writes OUT/sentences.parquet, OUT/reflect.csv and OUT/reflect.png/.svg.")
    _single_source(p)
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier reflect output)")
    p.add_argument("--pattern", metavar="REGEX", help="regular expression replacing the built-in reflection pattern (case-insensitive)")
    _add_generation_options(p)

    p = sub.add_parser("rare", help="rare behaviours: RL sentences far from every base-model sentence, and their entropy",
                       description="Embed the sentences of a base and an RL model's responses; an RL sentence is rare "
                                   "when its mean cosine distance to its k nearest base sentences is in the top 10%%. "
                                   "Writes OUT/rare.csv, OUT/rare_summary.csv and OUT/rare.png/.svg.")
    p.add_argument("--base", required=True, metavar="MODEL|DIR", help="base model or its rollout directory")
    p.add_argument("--rl", required=True, metavar="MODEL|DIR", help="RL model or its rollout directory")
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier rare output)")
    p.add_argument("--k", type=int, default=5, help="nearest base sentences per RL sentence (default: 5)")
    p.add_argument("--quantile", type=float, default=0.9, help="rare = distance above this quantile (default: 0.9)")
    p.add_argument("--embedder", metavar="MODEL", help="sentence-transformers model path or id (default: offline all-MiniLM-L6-v2)")
    _add_generation_options(p)

    p = sub.add_parser("heatmap", help="token-entropy heatmap: self-contained HTML page, or PNG/SVG for papers",
                       description="Colour every token by its entropy. OUT ending in .html gives a self-contained page "
                                   "(hover for values, pivotal tokens and reflective sentences marked); .png/.svg a "
                                   "figure of one response.")
    p.add_argument("--rollouts", required=True, metavar="DIR", help="rollout directory")
    p.add_argument("--prompt-id", metavar="ID", help="the response to show (with --sample-id)")
    p.add_argument("--sample-id", type=int, default=None, metavar="S", help="the response to show (default 0)")
    p.add_argument("--top", type=int, default=None, metavar="N", help="show the N responses with the highest mean entropy (HTML)")
    p.add_argument("--out", required=True, metavar="FILE", help="output file: .html, .png or .svg (never overwritten)")

    p = sub.add_parser("report", help="one self-contained HTML page comparing two checkpoints",
                       description="Accuracy, response length, entropy distributions, pivotal tokens, reflective "
                                   "sentences, rare behaviours and heatmaps of a base and an RL checkpoint, side by side, "
                                   "in OUT/report.html (self-contained: no network).")
    p.add_argument("--base", required=True, metavar="MODEL|DIR", help="base model or its rollout directory")
    p.add_argument("--rl", required=True, metavar="MODEL|DIR", help="RL model or its rollout directory")
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, empty, or an earlier report output)")
    p.add_argument("--embedder", metavar="MODEL", help="sentence-transformers model for rare behaviours (default: offline all-MiniLM-L6-v2)")
    _add_generation_options(p)


ANALYSES = ("pivotal", "reflect", "rare", "heatmap", "report")


def _with_output(args, work):
    """Run ``work(out_dir, staging)`` with OUT checked, staged writes, cleanup on failure."""
    from entropy_lens.outputs import OutputDir

    out = OutputDir(args.out, args.command)
    out.check()
    try:
        out.open()
        with out.staged() as staging:
            message = work(out.path, staging)
    except BaseException:
        out.abandon()
        raise
    return message


def run_analysis(args: argparse.Namespace) -> str:
    """Run one analysis command; returns the line printed on success."""
    if args.command == "heatmap":
        from entropy_lens.pages.heatmap import write_heatmap
        from entropy_lens.rollouts.store import read_rollouts

        if args.prompt_id is not None and args.top is not None:
            raise UserError("--prompt-id and --top both given", "pass one of them")
        frame = read_rollouts(args.rollouts)
        select = [(args.prompt_id, args.sample_id or 0)] if args.prompt_id is not None else None
        write_heatmap(frame, args.out, select=select, top=args.top)
        return f"wrote {args.out}"

    from entropy_lens.cli.sources import obtain_rollouts

    def source(value: str, out_dir: Path, name: str):
        if value == getattr(args, "rollouts", None):  # --rollouts: a table, never a model
            from entropy_lens.rollouts.store import read_rollouts

            return read_rollouts(value)
        return obtain_rollouts(value, out_dir, name, _generation_config(args))

    if args.command == "pivotal":
        from entropy_lens.analyses.pivotal import pivotal, write_pivotal

        def work(out_dir, staging):
            frame = source(args.rollouts or args.model, out_dir, "rollouts")
            result = pivotal(frame, lexicon=args.lexicon, word_entropy=args.word_entropy, min_count=args.min_count)
            write_pivotal(result, staging)
            return _done(out_dir, "pivotal.csv, pivotal_words.csv, pivotal.png/.svg", result)
        return _with_output(args, work)

    if args.command == "reflect":
        from entropy_lens.analyses.reflect import reflect, write_reflect

        def work(out_dir, staging):
            frame = source(args.rollouts or args.model, out_dir, "rollouts")
            result = reflect(frame, pattern=args.pattern)
            write_reflect(result, staging)
            return _done(out_dir, "sentences.parquet, reflect.csv, reflect.png/.svg", result)
        return _with_output(args, work)

    if args.command == "rare":
        from entropy_lens.analyses.rare import rare, write_rare

        def work(out_dir, staging):
            base = source(args.base, out_dir, "rollouts-base")
            rl = source(args.rl, out_dir, "rollouts-rl")
            result = rare(base, rl, k=args.k, quantile=args.quantile, embedder=args.embedder)
            write_rare(result, staging)
            return _done(out_dir, "rare.csv, rare_summary.csv, rare.png/.svg", result)
        return _with_output(args, work)

    if args.command == "report":
        from entropy_lens.pages.report import write_report

        def work(out_dir, staging):
            base = source(args.base, out_dir, "rollouts-base")
            rl = source(args.rl, out_dir, "rollouts-rl")
            write_report(base, rl, staging, base_name=Path(args.base).name, rl_name=Path(args.rl).name,
                         embedder=args.embedder)
            return f"wrote {out_dir / 'report.html'}"
        return _with_output(args, work)
    raise UserError(f"unknown analysis {args.command}", "see entropy-lens --help")


def _done(out_dir: Path, files: str, result) -> str:
    note = getattr(result, "skipped", "") or ""
    return f"wrote {files} to {out_dir}" + (f" ({note})" if note else "")
