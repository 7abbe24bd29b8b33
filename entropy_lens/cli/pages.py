"""CLI of the pages: ``heatmap`` (a self-contained HTML page, or a PNG/SVG figure) and
``report`` (one self-contained page comparing two checkpoints). Parsing only."""

from __future__ import annotations

import argparse
from pathlib import Path

from entropy_lens.cli.sources import add_generation_options, add_paired_sources, paired_sources
from entropy_lens.errors import UserError

COMMANDS = ("heatmap", "report")


def add_parsers(sub) -> None:
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
    add_paired_sources(p, "report")
    p.add_argument("--embedder", metavar="MODEL", help="sentence-transformers model for rare behaviours (default: offline all-MiniLM-L6-v2)")
    p.add_argument("--fork", metavar="DIR", help="the --out folder of `entropy-lens fork`: adds a section on the causal probe")
    add_generation_options(p)


def _run_heatmap(args) -> str:
    from entropy_lens.outputs import write_heatmap
    from entropy_lens.rollouts.load import read_rollouts

    if args.prompt_id is not None and args.top is not None:
        raise UserError("--prompt-id and --top both given", "pass one of them")
    frame = read_rollouts(args.rollouts)
    select = [(args.prompt_id, args.sample_id or 0)] if args.prompt_id is not None else None
    write_heatmap(frame, args.out, select=select, top=args.top)
    return f"wrote {args.out}"


def _run_report(args) -> str:
    from entropy_lens.outputs import staged_output, write_report

    fork = None
    if args.fork:
        from entropy_lens.analyses.fork_stats import load_fork

        fork = load_fork(args.fork)  # a missing or bad fork folder fails before any work
    base_and_rl = paired_sources(args)

    def work(out_dir, staging):
        base, rl = base_and_rl(out_dir)
        write_report(base, rl, staging, base_name=Path(args.base).name, rl_name=Path(args.rl).name,
                     embedder=args.embedder, fork=fork)
        return f"wrote {out_dir / 'report.html'}"
    return staged_output(args.out, args.command, work)


def run(args: argparse.Namespace) -> str:
    return _run_heatmap(args) if args.command == "heatmap" else _run_report(args)
