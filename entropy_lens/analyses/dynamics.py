"""Training dynamics of several runs side by side (docs/method.md §7).

Reads ``RUN/metrics.jsonl`` of each run folder written by ``entropy-lens train`` (one JSON
object per step; the keys are listed in ``entropy_lens_trainer.metrics``) into one long
table (run, step, metric, value) and plots the figures the paper tracks as small
multiples, one panel per metric, every run in each panel: training reward, accuracy,
response length, mean token entropy, the entropy term's share of the advantage
(sum psi / sum |A_shaped|), pivotal-token entropy, reflection frequency, repetition rate,
clip fraction, approximate KL and gradient norm (whichever the runs logged).

``smooth=N`` adds a trailing moving average over the last N logged steps of each run and
metric (fewer at the start); the raw values stay in the table.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from entropy_lens.errors import UserError

# metric key -> (panel title, y-axis label), in the order of the panels
TRACKED = {
    "reward_mean": ("Training reward", "mean reward"),
    "accuracy": ("Accuracy", "share correct"),
    "response_length": ("Response length", "tokens"),
    "rollout_entropy": ("Mean token entropy (rollout temperature)", "nats"),
    "entropy": ("Mean token entropy (rollout temperature)", "nats"),  # rollout_entropy in runs logged before its rename
    "entropy_share": ("Entropy term's share of the advantage", "sum psi / sum |A_shaped|"),
    "pivotal_entropy": ("Pivotal-token entropy", "nats"),
    "reflection_frequency": ("Reflection frequency", "reflective sentences / response"),
    "repetition_rate": ("Repetition rate", "1 - distinct 4-grams / 4-grams"),
    "clip_fraction": ("Clip fraction", "share of tokens clipped"),
    "approx_kl": ("Approximate KL", "KL(old || new), k3"),
    "grad_norm": ("Gradient norm", "before clipping"),
}
COLUMNS = ["run", "step", "metric", "value"]
# old key -> its name in runs logged since (old runs alone keep their own names)
RENAMED = {"entropy": "rollout_entropy"}


@dataclass
class DynamicsResult:
    runs: list[str]                 # run names, in the order given
    long: "object"                  # DataFrame: run, step, metric, value (+ smoothed with smooth)
    metrics: list[str]              # tracked metrics with at least one value: the panels
    labels: dict[str, str] = field(default_factory=dict)  # run name -> legend label
    smooth: int | None = None
    skipped: str = ""               # e.g. a last line cut short by a kill


def unique_names(items: Sequence[str | os.PathLike]) -> list[str]:
    """Short display names: the last path component, with parents added (or ``(1)``, ``(2)``
    where the same path is given twice) until the names differ."""
    parts = [Path(os.path.abspath(os.fspath(x))).parts or (os.fspath(x),) for x in items]
    base = [p[-1] for p in parts]
    names = list(base)
    for name in set(base):
        idx = [i for i, b in enumerate(base) if b == name]
        if len(idx) < 2:
            continue
        for depth in range(2, max(len(parts[i]) for i in idx) + 1):
            candidates = ["/".join(parts[i][-depth:]) for i in idx]
            if len(set(candidates)) == len(candidates):
                for i, c in zip(idx, candidates):
                    names[i] = c
                break
        else:
            for j, i in enumerate(idx, start=1):
                names[i] = f"{name} ({j})"
    return names


def read_run(run: str | os.PathLike) -> tuple[list[dict], str]:
    """The step rows of ``RUN/metrics.jsonl`` (a run folder, or the file itself) and a note
    on what was skipped. A last line cut short by a kill is skipped; a bad line elsewhere,
    a missing folder, or a missing or empty file is a :class:`UserError`."""
    path = Path(run)
    if not path.exists():
        raise UserError(f"run folder {path} does not exist", "pass the --out folder of `entropy-lens train`")
    file = path / "metrics.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"{path} has no metrics.jsonl", "pass the --out folder of `entropy-lens train` (it writes one line per step)")
    lines = [(i, line) for i, line in enumerate(file.read_text().splitlines(), start=1) if line.strip()]
    if not lines:
        raise UserError(f"{file} is empty", "let the run finish at least one step, or pass another run folder")
    rows, note = [], ""
    for j, (number, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except ValueError:
            if j == len(lines) - 1 and rows:
                note = f"{file}: skipped its last line (cut short)"
                break
            raise UserError(f"{file} line {number} is not JSON", "pass a metrics.jsonl written by `entropy-lens train`") from None
        if not isinstance(row, dict) or not _is_number(row.get("step")):
            raise UserError(f"{file} line {number} has no step number", "pass a metrics.jsonl written by `entropy-lens train`")
        rows.append(row)
    return rows, note


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _label(run: Path, name: str) -> str:
    """``name (algorithm, shaping)`` when the run folder's config.yaml says so."""
    config = (run if run.is_dir() else run.parent) / "config.yaml"
    try:
        import yaml

        settings = yaml.safe_load(config.read_text()) if config.is_file() else None
    except Exception:  # noqa: BLE001 - the label is a convenience; the numbers do not depend on it
        settings = None
    if not isinstance(settings, dict) or not settings.get("algorithm"):
        return name
    extra = [str(settings["algorithm"])]
    if settings.get("shaping") not in (None, "none"):
        extra.append(str(settings["shaping"]))
    return f"{name} ({', '.join(extra)})"


