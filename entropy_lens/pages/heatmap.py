"""Token-entropy heatmaps as a self-contained HTML page: every token of a response coloured
by its entropy.

``heatmap_html`` gives the page (no network: inline CSS, a Content-Security-Policy that
blocks every fetch, no scripts). Each response is shown as its text, each token's background
coloured by its entropy on the one colour scale of entropy_lens.plots.colors (white, then
magma from pale yellow to dark purple), capped at a quantile of all the table's token
entropies (default the 95th percentile) so a few outliers do not wash the rest out.
Hovering a token shows its text, position and exact entropy. Pivotal words (causal,
contrastive, sequential, reasoning verbs) are underlined in their category's colour and
reflective sentences are outlined (the marks: entropy_lens.analyses.marks).

``entropy_lens.outputs.write_heatmap`` picks HTML, or PNG / SVG (entropy_lens.plots.heatmap's figure of one
response), from the file suffix.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from entropy_lens.analyses.marks import (Marks, all_token_entropies, find_marks, response_key, select_rows,
                                         verdict)
from entropy_lens.pages.html import escape, page
from entropy_lens.plots.colors import COLOR_STOPS, entropy_cap, entropy_color, text_color
from entropy_lens.plots.pivotal import category_color
from entropy_lens.rollouts.load import as_frame, load_rollouts

SUFFIXES = (".html", ".png", ".svg")


# -- HTML ---------------------------------------------------------------------------------------

HEATMAP_CSS = """
.hm-legend { display: flex; flex-wrap: wrap; gap: 18px 40px; align-items: flex-start; background: var(--panel);
             border: 1px solid var(--rule); border-radius: 6px; padding: 12px 18px 10px; margin: 12px 0 18px; }
