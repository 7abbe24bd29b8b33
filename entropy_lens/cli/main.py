"""The ``entropy-lens`` command line. It only parses arguments, calls the Python API and
writes files; heavy libraries are imported after parsing, so ``--help`` is instant."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import MISSING, fields
from typing import Sequence

from entropy_lens import __version__
from entropy_lens.cli.analyses import ANALYSES, run_analysis
from entropy_lens.cli.extra import EXTRA_COMMANDS, add_extra_parsers, run_extra
from entropy_lens.cli.train import add_train_parser, run_train
from entropy_lens.measure.config import GenerateConfig, ScoreConfig
from entropy_lens.errors import UserError

EPILOG_ROLLOUTS = (
    "Output: a directory of Parquet shards that pandas.read_parquet(OUT) reads as one table "
    "(one row per response: prompt_id, sample_id, prompt, prompt_token_ids, response, token_ids, "
    "offsets, entropy, logprob, answer, extracted, correct, finish_reason) and OUT/_run.json with "
    "the settings. Rerunning the same command resumes; other settings into the same OUT are refused."
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_config_arguments(parser: argparse.ArgumentParser, cls, *, required: Sequence[str] = (), skip: Sequence[str] = ()) -> None:
    """One flag per config field, with the field's default and help text."""
    for f in fields(cls):
        if f.name in skip:
            continue
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not MISSING else None
        if f.type in (bool, "bool"):
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
            continue
        kind = {"int": int, "float": float, "int | None": int}.get(str(f.type), str)
        shown = "" if default is None else f" (default: {default})"
        parser.add_argument(_flag(f.name), dest=f.name, type=kind, default=default, required=f.name in required,
                            choices=f.metadata.get("choices"), metavar=f.name.upper() if not f.metadata.get("choices") else None,
                            help=help_text.replace("%", "%%") + shown.replace("%", "%%"))


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (argparse's own prints the whole usage block first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="entropy-lens",
        description="Exact token entropy for LLM reasoning: generate or score responses and record the "
                    "full-vocabulary entropy and log-prob of every response token.",
    )
    parser.add_argument("--version", action="version", version=f"entropy-lens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser("generate", help="sample responses to a task set, recording per-token entropy",
                         description="Sample --n responses per problem (batched, HF transformers) and record, for "
                                     "every response token, the raw policy's exact entropy and the token's log-prob.",
                         epilog=EPILOG_ROLLOUTS)
    gen.add_argument("--out", required=True, metavar="DIR", help="rollout directory to write (new, empty, or the same run to resume)")
    _add_config_arguments(gen, GenerateConfig)

    sc = sub.add_parser("score", help="teacher-forced entropy of existing prompt/response pairs",
                        description="Score existing responses without regenerating: teacher-forced entropy and "
                                    "log-prob of every response token under --model.",
                        epilog=EPILOG_ROLLOUTS)
    sc.add_argument("--out", required=True, metavar="DIR", help="rollout directory to write (new, empty, or the same run to resume)")
    _add_config_arguments(sc, ScoreConfig, required=("input",))
    from entropy_lens.cli.analyses import add_analysis_parsers

    add_analysis_parsers(sub)
    add_extra_parsers(sub)
    add_train_parser(sub)

    summary = sub.add_parser("summary", help="print what a rollout table holds: accuracy, entropy, top tokens",
                             description="Summarise a rollout directory: counts, accuracy and mean entropy with 95%% "
                                         "confidence intervals, entropy quantiles, the highest-entropy tokens and one "
                                         "response with its highest-entropy tokens marked.")
    summary.add_argument("rollouts", metavar="DIR", help="rollout directory (the --out of generate or score)")
    summary.add_argument("--min-count", type=int, default=5, metavar="N",
                         help="only list tokens seen at least N times (default: 5)")
    return parser


def _config_from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def _summary(frame) -> str:
    import numpy as np

    tokens = int(frame["token_ids"].map(len).sum())
    entropies = np.concatenate([np.asarray(e, dtype=np.float64) for e in frame["entropy"]]) if tokens else np.zeros(0)
    graded = frame["correct"].dropna()
    parts = [f"{len(frame)} responses", f"{frame['prompt_id'].nunique()} prompts", f"{tokens} tokens",
             f"mean entropy {entropies.mean():.3f} nats" if tokens else "no tokens"]
    if len(graded):
        parts.append(f"accuracy {graded.astype(bool).mean():.1%} of {len(graded)}")
    return ", ".join(parts)


def _run(args: argparse.Namespace) -> None:
    if args.command == "generate":
        from entropy_lens.measure.generate import run_generate

        frame = run_generate(_config_from_args(GenerateConfig, args), args.out)
    elif args.command == "score":
        from entropy_lens.measure.score import run_score

        frame = run_score(_config_from_args(ScoreConfig, args), args.out)
    elif args.command == "train":
        print(run_train(args))
        return
    elif args.command in EXTRA_COMMANDS:
        print(run_extra(args))
        return
    elif args.command in ANALYSES:
        print(run_analysis(args))
        return
    elif args.command == "summary":
        from entropy_lens.rollouts.store import read_rollouts
        from entropy_lens.analyses.summary import format_summary

        print(format_summary(read_rollouts(args.rollouts), min_count=args.min_count))
        return
    else:  # pragma: no cover - argparse enforces the choices
        raise UserError(f"unknown command {args.command}", "see entropy-lens --help")
    print(f"{args.out}: {_summary(frame)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # no retry chatter around a one-line error
    try:
        _run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        how = "rerun with --resume" if args.command == "train" else "rerun the same command"
        print(f"\ninterrupted: finished work is saved; {how} to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
