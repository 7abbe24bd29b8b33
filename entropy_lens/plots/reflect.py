"""Figure of ``entropy-lens reflect``: sentence entropy of reflective vs other sentences, and
how many reflective sentences a response holds."""

from __future__ import annotations

import math

import numpy as np

from .style import COLORS, new_figure


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    if p < 1e-300:
        return "< 1e-300"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def plot_reflect(result):
    """The two-panel figure for a ``ReflectResult``; returns the matplotlib figure."""
    from ..reflect import REFLECTION_PATTERN

    fig, (ax, bx) = new_figure(11.5, 4.4, ncols=2, gridspec_kw={"width_ratios": [1.45, 1]})
    table = result.sentences
    row = result.summary.iloc[0]
    flag = table["reflective"].to_numpy(dtype=bool)
    values = table["mean_entropy"].to_numpy(dtype=np.float64)
    reflective, other = values[flag], values[~flag]

    # -- left: distributions of sentence entropy -------------------------------------------
    finite = values[np.isfinite(values)]
    high = float(np.quantile(finite, 0.995)) if len(finite) else 1.0
    bins = np.linspace(0.0, max(high, 1e-6) * 1.02, 41)
    peak, hidden = 0.0, 0
    for name, data in (("other", other), ("reflective", reflective)):
        if len(data) == 0:
            continue
        color = COLORS[name]
        # density relative to all of the group's sentences; the top 0.5% tail is cut off
        counts, _ = np.histogram(data, bins=bins)
        density = counts / (len(data) * np.diff(bins))
        hidden += int((data > bins[-1]).sum())
        peak = max(peak, float(density.max()))
        label = f"{name}: n={len(data):,}, mean {data.mean():.3f}, median {np.median(data):.3f}"
        ax.stairs(density, bins, fill=True, color=color, alpha=0.35 if name == "other" else 0.45, label=label)
        ax.stairs(density, bins, color=color, linewidth=1.4)
        ax.axvline(data.mean(), color=color, linestyle="--", linewidth=1.6)
    ax.set_ylim(0, max(peak, 1e-9) * 1.6)  # head room for the legend and the numbers
    if len(reflective) and len(other):
        text = (f"reflective - other: {row['diff']:+.3f} nats\n"
                f"95% CI {row['diff_ci_low']:+.3f} to {row['diff_ci_high']:+.3f}\n(bootstrap over responses)\n"
                f"Mann-Whitney p = {_fmt_p(row['p_value'])}\nrank-biserial {row['effect_size']:+.2f}")
    else:
        text = "no reflective sentence found" if not len(reflective) else "every sentence is reflective"
    ax.text(0.99, 0.98, text, transform=ax.transAxes, ha="right", va="top", fontsize=8.5,
            bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#cccccc", alpha=0.9))
    xlabel = "sentence entropy: mean token entropy in the sentence (nats)"
    if hidden:
        xlabel += f"\n({hidden:,} sentences above {bins[-1]:.2f} not shown)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title("Sentence entropy: reflective vs other (dashed: means)")
    ax.legend(loc="upper left", fontsize=8.5, frameon=False)

    # -- right: reflective sentences per response ------------------------------------------
    counts = result.per_response["n_reflective"].to_numpy()
    cap = int(max(10, np.quantile(counts, 0.99))) if len(counts) else 10
    top = int(counts.max()) if len(counts) else 0
    shown = np.minimum(counts, cap)
    heights = np.bincount(shown, minlength=min(top, cap) + 1)
    xs = np.arange(len(heights))
    bx.bar(xs, heights, color=COLORS["reflective"], alpha=0.8, width=0.8)
    bx.set_ylim(0, max(1, heights.max() if len(heights) else 1) * 1.3)  # head room for the numbers
    if top > cap:
        bx.set_xticks(list(range(0, cap, max(1, cap // 5))) + [cap])
        bx.set_xticklabels([str(t) for t in range(0, cap, max(1, cap // 5))] + [f"{cap}+"])
    else:
        bx.xaxis.get_major_locator().set_params(integer=True)
    bx.set_xlim(-0.6, max(len(heights) - 1, 5) + 0.6)
    mean, (low, high_ci) = result.frequency, result.frequency_ci
    if np.isfinite(mean):
        bx.axvline(min(mean, cap), color="black", linestyle="--", linewidth=1.2)
    ci = f" (95% CI {low:.2f} to {high_ci:.2f})" if np.isfinite(low) else ""
    share = row["responses_with_reflection"] / row["responses"] if row["responses"] else math.nan
    responses = int(row["responses"])
    who = f"{responses:,} responses reflect" if responses != 1 else "1 response reflects"
    bx.text(0.98, 0.97, f"mean {mean:.2f} per response{ci}\n{share:.0%} of {who} at least once",
            transform=bx.transAxes, ha="right", va="top", fontsize=9,
            bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#cccccc", alpha=0.9))
    bx.set_xlabel("reflective sentences in the response")
    bx.set_ylabel("responses")
    bx.set_title("Reflection frequency (dashed: mean)")

    if result.pattern == REFLECTION_PATTERN:
        what = "wait, verify, check, confirm, re-examine, mistake, let me see, ..."
    else:
        what = "pattern " + (result.pattern if len(result.pattern) <= 60 else result.pattern[:57] + "...")
    fig.suptitle(f"Reflective sentences ({what})", fontsize=12, fontweight="bold")
    if result.skipped:
        fig.text(0.01, -0.02, result.skipped, fontsize=8, color="#666666")
    fig.tight_layout()
    return fig
