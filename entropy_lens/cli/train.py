"""CLI of ``entropy-lens train``: parsing and checks only. The work is done by ``entropy_lens_trainer``.

Settings come, later ones winning, from: the ``TrainConfig`` defaults, the run's own
``OUT/config.yaml`` (with ``--resume`` or ``--resume-or-start``), a ``--config`` YAML file,
and the flags typed. The settings and the run folder are checked before torch is
imported, so a bad one is refused at once and leaves nothing behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from entropy_lens.cli.flags import add_config_flags, typed_values

COMMANDS = ("train",)

EPILOG_TRAIN = (
    "Output: OUT/config.yaml (the settings; reusable with --config), OUT/metrics.jsonl (one JSON object per step: "
    "reward_mean, accuracy, response_length, rollout_entropy (at the rollout temperature), entropy_share, "
    "pivotal_entropy, reflection_frequency, repetition_rate, clip_fraction, approx_kl, grad_norm, tokens_per_s, "
    "skipped_updates, ...), OUT/tensorboard/ (the same numbers) and OUT/checkpoints/step-N/ (HF model folders, "
    "usable as --model; their trainer_state/ lets --resume continue exactly). A run stopped before its first "
    "checkpoint is started again with --resume-or-start."
)


def add_parsers(sub) -> None:
    """Add the ``train`` subcommand to the subparsers ``sub``."""
    from entropy_lens_trainer.config import TrainConfig

    p = sub.add_parser("train", help="RL-train a model with GRPO or PPO and optional entropy-based advantage shaping",
                       description="Train a policy on a task set with GRPO or PPO (Clip-Higher, token-level loss), "
                                   "optionally shaping the advantage with the token entropy (--shaping entropy-adv, "
                                   "arXiv 2506.14758) or regularising it (--shaping entropy-reg).",
                       epilog=EPILOG_TRAIN)
    p.add_argument("--out", required=True, metavar="DIR",
                   help="run folder: new or empty, an earlier run to continue (--resume), or a run stopped before "
                        "its first checkpoint (started again)")
    p.add_argument("--config", metavar="FILE", help="YAML file of settings (keys as the flags, with underscores); flags override it")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", dest="resume", action="store_const", const=True, default=False,
                      help="continue the run in --out from its latest checkpoint, with its config.yaml as the base "
                           "settings (e.g. pass a larger --steps); an error if --out holds no checkpoint")
    mode.add_argument("--resume-or-start", dest="resume", action="store_const", const="or-start",
                      help="continue the run in --out as --resume does if it has a checkpoint, else start it "
                           "(for a command that is simply rerun until the run is done)")
    add_config_flags(p.add_argument_group("training settings"), TrainConfig, only_typed=True)


def train_config_from_args(args: argparse.Namespace):
    """The ``TrainConfig`` of a parsed ``train`` command line (values converted and validated)."""
    from entropy_lens_trainer.config import TrainConfig, read_yaml

    values: dict = {}
    run_config = Path(args.out) / "config.yaml"
    if args.resume and run_config.is_file():
        values.update(read_yaml(run_config))
    if args.config:
        values.update(read_yaml(args.config))
    values.update(typed_values(TrainConfig, args))
    return TrainConfig.from_dict(values, source="settings").validate()


def run(args: argparse.Namespace) -> str:
    """Run ``entropy-lens train``; returns a one-line summary of the run."""
    from entropy_lens_trainer.rundir import latest_checkpoint, plan_run

    cfg = train_config_from_args(args)
    plan_run(args.out, cfg, args.resume)  # the run folder's errors, before torch too
    from entropy_lens_trainer.loop import train  # imports torch

    frame = train(cfg, args.out, resume=args.resume)
    if frame is None:  # under torchrun, a process other than the first: it wrote nothing
        return ""
    last = latest_checkpoint(Path(args.out))
    if frame.empty:
        return f"{args.out}: no steps run"
    first, final = frame.iloc[0], frame.iloc[-1]
    parts = [f"{len(frame)} steps",
             f"reward {first['reward_mean']:.3f} -> {final['reward_mean']:.3f}",
             f"rollout entropy {first['rollout_entropy']:.3f} -> {final['rollout_entropy']:.3f} nats"]
    skipped = int(final.get("skipped_updates_total", 0) or 0)
    if skipped:
        parts.append(f"{skipped} updates skipped (NaN/inf)")
    parts.append(f"checkpoint {last}" if last else "no checkpoint")
    return f"{args.out}: " + ", ".join(parts)
