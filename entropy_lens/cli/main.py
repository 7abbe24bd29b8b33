"""The ``entropy-lens`` command table and entry point. Each command group lives in its own
module with ``add_parsers(sub)`` and ``run(args) -> str`` (the line printed on success);
none of them imports torch before its arguments are parsed and checked."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from entropy_lens import __version__
from entropy_lens.cli import analyses, fork, measure, pages, train
from entropy_lens.errors import UserError

# the order of `entropy-lens --help`: make a table, analyse it, draw it, train
GROUPS = (measure, analyses, fork, pages, train)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (argparse's own prints the whole usage block first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="entropy-lens",
        description="Exact token entropy for LLM reasoning: generate or score responses and record the "
                    "full-vocabulary entropy and log-prob of every response token; analyse pivotal tokens, "
                    "reflective sentences, rare behaviours and pass@k; train with entropy-based advantage shaping.",
    )
    parser.add_argument("--version", action="version", version=f"entropy-lens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def _group_of(command: str):
    return next(group for group in GROUPS if command in group.COMMANDS)


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
        summary = _group_of(args.command).run(args)
        if summary:  # a training process other than torchrun's first one has nothing to say
            print(summary, flush=True)
    except BrokenPipeError:  # the reader went away (`entropy-lens summary DIR | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        how = "rerun with --resume-or-start" if args.command == "train" else "rerun the same command"
        print(f"\ninterrupted: finished work is saved; {how} to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