.hm-scale { width: 340px; }
.hm-scale .title, .hm-keys .title { font-size: 12.5px; font-weight: 600; margin-bottom: 4px; }
.hm-bar { height: 14px; border-radius: 2px; border: 1px solid #c7ccd2; }
.hm-ticks { position: relative; height: 18px; font-size: 11.5px; color: var(--muted); font-variant-numeric: tabular-nums; }
.hm-ticks span { position: absolute; top: 1px; transform: translateX(-50%); white-space: nowrap; }
.hm-ticks span::before { content: ""; position: absolute; left: 50%; top: -4px; height: 4px; border-left: 1px solid #888; }
.hm-ticks span.first { transform: none; } .hm-ticks span.first::before { left: 0; }
.hm-ticks span.last { transform: translateX(-100%); } .hm-ticks span.last::before { left: auto; right: 0; }
.hm-keys { font-size: 13px; line-height: 1.9; }
.hm-keys .key { margin-right: 14px; white-space: nowrap; }
.hm-capnote { font-size: 12.5px; color: var(--muted); flex-basis: 100%; margin: 0; }
.resp { border: 1px solid var(--rule); border-radius: 8px; margin: 0 0 22px; overflow: hidden; }
.resp-head { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: baseline; padding: 8px 14px;
             background: var(--panel); border-bottom: 1px solid var(--rule); font-size: 13.5px; }
.resp-head .rid { font-weight: 700; font-size: 15px; }
.resp-head .stat { color: #3a4048; font-variant-numeric: tabular-nums; }
.tag.ok { background: #1a7f37; } .tag.bad { background: #c0392b; } .tag.na { background: #8a939c; }
.prompt { padding: 8px 14px; border-bottom: 1px dashed var(--rule); color: #3a4048; font-size: 13.5px;
          white-space: pre-wrap; overflow-wrap: anywhere; max-height: 9.5em; overflow-y: auto; }
.prompt .label, .answer .label { font-weight: 600; color: var(--muted); margin-right: 6px; }
.answer { padding: 6px 14px; border-top: 1px dashed var(--rule); font-size: 13px; color: #3a4048; }
.tokens { padding: 12px 14px 14px; white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.95;
          font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13.5px; }
.t { border-radius: 2px; padding: 1px 0; }
.t.e { display: inline-block; width: 0.4em; height: 1.05em; vertical-align: -0.15em; margin: 0 1px;
       border: 1px solid rgba(0,0,0,0.18); }
.t:hover { outline: 2px solid #0b4f8a; outline-offset: 0; position: relative; z-index: 1; }
.pv { text-decoration-line: underline; text-decoration-thickness: 3px; text-underline-offset: 4px;
      text-decoration-skip-ink: none; font-weight: 700; }
.rf { box-shadow: 0 0 0 2px #E69F00; border-radius: 3px; -webkit-box-decoration-break: clone;
      box-decoration-break: clone; padding: 2px 1px; }
.key .swatch { display: inline-block; width: 26px; height: 12px; vertical-align: -1px; margin-right: 5px; }
"""


def _css_class(category: str) -> str:
    return "pv-" + re.sub(r"[^a-z0-9_-]", "-", category.lower())


def _category_css(categories: Iterable[str]) -> str:
    categories = list(categories)
    return "".join(f".{_css_class(c)} {{ text-decoration-color: {category_color(c, categories)}; }}\n" for c in categories)


def _visible(text: str) -> str:
    """Token text for a tooltip: quoted, with newlines and tabs written as \\n and \\t."""
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


def legend_html(cap: float, quantile: float, n_tokens: int, above: float, max_entropy: float,
                categories: Sequence[str] = (), reflective: bool = False) -> str:
    """The colour bar with tick values, the cap stated in words, and the keys of the marks."""
    stops = ", ".join(f"{c} {100 * i / (len(COLOR_STOPS) - 1):.0f}%" for i, c in enumerate(COLOR_STOPS))
    ticks = []
    for j, frac in enumerate(np.linspace(0, 1, 5)):
        label = f"{frac * cap:.2f}" if j < 4 else f"≥ {cap:.2f}"
        cls = " class=\"first\"" if j == 0 else (" class=\"last\"" if j == 4 else "")
        ticks.append(f"<span{cls} style=\"left:{100 * frac:.0f}%\">{label}</span>")
    keys = []
    for c in categories:
        keys.append(f"<span class=\"key\"><span class=\"pv {_css_class(c)}\" style=\"font-weight:600\">"
                    f"{escape(c.replace('_', ' '))}</span></span>")
    if reflective:
        keys.append("<span class=\"key\"><span class=\"rf\">reflective sentence</span></span>")
    keys.append("<span class=\"key\"><span class=\"t e\" style=\"background:#fed799\"></span> token without text "
                "(special token or part of a character)</span>")
    keys_html = ("<div class=\"hm-keys\"><div class=\"title\">Marks</div>"
                 + (("Pivotal words, underlined by category: " + " ".join(keys[: len(categories)]) + "<br>")
                    if categories else "") + " ".join(keys[len(categories):]) + "</div>")
    pct = f"{100 * quantile:g}"
    note = (f"<p class=\"hm-capnote\">Colour = token entropy in nats, capped at the {pct}th percentile of all "
            f"{n_tokens:,} token entropies in the table: <b>{cap:.3f} nats</b>. Tokens above the cap "
            f"({100 * above:.1f}% of them; the largest is {max_entropy:.3f} nats) share the darkest colour. "
            "Hover over a token for its text, position and exact entropy.</p>")
    return (f"<div class=\"hm-legend\"><div class=\"hm-scale\"><div class=\"title\">Token entropy (nats)</div>"
            f"<div class=\"hm-bar\" style=\"background:linear-gradient(to right, {stops})\"></div>"
            f"<div class=\"hm-ticks\">{''.join(ticks)}</div></div>{keys_html}{note}</div>")


def _text_or_none(value):
    """None for missing values (None or pandas' NaN), else the value: never shows 'nan'."""
    return None if value is None or (isinstance(value, float) and value != value) else value


def response_html(row, cap: float, *, pivotal: dict[int, tuple[str, str]] | None = None,
                  reflective: Sequence[tuple[int, int, float, str]] = (), heading: str | None = None,
                  id_prefix: str = "") -> str:
    """One response: header (ids, correctness, length, mean entropy), prompt, coloured tokens.
    The section's element id is ``r-<id_prefix><prompt_id>-<sample_id>`` (unsafe characters
    of the prompt id replaced by ``_``)."""
    response: str = row.response
    offsets = [(int(a), int(b)) for a, b in row.offsets]
    entropy = np.asarray(row.entropy, dtype=np.float64)
    pivotal = pivotal or {}
    opens = {r[0]: r for r in reflective}
    closes = {r[1] - 1 for r in reflective}
    in_reflective = np.zeros(len(offsets), dtype=object)
    for r in reflective:
        for i in range(r[0], min(r[1], len(offsets))):
            in_reflective[i] = r
    parts: list[str] = []
    pos = 0
    for i, ((a, b), h) in enumerate(zip(offsets, entropy)):
        a, b = max(a, pos), min(b, len(response))
        if i in opens:
            _, _, mean_h, sentence = opens[i]
            if a > pos:  # text no token covers goes outside the wrapper
                parts.append(escape(response[pos:a]))
                pos = a
            parts.append(f"<span class=\"rf\" title=\"reflective sentence: mean entropy {mean_h:.4f} nats\">")
        if a > pos:
            parts.append(escape(response[pos:a]))
        text = response[a:b] if b > a else ""
        color = entropy_color(h, cap)
        classes = "t" if text else "t e"
        title = f"token {i}: {_visible(text) if text else '(no text)'} · H = {h:.4f} nats"
        if i in pivotal:
            category, word = pivotal[i]
            classes += f" pv {_css_class(category)}"
            title += f" · pivotal: {category.replace('_', ' ')} ({word})"
        if in_reflective[i]:
            title += f" · in a reflective sentence (mean H = {in_reflective[i][2]:.4f} nats)"
        style = f"background:{color}" + ("" if text_color(color) == "#000000" else ";color:#fff")
        parts.append(f"<span class=\"{classes}\" style=\"{style}\" title=\"{escape(title)}\">{escape(text)}</span>")
        pos = max(pos, b)
        if i in closes:
            parts.append("</span>")
    parts.append(escape(response[pos:]))
    graded = verdict(getattr(row, "correct", None))
    tag = f"<span class=\"tag {dict(correct='ok', incorrect='bad', ungraded='na')[graded]}\">{graded}</span>"
    finish = getattr(row, "finish_reason", None)
    mean_h = float(entropy.mean()) if len(entropy) else math.nan
    heading = heading or f"{row.prompt_id} · sample {row.sample_id}"
    head = (f"<div class=\"resp-head\"><span class=\"rid\">{escape(heading)}</span>{tag}"
            f"<span class=\"stat\">{len(offsets):,} tokens · {len(response):,} characters</span>"
            f"<span class=\"stat\">mean entropy {mean_h:.3f} nats · max {entropy.max() if len(entropy) else math.nan:.3f}</span>"
            + (f"<span class=\"stat\">finish: {escape(finish)}</span>" if finish is not None else "") + "</div>")
    prompt = getattr(row, "prompt", None)
    prompt_html = f"<div class=\"prompt\"><span class=\"label\">Prompt</span>{escape(prompt)}</div>" if prompt else ""
    answer, extracted = _text_or_none(getattr(row, "answer", None)), _text_or_none(getattr(row, "extracted", None))
    answer_html = ""
    if answer is not None or extracted is not None:
        answer_html = (f"<div class=\"answer\"><span class=\"label\">Gold answer</span>{escape(answer) or '–'}"
                       f" &nbsp; <span class=\"label\">Extracted</span>{escape(extracted) or '–'}</div>")
    anchor = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{id_prefix}{row.prompt_id}")
    return (f"<section class=\"resp\" id=\"r-{anchor}-{int(row.sample_id)}\">{head}{prompt_html}"
            f"<div class=\"tokens\">{''.join(parts)}</div>{answer_html}</section>")


@dataclass
class HeatmapParts:
    """What a page needs to show heatmaps: legend, responses, CSS."""

    legend: str
    responses: list[str]
    css: str
    cap: float


def heatmap_parts(frame, rows: Sequence[int], *, cap: float, cap_quantile: float, all_entropies: np.ndarray,
                  marks: Marks | None = None, headings: Sequence[str] | None = None, id_prefix: str = "") -> HeatmapParts:
    """Legend and response sections for ``rows`` of ``frame`` (already checked)."""
    marks = marks or Marks()
    sub = frame.iloc[list(rows)]
    responses = []
    for j, row in enumerate(sub.itertuples(index=False)):
        key = response_key(row.prompt_id, row.sample_id)
        responses.append(response_html(row, cap, pivotal=marks.pivotal.get(key), reflective=marks.reflective.get(key, ()),
                                       heading=headings[j] if headings else None, id_prefix=id_prefix))
    above = float(np.mean(all_entropies > cap)) if len(all_entropies) else 0.0
    max_h = float(np.max(all_entropies)) if len(all_entropies) else 0.0
    legend = legend_html(cap, cap_quantile, len(all_entropies), above, max_h, marks.categories,
                         reflective=marks.reflective_shown)
    return HeatmapParts(legend, responses, HEATMAP_CSS + _category_css(marks.categories), cap)


def heatmap_html(rollouts, *, select: Sequence[tuple[Any, int]] | None = None, top: int | None = None,
                 cap_quantile: float = 0.95, pivotal: bool = True, reflective: bool = True,
                 title: str = "Token entropy heatmap") -> str:
    """A self-contained HTML page of token-entropy heatmaps (see module docstring).

    ``select``: (prompt_id, sample_id) pairs to show, in order; ``top``: the N responses with
    the highest mean token entropy; neither: the top 5. The colour scale runs from 0 to the
    ``cap_quantile`` of all token entropies of the table (nats). Returns the page as a str.
    """
    original = as_frame(rollouts)
    checked = load_rollouts(original)
    frame = checked.frame
    rows = select_rows(frame, select, top, original=original)
    entropies = all_token_entropies(frame)
    cap = entropy_cap(entropies, cap_quantile)
    marks = find_marks(frame.iloc[rows].reset_index(drop=True), pivotal=pivotal, reflective=reflective)
    parts = heatmap_parts(frame, rows, cap=cap, cap_quantile=cap_quantile, all_entropies=entropies, marks=marks)
    if select is not None:
        chosen = f"{len(rows)} selected response{'s' * (len(rows) != 1)}"
    else:
        chosen = (f"the {len(rows)} response{'s' * (len(rows) != 1)} with the highest mean token entropy")
    lead = (f"{chosen}, of {len(frame):,} responses to {frame['prompt_id'].nunique():,} prompts "
            f"({len(entropies):,} tokens).")
    notes = [_sentence_case(checked.skipped_note()) + "."] if checked.skipped else []
    body = (f"<h1>{escape(title)}</h1><p class=\"lead\">{escape(lead[0].upper() + lead[1:])}</p>"
            + "".join(f"<p class=\"note\">{escape(n)}</p>" for n in notes)
            + parts.legend + "".join(parts.responses))
    return page(title, body, css=parts.css)


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]
