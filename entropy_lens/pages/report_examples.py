"""The sections of the comparison report that show examples: the rare behaviours of the RL
checkpoint (with the nearest base sentences of the rarest) and heatmaps of both
checkpoints' responses to the same prompts."""

from __future__ import annotations

import numpy as np

from entropy_lens.analyses.marks import all_token_entropies, find_marks
from entropy_lens.pages.heatmap import heatmap_parts
from entropy_lens.pages.html import escape, figure_html, fmt_number
from entropy_lens.pages.report_context import Context, diff_cell, label, pair
from entropy_lens.plots.colors import entropy_cap
from entropy_lens.plots.rare import rare_figure
from entropy_lens.plots.style import format_p, p_equals


# -- 5. rare behaviours ----------------------------------------------------------------------------------

def section_rare(ctx: Context) -> str:
    from entropy_lens.analyses.rare import rare

    result = ctx.cached("rare", lambda: rare(ctx.base, ctx.rl, embedder=ctx.embedder, progress=False,
                                             **ctx.rare_options))
    row = result.summary.iloc[0]
    n_all = int(row["n"]) + int(row["other_n"])
    rho = "–" if not np.isfinite(row["spearman_rho"]) else f"{row['spearman_rho']:+.2f} ({p_equals(row['spearman_p'])})"
    rows = [
        ("rare sentences / RL sentences", f"{int(row['n']):,} / {n_all:,} ({100 * row['rare_share']:.1f}%)"),
        ("rarity threshold (mean cosine distance)", f"{row['threshold']:.3f} (the {100 * row['quantile']:g}th percentile)"),
        ("sentence entropy, rare: mean / median (nats)", f"{fmt_number(row['mean'])} / {fmt_number(row['median'])}"),
        ("sentence entropy, other RL: mean / median (nats)",
         f"{fmt_number(row['other_mean'])} / {fmt_number(row['other_median'])}"),
        ("rare − other [95% bootstrap CI]", f"<b>{diff_cell(row)}</b>"),
        ("Mann-Whitney p-value", format_p(row["p_value"], missing="–")),
        ("effect size (rank-biserial)", fmt_number(row["effect_size"], 2)),
        ("Spearman correlation of rarity with entropy", rho),
        ("neighbours k / base sentences", f"{int(row['k'])} / {int(row['base_sentences']):,}"
                                          + (" (same prompt only)" if bool(row["same_prompt"]) else "")),
        ("embedding model", escape(row["embedder"])),
    ]
    body = "".join(f"<tr><th>{escape(m)}</th><td class=\"num\">{v}</td></tr>" for m, v in rows)
    html = f"<table class=\"data overview\"><tbody>{body}</tbody></table>"
    if result.skipped:
        html += f"<p class=\"note\">{escape(result.skipped)}</p>"
    html += figure_html(rare_figure(result), alt="entropy of rare sentences")
    html += _rare_examples(result, ctx.rare_top)
    return (
        f"<p class=\"explain\">Every sentence of {label(ctx.rl_name, 'rl')} is embedded (sentence-transformers, "
        f"unit vectors) and compared with the sentences of {label(ctx.base_name, 'base')}: its rarity is the mean "
        f"cosine distance to its {int(row['k'])} nearest base sentences. The top {100 * (1 - row['quantile']):.0f}% "
        "by rarity are “rare behaviours”: things the RL model says that the base model does not. Their entropy "
        "(mean over their tokens) is compared with the other RL sentences, resampling responses for the CI.</p>"
        + html)


def _rare_examples(result, top: int) -> str:
    """The ``top`` rarest RL sentences, each with its nearest base sentences."""
    sentences = result.sentences
    sentences = sentences[sentences["rare"].astype(bool)].sort_values("distance", ascending=False, kind="stable")
    items = []
    for row in sentences.head(top).to_dict("records"):
        meta = (f"{escape(row['prompt_id'])} · sample {int(row['sample_id'])} · rarity (mean distance) "
                f"{row['distance']:.3f} · mean entropy {row['mean_entropy']:.3f} nats")
        near = []
        j = 1
        while f"neighbor_{j}" in row:
            similarity = row.get(f"neighbor_{j}_similarity")
            distance = "" if similarity is None else f" <span class=\"muted\">(distance {max(0.0, 1 - similarity):.3f})</span>"
            near.append(f"<li>{escape(row[f'neighbor_{j}'])}{distance}</li>")
            j += 1
        items.append(f"<li><div class=\"rl-sent\">{escape(row['sentence'])}</div><div class=\"meta\">{meta}</div>"
                     + (f"<div class=\"muted\">nearest base sentences:</div><ol>{''.join(near)}</ol>" if near else "")
                     + "</li>")
    if not items:
        return "<p class=\"muted\">No rare sentences.</p>"
    return (f"<h3>The {len(items)} rarest RL sentences and their nearest base sentences</h3>"
            f"<ul class=\"rare-list\">{''.join(items)}</ul>")


# -- 6. heatmaps ------------------------------------------------------------------------------------------

def heatmap_prompts(ctx: Context) -> list[str]:
    """Prompts shown as heatmaps: shared prompts, those where the accuracies of the two
    checkpoints differ most first (then by prompt id)."""
    shared = sorted(set(map(str, ctx.base["prompt_id"])) & set(map(str, ctx.rl["prompt_id"])))

    def accuracy(frame) -> dict[str, float]:
        if "correct" not in frame:
            return {}
        graded = frame.dropna(subset=["correct"])
        return graded.groupby(graded["prompt_id"].astype(str))["correct"].mean().astype(float).to_dict()

    a, b = accuracy(ctx.base), accuracy(ctx.rl)
    return sorted(shared, key=lambda p: (-abs(b.get(p, 0.0) - a.get(p, 0.0)), p))[: ctx.heatmaps]


def section_heatmaps(ctx: Context) -> tuple[str, str]:
    entropies = np.concatenate([all_token_entropies(ctx.base), all_token_entropies(ctx.rl)])
    cap = entropy_cap(entropies, ctx.cap_quantile)
    prompts = heatmap_prompts(ctx)
    parts = {}
    for name, role, frame in ctx.tables():
        rows = []
        for p in prompts:
            match = np.flatnonzero(frame["prompt_id"].astype(str).to_numpy() == p)
            if len(match):
                rows.append(int(match[np.argmin(frame["sample_id"].to_numpy()[match])]))
        if not prompts:  # no shared prompt: each checkpoint's first responses
            rows = list(range(min(ctx.heatmaps, len(frame))))
        marks = find_marks(frame.iloc[rows].reset_index(drop=True))  # only the rows shown
        parts[role] = heatmap_parts(frame, rows, cap=cap, cap_quantile=ctx.cap_quantile, all_entropies=entropies,
                                    marks=marks, id_prefix=f"{role}-", headings=[f"{name}: {frame['prompt_id'].iloc[i]} · sample "
                                                           f"{frame['sample_id'].iloc[i]}" for i in rows])
    base, rl = parts["base"], parts["rl"]
    pairs = "".join(pair(b, r) for b, r in zip(base.responses, rl.responses))
    rest = "".join(base.responses[len(rl.responses):] + rl.responses[len(base.responses):])
    choice = ("the prompts where the two checkpoints' accuracies differ most" if prompts
              else "the first responses of each table (no prompt is shared)")
    html = (
        f"<p class=\"explain\">Each token's background shows its entropy (one colour scale for both checkpoints). "
        f"Shown: {choice}, the first sample of each. Hover over a token for its exact entropy.</p>"
        + base.legend + pairs + rest)
    return html, base.css
