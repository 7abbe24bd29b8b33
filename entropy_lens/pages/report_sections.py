"""The statistics sections of the comparison report, one function each: accuracy and
length, token-entropy distributions, pivotal tokens, reflective sentences. Each takes the
report's :class:`~entropy_lens.pages.report_context.Context` and returns HTML."""

from __future__ import annotations

import math

import numpy as np

from entropy_lens.analyses.marks import all_token_entropies, mean_entropies
from entropy_lens.pages.html import escape, figure_html, fmt_ci, fmt_number, table_html
from entropy_lens.pages.report_context import Context, diff_cell, figure_per_table, label, metric_table, pair
from entropy_lens.plots.entropy import entropy_figure
from entropy_lens.plots.pivotal import pivotal_figure
from entropy_lens.plots.reflect import plot_reflect
from entropy_lens.plots.style import format_p
from entropy_lens.stats import mean_ci, mean_difference, newcombe_difference, wilson_interval


# -- 1. accuracy and length ---------------------------------------------------------------------

def overview_rows(ctx: Context):
    """One row per checkpoint: counts, accuracy, length, truncation, mean entropy (with CIs)."""
    import pandas as pd

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
        per_response = mean_entropies(frame)
        tokens = all_token_entropies(frame)
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
    means = [mean_entropies(f) for _, _, f in ctx.tables()]
    rows = [
        ("responses / prompts", f"{b['responses']:,} / {b['prompts']:,}", f"{r['responses']:,} / {r['prompts']:,}", ""),
        ("accuracy [95% Wilson CI]", acc(b), acc(r),
         pp(*newcombe_difference(b["correct"], b["graded"], r["correct"], r["graded"])) if b["graded"] and r["graded"] else "–"),
        ("response length, tokens: mean [95% CI]", f"<b>{b['length_mean']:.1f}</b> {fmt_ci(*b['length_ci'], digits=1)}",
         f"<b>{r['length_mean']:.1f}</b> {fmt_ci(*r['length_ci'], digits=1)}", num(*mean_difference(*lengths), 1)),
        ("response length: median / 90th percentile", f"{b['length_median']:.0f} / {b['length_p90']:.0f}",
         f"{r['length_median']:.0f} / {r['length_p90']:.0f}", ""),
        ("cut at the maximum length [95% CI]",
         f"{100 * b['truncated_share']:.1f}% {fmt_ci(*b['truncated_ci'], percent=True)} <span class=\"muted\">({b['truncated']:,})</span>",
         f"{100 * r['truncated_share']:.1f}% {fmt_ci(*r['truncated_ci'], percent=True)} <span class=\"muted\">({r['truncated']:,})</span>",
         pp(*newcombe_difference(b["truncated"], b["responses"], r["truncated"], r["responses"]))),
        ("mean token entropy, nats [95% CI]", f"<b>{b['entropy_mean']:.3f}</b> {fmt_ci(*b['entropy_ci'])}",
         f"<b>{r['entropy_mean']:.3f}</b> {fmt_ci(*r['entropy_ci'])}", num(*mean_difference(*means), 3)),
        ("tokens", f"{b['tokens']:,}", f"{r['tokens']:,}", ""),
    ]
    head = (f"<tr><th></th><th>{label(ctx.base_name, 'base')}</th><th>{label(ctx.rl_name, 'rl')}</th>"
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

def section_entropy(ctx: Context) -> str:
    import pandas as pd

    rows = []
    for name, _, frame in ctx.tables():
        tokens = all_token_entropies(frame)
        q = np.quantile(tokens, [0.5, 0.8, 0.95, 0.99])
        rows.append({"checkpoint": name, "tokens": len(tokens), "mean": tokens.mean(), "median": q[0], "p80": q[1],
                     "p95": q[2], "p99": q[3], "max": tokens.max(),
                     "share below 0.1 nats": f"{100 * float(np.mean(tokens < 0.1)):.1f}%"})
    return (
        "<p class=\"explain\">Entropy of the policy's next-token distribution at every response token, exact over "
        "the whole vocabulary, in nats. Most tokens are near-deterministic; exploration happens at the few "
        "high-entropy ones (the right tail). RL training usually lowers entropy: the RL curve sits left of the "
        "base curve.</p>"
        + figure_html(entropy_figure(ctx.tables()), alt="token entropy distributions",
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
            cells = [escape(str(category).replace("_", " ")), label(name, role)]
            numbers = [f"{int(row['n']):,}", f"<b>{fmt_number(row['mean'])}</b>", fmt_number(row["median"]),
                       f"{fmt_number(row['ordinary_mean'])} ({int(row['ordinary_n']):,})", diff_cell,
                       format_p(row["p_value"], missing="–"), fmt_number(row["effect_size"], 2), _share(row["forking_share"])]
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
        tops.append(f"<h3>{label(name, role)}: highest-entropy words (seen ≥ {result.min_count} times)</h3>"
                    + (table_html(top, columns={"word": "word", "category": "category", "count": "n",
                                                "mean": "mean entropy", "median": "median"})
                       if len(top) else "<p class=\"muted\">No word is frequent enough.</p>"))
    html += pair(*tops)
    html += figure_per_table(ctx, results, pivotal_figure, "pivotal words")
    return (
        "<p class=\"explain\">Pivotal words connect logical steps (causal: because, therefore; contrastive: however, "
        "although; sequential: first, then; reasoning verbs: suggest, show). A word's entropy is the entropy at "
        "the token where it starts. Each category is compared with ordinary words (all other words): difference "
        "of means with a bootstrap 95% CI (resampling responses), two-sided Mann-Whitney p-value, rank-biserial "
        "effect size, and the forking share: the share of the category's words whose entropy is in the top 20% of "
        "all token entropies of the table.</p>" + html)


# -- 4. reflective sentences ------------------------------------------------------------------------

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
            "reflective − other [95% bootstrap CI]": f"<b>{diff_cell(row)}</b>",
            "Mann-Whitney p-value": format_p(row["p_value"], missing="–"),
            "effect size (rank-biserial)": fmt_number(row["effect_size"], 2),
        }
        for k, v in values.items():
            cells.setdefault(k, []).append(v)
    return [(k, v[0], v[1]) for k, v in cells.items()]


def section_reflective(ctx: Context) -> str:
    from entropy_lens.analyses.reflect import reflect

    results = [ctx.cached(f"reflect:{role}", lambda frame=frame: reflect(frame)) for _, role, frame in ctx.tables()]
    html = metric_table(ctx, reflective_rows(results))
    html += figure_per_table(ctx, results, plot_reflect, "reflective sentences")
    return (
        "<p class=\"explain\">A sentence is reflective when it contains a reflection keyword (verify, check, "
        "double-check, confirm, reconsider, wait, “let me see”, “make sure”, mistake, …) as a whole word. "
        "Sentence entropy is the mean entropy of its tokens. Reflective sentences are compared with the other "
        "sentences: difference of means with a bootstrap 95% CI (resampling responses), Mann-Whitney p-value and "
        "rank-biserial effect size. Reflection frequency, reflective sentences per response, is a "
        "training-dynamics signal in the paper.</p>" + html)
