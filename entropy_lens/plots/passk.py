"""Figure of ``entropy-lens passk``: pass@k against k (log2 axis) for several models on one
plot, each with its 95% bootstrap CI band."""

from __future__ import annotations

import numpy as np

from entropy_lens.plots.style import COLORS, new_figure

# Okabe-Ito, colour-blind safe; the first two are the project's base / RL colours.
PALETTE = [COLORS["base"], COLORS["rl"], "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def plot_passk(means: dict):
    """``means``: {model name: mean table (k, pass_at_k, ci_low, ci_high, problems)}."""
    from matplotlib.ticker import FixedLocator, NullLocator, PercentFormatter

    fig, ax = new_figure(7.2, 4.4)
    all_k: set[int] = set()
    for i, (name, mean) in enumerate(means.items()):
        mean = mean.sort_values("k")
        k = mean["k"].to_numpy(dtype=np.float64)
        y = mean["pass_at_k"].to_numpy(dtype=np.float64)
        color, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        all_k.update(int(v) for v in k)
        problems = int(mean["problems"].iloc[0]) if len(mean) else 0
        label = f"{name}: pass@{int(k[0])} {y[0]:.1%}"
        if len(k) > 1:
            label += f", pass@{int(k[-1])} {y[-1]:.1%}"
        label += f" ({problems} problems)"
        ax.fill_between(k, mean["ci_low"].to_numpy(dtype=np.float64), mean["ci_high"].to_numpy(dtype=np.float64),
                        color=color, alpha=0.18, linewidth=0)
        ax.plot(k, y, color=color, marker=marker, markersize=5, linewidth=1.8, label=label)
    ax.set_xscale("log", base=2)
    ticks = sorted(all_k)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] / 1.5, ticks[0] * 1.5)
    else:
        ax.set_xlim(ticks[0] / 2 ** 0.25, ticks[-1] * 2 ** 0.25)
    ax.set_ylim(-0.025, 1.04)  # room for markers at 0% and 100% (a curve at 0 stays off the spine)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("k (samples per problem; log2 scale)")
    ax.set_ylabel("pass@k (mean over problems)")
    ax.set_title("Pass@k, unbiased estimator (bands: 95% bootstrap CI over problems)")
    # below the axes: pass@k curves fill the plot from bottom left to top right
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=9, frameon=False, ncol=1)
    return fig