def dynamics(runs: Sequence[str | os.PathLike], *, smooth: int | None = None,
             names: Sequence[str] | None = None) -> DynamicsResult:
    """The per-step metrics of the run folders ``runs`` as one long table; see the module
    docstring. ``names`` replaces the run names (default: the folder names, made distinct)."""
    import pandas as pd

    runs = list(runs)
    if not runs:
        raise UserError("no run folder given", "pass one or more --out folders of `entropy-lens train`")
    if smooth is not None and (isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1):
        raise UserError(f"--smooth must be an integer >= 1, got {smooth!r}", "pass e.g. --smooth 5, or leave it out")
    names = list(names) if names is not None else unique_names(runs)
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise UserError("run names must be distinct, one per run", "pass one distinct name per run")
    records, notes, labels = [], [], {}
    for run, name in zip(runs, names):
        rows, note = read_run(run)
        if note:
            notes.append(note)
        labels[name] = _label(Path(run), name)
        by_step = {}
        for row in rows:  # a step logged twice: the later line wins
            by_step[float(row["step"])] = row
        for step in sorted(by_step):
            for key, value in by_step[step].items():
                if key != "step" and _is_number(value):
                    records.append((name, int(step) if step.is_integer() else step, key, float(value)))
    long = pd.DataFrame(records, columns=COLUMNS)
    if set(RENAMED.values()) & set(long["metric"]):
        # runs logged before and after a rename, side by side: one name, so one panel
        long["metric"] = long["metric"].replace(RENAMED)
    order = {key: i for i, key in enumerate(TRACKED)}
    others = sorted(set(long["metric"]) - set(TRACKED))
    order.update({key: len(TRACKED) + i for i, key in enumerate(others)})
    run_order = {name: i for i, name in enumerate(names)}
    long = (long.assign(_r=long["run"].map(run_order), _m=long["metric"].map(order))
            .sort_values(["_r", "_m", "step"], kind="stable").drop(columns=["_r", "_m"]).reset_index(drop=True))
    if smooth is not None:
        long["smoothed"] = (long.groupby(["run", "metric"], sort=False)["value"]
                            .transform(lambda v: v.rolling(smooth, min_periods=1).mean()))
    present = set(long["metric"])
    # the tracked metrics the runs logged; a log without any of them shows its own keys
    metrics = [key for key in TRACKED if key in present] or [key for key in others if key in present][:12]
    return DynamicsResult(runs=names, long=long, metrics=metrics, labels=labels, smooth=smooth, skipped="; ".join(notes))
