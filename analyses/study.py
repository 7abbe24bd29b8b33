"""What every study script in analyses/ shares: its flags, its folders, its rollouts and the
``DONE.json`` it leaves when it finishes.

A study writes its tables and figures into ``FIGURES/<study>/``, its rollouts into
``RUNS/rollouts/`` (one folder per model and settings, shared by studies that ask for the
same rows) and any training runs into ``RUNS/<study>/``; ``FIGURES`` and ``RUNS`` are
``figures/`` and ``runs/`` at the repository root unless ``--figures-dir`` / ``--runs-dir``
say otherwise. Not a study itself: the scripts import it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DONE_FILE = "DONE.json"
# training_dynamics' response budget, which its checkpoints are evaluated with too (they are
# trained and evaluated on generate's own step-by-step instruction)
REASONING_TOKENS = 96
DEFAULT_MODEL = "smollm2"  # the offline default model


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written (it shows the commands), each flag with its default."""


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad flags are one line naming the problem, as in the entropy-lens CLI, not argparse's usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def new_parser(doc: str, show_defaults: bool = True) -> argparse.ArgumentParser:
    return OneLineErrorParser(description=doc, formatter_class=HelpFormatter if show_defaults
                              else argparse.RawDescriptionHelpFormatter)


def add_folder_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--figures-dir", type=Path, default=ROOT / "figures",
                        help="root of the tables and figures; a study writes into FIGURES_DIR/<study>/")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs",
                        help="root of the rollouts (git-ignored); a study keeps them in RUNS_DIR/<study>/")


def add_generation_flags(parser: argparse.ArgumentParser, *, limit: int, n: int, max_new_tokens: int,
                         batch_size: int = 8, instruction: str | None = None,
                         model_flags: tuple[str, ...] = ("--model",)) -> None:
    """The flags of every study that samples rollouts, with the study's own quick defaults."""
    parser.add_argument(*model_flags, dest="model", default=DEFAULT_MODEL,
                        help="model to sample from: smollm2 (offline), an HF hub id or a local folder")
    parser.add_argument("--tasks", default="arithmetic", help="arithmetic, champ, or any task set `entropy-lens generate` takes")
    parser.add_argument("--limit", type=int, default=limit, help="first N problems")
    parser.add_argument("--n", type=int, default=n, help="samples per problem")
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="response budget in tokens")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="sequences per batch")
    parser.add_argument("--instruction", default=instruction,
                        help="text after each problem (None: generate's own, which asks for \\boxed{})")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    add_folder_flags(parser)


class Study:
    """One run of a study: its folders, and its DONE.json once it has finished."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.args = args
        self.figures = Path(args.figures_dir) / name
        self.runs = Path(args.runs_dir) / name
        self.started = time.perf_counter()
        # a study in progress has no DONE.json, so figures.py never skips a half-written one
        (self.figures / DONE_FILE).unlink(missing_ok=True)

    def generation_options(self) -> dict[str, Any]:
        a = self.args
        options = dict(tasks=a.tasks, limit=a.limit, n=a.n, max_new_tokens=a.max_new_tokens, seed=a.seed)
        if a.instruction is not None:
            options["instruction"] = a.instruction
        return options

    def rollouts(self, model: str, role: str | None = None) -> Path:
        """Sample (or resume, or reuse) the rollouts of ``model`` and return their folder.

        The folder is named by ``role`` and a digest of the settings that decide the rows, so
        a rerun with the same flags resumes, one with other flags gets a folder of its own
        instead of being refused by the rollout store, and studies that ask for the same
        rollouts (pivotal_tokens and reflective_sentences by default) share one table.
        """
        import entropy_lens as el

        options = self.generation_options()
        # a local folder counts by where it is, however the command line named it
        where = repo_relative(Path(model)) if Path(model).exists() else model
        folder = self.runs.parent / "rollouts" / f"{slug(role or Path(model).name)}-{digest({'model': where, **options})}"
        print(f"{self.name}: rollouts of {model} in {folder}", file=sys.stderr, flush=True)
        el.generate(model, out=folder, device=self.args.device, batch_size=self.args.batch_size, **options)
        return folder

    def finish(self, **extra: Any) -> None:
        """Write DONE.json: the command line, the seed and the seconds this run took."""
        seconds = round(time.perf_counter() - self.started, 1)
        record = {"study": self.name, "argv": sys.argv[1:], "seed": getattr(self.args, "seed", None),
                  "seconds": seconds, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
        self.figures.mkdir(parents=True, exist_ok=True)
        (self.figures / DONE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        print(f"{self.name}: done in {seconds:.0f} s; tables and figures in {self.figures}")


def keep_existing(path: Path, write: Callable[[], Any]) -> None:
    """Call ``write`` unless ``path`` exists: the heatmap and report writers never overwrite."""
    if path.exists():
        print(f"kept the existing {path} (delete it to write it again)")
    else:
        write()


def _relative_if_inside(path: Path, base: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it, so that a committed
    DONE.json names no machine's folders; absolute otherwise."""
    return _relative_if_inside(path, ROOT)


def from_repo(text: str) -> Path:
    """The inverse of :func:`repo_relative`."""
    return ROOT / text  # an absolute ``text`` stays as it is


def as_given(path: Path) -> str:
    """``path`` as a command line names it: relative to the working directory when inside it."""
    return _relative_if_inside(path, Path.cwd())


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]


def run(main: Callable[[], None]) -> None:
    """Run a study's ``main``; bad input the library reports becomes one line and exit 2."""
    import entropy_lens as el

    try:
        main()
    except el.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
