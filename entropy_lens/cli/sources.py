"""Where an analysis command gets its rollout table: an existing rollout directory, or a model
to generate from with the options of ``entropy-lens generate``. The generated table is kept
in the analysis' output folder, so a rerun regenerates nothing."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace
from typing import Any, Callable
from pathlib import Path

from entropy_lens.cli.flags import add_config_flags
from entropy_lens.errors import UserError
from entropy_lens.measure.config import GenerateConfig
from entropy_lens.rollouts.load import is_table

# generation options an analysis passes on when it is given a model instead of rollouts
GENERATION_FIELDS = [f.name for f in fields(GenerateConfig) if f.name != "model"]


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation (used when a model is given instead of a rollout directory)")
    add_config_flags(group, GenerateConfig, skip=("model",))


def generation_config(args: argparse.Namespace, model: str = "smollm2") -> GenerateConfig:
    """The generation settings typed on an analysis' command line, range-checked (no heavy import)."""
    config = GenerateConfig(model=model, **{name: getattr(args, name) for name in GENERATION_FIELDS})
    config.validate()
    return config


def add_single_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="generate from this model first (HF id, folder, .gguf, or smollm2); "
                                        "the table is kept in OUT/rollouts")
    source.add_argument("--rollouts", metavar="DIR", help="an existing rollout directory (generate/score --out)")


def add_paired_sources(parser: argparse.ArgumentParser, command: str) -> None:
    """``--base``, ``--rl`` and ``--out`` of a command comparing two models (see paired_sources)."""
    parser.add_argument("--base", required=True, metavar="MODEL|DIR", help="base model or its rollout directory")
    parser.add_argument("--rl", required=True, metavar="MODEL|DIR", help="RL model or its rollout directory")
    parser.add_argument("--out", required=True, metavar="OUT", help=f"output directory (new, empty, or an earlier {command} output)")


def obtain_rollouts(model_or_dir: str, out_dir: Path, name: str, generate_config: GenerateConfig, *,
                    show_progress: bool = True):
    """The rollout table of ``model_or_dir``: read it if it is a rollout table, else generate
    with ``model_or_dir`` as the model into ``out_dir / name`` (resumable)."""
    from entropy_lens.rollouts.load import read_rollouts

    if is_table(model_or_dir):
        return read_rollouts(model_or_dir)
    if model_or_dir.startswith(("/", ".", "~")) and not Path(model_or_dir).expanduser().exists():
        raise UserError(f"{model_or_dir} does not exist (neither a rollout directory nor a model)",
                        "pass the --out folder of generate/score, a model folder, a .gguf file or an HF id")
    from entropy_lens.measure.generate import run_generate

    return run_generate(replace(generate_config, model=model_or_dir), out_dir / name, show_progress=show_progress)


def single_source(args: argparse.Namespace) -> Callable[[Path], Any]:
    """For an analysis of one table: read ``--rollouts`` now, before OUT is touched (a bad table
    leaves nothing behind), or check the generation options of ``--model``; returns
    ``obtain(out_dir)``, which gives the table (generated into ``out_dir/rollouts``)."""
    from entropy_lens.rollouts.load import read_rollouts

    if args.rollouts:
        frame = read_rollouts(args.rollouts)
        return lambda out_dir: frame
    config = generation_config(args)
    return lambda out_dir: obtain_rollouts(args.model, out_dir, "rollouts", config)


def warn_if_same(base: str, rl: str) -> None:
    """Comparing a table with itself runs, but every RL sentence then finds itself among the
    base sentences: say so instead of printing a meaningless result silently. (A path that
    does not exist is left to the error that names it.)"""
    paths = [Path(value).expanduser() for value in (base, rl)]
    if not all(p.exists() for p in paths) and base != rl:
        return
    if base == rl and not paths[0].exists() and base.startswith(("/", ".", "~")):
        return
    if paths[0].resolve() == paths[1].resolve():
        print(f"warning: --base and --rl are the same ({base}): every sentence is its own nearest neighbour, "
              "so nothing can be rare; pass the base and the RL model's tables", file=sys.stderr)


def paired_sources(args: argparse.Namespace) -> Callable[[Path], tuple]:
    """For ``rare`` and ``report``: check ``--base`` and ``--rl`` now (tables are read, the
    generation options checked), and return ``obtain(out_dir) -> (base, rl)``, which
    generates a side given as a model into ``out_dir/rollouts-base`` or ``rollouts-rl``."""
    from entropy_lens.rollouts.load import read_rollouts

    tables = {value: read_rollouts(value) for value in (args.base, args.rl) if is_table(value)}
    warn_if_same(args.base, args.rl)
    config = generation_config(args) if len(tables) < 2 else None

    def obtain(out_dir: Path) -> tuple:
        return tuple(tables[value] if value in tables else obtain_rollouts(value, out_dir, f"rollouts-{side}", config)
                     for value, side in ((args.base, "base"), (args.rl, "rl")))
    return obtain


def done(out_dir: Path, files: str, result) -> str:
    """The line printed when an analysis has written its files."""
    note = getattr(result, "skipped", "") or ""
    return f"wrote {files} to {out_dir}" + (f" ({note})" if note else "")
