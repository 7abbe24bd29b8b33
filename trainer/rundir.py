"""The run folder: what ``--out`` may hold, and whether a run starts, restarts or continues.

No torch here, so that the CLI refuses a bad ``--out`` at once. The rules, by what the
folder holds (``resume``: False = a new run, True = ``--resume``, ``"or-start"`` =
``--resume-or-start``):

==============================================  ==========  ===========  ==============
the folder                                      new run     --resume     --resume-or-start
==============================================  ==========  ===========  ==============
absent or empty                                 start       error        start
a run with a checkpoint                         error       continue     continue
a run stopped before its first checkpoint       error       error        restart
anything else                                   error       error        error
==============================================  ==========  ===========  ==============

A run stopped before its first checkpoint (killed, interrupted or failed at its first
steps) holds only the trainer's own files and no complete checkpoint: nothing in it can be
continued and the steps it logged are cheap to take again, so ``--resume-or-start`` starts
it again over those files; a plain rerun asks for that flag rather than replace them unasked. Continuing needs the run's settings, up to ``RESUMABLE_CHANGES``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from entropy_lens.errors import UserError

from .config import RESUMABLE_CHANGES, TrainConfig

RESUME_MODES = (False, True, "or-start")
TRAINER_FILES = frozenset({"config.yaml", "metrics.jsonl", "tensorboard", "checkpoints"})
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step in ``run_dir``, or None."""
    root = checkpoint_dir(run_dir)
    found = []
    for path in root.glob("step-*") if root.is_dir() else []:
        match = _STEP_DIR.match(path.name)
        if match and (path / "trainer_state" / "state.json").is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def remove_partial(run_dir: Path) -> None:
    """Delete temporary folders left by a save that was killed."""
    root = checkpoint_dir(run_dir)
    for path in root.glob(".partial-*") if root.is_dir() else []:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class RunPlan:
    """What ``train`` does with its run folder (see the module docstring)."""

    run_dir: Path
    checkpoint: Path | None = None  # continue from it
    restart: bool = False           # replace the files of a run stopped before its first checkpoint

    @property
    def start_step(self) -> int:
        """Steps already done: those of the checkpoint continued from."""
        return 0 if self.checkpoint is None else int(_STEP_DIR.match(self.checkpoint.name).group(1))

    def clear_stopped_run(self) -> None:
        """With ``restart``: remove the stopped run's files (config.yaml is rewritten)."""
        if not self.restart:
            return
        for name in ("metrics.jsonl", "tensorboard", "checkpoints"):
            path = self.run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def plan_run(run_dir: str | Path, cfg: TrainConfig, resume: bool | str = False) -> RunPlan:
    """Check ``run_dir`` against ``cfg`` and the ``resume`` mode; raises :class:`UserError`
    (naming the folder) where the table of the module docstring says error. Writes nothing."""
    if resume not in RESUME_MODES:
        raise ValueError(f"resume must be one of {RESUME_MODES}, got {resume!r}")
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file", "pass a folder for the run")
    entries = {p.name for p in run_dir.iterdir()} if run_dir.is_dir() else set()
    if not entries:
        if resume is True:
            where = "is empty" if run_dir.is_dir() else "does not exist"
            raise UserError(f"--resume: {run_dir} {where}, so there is no run to continue",
                            "start the run without --resume (or pass --resume-or-start)")
        return RunPlan(run_dir)
    if not (run_dir / "config.yaml").is_file():
        if resume:
            raise UserError(f"--out {run_dir} is not a training run (no config.yaml)",
                            "pass the folder of an earlier run, or a new one")
        raise UserError(f"--out {run_dir} already holds files", "pass a new folder for the run")
    last = latest_checkpoint(run_dir)
    if last is None:
        if resume is True:
            raise UserError(f"--resume: {run_dir} holds no checkpoint (its run stopped before the first one)",
                            "rerun with --resume-or-start to start it again over its files")
        if not entries <= TRAINER_FILES:
            raise UserError(f"--out {run_dir} already holds files other than a run's",
                            "pass a new folder for the run")
        if not resume:
            raise UserError(f"--out {run_dir} holds a run stopped before its first checkpoint",
                            "pass --resume-or-start to start it again over its files, or a new folder")
        return RunPlan(run_dir, restart=True)
    if not resume:
        raise UserError(f"--out {run_dir} already holds files", "pass --resume to continue that run, or a new folder")
    saved = TrainConfig.from_yaml(run_dir / "config.yaml").to_dict()
    ours = replace(cfg, alpha=cfg.effective_alpha).to_dict()  # config.yaml holds the resolved alpha
    differ = [k for k in ours if k not in RESUMABLE_CHANGES and saved.get(k) != ours[k]]
    if differ:
        shown = ", ".join(f"{k} ({saved.get(k)!r} there, {ours[k]!r} now)" for k in differ[:3])
        raise UserError(f"--resume with settings that differ from the run in {run_dir}: {shown}",
                        "resume with the run's own settings (--config OUT/config.yaml), or start a new --out")
    return RunPlan(run_dir, checkpoint=last)
