"""The pivotal-token figure: each category's entropy against ordinary words (left), and
the words with the highest mean entropy (right)."""

from __future__ import annotations

import math

from entropy_lens.plots.style import COLORS, new_figure, p_equals

LABELS = {"causal": "causal", "contrastive": "contrastive", "sequential": "sequential",
          "reasoning_verb": "reasoning verb", "ordinary": "ordinary words"}
EXTRA_COLORS = ["#56B4E9", "#F0E442", "#000000", "#E69F00"]  # categories of a custom lexicon
MAX_BARS = 25


def stars(p: float) -> str:
    if p is None or not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "n.s."


def category_color(category: str, categories: list[str]) -> str:
    if category in COLORS:
        return COLORS[category]
    if not category:
        return COLORS["ordinary"]
    extra = [c for c in categories if c not in COLORS]
    return EXTRA_COLORS[extra.index(category) % len(EXTRA_COLORS)] if category in extra else COLORS["ordinary"]


def pivotal_figure(result):
    """The figure of a :class:`entropy_lens.analyses.pivotal.PivotalResult` (not saved)."""
    fig, axes = new_figure(15.0, 6.4, ncols=3, gridspec_kw={"width_ratios": [1.0, 0.48, 0.95], "wspace": 0.05})
    left, numbers, right = axes
    categories = list(result.lexicon)
    _distribution_panel(left, numbers, result, categories)
    _top_words_panel(right, result, categories)
    box = right.get_position()  # room for the words on the right panel's axis
    right.set_position([box.x0 + 0.06, box.y0, box.width - 0.06, box.height])
    how = "at the word's first token" if result.word_entropy == "first" else "the mean over the word's tokens"
    fig.suptitle("Pivotal words vs ordinary words: token entropy (nats)", fontsize=13, fontweight="bold", x=0.5, y=1.06)
    note = (f"{result.n_responses:,} responses, {result.n_tokens:,} tokens, {result.n_words:,} words; a word's entropy is "
            f"{how}.\nDifference of means vs ordinary words with 95% CI (bootstrap over responses); p: two-sided "
            "Mann-Whitney U; Cliff's δ = P(category > ordinary) - P(category < ordinary)")
    if result.skipped:
        note += f"\n{result.skipped}"
    fig.text(0.5, 0.975, note, ha="center", va="bottom", fontsize=8.5, color="#444444", linespacing=1.4)
    return fig


