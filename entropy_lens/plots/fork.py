"""Figure of ``entropy-lens fork``: (a) how often resampling at a token changes the final
answer against the token's entropy, every probed position a point (coloured by kind) and
the mean over quantile bins of entropy with 95% CIs; (b) one response as a strip, its token
entropies as a grey line and each probed position a marker coloured by its share of changed
answers (shape: kind)."""

from __future__ import annotations

import math

import numpy as np

from entropy_lens.plots.style import COLORS, new_figure, p_equals
from entropy_lens.stats import mean_ci

KIND_COLORS = {"high": COLORS["rl"], "low": COLORS["base"], "pivotal": COLORS["sequential"]}
KIND_MARKERS = {"high": "^", "low": "v", "pivotal": "D"}
KIND_LABELS = {"high": "high (top 10% entropy)", "low": "low (lower half, matched)", "pivotal": "pivotal word"}
BINS = 5
CHANGED_CMAP = "viridis"  # sequential, colour-blind safe; 0 (dark) .. 1 (yellow)
_DRAW_ORDER = ("pivotal", "high", "low")
_JITTER = 0.015  # of the share axis: points of equal share stay apart


def choose_example(forks) -> tuple[str, int] | None:
    """The response drawn in panel (b) by default: the most probed positions, ties by the
    highest mean changed (then the first in table order); None for an empty table."""
    if len(forks) == 0:
        return None
    per = (forks.assign(changed=forks["changed"].astype("float64"))
           .groupby(["prompt_id", "sample_id"], sort=False)
           .agg(n=("position", "nunique"), changed=("changed", "mean")).reset_index())
    per["changed"] = per["changed"].fillna(-1.0)
    best = per.sort_values(["n", "changed"], ascending=[False, False], kind="stable").iloc[0]
    return str(best["prompt_id"]), int(best["sample_id"])


def _binned(entropy: np.ndarray, changed: np.ndarray):
    """Mean changed (and its normal 95% CI over positions) in up to ``BINS`` quantile bins of
    entropy: (bin centres = mean entropy, means, lows, highs)."""
    if len(entropy) < 2 or np.ptp(entropy) == 0:
        return (np.zeros(0),) * 4
    edges = np.unique(np.quantile(entropy, np.linspace(0, 1, min(BINS, len(entropy)) + 1)))
    which = np.clip(np.searchsorted(edges, entropy, side="right") - 1, 0, len(edges) - 2)
    out = []
    for b in range(len(edges) - 1):
        mask = which == b
        if mask.any():
            mean, low, high = mean_ci(changed[mask])
            out.append((float(entropy[mask].mean()), mean, max(0.0, low) if math.isfinite(low) else mean,
                        min(1.0, high) if math.isfinite(high) else mean))
    return tuple(np.array(c, dtype=np.float64) for c in zip(*out)) if out else (np.zeros(0),) * 4


def _scatter_panel(ax, forks, correlation: dict) -> None:
    from matplotlib.ticker import PercentFormatter

    rng = np.random.default_rng(0)
    kinds = [k for k in KIND_COLORS if (forks["kind"] == k).any()] if len(forks) else []
    for kind in sorted(kinds, key=_DRAW_ORDER.index):  # the low ones (near entropy 0) on top
        part = forks[forks["kind"] == kind]
        changed = part["changed"].to_numpy(dtype=np.float64)
        y = changed + rng.uniform(-_JITTER, _JITTER, len(changed))
        ax.scatter(part["entropy"].to_numpy(dtype=np.float64), y, s=16, alpha=0.55, color=KIND_COLORS[kind],
                   marker=KIND_MARKERS[kind], linewidths=0, label=f"{KIND_LABELS[kind]} (n = {len(part):,})")
    distinct = None
    if len(forks):
        distinct = (forks.assign(changed=forks["changed"].astype("float64"), entropy=forks["entropy"].astype("float64"))
                    .groupby(["prompt_id", "sample_id", "position"], sort=False)[["entropy", "changed"]].mean())
    if distinct is not None:
        distinct = distinct[np.isfinite(distinct["changed"].to_numpy(dtype=np.float64))]
        x, mean, low, high = _binned(distinct["entropy"].to_numpy(dtype=np.float64),
                                     distinct["changed"].to_numpy(dtype=np.float64))
        if len(x):
            ax.errorbar(x, mean, yerr=[mean - low, high - mean], color="black", marker="o", markersize=5,
                        linewidth=1.6, capsize=3, label=f"mean in {len(x)} entropy bins (95% CI)", zorder=5)
    if not kinds:
        ax.text(0.5, 0.5, "no probed positions", transform=ax.transAxes, ha="center", va="center", color="#666666")
    rho, n = correlation.get("rho", math.nan), correlation.get("n", 0)
    if rho is not None and math.isfinite(rho):
        text = f"Spearman ρ = {rho:.2f}, {p_equals(correlation.get('p_value'))}\n{n:,} positions"
        ax.text(0.02, 0.97, text, transform=ax.transAxes, ha="left", va="top", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="#cccccc", alpha=0.9))
    ax.set_ylim(-0.05, 1.12)  # head room for the correlation box
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("entropy of the probed token (nats)")
    ax.set_ylabel("continuations whose answer changed")
    ax.set_title("(a) Answer changes vs token entropy")
    if kinds:
        handles, labels = ax.get_legend_handles_labels()  # in the order of KIND_LABELS, the bins last
        ranks = [next((i for i, v in enumerate(KIND_LABELS.values()) if label.startswith(v)), 9) for label in labels]
        order = sorted(range(len(labels)), key=ranks.__getitem__)
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=8.5, frameon=False, ncol=2)


