"""One response as a figure for papers: wrapped monospace text, each token on a box coloured
by its entropy (the HTML heatmap's colour scale), with a colour bar."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from entropy_lens.analyses.marks import all_token_entropies, select_rows, verdict
from entropy_lens.plots.colors import entropy_cap, entropy_colormap, entropy_rgb, text_color
from entropy_lens.plots.style import new_figure
from entropy_lens.rollouts.load import as_frame, load_rollouts

FONT = "DejaVu Sans Mono"  # ships with matplotlib, so the layout is the same everywhere
ADVANCE_EM = 0.6021  # DejaVu Sans Mono's advance width, in em
FONT_SIZE = 9.0  # points
LINE_EM = 1.55  # line height, in em
EMPTY_WIDTH = 0.35  # width of a token without text, in character cells
NEWLINE_WIDTH = 0.6  # box drawn for a token's line break, in character cells


def layout_tokens(response: str, offsets, width_chars: int) -> list[tuple[int, float, int, float, str]]:
    """Boxes of the tokens on a grid of character cells: (token, x, line, width, text).

    Text wraps at token boundaries (a token longer than a line is split), a newline starts
    a new line (and gets a narrow box, so its entropy is visible), a token without text gets
    a thin box. Text no token covers is laid out but not boxed (token -1).
    """
    boxes: list[tuple[int, float, int, float, str]] = []
    x, line = 0.0, 0
    pos = 0

    def put(token: int, text: str) -> None:
        nonlocal x, line
        segments = text.replace("\t", "    ").split("\n")
        for k, segment in enumerate(segments):
            while segment:
                if x > 0 and x + len(segment) > width_chars and len(segment) <= width_chars:
                    x, line = 0.0, line + 1
                room = max(1, int(width_chars - x)) if x < width_chars else width_chars
                if x >= width_chars:
                    x, line = 0.0, line + 1
                    room = width_chars
                piece, segment = segment[:room], segment[room:]
                boxes.append((token, x, line, float(len(piece)), piece))
                x += len(piece)
            if k < len(segments) - 1:  # a line break inside the token
                if token >= 0:
                    boxes.append((token, x, line, NEWLINE_WIDTH, ""))
                x, line = 0.0, line + 1

    for i, (a, b) in enumerate(offsets):
        a, b = max(int(a), pos), min(int(b), len(response))
        if a > pos:
            put(-1, response[pos:a])
        if b > a:
            put(i, response[a:b])
            pos = b
        else:
            boxes.append((i, x, line, EMPTY_WIDTH, ""))
            x += EMPTY_WIDTH
    if pos < len(response):
        put(-1, response[pos:])
    return boxes


def draw_response(row, path: Path, *, cap: float, cap_quantile: float, width_chars: int = 88,
                  max_tokens: int | None = None) -> Path:
    """Draw ``row`` (a rollout-table row) and save it to ``path`` (.png or .svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    entropy = np.asarray(row.entropy, dtype=np.float64)
    offsets = [(int(a), int(b)) for a, b in row.offsets]
    response = row.response
    shown = len(offsets) if max_tokens is None else min(len(offsets), int(max_tokens))
    if shown < len(offsets):
        response = response[: max([b for _, b in offsets[:shown]] + [0])]
        offsets = offsets[:shown]
    boxes = layout_tokens(response, offsets, width_chars)
    n_lines = (max(b[2] for b in boxes) + 1) if boxes else 1

    cell_w = FONT_SIZE * ADVANCE_EM / 72.0  # inches
    line_h = FONT_SIZE * LINE_EM / 72.0
    text_w, text_h = width_chars * cell_w, n_lines * line_h
    left, right, top, gap, bar_h, bottom = 0.25, 0.25, 0.55, 0.35, 0.14, 0.55
    fig_w, fig_h = left + text_w + right, top + text_h + gap + bar_h + bottom
    fig, _ = new_figure(fig_w, fig_h)
    fig.clear()
    ax = fig.add_axes([left / fig_w, (bottom + bar_h + gap) / fig_h, text_w / fig_w, text_h / fig_h])
    ax.set_xlim(0, width_chars)
    ax.set_ylim(n_lines, 0)
    ax.axis("off")

    colors = [entropy_rgb(entropy[t], cap) / 255 if t >= 0 else None for t, *_ in boxes]
    patches = [Rectangle((x, line + 0.08), w, 0.84) for (t, x, line, w, _), c in zip(boxes, colors) if c is not None]
    ax.add_collection(PatchCollection(patches, facecolors=[c for c in colors if c is not None], edgecolors="none",
                                      linewidths=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs the font lacks (rare in math text)
        for (t, x, line, w, text), c in zip(boxes, colors):
            if not text.strip():
                continue
            ink = "#000000" if c is None else text_color("#%02x%02x%02x" % tuple(int(round(v * 255)) for v in c))
            ax.text(x, line + 0.5, text, fontfamily=FONT, fontsize=FONT_SIZE, color=ink, va="center_baseline",
                    ha="left", parse_math=False)

    mean_h = float(entropy.mean()) if len(entropy) else math.nan
    graded = verdict(getattr(row, "correct", None))
    title = f"{row.prompt_id} · sample {row.sample_id} — {len(entropy)} tokens, mean entropy {mean_h:.3f} nats, {graded}"
    if shown < len(entropy):
        title += f" (first {shown} tokens shown)"
    fig.text(left / fig_w, 1 - 0.22 / fig_h, title, fontsize=10, fontweight="bold", va="top", ha="left", parse_math=False)

    bar_w = min(text_w, 4.5)
    cax = fig.add_axes([left / fig_w, bottom / fig_h, bar_w / fig_w, bar_h / fig_h])
    mappable = matplotlib.cm.ScalarMappable(norm=Normalize(0, cap), cmap=entropy_colormap())
    bar = fig.colorbar(mappable, cax=cax, orientation="horizontal", extend="max")
    bar.set_label(f"token entropy (nats), capped at the {100 * cap_quantile:g}th percentile of the table = {cap:.2f}",
                  fontsize=8.5)
    bar.ax.tick_params(labelsize=8)
    bar.outline.set_linewidth(0.5)
    cax.grid(False)

    path = Path(path)
    with plt.rc_context({"svg.fonttype": "path"}):  # exact glyph positions whatever fonts the viewer has
        fig.savefig(path, format=path.suffix.lower().lstrip("."), dpi=200, bbox_inches=None)
    plt.close(fig)
    return path


def heatmap_figure(rollouts, prompt_id: Any, sample_id: int, path: str | os.PathLike, *, cap_quantile: float = 0.95,
                   width_chars: int = 88, max_tokens: int | None = None) -> Path:
    """Draw one response as wrapped monospace text, each token on a box coloured by its entropy,
    with a colour bar; saved to ``path`` (.png or .svg, chosen by suffix). Returns the path.

    The scale is capped at the ``cap_quantile`` of all token entropies of the table, like the
    HTML page. ``max_tokens`` draws only the first N tokens (long traces make tall figures).
    """
    original = as_frame(rollouts)
    frame = load_rollouts(original).frame
    (i,) = select_rows(frame, [(prompt_id, sample_id)], original=original)
    cap = entropy_cap(all_token_entropies(frame), cap_quantile)
    return draw_response(frame.iloc[i], Path(path), cap=cap, cap_quantile=cap_quantile, width_chars=width_chars,
                         max_tokens=max_tokens)
