"""The panel reflect and rare share: sentence entropy of one group against the others."""

from __future__ import annotations

import numpy as np

from entropy_lens.plots.style import COLORS, p_equals


def group_entropy_panel(ax, group: np.ndarray, other: np.ndarray, row, *, group_name: str, title: str,
                        empty_group: str, empty_other: str, headroom: float = 1.6) -> float:
    """Density histograms of ``group`` and ``other`` sentence entropies with their means, and
    a box with the difference, its bootstrap CI, the Mann-Whitney p and the effect size
    (from ``row``, a ``stats.compare`` row). The top 0.5% tail is cut off and counted;
    returns where the axis is cut, so a neighbouring panel can cut at the same point."""
    values = np.concatenate([group, other])
    finite = values[np.isfinite(values)]
    high = float(np.quantile(finite, 0.995)) if len(finite) else 1.0
    bins = np.linspace(0.0, max(high, 1e-6) * 1.02, 41)
    peak, hidden = 0.0, 0
    for name, data in (("other", other), (group_name, group)):
        if len(data) == 0:
            continue
        color = COLORS[name]
        counts, _ = np.histogram(data, bins=bins)
        density = counts / (len(data) * np.diff(bins))  # relative to all of the group's sentences
        hidden += int((data > bins[-1]).sum())
        peak = max(peak, float(density.max()))
        label = f"{name}: n={len(data):,}, mean {data.mean():.3f}, median {np.median(data):.3f}"
        ax.stairs(density, bins, fill=True, color=color, alpha=0.35 if name == "other" else 0.45, label=label)
        ax.stairs(density, bins, color=color, linewidth=1.4)
        ax.axvline(data.mean(), color=color, linestyle="--", linewidth=1.6)
    ax.set_ylim(0, max(peak, 1e-9) * headroom)  # room for the legend and the numbers
    if len(group) and len(other):
        ci = (f"95% CI {row['diff_ci_low']:+.3f} to {row['diff_ci_high']:+.3f}\n(bootstrap over responses)"
              if np.isfinite(row["diff_ci_low"]) else "no CI: the group is in a single response")
        text = (f"{group_name} - other: {row['diff']:+.3f} nats\n{ci}\n"
                f"Mann-Whitney {p_equals(row['p_value'])}\nrank-biserial {row['effect_size']:+.2f}")
    else:
        text = empty_group if not len(group) else empty_other
    ax.text(0.99, 0.98, text, transform=ax.transAxes, ha="right", va="top", fontsize=8.5,
            bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#cccccc", alpha=0.9))
    xlabel = "sentence entropy: mean token entropy in the sentence (nats)"
    if hidden:
        xlabel += f"\n({hidden:,} sentence{'s' * (hidden != 1)} above {bins[-1]:.2f} not shown)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10.5)
    ax.legend(loc="upper left", fontsize=8.5, frameon=False)
    return float(bins[-1])
