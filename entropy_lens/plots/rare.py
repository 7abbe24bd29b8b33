"""Figure of ``entropy-lens rare``: (a) the entropy of rare vs other RL sentences, (b) each RL
sentence's distance from the base model's sentences against its entropy."""

from __future__ import annotations

import numpy as np

from entropy_lens.plots.groups import group_entropy_panel
from entropy_lens.plots.style import COLORS, new_figure, p_equals

MAX_POINTS = 20000  # scatter points drawn per group (a seeded sample beyond that; the stats use all)


def _sample(n: int, cap: int, seed: int = 0) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def _binned_trend(x: np.ndarray, y: np.ndarray, bins: int = 12):
    """Median of y in equal-count bins of x (centres = median x of each bin)."""
    if len(x) < 2 * bins:
        bins = max(1, len(x) // 5)
    if bins < 2:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(x, kind="stable")
    groups = np.array_split(order, bins)
    return (np.array([np.median(x[g]) for g in groups]), np.array([np.median(y[g]) for g in groups]))


def rare_figure(result):
    """The two-panel figure for a ``RareResult``; returns the matplotlib figure."""
    fig, (ax, bx) = new_figure(12.0, 4.6, ncols=2, gridspec_kw={"width_ratios": [1, 1.15]})
    table = result.sentences
    row = result.summary.iloc[0]
    flag = table["rare"].to_numpy(dtype=bool)
    entropy = table["mean_entropy"].to_numpy(dtype=np.float64)
    distance = table["distance"].to_numpy(dtype=np.float64)
    finite = np.isfinite(entropy)
    rare_h, other_h = entropy[flag & finite], entropy[~flag & finite]
    top_pct = f"top {1 - result.quantile:.0%}".replace(".0%", "%")

    # -- (a) distributions of sentence entropy ---------------------------------------------
    top = group_entropy_panel(ax, rare_h, other_h, row, group_name="rare", headroom=1.65,
                        title=f"(a) Entropy: rare ({top_pct} by distance) vs other RL sentences",
                        empty_group="no rare sentence", empty_other="no other sentence")

    # -- (b) distance against entropy --------------------------------------------------------
    # entropy axis: the top 0.5% tail is cut off, as in (a)
    inside = finite & (entropy <= top)
    hidden_b = int((finite & ~inside).sum())
    for name, group, size, alpha, z in (("other", ~flag, 7, 0.35, 2), ("rare", flag, 11, 0.7, 3)):
        where = np.flatnonzero(group & inside)
        shown = where[_sample(len(where), MAX_POINTS)]
        n_group = int((group & finite).sum())
        if len(shown):
            label = f"{name} (n={n_group:,}" + (f", {len(shown):,} drawn)" if len(shown) < n_group else ")")
            bx.scatter(distance[shown], entropy[shown], s=size, color=COLORS[name], alpha=alpha, linewidths=0,
                       label=label, zorder=z, rasterized=True)
    bx.axvline(result.threshold, color="black", linestyle=":", linewidth=1.3, zorder=4,
               label=f"rare threshold: distance {result.threshold:.3f} ({result.quantile:g} quantile)")
    cx, cy = _binned_trend(distance[finite], entropy[finite])
    if len(cx):
        bx.plot(cx, cy, color="black", linewidth=1.8, marker="o", markersize=3.5, zorder=5,
                label="median entropy in distance bins")
    bx.set_ylim(0, top * 1.45)  # head room: legend and the correlation box sit above the points
    bx.text(result.threshold, top * 1.02, "  rare \u2192", ha="left", va="bottom", fontsize=9, fontweight="bold",
            color=COLORS["rare"], zorder=6)
    rho, p_rho = row.get("spearman_rho", np.nan), row.get("spearman_p", np.nan)
    trend = (f"Spearman rho = {rho:+.2f}, {p_equals(p_rho)}" if np.isfinite(rho)
             else "Spearman rho: n/a (too few or constant values)")
    bx.text(0.02, 0.98, trend + "\n(distance vs entropy, all RL sentences)", transform=bx.transAxes, ha="left",
            va="top", fontsize=8.5, zorder=6,
            bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#cccccc", alpha=0.9))
    bxlabel = f"distance: mean cosine distance to the {result.k} nearest base sentences"
    if hidden_b:
        bxlabel += f"\n({hidden_b:,} sentence{'s' * (hidden_b != 1)} above entropy {top:.2f} not shown)"
    bx.set_xlabel(bxlabel)
    bx.set_ylabel("sentence entropy (nats)")
    bx.set_title("(b) Distance from the base model's sentences vs entropy", fontsize=10.5)
    bx.legend(loc="upper right", fontsize=8, frameon=True, framealpha=0.9, markerscale=1.6)

    pool = "same prompt" if result.same_prompt else "all prompts"
    fig.suptitle(f"Rare behaviours: RL sentences far from every base-model sentence "
                 f"({int(row['rl_sentences']):,} RL vs {int(row['base_sentences']):,} base sentences, "
                 f"neighbours from {pool})", fontsize=11.5, fontweight="bold")
    notes = [x for x in (f"embedder: {result.embedder}" if result.embedder else "", result.skipped) if x]
    if notes:
        fig.text(0.01, -0.02, "; ".join(notes), fontsize=8, color="#666666")
    fig.tight_layout()
    return fig


plot_rare = rare_figure
