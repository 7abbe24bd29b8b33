"""Token-entropy heatmaps: every token of a response coloured by its entropy.

``heatmap_html`` gives a self-contained HTML page (no network: inline CSS, a
Content-Security-Policy that blocks every fetch, no scripts). Each response is shown as its
text, each token's background coloured by its entropy on a perceptual sequential scale
(white, then magma from pale yellow to dark purple), capped at a quantile of all the table's
token entropies (default the 95th percentile) so a few outliers do not wash the rest out.
Hovering a token shows its text, position and exact entropy. Pivotal words (causal,
contrastive, sequential, reasoning verbs) are underlined in their category's colour and
reflective sentences are outlined.

``heatmap_figure`` draws one response with matplotlib for papers (PNG or SVG);
``write_heatmap`` picks HTML / PNG / SVG from the file suffix.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from entropy_lens.errors import UserError
from entropy_lens.pages.html import escape, page

# magma_r sampled at 0 .. 0.85 (the darkest 15% would make text unreadable), with the first
# stop pure white so low-entropy text looks like ordinary text. Lightness falls monotonically.
COLOR_STOPS = ("#ffffff", "#fed799", "#feae77", "#fb8560", "#ef5d5e", "#d5446d",
               "#b2357b", "#8e2a81", "#6b1d81", "#4a1079", "#251255")
DEFAULT_TOP = 5
SUFFIXES = (".html", ".png", ".svg")
REFLECTIVE_COLOR = "#E69F00"
_STOP_RGB = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in COLOR_STOPS], dtype=np.float64)


# -- colour scale ------------------------------------------------------------------------------

def entropy_rgb(entropy: float | np.ndarray, cap: float) -> np.ndarray:
    """RGB (0-255 floats, shape (..., 3)) of ``entropy`` on the scale 0 .. ``cap`` (clipped)."""
    t = np.clip(np.asarray(entropy, dtype=np.float64) / cap, 0.0, 1.0) * (len(COLOR_STOPS) - 1)
    t = np.nan_to_num(t, nan=0.0)
    i = np.minimum(np.floor(t).astype(int), len(COLOR_STOPS) - 2)
    f = (t - i)[..., None]
    return _STOP_RGB[i] * (1 - f) + _STOP_RGB[i + 1] * f


def entropy_color(entropy: float, cap: float) -> str:
    """``#rrggbb`` of one entropy value (nats) on the scale capped at ``cap``."""
    r, g, b = np.round(entropy_rgb(entropy, cap)).astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


def relative_luminance(hex_color: str) -> float:
    """WCAG relative luminance of ``#rrggbb`` (0 black .. 1 white)."""
    channels = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_color(hex_background: str) -> str:
    """Black or white text, whichever contrasts more with the background."""
    lum = relative_luminance(hex_background)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def entropy_cap(entropies: np.ndarray, quantile: float) -> float:
    """The colour scale's top: the ``quantile`` of ``entropies`` (nats); never 0."""
    if not 0 < quantile <= 1:
        raise UserError(f"cap_quantile {quantile} is outside (0, 1]", "pass a quantile such as 0.95")
    if len(entropies) == 0:
        return 1.0
    cap = float(np.quantile(entropies, quantile))
    if not cap > 0:
        cap = float(np.max(entropies))
    return cap if cap > 0 else 1.0


# -- inputs --------------------------------------------------------------------------------------

def _as_frame(rollouts):
    """A rollout DataFrame from a DataFrame or a rollout directory path."""
    if isinstance(rollouts, (str, os.PathLike)):
        from entropy_lens.rollouts.store import read_rollouts

        return read_rollouts(rollouts)
    return rollouts


def _checked(rollouts, source: str = "rollout table"):
    from entropy_lens.rollouts.validate import check_rollouts

    return check_rollouts(_as_frame(rollouts), source=source)


