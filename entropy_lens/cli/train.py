"""CLI of ``entropy-lens train``: parsing only. The work is done by ``entropy_lens_trainer``.

Settings come, later ones winning, from: the ``TrainConfig`` defaults, the run's own
``OUT/config.yaml`` (with ``--resume``), a ``--config`` YAML file, and the flags typed.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields
from pathlib import Path

EPILOG_TRAIN = (
    "Output: OUT/config.yaml (the settings; reusable with --config), OUT/metrics.jsonl (one JSON object per step: "
    "reward_mean, accuracy, response_length, entropy, entropy_share, pivotal_entropy, reflection_frequency, "
    "repetition_rate, clip_fraction, approx_kl, grad_norm, tokens_per_s, skipped_updates, ...), OUT/tensorboard/ "
    "(the same numbers) and OUT/checkpoints/step-N/ (HF model folders, usable as --model; their trainer_state/ "
    "lets --resume continue exactly)."
)


def add_train_parser(sub) -> None:
    """Add the ``train`` subcommand to the subparsers ``sub``."""
    from entropy_lens_trainer.config import TrainConfig

    p = sub.add_parser("train", help="RL-train a model with GRPO or PPO and optional entropy-based advantage shaping",
                       description="Train a policy on a task set with GRPO or PPO (Clip-Higher, token-level loss), "
                                   "optionally shaping the advantage with the token entropy (--shaping entropy-adv, "
                                   "arXiv 2506.14758) or regularising it (--shaping entropy-reg).",
                       epilog=EPILOG_TRAIN)
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write (new or empty; an earlier run with --resume)")
    p.add_argument("--config", metavar="FILE", help="YAML file of settings (keys as the flags, with underscores); flags override it")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint, with its "
                                                         "config.yaml as the base settings (e.g. pass a larger --steps)")
    group = p.add_argument_group("training settings")
    for f in fields(TrainConfig):
        default = None if f.default is MISSING else f.default
        shown = "" if default is None else f" (default: {default})"
        help_text = (f.metadata.get("help", "") + shown).replace("%", "%%")
        flag = "--" + f.name.replace("_", "-")
        # SUPPRESS: only flags actually typed reach the namespace, so they override YAML
        if f.type in (bool, "bool"):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=help_text)
        else:
            choices = f.metadata.get("choices")
            group.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, choices=choices,
                               metavar=None if choices else f.name.upper(), help=help_text)


def train_config_from_args(args: argparse.Namespace):
    """The ``TrainConfig`` of a parsed ``train`` command line (values converted and validated)."""
    from entropy_lens_trainer.config import TrainConfig, read_yaml

    values: dict = {}
    run_config = Path(args.out) / "config.yaml"
    if args.resume and run_config.is_file():
        values.update(read_yaml(run_config))
    if args.config:
        values.update(read_yaml(args.config))
    values.update({f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    return TrainConfig.from_dict(values, source="settings").validate()


def run_train(args: argparse.Namespace) -> str:
    """Run ``entropy-lens train``; returns a one-line summary of the run."""
    from entropy_lens_trainer.checkpoint import latest_checkpoint
    from entropy_lens_trainer.loop import train

    cfg = train_config_from_args(args)
    frame = train(cfg, args.out, resume=args.resume)
    last = latest_checkpoint(Path(args.out))
    if frame.empty:
        return f"{args.out}: no steps run"
    first, final = frame.iloc[0], frame.iloc[-1]
    parts = [f"{len(frame)} steps",
             f"reward {first['reward_mean']:.3f} -> {final['reward_mean']:.3f}",
             f"entropy {first['entropy']:.3f} -> {final['entropy']:.3f} nats"]
    skipped = int(final.get("skipped_updates_total", 0) or 0)
    if skipped:
        parts.append(f"{skipped} updates skipped (NaN/inf)")
    parts.append(f"checkpoint {last}" if last else "no checkpoint")
    return f"{args.out}: " + ", ".join(parts)
