"""Figure of ``entropy-lens dynamics``: one small panel per training metric, every run in
each panel (same colour per run throughout), x = training step."""

from __future__ import annotations

import math

import numpy as np

from entropy_lens.plots.passk import MARKERS, PALETTE
from entropy_lens.plots.style import new_figure

MARKER_MAX_STEPS = 30  # series of at most this many points get a marker per point
# shares, rates and non-negative sizes: their y axis starts at 0
FROM_ZERO = {"accuracy", "entropy_share", "reflection_frequency", "repetition_rate", "clip_fraction", "approx_kl",
             "grad_norm"}


def plot_dynamics(result):
    """The small-multiples figure of a ``DynamicsResult``; returns the matplotlib figure."""
    from entropy_lens.analyses.dynamics import TRACKED

    metrics = list(result.metrics)
    n_panels = max(1, len(metrics))
    ncols = min(4, n_panels)
    nrows = math.ceil(n_panels / ncols)
    spare = nrows * ncols - len(metrics)  # empty cells: the legend goes in the first one
    fig, axes = new_figure(3.7 * ncols, 2.75 * nrows + (0.0 if spare else 0.5), nrows=nrows, ncols=ncols,
                           squeeze=False, sharex=True)
    flat = list(axes.ravel())
    long = result.long
    column = "smoothed" if result.smooth and "smoothed" in long.columns else "value"
    groups = {key: frame for key, frame in long.groupby(["metric", "run"], sort=False)}
    handles = {}
    for ax, metric in zip(flat, metrics):
        title, ylabel = TRACKED.get(metric, (metric.replace("_", " "), ""))
        for i, run in enumerate(result.runs):
            frame = groups.get((metric, run))
            if frame is None or frame.empty:
                continue
            color, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
            steps = frame["step"].to_numpy(dtype=np.float64)
            few = len(steps) <= MARKER_MAX_STEPS
            if column == "smoothed":
                ax.plot(steps, frame["value"].to_numpy(dtype=np.float64), color=color, alpha=0.25, linewidth=0.9)
            line, = ax.plot(steps, frame[column].to_numpy(dtype=np.float64), color=color, linewidth=1.7,
                            marker=marker if few else None, markersize=3.5)
            handles.setdefault(run, line)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=8.5)
        ax.tick_params(labelsize=8)
        values = long.loc[long["metric"] == metric, column].to_numpy(dtype=np.float64)
        if metric in FROM_ZERO and len(values) and values.min() >= 0:
            top = max(ax.get_ylim()[1], 1e-9) if values.max() > 0 else 1.0
            ax.set_ylim(-0.04 * top, top)  # a little room below 0: a line at 0 stays visible off the spine
        if len(values) > 1 and values.min() == values.max():
            ax.text(0.5, 0.55, f"every value {values[0]:g}", transform=ax.transAxes, ha="center", va="bottom",
                    fontsize=8.5, color="#555555")
    if not metrics:
        flat[0].text(0.5, 0.5, "no numeric metric in the logs", ha="center", va="center", transform=flat[0].transAxes)
    for ax in flat[len(metrics):]:
        ax.axis("off")
    for col in range(ncols):  # a bottom-row cell left empty: label the x axis of the panel above it
        for row in range(nrows - 1, -1, -1):
            index = row * ncols + col
            if index < len(metrics):
                axes[row][col].set_xlabel("training step", fontsize=9)
                axes[row][col].xaxis.set_tick_params(labelbottom=True)
                break
    from matplotlib.ticker import MaxNLocator

    flat[0].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    labels = [result.labels.get(run, run) for run in handles]
    title = "Training dynamics"
    if result.smooth:
        title += f" (lines: moving average over {result.smooth} steps; faint: raw)"
    if spare:
        legend_ax = flat[len(metrics)]
        legend_ax.legend(list(handles.values()), labels, loc="center", fontsize=9, frameon=False, title="run",
                         title_fontproperties={"weight": "bold"})
        fig.suptitle(title, fontsize=12, fontweight="bold")
    else:
        fig.legend(list(handles.values()), labels, loc="upper center", ncol=min(4, max(1, len(labels))), fontsize=9,
                   frameon=False, bbox_to_anchor=(0.5, 1.0))
        fig.suptitle(title, fontsize=12, fontweight="bold", y=1.04)
    fig.tight_layout()
    return fig
