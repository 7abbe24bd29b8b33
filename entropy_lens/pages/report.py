"""One self-contained HTML page comparing two checkpoints (a base and an RL model).

``report_html(base, rl)`` returns the page; ``entropy_lens.outputs.write_report(base, rl, out_dir)`` writes it
to ``out_dir/report.html``. Sections, each built by one small function (entropy_lens.pages.report_sections for the
statistics, entropy_lens.pages.report_examples for rare sentences and heatmaps):

1. accuracy and response length (Wilson 95% CIs, n);
2. token-entropy distributions (figure and quantiles);
3. pivotal tokens (entropy_lens.analyses.pivotal): category table and figure for each checkpoint;
4. reflective sentences (entropy_lens.analyses.reflect);
5. rare behaviours (entropy_lens.analyses.rare): summary, and the rarest RL sentences with their
   nearest base sentences;
6. heatmaps of a few responses of each checkpoint to the same prompts.

Figures are embedded as ``data:`` images and the page carries a Content-Security-Policy
that blocks every fetch, so the file opens offline and can be sent as it is. The intervals
are those of entropy_lens.stats.
"""

from __future__ import annotations

from typing import Any

from entropy_lens.pages.html import escape, page
from entropy_lens.pages.report_context import Context, label
from entropy_lens.pages.report_examples import section_heatmaps, section_rare
from entropy_lens.pages.report_fork import section_fork
from entropy_lens.pages.report_sections import section_entropy, section_overview, section_pivotal, section_reflective
from entropy_lens.analyses.fork_stats import load_fork
from entropy_lens.rollouts.load import load_rollouts

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

# the page's sections in order: (anchor, heading, function of the Context returning HTML, or HTML and CSS)
SECTIONS = [
    ("accuracy", "Accuracy and response length", section_overview),
    ("entropy", "Token entropy", section_entropy),
    ("pivotal", "Pivotal tokens", section_pivotal),
    ("reflective", "Reflective sentences", section_reflective),
    ("rare", "Rare behaviours", section_rare),
    ("heatmaps", "Heatmaps", section_heatmaps),
]
FORK_SECTION = ("fork", "Forking tokens: does resampling change the answer?", section_fork)


def _load(table, name: str):
    checked = load_rollouts(table, source=f"{name} rollout table")
    return checked.frame, checked.skipped_note()


def report_html(base, rl, *, base_name: str = "base", rl_name: str = "rl", embedder: Any = None,
                cap_quantile: float = 0.95, heatmaps: int = 2, rare_top: int = 10, min_count: int = 20,
                rare_options: dict | None = None, title: str | None = None, fork: Any = None) -> str:
    """The comparison page of two rollout tables (DataFrames or rollout directories), as a str.

    ``embedder``: sentence-transformers model (path, id or object) for rare behaviours;
    ``heatmaps``: shared prompts shown as heatmaps; ``rare_top``: rare sentences listed;
    ``min_count``: occurrences a word needs to enter the highest-entropy word lists;
    ``rare_options``: further keyword arguments of ``entropy_lens.analyses.rare.rare`` (k, quantile);
    ``fork``: a fork result (``entropy_lens.fork``) or the output folder of ``entropy-lens fork``, for
    a section on the causal probe.
    """
    if base_name == rl_name:  # e.g. two folders both called "rollouts": keep them apart on the page
        base_name, rl_name = f"{base_name} (base)", f"{rl_name} (RL)"
    base_frame, base_skip = _load(base, base_name)
    rl_frame, rl_skip = _load(rl, rl_name)
    ctx = Context(base_frame, rl_frame, base_name, rl_name, {base_name: base_skip, rl_name: rl_skip},
                  cap_quantile=cap_quantile, heatmaps=heatmaps, rare_top=rare_top, min_count=min_count, embedder=embedder,
                  rare_options=dict(rare_options or {}), fork=None if fork is None else load_fork(fork))
    sections = SECTIONS + ([FORK_SECTION] if ctx.fork is not None else [])
    body, extra_css = [], [REPORT_CSS]
    for anchor, heading, build in sections:
        out = build(ctx)
        if isinstance(out, tuple):
            out, css = out
            extra_css.append(css)
        body.append(f"<section id=\"{anchor}\"><h2>{escape(heading)}</h2>{out}</section>")
    title = title or f"{base_name} vs {rl_name}: entropy report"
    toc = "".join(f"<li><a href=\"#{a}\">{escape(h)}</a></li>" for a, h, _ in sections)
    skipped = "".join(f"<p class=\"note\">{escape(name)}: {escape(note)}.</p>" for name, note in ctx.skipped.items() if note)
    head = (
        f"<h1>{escape(title)}</h1>"
        f"<p class=\"lead\">{label(base_name, 'base')} ({len(base_frame):,} responses, "
        f"{base_frame['prompt_id'].nunique():,} prompts) compared with {label(rl_name, 'rl')} "
        f"({len(rl_frame):,} responses, {rl_frame['prompt_id'].nunique():,} prompts). Entropies are exact "
        "full-vocabulary token entropies in nats (Cheng et al., <i>Reasoning with Exploration: An Entropy "
        "Perspective</i>, arXiv 2506.14758). Made by entropy-lens.</p>"
        + skipped + f"<nav class=\"toc\"><b>Contents</b><ol>{toc}</ol></nav>")
    return page(title, head + "".join(body), css="".join(extra_css))
