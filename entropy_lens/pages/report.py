"""One self-contained HTML page comparing two checkpoints (a base and an RL model).

``report_html(base, rl)`` returns the page; ``write_report(base, rl, out_dir)`` writes it
to ``out_dir/report.html``. Sections, each built by one small function below:

1. accuracy and response length (Wilson 95% CIs, n);
2. token-entropy distributions (figure and quantiles);
3. pivotal tokens (entropy_lens.pivotal): category table and figure for each checkpoint;
4. reflective sentences (entropy_lens.reflect);
5. rare behaviours (entropy_lens.rare): summary, and the rarest RL sentences with their
   nearest base sentences;
6. heatmaps of a few responses of each checkpoint to the same prompts.

Figures are embedded as ``data:`` images and the page carries a Content-Security-Policy
that blocks every fetch, so the file opens offline and can be sent as it is. A section
whose analysis module cannot be imported is replaced by a visible note.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from entropy_lens.errors import UserError
from entropy_lens.pages.html import escape, figure_html, fmt_ci, fmt_number, page, table_html
from entropy_lens.stats import mean_ci

REPORT_FILE = "report.html"

REPORT_CSS = """
.ckpt { font-weight: 700; white-space: nowrap; }
.ckpt.base { color: #0072B2; } .ckpt.rl { color: #D55E00; }
.pair h3 { margin-top: 4px; }
.rare-list { list-style: none; padding: 0; margin: 6px 0; display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 10px 16px; }
@media (max-width: 900px) { .rare-list { grid-template-columns: minmax(0, 1fr); } }
.rare-list > li { border: 1px solid var(--rule); border-radius: 6px; padding: 8px 12px; margin: 0; }
.rare-list .rl-sent { font-weight: 600; white-space: pre-wrap; overflow-wrap: anywhere; }
.rare-list .meta { font-size: 12.5px; color: var(--muted); margin: 2px 0 4px; }
.rare-list ol { margin: 2px 0 0; padding-left: 22px; font-size: 13.5px; color: #3a4048; }
.rare-list ol li { border: none; padding: 1px 0; margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.heat-pair { margin-bottom: 10px; }
.heat-pair h3 { font-size: 14.5px; }
table.overview th:first-child { background: none; font-weight: 600; color: #3a4048; white-space: normal; }
table.overview td.num { text-align: left; }
table.overview tbody th { background: none; }
"""


@dataclass
class Context:
    """What every section needs: the checked tables, names, shared settings, cached results."""

    base: Any  # pandas.DataFrame, checked
    rl: Any
    base_name: str
    rl_name: str
    skipped: dict[str, str]
    cap_quantile: float = 0.95
    heatmaps: int = 2
    rare_top: int = 10
    min_count: int = 20
    embedder: Any = None
    rare_options: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    def tables(self):
        return [(self.base_name, "base", self.base), (self.rl_name, "rl", self.rl)]

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.cache:
            self.cache[name] = make()
        return self.cache[name]


def _label(name: str, role: str) -> str:
    return f"<span class=\"ckpt {role}\">{escape(name)}</span>"


def _pair(left: str, right: str) -> str:
    return f"<div class=\"pair\"><div>{left}</div><div>{right}</div></div>"


# -- 1. accuracy and length ---------------------------------------------------------------------

def overview_rows(ctx: Context):
    """One row per checkpoint: counts, accuracy, length, truncation, mean entropy (with CIs)."""
    import pandas as pd

    from entropy_lens.analyses.summary import wilson_interval

    rows = []
    for name, _, frame in ctx.tables():
        graded = frame["correct"].dropna().astype(bool) if "correct" in frame else pd.Series([], dtype=bool)
        acc = float(graded.mean()) if len(graded) else math.nan
        acc_lo, acc_hi = wilson_interval(int(graded.sum()), len(graded))
        lengths = frame["entropy"].map(len).to_numpy()
        length_mean, length_lo, length_hi = mean_ci(lengths)
        finish = frame["finish_reason"] if "finish_reason" in frame else pd.Series([], dtype=object)
        truncated = int((finish == "length").sum())
        trunc_lo, trunc_hi = wilson_interval(truncated, len(finish))
        per_response = np.array([float(np.mean(e)) for e in frame["entropy"]])
        tokens = np.concatenate([np.asarray(e, dtype=np.float64) for e in frame["entropy"]])
        _, h_lo, h_hi = mean_ci(per_response)
        rows.append({
            "checkpoint": name, "responses": len(frame), "prompts": int(frame["prompt_id"].nunique()),
            "graded": len(graded), "correct": int(graded.sum()), "accuracy": acc, "accuracy_ci": (acc_lo, acc_hi),
            "length_mean": length_mean, "length_ci": (length_lo, length_hi), "length_median": float(np.median(lengths)),
            "length_p90": float(np.quantile(lengths, 0.9)), "truncated": truncated,
            "truncated_share": truncated / len(finish) if len(finish) else math.nan, "truncated_ci": (trunc_lo, trunc_hi),
            "tokens": len(tokens), "entropy_mean": float(tokens.mean()), "entropy_ci": (h_lo, h_hi),
        })
    return rows


def newcombe_difference(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """p2 - p1 and its 95% Newcombe (hybrid Wilson score) interval, independent samples."""
    from entropy_lens.analyses.summary import wilson_interval

    if n1 == 0 or n2 == 0:
        return math.nan, math.nan, math.nan
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def _mean_difference(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """mean(y) - mean(x) and its 95% normal (Welch) interval."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        return float(np.mean(y) - np.mean(x)) if len(x) and len(y) else math.nan, math.nan, math.nan
    d = float(y.mean() - x.mean())
    half = 1.96 * math.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
    return d, d - half, d + half


def section_overview(ctx: Context) -> str:
    """Metrics as rows, the two checkpoints side by side, and their difference with a CI."""
    b, r = overview_rows(ctx)

    def acc(x):
        if not x["graded"]:
            return "ungraded"
        return f"<b>{100 * x['accuracy']:.1f}%</b> {fmt_ci(*x['accuracy_ci'], percent=True)}<br><span class=\"muted\">{x['correct']:,} of {x['graded']:,} graded</span>"

    def pp(d, lo, hi):
        return "–" if math.isnan(d) else f"{100 * d:+.1f} pp [{100 * lo:+.1f}, {100 * hi:+.1f}]"

    def num(d, lo, hi, digits):
        return "–" if math.isnan(d) else f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"

    lengths = [f["entropy"].map(len).to_numpy() for _, _, f in ctx.tables()]
    means = [np.array([float(np.mean(e)) for e in f["entropy"]]) for _, _, f in ctx.tables()]
    rows = [
        ("responses / prompts", f"{b['responses']:,} / {b['prompts']:,}", f"{r['responses']:,} / {r['prompts']:,}", ""),
        ("accuracy [95% Wilson CI]", acc(b), acc(r),
         pp(*newcombe_difference(b["correct"], b["graded"], r["correct"], r["graded"])) if b["graded"] and r["graded"] else "–"),
        ("response length, tokens: mean [95% CI]", f"<b>{b['length_mean']:.1f}</b> {fmt_ci(*b['length_ci'], digits=1)}",
         f"<b>{r['length_mean']:.1f}</b> {fmt_ci(*r['length_ci'], digits=1)}", num(*_mean_difference(*lengths), 1)),
        ("response length: median / 90th percentile", f"{b['length_median']:.0f} / {b['length_p90']:.0f}",
         f"{r['length_median']:.0f} / {r['length_p90']:.0f}", ""),
        ("cut at the maximum length [95% CI]",
         f"{100 * b['truncated_share']:.1f}% {fmt_ci(*b['truncated_ci'], percent=True)} <span class=\"muted\">({b['truncated']:,})</span>",
         f"{100 * r['truncated_share']:.1f}% {fmt_ci(*r['truncated_ci'], percent=True)} <span class=\"muted\">({r['truncated']:,})</span>",
         pp(*newcombe_difference(b["truncated"], b["responses"], r["truncated"], r["responses"]))),
        ("mean token entropy, nats [95% CI]", f"<b>{b['entropy_mean']:.3f}</b> {fmt_ci(*b['entropy_ci'])}",
         f"<b>{r['entropy_mean']:.3f}</b> {fmt_ci(*r['entropy_ci'])}", num(*_mean_difference(*means), 3)),
        ("tokens", f"{b['tokens']:,}", f"{r['tokens']:,}", ""),
    ]
    head = (f"<tr><th></th><th>{_label(ctx.base_name, 'base')}</th><th>{_label(ctx.rl_name, 'rl')}</th>"
            f"<th>{escape(ctx.rl_name)} − {escape(ctx.base_name)} [95% CI]</th></tr>")
    body = "".join(f"<tr><th>{escape(m)}</th><td class=\"num\">{x}</td><td class=\"num\">{y}</td>"
                   f"<td class=\"num\">{d}</td></tr>" for m, x, y, d in rows)
    return (
        "<p class=\"explain\">Accuracy is the share of graded responses whose extracted answer matches the gold "
        "answer, with its Wilson 95% interval; differences of shares use Newcombe's hybrid score interval, "
        "differences of means a normal (Welch) interval. All intervals treat responses as independent: several "
        "samples of one prompt are correlated, so with few prompts the true uncertainty is larger. Length counts "
        "response tokens (EOS included when the model stopped). The mean token entropy is over all tokens, its CI "
        "over per-response means.</p>"
        f"<table class=\"data overview\"><thead>{head}</thead><tbody>{body}</tbody></table>")


# -- 2. entropy distributions --------------------------------------------------------------------

def entropy_figure(ctx: Context):
    """Token-entropy histogram (log density) and ECDF of per-response mean entropy."""
    from entropy_lens.plots.style import COLORS, new_figure

    fig, (left, right) = new_figure(10.5, 3.7, ncols=2)
    everything = np.concatenate([np.asarray(e, dtype=np.float64) for _, _, f in ctx.tables() for e in f["entropy"]])
    top = float(np.quantile(everything, 0.999)) if len(everything) else 1.0
    bins = np.linspace(0, max(top, 1e-6), 60)
    for name, role, frame in ctx.tables():
        tokens = np.concatenate([np.asarray(e, dtype=np.float64) for e in frame["entropy"]])
        left.hist(np.clip(tokens, 0, bins[-1]), bins=bins, density=True, histtype="step", linewidth=1.8,
                  color=COLORS[role], label=f"{name} (n = {len(tokens):,} tokens)")
        means = np.sort([float(np.mean(e)) for e in frame["entropy"]])
        right.step(means, np.arange(1, len(means) + 1) / len(means), where="post", color=COLORS[role], linewidth=1.8,
                   label=f"{name} (n = {len(means):,} responses)")
    left.set_yscale("log")
    left.set_xlabel("token entropy (nats; the last bin holds everything above the 99.9th percentile)")
    left.set_ylabel("density (log scale)")
    left.set_title("Token entropy")
    left.legend(frameon=False, fontsize=8.5)
    right.set_xlabel("mean token entropy of a response (nats)")
    right.set_ylabel("share of responses at or below")
    right.set_title("Per-response mean entropy (ECDF)")
    right.legend(frameon=False, fontsize=8.5, loc="lower right")
    fig.tight_layout()
    return fig


def section_entropy(ctx: Context) -> str:
    import pandas as pd

    rows = []
    for name, _, frame in ctx.tables():
        tokens = np.concatenate([np.asarray(e, dtype=np.float64) for e in frame["entropy"]])
        q = np.quantile(tokens, [0.5, 0.8, 0.95, 0.99])
        rows.append({"checkpoint": name, "tokens": len(tokens), "mean": tokens.mean(), "median": q[0], "p80": q[1],
                     "p95": q[2], "p99": q[3], "max": tokens.max(),
                     "share below 0.1 nats": f"{100 * float(np.mean(tokens < 0.1)):.1f}%"})
    return (
        "<p class=\"explain\">Entropy of the policy's next-token distribution at every response token, exact over "
        "the whole vocabulary, in nats. Most tokens are near-deterministic; exploration happens at the few "
        "high-entropy ones (the right tail). RL training usually lowers entropy: the RL curve sits left of the "
        "base curve.</p>"
        + figure_html(entropy_figure(ctx), alt="token entropy distributions",
                      caption="Left: distribution of token entropies (density on a log scale). Right: cumulative "
                              "distribution of each response's mean token entropy.")
        + table_html(pd.DataFrame(rows), caption="Token-entropy quantiles (nats)"))


# -- 3. pivotal tokens ---------------------------------------------------------------------------------

def _share(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.0f}%"


def pivotal_table(ctx: Context, results) -> str:
    """One row per (category, checkpoint): the two checkpoints next to each other."""
    head = ("<tr><th>category</th><th>checkpoint</th><th>n words</th><th>mean entropy</th><th>median</th>"
            "<th>ordinary words: mean (n)</th><th>difference [95% CI]</th><th>p-value</th><th>effect size</th>"
            "<th>forking share</th></tr>")
    body = []
    tables = [r.categories.set_index("category") for r in results]
    categories = list(dict.fromkeys(list(tables[0].index) + list(tables[1].index)))
    for category in categories:
        for (name, role, _), table in zip(ctx.tables(), tables):
            if category not in table.index:
                continue
            row = table.loc[category]
            diff = row["mean"] - row["ordinary_mean"]
            diff_cell = "–" if not np.isfinite(diff) else f"{diff:+.3f} {fmt_ci(row['diff_ci_low'], row['diff_ci_high'])}"
            cells = [escape(str(category).replace("_", " ")), _label(name, role)]
            numbers = [f"{int(row['n']):,}", f"<b>{fmt_number(row['mean'])}</b>", fmt_number(row["median"]),
                       f"{fmt_number(row['ordinary_mean'])} ({int(row['ordinary_n']):,})", diff_cell,
                       fmt_p(row["p_value"]), fmt_number(row["effect_size"], 2), _share(row["forking_share"])]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells)
                        + "".join(f"<td class=\"num\">{c}</td>" for c in numbers) + "</tr>")
    return f"<div class=\"table-wrap\"><table class=\"data\"><thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>"


def section_pivotal(ctx: Context) -> str:
    from entropy_lens.analyses.pivotal import pivotal

    results = [ctx.cached(f"pivotal:{role}", lambda frame=frame: pivotal(frame, min_count=ctx.min_count))
               for _, role, frame in ctx.tables()]
    html = pivotal_table(ctx, results)
    tops = []
    for (name, role, _), result in zip(ctx.tables(), results):
        top = result.top_words.head(10)
        tops.append(f"<h3>{_label(name, role)}: highest-entropy words (seen ≥ {result.min_count} times)</h3>"
                    + (table_html(top, columns={"word": "word", "category": "category", "count": "n",
                                                "mean": "mean entropy", "median": "median"})
                       if len(top) else "<p class=\"muted\">No word is frequent enough.</p>"))
    html += _pair(*tops)
    html += _figure_per_table(ctx, results, "pivotal", "pivotal words")
    return (
        "<p class=\"explain\">Pivotal words connect logical steps (causal: because, therefore; contrastive: however, "
        "although; sequential: first, then; reasoning verbs: suggest, show). A word's entropy is the entropy at "
        "the token where it starts. Each category is compared with ordinary words (all other words): difference "
        "of means with a bootstrap 95% CI (resampling responses), two-sided Mann-Whitney p-value, rank-biserial "
        "effect size, and the forking share: the share of the category's words whose entropy is in the top 20% of "
        "all token entropies of the table.</p>" + html)


FIGURES = {"pivotal": "pivotal_figure", "reflect": "plot_reflect", "rare": "rare_figure"}


def _figure_per_table(ctx, results, kind: str, what: str) -> str:
    """Each checkpoint's figure of one analysis (``results`` in the order of ``ctx.tables()``), headed by its name."""
    html = ""
    for (name, role, _), result in zip(ctx.tables(), results):
        figure = _optional_figure(kind, result)
        if figure is not None:
            html += f"<h3>{_label(name, role)}</h3>" + figure_html(figure, alt=f"{what} of {name}")
    return html


def _optional_figure(kind: str, result):
    """The analysis' own figure (a function of the result in entropy_lens.plots.<kind>); None
    when that module or function does not exist."""
    import importlib

    try:
        module = importlib.import_module(f"entropy_lens.plots.{kind}")
    except ImportError:
        return None
    make = getattr(module, FIGURES[kind], None)
    return make(result) if callable(make) else None


# -- 4. reflective sentences ------------------------------------------------------------------------

def fmt_p(p: float) -> str:
    """A p-value for a table: 2 significant digits, scientific below 1e-4."""
    if p is None or not np.isfinite(p):
        return "–"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _diff_cell(row) -> str:
    if not np.isfinite(row["diff"]):
        return "–"
    return f"{row['diff']:+.3f} {fmt_ci(row['diff_ci_low'], row['diff_ci_high'])}"


def _metric_table(ctx: Context, rows: list[tuple[str, str, str]]) -> str:
    """Metrics as rows, base and RL side by side (cells are already HTML)."""
    head = f"<tr><th></th><th>{_label(ctx.base_name, 'base')}</th><th>{_label(ctx.rl_name, 'rl')}</th></tr>"
    body = "".join(f"<tr><th>{escape(m)}</th><td class=\"num\">{b}</td><td class=\"num\">{r}</td></tr>"
                   for m, b, r in rows)
    return f"<table class=\"data overview\"><thead>{head}</thead><tbody>{body}</tbody></table>"


def reflective_rows(results) -> list[tuple[str, str, str]]:
    """Rows of the reflective comparison table from two ReflectResults (base, rl)."""
    cells: dict[str, list[str]] = {}
    for result in results:
        row = result.summary.iloc[0]
        n_all = int(row["n"]) + int(row["other_n"])
        low, high = result.frequency_ci
        values = {
            "reflective sentences / all sentences": f"{int(row['n']):,} / {n_all:,} ({100 * row['reflective_share']:.1f}%)",
            "reflective sentences per response [95% CI]": f"<b>{result.frequency:.2f}</b> {fmt_ci(low, high, digits=2)}",
            "responses with at least one reflection": (f"{int(row['responses_with_reflection']):,} of "
                                                       f"{int(row['responses']):,}"),
            "sentence entropy, reflective: mean / median (nats)": f"{fmt_number(row['mean'])} / {fmt_number(row['median'])}",
            "sentence entropy, other: mean / median (nats)": (f"{fmt_number(row['other_mean'])} / "
                                                               f"{fmt_number(row['other_median'])}"),
            "reflective − other [95% bootstrap CI]": f"<b>{_diff_cell(row)}</b>",
            "Mann-Whitney p-value": fmt_p(row["p_value"]),
            "effect size (rank-biserial)": fmt_number(row["effect_size"], 2),
        }
        for k, v in values.items():
            cells.setdefault(k, []).append(v)
    return [(k, v[0], v[1]) for k, v in cells.items()]


def section_reflective(ctx: Context) -> str:
    from entropy_lens.analyses.reflect import reflect

    results = [ctx.cached(f"reflect:{role}", lambda frame=frame: reflect(frame)) for _, role, frame in ctx.tables()]
    html = _metric_table(ctx, reflective_rows(results))
    html += _figure_per_table(ctx, results, "reflect", "reflective sentences")
    return (
        "<p class=\"explain\">A sentence is reflective when it contains a reflection keyword (verify, check, "
        "double-check, confirm, reconsider, wait, “let me see”, “make sure”, mistake, …) as a whole word. "
        "Sentence entropy is the mean entropy of its tokens. Reflective sentences are compared with the other "
        "sentences: difference of means with a bootstrap 95% CI (resampling responses), Mann-Whitney p-value and "
        "rank-biserial effect size. Reflection frequency, reflective sentences per response, is a "
        "training-dynamics signal in the paper.</p>" + html)


# -- 5. rare behaviours ----------------------------------------------------------------------------------

def section_rare(ctx: Context) -> str:
    from entropy_lens.analyses.rare import rare

    result = ctx.cached("rare", lambda: rare(ctx.base, ctx.rl, embedder=ctx.embedder, progress=False,
                                             **ctx.rare_options))
    row = result.summary.iloc[0]
    n_all = int(row["n"]) + int(row["other_n"])
    rho = "–" if not np.isfinite(row["spearman_rho"]) else f"{row['spearman_rho']:+.2f} (p = {fmt_p(row['spearman_p'])})"
    rows = [
        ("rare sentences / RL sentences", f"{int(row['n']):,} / {n_all:,} ({100 * row['rare_share']:.1f}%)"),
        ("rarity threshold (mean cosine distance)", f"{row['threshold']:.3f} (the {100 * row['quantile']:g}th percentile)"),
        ("sentence entropy, rare: mean / median (nats)", f"{fmt_number(row['mean'])} / {fmt_number(row['median'])}"),
        ("sentence entropy, other RL: mean / median (nats)",
         f"{fmt_number(row['other_mean'])} / {fmt_number(row['other_median'])}"),
        ("rare − other [95% bootstrap CI]", f"<b>{_diff_cell(row)}</b>"),
        ("Mann-Whitney p-value", fmt_p(row["p_value"])),
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
    figure = _optional_figure("rare", result)
    if figure is not None:
        html += figure_html(figure, alt="entropy of rare sentences")
    html += _rare_examples(result, ctx.rare_top)
    return (
        f"<p class=\"explain\">Every sentence of {_label(ctx.rl_name, 'rl')} is embedded (sentence-transformers, "
        f"unit vectors) and compared with the sentences of {_label(ctx.base_name, 'base')}: its rarity is the mean "
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
    from entropy_lens.pages.heatmap import all_token_entropies, entropy_cap, find_marks, heatmap_parts

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
    notes = "".join(f"<p class=\"note\">{escape(n)}</p>" for n in dict.fromkeys(base.notes + rl.notes))
    pairs = "".join(_pair(b, r) for b, r in zip(base.responses, rl.responses))
    rest = "".join(base.responses[len(rl.responses):] + rl.responses[len(base.responses):])
    choice = ("the prompts where the two checkpoints' accuracies differ most" if prompts
              else "the first responses of each table (no prompt is shared)")
    html = (
        f"<p class=\"explain\">Each token's background shows its entropy (one colour scale for both checkpoints). "
        f"Shown: {choice}, the first sample of each. Hover over a token for its exact entropy.</p>"
        + notes + base.legend + pairs + rest)
    return html, base.css


# -- the page ---------------------------------------------------------------------------------------------

SECTIONS = [
    ("accuracy", "Accuracy and response length", section_overview),
    ("entropy", "Token entropy", section_entropy),
    ("pivotal", "Pivotal tokens", section_pivotal),
    ("reflective", "Reflective sentences", section_reflective),
    ("rare", "Rare behaviours", section_rare),
    ("heatmaps", "Heatmaps", section_heatmaps),
]


def _load(table, name: str):
    from entropy_lens.rollouts.validate import check_rollouts

    if isinstance(table, (str, os.PathLike)):
        from entropy_lens.rollouts.store import read_rollouts

        table = read_rollouts(table)
    checked = check_rollouts(table, source=f"{name} rollout table")
    return checked.frame, checked.skipped_note()


def report_html(base, rl, *, base_name: str = "base", rl_name: str = "rl", embedder: Any = None,
                cap_quantile: float = 0.95, heatmaps: int = 2, rare_top: int = 10, min_count: int = 20,
                rare_options: dict | None = None, title: str | None = None) -> str:
    """The comparison page of two rollout tables (DataFrames or rollout directories), as a str.

    ``embedder``: sentence-transformers model (path, id or object) for rare behaviours;
    ``heatmaps``: shared prompts shown as heatmaps; ``rare_top``: rare sentences listed;
    ``min_count``: occurrences a word needs to enter the highest-entropy word lists;
    ``rare_options``: further keyword arguments of ``entropy_lens.rare.rare`` (k, quantile).
    """
    if base_name == rl_name:  # e.g. two folders both called "rollouts": keep them apart on the page
        base_name, rl_name = f"{base_name} (base)", f"{rl_name} (RL)"
    base_frame, base_skip = _load(base, base_name)
    rl_frame, rl_skip = _load(rl, rl_name)
    ctx = Context(base_frame, rl_frame, base_name, rl_name, {base_name: base_skip, rl_name: rl_skip},
                  cap_quantile=cap_quantile, heatmaps=heatmaps, rare_top=rare_top, min_count=min_count, embedder=embedder,
                  rare_options=dict(rare_options or {}))
    body, extra_css = [], [REPORT_CSS]
    for anchor, heading, build in SECTIONS:
        try:
            out = build(ctx)
        except ImportError as error:
            out = (f"<p class=\"note\">This section is missing: its analysis module is not available "
                   f"({escape(error)}).</p>")
        if isinstance(out, tuple):
            out, css = out
            extra_css.append(css)
        body.append(f"<section id=\"{anchor}\"><h2>{escape(heading)}</h2>{out}</section>")
    title = title or f"{base_name} vs {rl_name}: entropy report"
    toc = "".join(f"<li><a href=\"#{a}\">{escape(h)}</a></li>" for a, h, _ in SECTIONS)
    skipped = "".join(f"<p class=\"note\">{escape(name)}: {escape(note)}.</p>" for name, note in ctx.skipped.items() if note)
    head = (
        f"<h1>{escape(title)}</h1>"
        f"<p class=\"lead\">{_label(base_name, 'base')} ({len(base_frame):,} responses, "
        f"{base_frame['prompt_id'].nunique():,} prompts) compared with {_label(rl_name, 'rl')} "
        f"({len(rl_frame):,} responses, {rl_frame['prompt_id'].nunique():,} prompts). Entropies are exact "
        "full-vocabulary token entropies in nats (Cheng et al., <i>Reasoning with Exploration: An Entropy "
        "Perspective</i>, arXiv 2506.14758). Made by entropy-lens.</p>"
        + skipped + f"<nav class=\"toc\"><b>Contents</b><ol>{toc}</ol></nav>")
    return page(title, head + "".join(body), css="".join(extra_css))


def write_report(base, rl, out_dir: str | os.PathLike, **options: Any) -> Path:
    """Write ``report_html(base, rl, **options)`` to ``out_dir/report.html`` (the folder is
    created if needed; an existing report is never overwritten). Returns the file's path."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file, not a folder", "pass a folder for the report")
    target = out / REPORT_FILE
    if target.exists():
        raise UserError(f"{target} already exists and would be overwritten", "choose a new folder or delete the old report")
    text = report_html(base, rl, **options)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise UserError(f"{target} already exists and would be overwritten", "choose a new folder or delete the old report") from None
    return target