def _token_label(token: str) -> str:
    """A token as a label: stripped, control characters escaped (no font draws them), short."""
    text = token.strip() or token
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= 12 else text[:11] + "…"


def _strip_panel(fig, ax, forks, example, token_entropy) -> None:
    import matplotlib as mpl
    from matplotlib.lines import Line2D

    if example is None:
        ax.text(0.5, 0.5, "no probed positions", transform=ax.transAxes, ha="center", va="center", color="#666666")
        ax.set_title("(b) One response")
        return
    prompt_id, sample_id = example
    part = forks[(forks["prompt_id"] == prompt_id) & (forks["sample_id"] == sample_id)]
    line_label = []
    if token_entropy is not None:
        ax.plot(np.arange(len(token_entropy)), token_entropy, color="#999999", linewidth=0.7, zorder=1)
        line_label = ["entropy of every token"]
    elif len(part):
        line = part.groupby("position")["entropy"].first()
        ax.plot(line.index, line.to_numpy(), color="#bbbbbb", linewidth=0.8, linestyle=":", zorder=1)
        line_label = ["entropy at the probed tokens"]
    norm = mpl.colors.Normalize(0.0, 1.0)
    cmap = mpl.colormaps[CHANGED_CMAP]
    kinds = [k for k in KIND_MARKERS if (part["kind"] == k).any()]
    for kind in kinds:
        rows = part[part["kind"] == kind]
        ax.scatter(rows["position"], rows["entropy"], c=rows["changed"].to_numpy(dtype=np.float64), cmap=cmap,
                   norm=norm, marker=KIND_MARKERS[kind], s=70, edgecolors="black", linewidths=0.7, zorder=3)
    probed = part.drop_duplicates("position")
    if len(probed) > 8:  # label the ones that changed the answer most
        probed = probed.sort_values("changed", ascending=False, kind="stable").head(5)
    for _, r in probed.iterrows():
        ax.annotate(_token_label(str(r["token"])), (r["position"], r["entropy"]), textcoords="offset points",
                    xytext=(0, 8), ha="center", fontsize=8, zorder=4)
    bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02, fraction=0.05)
    bar.set_label("share of continuations whose answer changed", fontsize=9)
    top = max([float(np.max(token_entropy)) if token_entropy is not None and len(token_entropy) else 0.0]
              + part["entropy"].astype("float64").tolist() + [0.1])
    ax.set_ylim(-0.07 * top, top * 1.2)
    if token_entropy is not None and len(token_entropy):
        ax.set_xlim(-0.5, len(token_entropy) - 0.5)
    elif len(part) == 1 or (len(part) and part["position"].nunique() == 1):
        t = int(part["position"].iloc[0])
        ax.set_xlim(t - 5, t + 5)
    ax.set_xlabel("token position in the response")
    ax.set_ylabel("token entropy (nats)")
    ax.set_title(f"(b) One response: {prompt_id} #{sample_id}")
    # legend markers by shape only (white): their colour is the share changed
    handles = [Line2D([], [], color="#999999" if token_entropy is not None else "#bbbbbb", linewidth=0.8,
                      linestyle="-" if token_entropy is not None else ":")] if len(line_label) else []
    handles += [Line2D([], [], linestyle="", marker=KIND_MARKERS[k], markerfacecolor="white", markeredgecolor="black",
                       markersize=7) for k in kinds]
    ax.legend(handles, line_label + [KIND_LABELS[k] for k in kinds], loc="upper center", bbox_to_anchor=(0.5, -0.15),
              fontsize=8.5, frameon=False, ncol=2)


def example_entropy(rollouts, example: tuple[str, int] | None) -> np.ndarray | None:
    """The entropy of every token of ``example`` in ``rollouts`` (a rollout table), or None."""
    if rollouts is None or example is None:
        return None
    rows = rollouts[(rollouts["prompt_id"] == example[0]) & (rollouts["sample_id"] == example[1])]
    return np.asarray(rows["entropy"].iloc[0], dtype=np.float64) if len(rows) else None


def fork_figure(result, example: tuple[str, int] | None = None, *, rollouts=None):
    """The two-panel figure of a ``ForkResult`` (not saved); returns the matplotlib figure.

    ``example``: (prompt_id, sample_id) of the response of panel (b); by default
    :func:`choose_example`. ``rollouts``: the rollout table the positions came from
    (prompt_id, sample_id, entropy); with it panel (b) draws the entropy of every token of
    the example, without it a dotted line joins its probed tokens only."""
    forks = result.forks
    if example is None:
        example = choose_example(forks)
    fig, (ax, bx) = new_figure(12.5, 4.8, ncols=2, gridspec_kw={"width_ratios": [1, 1.35]})
    _scatter_panel(ax, forks, result.correlation or {})
    _strip_panel(fig, bx, forks, example, example_entropy(rollouts, example))
    k = int(forks["n_samples"].max()) if len(forks) else 0
    responses = len(forks.drop_duplicates(["prompt_id", "sample_id"])) if len(forks) else 0
    fig.suptitle("Fork probe: does resampling at a token change the final answer?\n"
                 f"K = {k} continuations at each of {len(forks):,} probed positions in {responses:,} responses",
                 fontsize=12, fontweight="bold")
    if getattr(result, "skipped", ""):
        fig.text(0.01, -0.02, result.skipped, fontsize=8, color="#666666")
    fig.tight_layout()
    return fig
