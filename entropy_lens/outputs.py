"""Where results become files: the staged output folders and every ``write_*`` function.

Never clobber what a user made, never leave half a result: an analysis writes its files
into a hidden staging folder inside ``OUT`` and moves them into place only when all of them
are written. ``OUT`` must be new, empty, or an earlier output of the same command (marked
by ``_entropy_lens.json``); anything else is refused.

Analyses compute and return Results; this module turns them into CSV, Parquet and figures.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

from entropy_lens.errors import UserError
from entropy_lens.folders import make_folder, remove_made

if TYPE_CHECKING:
    from entropy_lens.analyses.dynamics import DynamicsResult
    from entropy_lens.analyses.fork_stats import ForkResult
    from entropy_lens.analyses.pivotal import PivotalResult
    from entropy_lens.analyses.rare import RareResult
    from entropy_lens.analyses.reflect import ReflectResult

T = TypeVar("T")

MARKER = "_entropy_lens.json"


class OutputDir:
    def __init__(self, path: str | os.PathLike, command: str):
        self.path = Path(path)
        self.command = command
        self.created: Path | None = None  # the topmost folder this run made, if any

    def check(self) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise UserError(f"--out {p} is an existing file", "choose a new directory name for --out")
        if not p.is_dir() or not any(x for x in p.iterdir() if not x.name.startswith(".")):
            return
        marker = p / MARKER
        try:
            command = json.loads(marker.read_text()).get("command") if marker.is_file() else None
        except ValueError:
            command = None
        if command != self.command:
            raise UserError(f"--out {p} already holds files that `entropy-lens {self.command}` did not write",
                            "choose a new or empty directory for --out")

    def open(self) -> None:
        self.check()
        self.created = make_folder(self.path)
        (self.path / MARKER).write_text(json.dumps({"command": self.command}) + "\n")

    @contextmanager
    def staged(self) -> Iterator[Path]:
        """A folder to write results into; its files replace those in OUT only on success."""
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.path))
        try:
            yield staging
            for item in sorted(staging.iterdir()):
                os.replace(item, self.path / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def abandon(self) -> None:
        """After a failure: remove OUT if this run created it and nothing worth keeping is in it."""
        if self.created and not any(x for x in self.path.iterdir() if x.name not in (MARKER,) and not x.name.startswith(".")):
            remove_made(self.created)


def staged_output(path: str | os.PathLike, command: str, work: Callable[[Path, Path], T]) -> T:
    """Run ``work(out_dir, staging)`` with OUT checked, its writes staged, and OUT removed
    again on failure when this call created it."""
    out = OutputDir(path, command)
    out.check()
    try:
        out.open()
        with out.staged() as staging:
            result = work(out.path, staging)
    except BaseException:
        out.abandon()
        raise
    return result


def _folder(out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_pivotal(result: "PivotalResult", out_dir: str | os.PathLike) -> list[Path]:
    """Write ``pivotal.csv`` (the categories), ``pivotal_words.csv`` (lexicon words and the
    top data-driven words, column ``list``) and the figure ``pivotal.png`` / ``.svg`` into
    ``out_dir``; returns the paths."""
    from entropy_lens.analyses.pivotal import pivotal_words_table
    from entropy_lens.plots.pivotal import pivotal_figure
    from entropy_lens.plots.style import save_figure

    out = _folder(out_dir)
    paths = [out / "pivotal.csv", out / "pivotal_words.csv"]
    result.categories.to_csv(paths[0], index=False)
    pivotal_words_table(result).to_csv(paths[1], index=False)
    return paths + save_figure(pivotal_figure(result), out / "pivotal")


def write_reflect(result: "ReflectResult", out_dir: str | os.PathLike) -> list[Path]:
    """Write ``sentences.parquet``, ``reflect.csv`` (the summary row plus ``pattern`` and
    ``skipped``) and ``reflect.png``/``reflect.svg`` into ``out_dir``; returns the paths."""
    from entropy_lens.analyses.reflect import SENTENCE_COLUMNS
    from entropy_lens.plots.reflect import plot_reflect
    from entropy_lens.plots.style import save_figure

    out = _folder(out_dir)
    paths = [out / "sentences.parquet", out / "reflect.csv"]
    result.sentences[SENTENCE_COLUMNS].to_parquet(paths[0], index=False)
    result.summary.assign(pattern=result.pattern, skipped=result.skipped).to_csv(paths[1], index=False)
    paths += save_figure(plot_reflect(result), out / "reflect")
    return paths


def write_rare(result: "RareResult", out_dir: str | os.PathLike) -> list[Path]:
    """Write ``rare.csv`` (one row per RL sentence, rarest first), ``rare_summary.csv``
    (the summary row plus ``skipped``) and ``rare.png``/``rare.svg`` into ``out_dir``;
    returns the paths."""
    from entropy_lens.plots.rare import rare_figure
    from entropy_lens.plots.style import save_figure

    out = _folder(out_dir)
    paths = [out / "rare.csv", out / "rare_summary.csv"]
    result.sentences.to_csv(paths[0], index=False)
    result.summary.assign(skipped=result.skipped).to_csv(paths[1], index=False)
    paths += save_figure(rare_figure(result), out / "rare")
    return paths


def write_passk(tables: dict, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``passk.csv`` (one row per (model, k): model, k, pass_at_k, ci_low, ci_high,
    problems, excluded), ``passk_per_problem.csv`` (model, prompt_id, n, c, pass@k...) and the
    figure ``passk.png`` / ``.svg`` for ``{name: PassKTable}``; returns the paths."""
    import pandas as pd

    from entropy_lens.analyses.passk import MEAN_COLUMNS
    from entropy_lens.plots.passk import plot_passk
    from entropy_lens.plots.style import save_figure

    out = _folder(out_dir)
    paths = [out / "passk.csv", out / "passk_per_problem.csv"]
    mean = pd.concat([t.mean.assign(excluded=t.excluded).assign(model=name) for name, t in tables.items()],
                     ignore_index=True)
    mean[["model"] + MEAN_COLUMNS + ["excluded"]].to_csv(paths[0], index=False)
    per = pd.concat([t.per_problem.assign(model=name) for name, t in tables.items()], ignore_index=True)
    per[["model"] + [c for c in per.columns if c != "model"]].to_csv(paths[1], index=False)
    paths += save_figure(plot_passk({name: t.mean for name, t in tables.items()}), out / "passk")
    return paths