def _distribution_panel(ax, numbers, result, categories: list[str]) -> None:
    """Boxes per group on ``ax``; each group's numbers as text on ``numbers`` (no axes)."""
    dist = result.distributions.set_index("group")
    table = result.categories.set_index("category")
    groups = ["ordinary"] + categories
    stats, colors, labels = [], [], []
    for g in groups:
        d = dist.loc[g]
        colors.append(COLORS["ordinary"] if g == "ordinary" else category_color(g, categories))
        labels.append(f"{LABELS.get(g, g)}\nn = {int(d['n']):,}")
        stats.append({"med": d["median"], "q1": d["q25"], "q3": d["q75"], "whislo": d["q05"], "whishi": d["q95"],
                      "mean": d["mean"], "fliers": [], "label": labels[-1]})
    positions = list(range(len(groups), 0, -1))  # ordinary on top
    drawable = [i for i, s in enumerate(stats) if math.isfinite(s["med"])]
    if drawable:
        import inspect

        # matplotlib >= 3.10 says orientation=, older versions vert=
        horizontal = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.bxp).parameters
                      else {"vert": False})
        boxes = ax.bxp([stats[i] for i in drawable], positions=[positions[i] for i in drawable], **horizontal,
                       widths=0.55, patch_artist=True, showmeans=True, meanline=False, showfliers=False,
                       medianprops={"color": "black", "linewidth": 1.6},
                       meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black",
                                  "markersize": 6},
                       whiskerprops={"linewidth": 1.1}, capprops={"linewidth": 1.1})
        for patch, i in zip(boxes["boxes"], drawable):
            patch.set_facecolor(colors[i])
            patch.set_alpha(0.75 if groups[i] != "ordinary" else 0.45)
    ax.set_yticks(positions)
    ax.set_yticklabels(labels)
    for label, color in zip(ax.get_yticklabels(), colors):
        label.set_color(color if color != COLORS["ordinary"] else "#555555")
        label.set_fontweight("bold")
    ordinary_mean = dist.loc["ordinary", "mean"]
    if math.isfinite(ordinary_mean):
        ax.axvline(ordinary_mean, color="#555555", linestyle="--", linewidth=1.0, zorder=0)
    threshold = result.forking_threshold
    if math.isfinite(threshold):
        ax.axvline(threshold, color="#B22222", linestyle=":", linewidth=1.3, zorder=0)
    finite = [v for s in stats for v in (s["whishi"], s["mean"]) if math.isfinite(v)]
    ax.set_xlim(0, max(finite + [threshold if math.isfinite(threshold) else 0.0, 1e-3]) * 1.05)
    ax.set_ylim(0.4, len(groups) + 0.6)
    ax.set_xlabel("word entropy (nats)")
    ax.set_title("Entropy distribution per category", loc="left")
    ax.grid(axis="y", visible=False)

    numbers.set_ylim(ax.get_ylim())
    numbers.axis("off")
    numbers.set_title("vs ordinary words", loc="left", fontsize=10)
    for g, y in zip(groups, positions):
        d = dist.loc[g]
        if g == "ordinary":
            text = f"mean {d['mean']:.2f} nats" if math.isfinite(d["mean"]) else "no words"
        elif int(d["n"]) == 0:
            text = "not found in the responses"
        else:
            row = table.loc[g]
            diff = row["mean"] - row["ordinary_mean"]
            text = (f"mean {row['mean']:.2f}, difference {diff:+.2f}\n"
                    f"95% CI [{row['diff_ci_low']:+.2f}, {row['diff_ci_high']:+.2f}]\n"
                    f"{p_equals(row['p_value'])} {stars(row['p_value'])}, Cliff's δ {row['effect_size']:+.2f}\n"
                    f"{row['forking_share']:.0%} forking (top {1 - result.forking_quantile:.0%})")
        numbers.text(0.03, y, text, ha="left", va="center", fontsize=8.5, color="#222222", linespacing=1.35)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="#dddddd", edgecolor="black", label="box 25-75%, whiskers 5-95%, | median"),
               Line2D([], [], marker="D", color="none", markerfacecolor="white", markeredgecolor="black", label="mean"),
               Line2D([], [], color="#555555", linestyle="--", label="mean of ordinary words"),
               Line2D([], [], color="#B22222", linestyle=":",
                      label=f"forking: top {1 - result.forking_quantile:.0%} of all token entropies (> {threshold:.2f})")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.11), ncol=2, fontsize=8, frameon=False)


def _top_words_panel(ax, result, categories: list[str]) -> None:
    top = result.top_words.head(MAX_BARS)
    ax.set_title(f"Highest mean entropy: words seen ≥ {result.min_count} times", loc="left")
    if len(top) == 0:
        ax.text(0.5, 0.5, f"no word seen {result.min_count} times or more", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    y = list(range(len(top), 0, -1))
    colors = [category_color(c, categories) for c in top["category"]]
    ax.barh(y, top["mean"], color=colors, alpha=0.85, height=0.72)
    ax.set_yticks(y)
    ax.set_yticklabels(top["word"], fontsize=9)
    x_max = float(top["mean"].max())
    for yi, (_, row) in zip(y, top.iterrows()):
        ax.text(row["mean"] + x_max * 0.015, yi, f"n={int(row['count']):,}", va="center", fontsize=7.5, color="#444444")
    ordinary_mean = result.distributions.set_index("group").loc["ordinary", "mean"]
    if math.isfinite(ordinary_mean):
        ax.axvline(ordinary_mean, color="#555555", linestyle="--", linewidth=1.0)
    ax.set_xlim(0, x_max * 1.18)
    ax.set_ylim(0.3, len(top) + 0.7)
    ax.set_xlabel("mean word entropy (nats)")
    ax.grid(axis="y", visible=False)
    from matplotlib.patches import Patch

    from matplotlib.lines import Line2D

    shown = [c for c in categories if c in set(top["category"])]
    handles = [Patch(color=category_color(c, categories), label=LABELS.get(c, c)) for c in shown]
    handles.append(Patch(color=COLORS["ordinary"], label="not in lexicon"))
    handles.append(Line2D([], [], color="#555555", linestyle="--", label="mean of ordinary words"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.11), ncol=3, fontsize=8, frameon=False)

