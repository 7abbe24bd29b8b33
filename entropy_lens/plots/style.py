"""One look for every figure, saving as PNG + SVG, and the one way a p-value is written
(figures and pages alike)."""

from __future__ import annotations

import math
from pathlib import Path

# Colour-blind-safe (Okabe-Ito) colours, one per role, used by every figure.
COLORS = {
    "ordinary": "#999999",
    "causal": "#0072B2",
    "contrastive": "#D55E00",
    "sequential": "#009E73",
    "reasoning_verb": "#CC79A7",
    "reflective": "#E69F00",
    "other": "#999999",
    "rare": "#D55E00",
    "base": "#0072B2",
    "rl": "#D55E00",
}


def format_p(p, *, missing: str = "n/a") -> str:
    """A p-value: 2 significant digits, scientific below 1e-4, ``< 1e-300`` where it
    underflows to 0; ``missing`` for None or NaN."""
    if p is None or not math.isfinite(p):
        return missing
    if p < 1e-300:
        return "< 1e-300"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def p_equals(p) -> str:
    """``format_p`` as a statement for a figure's text: ``p = 0.034``, ``p < 1e-300``, ``p = n/a``."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def new_figure(width: float = 10.0, height: float = 4.5, **subplots):
    """A figure with the project's style (white background, light grid, no top/right spines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold", "axes.spines.top": False,
        "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25, "figure.dpi": 110,
        "savefig.bbox": "tight", "svg.fonttype": "none",
    })
    return plt.subplots(figsize=(width, height), **subplots)


def save_figure(fig, path_without_suffix: str | Path) -> list[Path]:
    """Save ``fig`` as ``.png`` (150 dpi) and ``.svg``; returns both paths and closes the figure."""
    import matplotlib.pyplot as plt

    base = Path(path_without_suffix)
    paths = [base.with_suffix(".png"), base.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