def _key(prompt_id: Any, sample_id: Any) -> tuple[str, int]:
    try:
        return str(prompt_id), int(sample_id)
    except (TypeError, ValueError):
        raise UserError(f"sample_id {sample_id!r} is not an integer", "pass (prompt_id, sample_id) pairs such as ('p0', 0)") from None


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA (an ungraded ``correct``)."""
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def verdict(correct: Any) -> str:
    """'correct', 'incorrect' or 'ungraded'."""
    return "ungraded" if is_missing(correct) else ("correct" if bool(correct) else "incorrect")


def mean_entropies(frame) -> np.ndarray:
    """Mean token entropy of each row (nats)."""
    return np.array([float(np.mean(e)) if len(e) else math.nan for e in frame["entropy"]])


def select_rows(frame, select: Sequence[tuple[Any, int]] | None = None, top: int | None = None,
                *, original=None) -> list[int]:
    """Row positions in ``frame`` to show.

    ``select``: the listed (prompt_id, sample_id) pairs, in that order; ``top``: the ``top``
    responses with the highest mean token entropy (ties: prompt_id, sample_id); neither: the
    top ``DEFAULT_TOP``. An unknown pair, or one whose row is unusable, is a UserError.
    """
    if select is not None and top is not None:
        raise UserError("both select and top given", "pass one of them")
    index = {_key(p, s): i for i, (p, s) in enumerate(zip(frame["prompt_id"], frame["sample_id"]))}
    if select is not None:
        if isinstance(select, tuple) and len(select) == 2 and not isinstance(select[0], (tuple, list)):
            select = [select]
        rows = []
        for pair in select:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise UserError(f"select item {pair!r} is not a (prompt_id, sample_id) pair", "pass e.g. [('p0', 0)]")
            key = _key(*pair)
            if key not in index:
                in_original = original is not None and any(
                    _key(p, s) == key for p, s in zip(original["prompt_id"], original["sample_id"]))
                if in_original:
                    raise UserError(f"response {key[0]!r} #{key[1]} cannot be shown (empty response, NaN entropy "
                                    "or per-token lists of different lengths)", "choose another response")
                some = ", ".join(f"({p!r}, {s})" for p, s in list(index)[:3])
                raise UserError(f"no response with prompt_id {key[0]!r} and sample_id {key[1]} in the table",
                                f"choose one that exists, e.g. {some}")
            rows.append(index[key])
        if not rows:
            raise UserError("select is empty", "pass at least one (prompt_id, sample_id) pair")
        return rows
    n = DEFAULT_TOP if top is None else top
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise UserError(f"top={top!r} is not a positive integer", "pass top=N with N >= 1")
    means = mean_entropies(frame)
    order = sorted(range(len(frame)), key=lambda i: (-means[i], str(frame["prompt_id"].iloc[i]), int(frame["sample_id"].iloc[i])))
    return order[: int(n)]


# -- marks: pivotal words and reflective sentences --------------------------------------------

@dataclass
class Marks:
    """What to mark in each response, keyed by (prompt_id, sample_id)."""

    pivotal: dict[tuple[str, int], dict[int, tuple[str, str]]] = field(default_factory=dict)  # token -> (category, word)
    reflective: dict[tuple[str, int], list[tuple[int, int, float, str]]] = field(default_factory=dict)  # token ranges
    categories: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reflective_shown: bool = False  # reflective sentences were looked for (so the legend shows their key)


def pivotal_marks(frame, lexicon=None) -> tuple[dict, list[str]]:
    """{(prompt_id, sample_id): {token index: (category, word)}}: the token where each
    pivotal word starts (found by entropy_lens.words, with the pivotal lexicon, the
    built-in one unless ``lexicon`` is given), and the categories in lexicon order."""
    from entropy_lens.analyses.pivotal import _lexicon_dict
    from entropy_lens.analyses.words import segment_words

    lex = _lexicon_dict(lexicon)
    categories = list(lex)
    index = {w: i for i, c in enumerate(categories) for w in lex[c]}
    words = segment_words(frame)
    vocab_category = np.fromiter((index.get(w, -1) for w in words.vocab), dtype=np.int64, count=len(words.vocab))
    category = vocab_category[words.word_id]
    hit = np.flatnonzero(category >= 0)
    response = words.response[hit]
    local = words.first_token[hit] - words.tokens.token_bounds[response]
    rows = response if words.rows is None else np.asarray(words.rows)[response]
    prompt_ids, sample_ids = frame["prompt_id"].to_numpy(), frame["sample_id"].to_numpy()
    marks: dict[tuple[str, int], dict[int, tuple[str, str]]] = {}
    for r, t, c, w in zip(rows.tolist(), local.tolist(), category[hit].tolist(), words.word_id[hit].tolist()):
        marks.setdefault(_key(prompt_ids[r], sample_ids[r]), {})[int(t)] = (categories[c], str(words.vocab[w]))
    return marks, categories


def reflective_marks(frame, result=None) -> dict:
    """{(prompt_id, sample_id): [(first token, end token, mean entropy, sentence)]}: the token
    ranges of the reflective sentences found by entropy_lens.reflect. Tokens go to sentences
    by the rule of entropy_lens.sentences (a token belongs to the sentence holding its first
    non-space character), so the marks agree with the reflect statistics."""
    from entropy_lens.analyses.sentences import assign_tokens

    if result is not None:
        sentences = result.sentences
    else:  # the sentences and their flags only: reflect()'s statistics are not needed here
        from entropy_lens.analyses.reflect import is_reflective
        from entropy_lens.analyses.sentences import sentence_table

        sentences = sentence_table(frame)
        sentences["reflective"] = is_reflective(sentences["sentence"].tolist())
    groups = {key: g for key, g in sentences.groupby(["prompt_id", "sample_id"], sort=False)}
    marks: dict[tuple[str, int], list[tuple[int, int, float, str]]] = {}
    for pid, sid, offsets in zip(frame["prompt_id"], frame["sample_id"], frame["offsets"]):
        group = groups.get((pid, sid))
        if group is None or not group["reflective"].astype(bool).any() or not len(offsets):
            continue
        group = group.sort_values("start")
        spans = np.asarray([[int(a), int(b)] for a, b in offsets], dtype=np.int64)
        which = assign_tokens(group["start"].to_numpy(np.int64), group["end"].to_numpy(np.int64), spans[:, 0], spans[:, 1])
        ranges = []
        for k, row in enumerate(group.itertuples(index=False)):
            if not bool(row.reflective):
                continue
            tokens = np.flatnonzero(which == k)
            if len(tokens):
                ranges.append((int(tokens[0]), int(tokens[-1]) + 1, float(row.mean_entropy), str(row.sentence)))
        if ranges:
            marks[_key(pid, sid)] = ranges
    return marks


def find_marks(frame, *, pivotal: bool = True, reflective: bool = True, reflect_result=None) -> Marks:
    """The pivotal and reflective marks of ``frame`` (``reflect_result``: reflect(frame), if
    already computed); a missing analysis module becomes a note."""
    marks = Marks()
    if pivotal:
        try:
            marks.pivotal, marks.categories = pivotal_marks(frame)
        except ImportError as error:
            marks.notes.append(f"Pivotal tokens are not marked: the pivotal analysis is not available ({error}).")
    if reflective:
        try:
            marks.reflective = reflective_marks(frame, reflect_result)
            marks.reflective_shown = True
        except ImportError as error:
            marks.notes.append(f"Reflective sentences are not marked: the reflect analysis is not available ({error}).")
    return marks


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
    from entropy_lens.plots.style import COLORS

    try:
        from entropy_lens.plots.pivotal import category_color
    except ImportError:
        def category_color(c, _):
            return COLORS.get(c, "#333333")
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
    """What a page needs to show heatmaps: legend, responses, CSS, notes."""

    legend: str
    responses: list[str]
    css: str
    notes: list[str]
    cap: float


def heatmap_parts(frame, rows: Sequence[int], *, cap: float, cap_quantile: float, all_entropies: np.ndarray,
                  marks: Marks | None = None, headings: Sequence[str] | None = None, id_prefix: str = "") -> HeatmapParts:
    """Legend and response sections for ``rows`` of ``frame`` (already checked)."""
    marks = marks or Marks()
    sub = frame.iloc[list(rows)]
    responses = []
    for j, row in enumerate(sub.itertuples(index=False)):
        key = _key(row.prompt_id, row.sample_id)
        responses.append(response_html(row, cap, pivotal=marks.pivotal.get(key), reflective=marks.reflective.get(key, ()),
                                       heading=headings[j] if headings else None, id_prefix=id_prefix))
    above = float(np.mean(all_entropies > cap)) if len(all_entropies) else 0.0
    max_h = float(np.max(all_entropies)) if len(all_entropies) else 0.0
    legend = legend_html(cap, cap_quantile, len(all_entropies), above, max_h, marks.categories,
                         reflective=marks.reflective_shown)
    return HeatmapParts(legend, responses, HEATMAP_CSS + _category_css(marks.categories), list(marks.notes), cap)


def all_token_entropies(frame) -> np.ndarray:
    return np.concatenate([np.asarray(e, dtype=np.float64) for e in frame["entropy"]]) if len(frame) else np.zeros(0)


def heatmap_html(rollouts, *, select: Sequence[tuple[Any, int]] | None = None, top: int | None = None,
                 cap_quantile: float = 0.95, pivotal: bool = True, reflective: bool = True,
                 title: str = "Token entropy heatmap") -> str:
    """A self-contained HTML page of token-entropy heatmaps (see module docstring).

    ``select``: (prompt_id, sample_id) pairs to show, in order; ``top``: the N responses with
    the highest mean token entropy; neither: the top 5. The colour scale runs from 0 to the
    ``cap_quantile`` of all token entropies of the table (nats). Returns the page as a str.
    """
    original = _as_frame(rollouts)
    checked = _checked(original)
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
    notes = parts.notes + ([_sentence_case(checked.skipped_note()) + "."] if checked.skipped else [])
    body = (f"<h1>{escape(title)}</h1><p class=\"lead\">{escape(lead[0].upper() + lead[1:])}</p>"
            + "".join(f"<p class=\"note\">{escape(n)}</p>" for n in notes)
            + parts.legend + "".join(parts.responses))
    return page(title, body, css=parts.css)


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


# -- figure for papers ----------------------------------------------------------------------------

def entropy_colormap():
    """The heatmap's colour scale as a matplotlib colormap."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("entropy_lens", list(COLOR_STOPS))