def write_dynamics(result: "DynamicsResult", out_dir: str | os.PathLike) -> list[Path]:
    """Write ``dynamics.csv`` (long format: run, step, metric, value, plus smoothed with
    smoothing; every numeric key of the logs) and ``dynamics.png`` / ``.svg``."""
    from entropy_lens.plots.dynamics import plot_dynamics
    from entropy_lens.plots.style import save_figure

    out = _folder(out_dir)
    path = out / "dynamics.csv"
    result.long.to_csv(path, index=False)
    return [path] + save_figure(plot_dynamics(result), out / "dynamics")


def write_heatmap(rollouts, out_file: str | os.PathLike, *, select: Sequence[tuple[Any, int]] | None = None,
                  top: int | None = None, cap_quantile: float = 0.95, pivotal: bool = True,
                  reflective: bool = True) -> Path:
    """Write a heatmap to ``out_file``: ``.html`` a page (several responses), ``.png`` / ``.svg``
    a figure of one response (``select`` one pair, or the response with the highest mean
    entropy). Never overwrites; returns the path written."""
    from entropy_lens.analyses.marks import as_pairs, select_rows
    from entropy_lens.pages.heatmap import SUFFIXES, heatmap_html
    from entropy_lens.plots.heatmap import heatmap_figure
    from entropy_lens.rollouts.load import as_frame, load_rollouts

    out = Path(out_file)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"cannot tell the format of {out} from its suffix {out.suffix or '(none)'!r}",
                        "name the output file .html (page), .png or .svg (figure)")
    if out.exists():
        raise UserError(f"{out} already exists and would be overwritten", "choose a new file name or delete the old file")
    if suffix == ".html":
        text = heatmap_html(rollouts, select=select, top=top, cap_quantile=cap_quantile, pivotal=pivotal,
                            reflective=reflective)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_new(out, text.encode("utf-8"))
        return out
    original = as_frame(rollouts)
    if select is not None:
        pairs = as_pairs(select)
        if len(pairs) != 1:
            raise UserError(f"a {suffix} figure shows one response, {len(pairs)} selected",
                            "select one (prompt_id, sample_id), or write .html for several")
        key = pairs[0]
    else:
        if top not in (None, 1):
            raise UserError(f"a {suffix} figure shows one response, top={top} asked",
                            "pass top=1 or one (prompt_id, sample_id), or write .html for several")
        frame = load_rollouts(original).frame
        (i,) = select_rows(frame, top=1)
        key = (frame["prompt_id"].iloc[i], int(frame["sample_id"].iloc[i]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{suffix}")
    try:
        heatmap_figure(original, key[0], key[1], tmp, cap_quantile=cap_quantile)
        if out.exists():
            raise UserError(f"{out} already exists and would be overwritten", "choose a new file name or delete the old file")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file (refuses to replace one that appeared meanwhile)."""
    try:
        with open(path, "xb") as f:
            f.write(data)
    except FileExistsError:
        raise UserError(f"{path} already exists and would be overwritten", "choose a new file name or delete the old file") from None


def write_report(base, rl, out_dir: str | os.PathLike, **options: Any) -> Path:
    """Write ``report_html(base, rl, **options)`` to ``out_dir/report.html`` (the folder is
    created if needed; an existing report is never overwritten). Returns the file's path."""
    from entropy_lens.pages.report import REPORT_FILE, report_html

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file, not a folder", "pass a folder for the report")
    target = out / REPORT_FILE
    if target.exists():
        raise UserError(f"{target} already exists and would be overwritten", "choose a new folder or delete the old report")
    text = report_html(base, rl, **options)
    out.mkdir(parents=True, exist_ok=True)
    write_new(target, text.encode("utf-8"))
    return target


def write_fork(result: "ForkResult", out_dir: str | os.PathLike) -> list[Path]:
    """Write ``forks.parquet`` (one row per probed position), ``fork_summary.csv`` (per kind
    and the comparisons, plus the rank correlation and ``skipped``), ``fork_settings.json``
    (model, K, seed, positions, sampling) and ``fork.png`` / ``.svg`` into ``out_dir``;
    returns the paths."""
    from entropy_lens.plots.fork import fork_figure
    from entropy_lens.plots.style import save_figure

    out = _folder(out_dir)
    paths = [out / "forks.parquet", out / "fork_summary.csv", out / "fork_settings.json"]
    result.forks.to_parquet(paths[0], index=False)
    paths[2].write_text(json.dumps(result.settings, indent=2, sort_keys=True) + "\n")
    correlation = {f"spearman_{k}": v for k, v in result.correlation.items()}
    result.summary.assign(**correlation, skipped=result.skipped).to_csv(paths[1], index=False)
    return paths + save_figure(fork_figure(result, rollouts=result.responses), out / "fork")
