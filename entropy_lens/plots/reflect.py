"""Figure of ``entropy-lens reflect``: sentence entropy of reflective vs other sentences, and
how many reflective sentences a response holds."""

from __future__ import annotations

import math

import numpy as np

from entropy_lens.plots.groups import group_entropy_panel
from entropy_lens.plots.style import COLORS, new_figure


def plot_reflect(result):
    """The two-panel figure for a ``ReflectResult``; returns the matplotlib figure."""
    from entropy_lens.analyses.reflect import REFLECTION_PATTERN

    fig, (ax, bx) = new_figure(11.5, 4.4, ncols=2, gridspec_kw={"width_ratios": [1.45, 1]})
    table = result.sentences
    row = result.summary.iloc[0]
    flag = table["reflective"].to_numpy(dtype=bool)
    values = table["mean_entropy"].to_numpy(dtype=np.float64)
    reflective, other = values[flag], values[~flag]

    # -- left: distributions of sentence entropy -------------------------------------------
    group_entropy_panel(ax, reflective, other, row, group_name="reflective",
                        title="Sentence entropy: reflective vs other (dashed: means)",
                        empty_group="no reflective sentence found", empty_other="every sentence is reflective")

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