def heatmap_figure(rollouts, prompt_id: Any, sample_id: int, path: str | os.PathLike, *, cap_quantile: float = 0.95,
                   width_chars: int = 88, max_tokens: int | None = None) -> Path:
    """Draw one response as wrapped monospace text, each token on a box coloured by its entropy,
    with a colour bar; saved to ``path`` (.png or .svg, chosen by suffix). Returns the path.

    The scale is capped at the ``cap_quantile`` of all token entropies of the table, like the
    HTML page. ``max_tokens`` draws only the first N tokens (long traces make tall figures).
    """
    from entropy_lens.plots.heatmap import draw_response

    original = _as_frame(rollouts)
    checked = _checked(original)
    frame = checked.frame
    (i,) = select_rows(frame, [(prompt_id, sample_id)], original=original)
    cap = entropy_cap(all_token_entropies(frame), cap_quantile)
    return draw_response(frame.iloc[i], Path(path), cap=cap, cap_quantile=cap_quantile, width_chars=width_chars,
                         max_tokens=max_tokens)


# -- writing ------------------------------------------------------------------------------------------

def write_heatmap(rollouts, out_file: str | os.PathLike, *, select: Sequence[tuple[Any, int]] | None = None,
                  top: int | None = None, cap_quantile: float = 0.95, pivotal: bool = True,
                  reflective: bool = True) -> Path:
    """Write a heatmap to ``out_file``: ``.html`` a page (several responses), ``.png`` / ``.svg``
    a figure of one response (``select`` one pair, or the response with the highest mean
    entropy). Never overwrites; returns the path written."""
    out = Path(out_file)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"cannot tell the format of {out} from its suffix {out.suffix or '(none)'!r}",
                        "name the output file .html (page), .png or .svg (figure)")
    if out.exists():
        raise UserError(f"{out} already exists and would be overwritten", "choose a new file name or delete the old file")
    if suffix == ".html":
        text = heatmap_html(rollouts, select=select, top=top, cap_quantile=cap_quantile, pivotal=pivotal,
                            reflective=reflective)
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_new(out, text.encode("utf-8"))
        return out
    original = _as_frame(rollouts)
    if select is not None:
        pairs = [select] if isinstance(select, tuple) and len(select) == 2 and not isinstance(select[0], (tuple, list)) else list(select)
        if len(pairs) != 1:
            raise UserError(f"a {suffix} figure shows one response, {len(pairs)} selected",
                            "select one (prompt_id, sample_id), or write .html for several")
        key = pairs[0]
    else:
        if top not in (None, 1):
            raise UserError(f"a {suffix} figure shows one response, top={top} asked",
                            "pass top=1 or one (prompt_id, sample_id), or write .html for several")
        frame = _checked(original).frame
        (i,) = select_rows(frame, top=1)
        key = (frame["prompt_id"].iloc[i], int(frame["sample_id"].iloc[i]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{suffix}")
    try:
        heatmap_figure(original, key[0], key[1], tmp, cap_quantile=cap_quantile)
        if out.exists():
            raise UserError(f"{out} already exists and would be overwritten", "choose a new file name or delete the old file")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file (refuses to replace one that appeared meanwhile)."""
    try:
        with open(path, "xb") as f:
            f.write(data)
    except FileExistsError:
        raise UserError(f"{path} already exists and would be overwritten", "choose a new file name or delete the old file") from None
