"""The report's optional section on the fork probe (``entropy-lens fork``): how often
resampling at a token changes the final answer, by kind of token, with the figure."""

from __future__ import annotations

import math

from entropy_lens.pages.html import escape, figure_html, fmt_ci
from entropy_lens.pages.report_context import Context
from entropy_lens.plots.style import format_p

KIND_NAMES = {"high": "high entropy (top 10%)", "low": "low entropy (lower half, matched)",
              "pivotal": "pivotal words", "high-low": "high − low", "pivotal-low": "pivotal − low"}


def _cell(mean: float, low: float, high: float) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.3f} {fmt_ci(low, high)}" if math.isfinite(low) else f"{mean:.3f}"


def section_fork(ctx: Context) -> str:
    from entropy_lens.plots.fork import fork_figure

    result = ctx.fork
    summary = result.summary
    rows = []
    for _, r in summary[summary["row"] == "kind"].iterrows():
        rows.append(f"<tr><th>{escape(KIND_NAMES.get(r['kind'], r['kind']))}</th><td class=\"num\">{int(r['positions'])}</td>"
                    f"<td class=\"num\">{int(r['responses'])}</td><td class=\"num\">{r['mean_entropy']:.3f}</td>"
                    f"<td class=\"num\">{_cell(r['mean_changed'], r['changed_ci_low'], r['changed_ci_high'])}</td>"
                    f"<td class=\"num\">{_cell(r['mean_answer_entropy'], r['answer_entropy_ci_low'], r['answer_entropy_ci_high'])}</td>"
                    "<td></td></tr>")
    for _, r in summary[summary["row"] == "comparison"].iterrows():
        changed = _cell(r["diff_changed"], r["diff_changed_ci_low"], r["diff_changed_ci_high"])
        rows.append(f"<tr><th>{escape(KIND_NAMES.get(r['kind'], r['kind']))}</th><td></td><td></td><td></td>"
                    f"<td class=\"num\"><b>{changed}</b></td>"
                    f"<td class=\"num\">{_cell(r['diff_answer_entropy'], r['diff_answer_entropy_ci_low'], r['diff_answer_entropy_ci_high'])}</td>"
                    f"<td class=\"num\">p {format_p(r['p_changed'])}, effect {r['effect_changed']:+.2f}</td></tr>")
    head = ("<tr><th>kind</th><th>positions</th><th>responses</th><th>mean entropy (nats)</th>"
            "<th>answer changed [95% CI]</th><th>answer entropy (nats) [95% CI]</th><th>test (changed)</th></tr>")
    table = f"<table class=\"data\"><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    corr = result.correlation
    rho = (f"Spearman ρ between token entropy and the share changed: {corr['rho']:+.2f} (p {format_p(corr['p_value'])}, "
           f"{corr['n']} positions)." if math.isfinite(corr.get("rho", math.nan)) else "")
    settings = result.settings
    explain = (
        "<p class=\"explain\">A causal probe: at chosen token positions of real responses, "
        f"{escape(settings.get('samples', 'K'))} continuations were sampled from the prompt and the response up to "
        "that token (the token itself resampled, with the rollouts' sampling settings) and graded. <i>Answer "
        "changed</i> is the share of continuations whose final answer differs from the response's own; <i>answer "
        "entropy</i> is the entropy of the continuations' final answers. Intervals resample responses; p-values "
        f"are two-sided Mann-Whitney, effect sizes rank-biserial. {escape(rho)}</p>")
    figure = figure_html(fork_figure(result, rollouts=result.responses), alt="fork probe")
    return explain + table + figure
