"""What every section of the comparison report shares: the two checked tables with their
names and settings (:class:`Context`), and the cells and blocks that show the two
checkpoints side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from entropy_lens.pages.html import escape, figure_html, fmt_ci


@dataclass
class Context:
    """What every section needs: the checked tables, names, shared settings, cached results."""

    base: Any  # pandas.DataFrame, checked
    rl: Any
    base_name: str
    rl_name: str
    skipped: dict[str, str]
    cap_quantile: float = 0.95
    heatmaps: int = 2
    rare_top: int = 10
    min_count: int = 20
    embedder: Any = None
    rare_options: dict = field(default_factory=dict)
    fork: Any = None  # a ForkResult, for the optional fork section
    cache: dict = field(default_factory=dict)

    def tables(self):
        return [(self.base_name, "base", self.base), (self.rl_name, "rl", self.rl)]

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.cache:
            self.cache[name] = make()
        return self.cache[name]


def label(name: str, role: str) -> str:
    """A checkpoint's name in its role's colour (``role``: 'base' or 'rl')."""
    return f"<span class=\"ckpt {role}\">{escape(name)}</span>"


def pair(left: str, right: str) -> str:
    """Two blocks side by side (one column on narrow screens)."""
    return f"<div class=\"pair\"><div>{left}</div><div>{right}</div></div>"


def diff_cell(row) -> str:
    """``diff [low, high]`` of a comparison row, or an en dash."""
    if not np.isfinite(row["diff"]):
        return "–"
    return f"{row['diff']:+.3f} {fmt_ci(row['diff_ci_low'], row['diff_ci_high'])}"


def metric_table(ctx: Context, rows: list[tuple[str, str, str]]) -> str:
    """Metrics as rows, base and RL side by side (cells are already HTML)."""
    head = f"<tr><th></th><th>{label(ctx.base_name, 'base')}</th><th>{label(ctx.rl_name, 'rl')}</th></tr>"
    body = "".join(f"<tr><th>{escape(m)}</th><td class=\"num\">{b}</td><td class=\"num\">{r}</td></tr>"
                   for m, b, r in rows)
    return f"<table class=\"data overview\"><thead>{head}</thead><tbody>{body}</tbody></table>"


def figure_per_table(ctx: Context, results, make: Callable[[Any], Any], what: str) -> str:
    """Each checkpoint's figure ``make(result)`` (``results`` in the order of ``ctx.tables()``), headed by its name."""
    html = ""
    for (name, role, _), result in zip(ctx.tables(), results):
        html += f"<h3>{label(name, role)}</h3>" + figure_html(make(result), alt=f"{what} of {name}")
    return html
