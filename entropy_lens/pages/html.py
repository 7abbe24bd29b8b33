"""Pieces of the self-contained HTML pages (heatmap, report).

Every page carries its CSS inline and a Content-Security-Policy that lets the browser load
nothing at all: no scripts, fonts, stylesheets or images from anywhere, only inline styles
and ``data:`` images. Figures are embedded as ``data:`` URIs, so a page is one file that can
be mailed and opened offline. Every piece of model or user text goes through :func:`escape`.
"""

from __future__ import annotations

import base64
import html as _html
import io
import math
from typing import Any, Callable, Iterable, Mapping

# The browser refuses every fetch except inline styles and data: images.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

BASE_CSS = """
:root { --ink: #1f2328; --muted: #5f6670; --rule: #d8dde3; --panel: #f6f8fa; --accent: #0072B2; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; padding: 28px 36px 60px; color: var(--ink); background: #fff;
       font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 38px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
h3 { font-size: 16px; margin: 18px 0 6px; }
p { margin: 6px 0 10px; }
.lead { color: var(--muted); margin: 2px 0 14px; }
.explain { color: #3a4048; max-width: 900px; }
.note { background: #fff8e6; border-left: 4px solid #E69F00; padding: 8px 12px; margin: 10px 0; border-radius: 3px; }
.muted { color: var(--muted); }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.92em; }
table.data { border-collapse: collapse; margin: 8px 0 14px; font-size: 13.5px; }
table.data caption { caption-side: top; text-align: left; font-weight: 600; padding: 2px 0 6px; }
table.data th, table.data td { padding: 4px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; }
table.data th { background: var(--panel); text-align: left; font-weight: 600; vertical-align: bottom; }
.table-wrap { max-width: 100%; overflow-x: auto; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data tr:hover td { background: #fbfcfd; }
figure { margin: 10px 0 16px; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; max-width: 900px; }
nav.toc { background: var(--panel); border: 1px solid var(--rule); border-radius: 6px; padding: 8px 16px; margin: 14px 0; }
nav.toc ol { margin: 4px 0; padding-left: 20px; columns: 2; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 26px; }
.pair > div { min-width: 0; }
@media (max-width: 900px) { .pair { grid-template-columns: minmax(0, 1fr); } body { padding: 16px; } }
.tag { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600; color: #fff; }
"""


def escape(text: Any) -> str:
    """``text`` as HTML text or attribute value: ``& < > " '`` escaped; None -> ''."""
    if text is None:
        return ""
    return _html.escape(str(text), quote=True)


def page(title: str, body: str, *, css: str = "") -> str:
    """A complete self-contained HTML document: CSP meta, inline CSS, ``body`` inside <main>."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{escape(CSP)}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{BASE_CSS}{css}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def figure_bytes(fig, fmt: str = "svg", dpi: int = 130) -> bytes:
    """Render a matplotlib figure to SVG or PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def figure_html(fig, *, caption: str = "", alt: str = "", fmt: str = "svg", width: str | None = None) -> str:
    """A matplotlib figure embedded as a ``data:`` image (SVG by default) in a <figure>.

    SVG goes in through a data URI rather than inline markup so the ids matplotlib writes
    (clip paths, markers) can never clash between figures of one page.
    """
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    uri = data_uri(figure_bytes(fig, fmt), mime)
    style = f" style=\"width:{escape(width)}\"" if width else ""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure><img src=\"{uri}\" alt=\"{escape(alt or 'figure')}\"{style}>{cap}</figure>"


def fmt_number(value: Any, digits: int = 3) -> str:
    """Numbers for tables: ints as ints, floats with ``digits`` decimals, NaN/None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return f"{int(value):,}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "–"
    if x != 0 and (abs(x) < 10 ** -digits or abs(x) >= 1e6):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def fmt_ci(low: float, high: float, digits: int = 3, percent: bool = False) -> str:
    """``[low, high]`` for a confidence interval (percentages if ``percent``)."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "–"
    if percent:
        return f"[{100 * low:.1f}%, {100 * high:.1f}%]"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def table_html(frame, *, columns: Mapping[str, str] | None = None, formats: Mapping[str, Callable[[Any], str]] | None = None,
               caption: str = "", digits: int = 3, max_rows: int | None = None, raw: Iterable[str] = ()) -> str:
    """A pandas DataFrame as an HTML table; every cell is escaped (except columns in ``raw``).

    ``columns`` maps column -> header (and picks and orders the columns); ``formats`` maps
    column -> function(value) -> str. Numeric cells are right-aligned.
    """
    import numpy as np

    columns = dict(columns) if columns else {c: str(c) for c in frame.columns}
    formats = dict(formats or {})
    raw = set(raw)
    rows = frame.head(max_rows) if max_rows is not None else frame
    head = "".join(f"<th>{escape(h)}</th>" for h in columns.values())
    body = []
    for _, row in rows.iterrows():
        cells = []
        for column in columns:
            value = row[column] if column in row.index else None
            numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            text = formats[column](value) if column in formats else (fmt_number(value, digits) if numeric else value)
            text = str(text) if column in raw else escape(text)
            cells.append(f"<td class=\"num\">{text}</td>" if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    more = ""
    if max_rows is not None and len(frame) > max_rows:
        more = f"<p class=\"muted\">… {len(frame) - max_rows} more rows not shown.</p>"
    return (f"<div class=\"table-wrap\"><table class=\"data\">{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>{more}")
