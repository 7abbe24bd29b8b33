"""Every study of analyses/, one after the other, each in its own process; their tables and
figures land in figures/<study>/.

    python analyses/figures.py                       # the quick studies, about 5 minutes on 2 cores
    python analyses/figures.py --with-training       # train first (about 75 more minutes), then compare checkpoints (make figures)
    python analyses/figures.py --only pivotal_tokens --only pass_at_k
    python analyses/figures.py --model Qwen/Qwen2.5-Math-7B --limit 100 --n 8 --max-new-tokens 2048 --device cuda

A study whose figures/<study>/DONE.json records the command it would run now is skipped
(--rerun, or deleting its DONE.json, runs it again); an interrupted study resumes, since
its sampling and training resume. training_dynamics runs only with --with-training (or
--only training_dynamics). Once it has finished, pass_at_k also evaluates each mode's final
checkpoint and rare_behaviours compares the entropy-adv one with the base model; before,
pass_at_k evaluates the base model alone and rare_behaviours is skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import study

ANALYSES = Path(__file__).resolve().parent
STUDIES = ("training_dynamics", "pivotal_tokens", "reflective_sentences", "forking_tokens", "pass_at_k", "rare_behaviours")
# flags handed on to every study when given here; training_dynamics takes only the first ones
SHARED = ("model", "tasks", "device", "seed", "figures_dir", "runs_dir")
SAMPLING = ("limit", "n", "max_new_tokens")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def given(args, names) -> list[str]:
    return [item for name in names if getattr(args, name) is not None for item in (flag(name), str(getattr(args, name)))]


def done_record(figures: Path, name: str) -> dict | None:
    path = figures / name / study.DONE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def same_flags(recorded: list[str] | None, flags: list[str]) -> bool:
    """Whether a DONE.json's command line is ``flags``, in any order (every flag here takes a value)."""
    def pairs(argv: list[str]) -> list[tuple[str, str]]:
        return sorted(zip(argv[::2], argv[1::2]))
    return recorded is not None and len(recorded) == len(flags) and pairs(recorded) == pairs(flags)


def study_args(name: str, args, trained: dict | None) -> list[str] | str:
    """The flags ``name`` runs with, or why it cannot run now (its inputs are missing)."""
    if name == "training_dynamics":
        return given(args, SHARED) + ([] if args.train_steps is None else ["--steps", str(args.train_steps)])
    flags = given(args, SHARED + SAMPLING)
    if name not in ("pass_at_k", "rare_behaviours"):
        return flags
    # checkpoints of another policy than the one evaluated now are no RL version of it
    same_model = trained is not None and trained.get("model") == (args.model or study.DEFAULT_MODEL)
    recorded = {mode: study.from_repo(path) for mode, path in trained.get("checkpoints", {}).items()} if same_model else {}
    checkpoints = {mode: path for mode, path in recorded.items() if path.is_dir()}
    if recorded and not checkpoints:
        # a clone has the committed figures but not runs/: do not replace the comparison with less
        return "training_dynamics' checkpoints are not in runs/ (git keeps only its figures); --with-training --rerun trains them again"
    if name == "pass_at_k":
        return flags + [item for mode, path in checkpoints.items() for item in ("--checkpoint", f"{mode}={study.as_given(path)}")]
    if "entropy-adv" not in checkpoints:
        return "no entropy-adv checkpoint yet (run with --with-training)"
    return flags + ["--rl", study.as_given(checkpoints["entropy-adv"])]


def main() -> None:
    parser = study.new_parser(__doc__, show_defaults=False)  # most defaults are each study's own
    parser.add_argument("--only", action="append", default=[], metavar="STUDY", help=f"run only these (repeatable): {', '.join(STUDIES)}")
    parser.add_argument("--skip", action="append", default=[], metavar="STUDY", help="leave these out (repeatable)")
    parser.add_argument("--with-training", action="store_true", help="run training_dynamics first and compare its checkpoints")
    parser.add_argument("--rerun", action="store_true",
                        help="run the chosen studies again even where DONE.json says they are done (their rollouts "
                             "and training runs still resume)")
    parser.add_argument("--train-steps", type=int, help="training steps of each mode (default: training_dynamics' own)")
    for name in ("model", "tasks", "device"):
        parser.add_argument(flag(name), help="handed on to every study (default: each study's own)")
    parser.add_argument("--seed", type=int, help="handed on to every study (default: each study's own, 0)")
    for name in SAMPLING:
        parser.add_argument(flag(name), type=int, help="handed on to every study but training_dynamics "
                                                       "(default: each study's own)")
    parser.add_argument("--figures-dir", type=Path, help="root of the figures")
    parser.add_argument("--runs-dir", type=Path, help="root of the rollouts and training runs")
    args = parser.parse_args()
    for name in args.only + args.skip:
        if name not in STUDIES:
            parser.error(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    figures = args.figures_dir or study.ROOT / "figures"

    chosen = [s for s in STUDIES if (s in args.only if args.only else True) and s not in args.skip]
    if "training_dynamics" not in args.only and not args.with_training:
        chosen = [s for s in chosen if s != "training_dynamics"]
    timings = []
    for name in chosen:
        flags = study_args(name, args, done_record(figures, "training_dynamics"))
        record = done_record(figures, name)
        if isinstance(flags, str):
            print(f"== {name}: skipped{' (its figures are kept)' if record else ''}: {flags}", flush=True)
            continue
        if not args.rerun and record is not None and same_flags(record.get("argv"), flags):
            took = f"{record.get('seconds', 0):.0f} s" + (f", {record['training_seconds']} s of training steps" if "training_seconds" in record else "")
            print(f"== {name}: already done in {took} (--rerun, or delete {figures / name / study.DONE_FILE}, to run it again)",
                  flush=True)
            continue
        command = [sys.executable, str(ANALYSES / f"{name}.py"), *flags]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command)
        seconds = time.perf_counter() - started
        timings.append((name, seconds, code))
        print(f"== {name}: {'finished' if code == 0 else f'failed (exit {code})'} in {seconds:.0f} s", flush=True)
        if code != 0:
            break  # a later study may need this one's output; rerun to resume from here
    for name, seconds, code in timings:
        print(f"{name:>22}  {seconds:7.0f} s  {'ok' if code == 0 else f'exit {code}'}")
    failed = [code for _, _, code in timings if code != 0]
    sys.exit(failed[0] if failed else 0)


if __name__ == "__main__":
    main()
