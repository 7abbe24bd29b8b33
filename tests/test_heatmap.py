"""Token-entropy heatmaps: escaping, colours, hover values, legend, marks, bad inputs, and the
page as a real browser renders it (headless Chromium; skipped when it is not installed)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from entropy_lens.errors import UserError
from entropy_lens.outputs import write_heatmap
from entropy_lens.pages.heatmap import heatmap_html
from entropy_lens.plots.colors import COLOR_STOPS, entropy_cap, entropy_color, relative_luminance
from entropy_lens.pages.html import CSP
from rollout_factory import make_row, make_table, words_to_tokens

from browser import content_security_policies, external_references, non_white_fraction, render, requires_chromium

NASTY = "<script>alert(1)</script> & a < b > c \"quoted\" 'single'"

# response 0: a pivotal word ("However") and a reflective sentence ("Wait, let me check.")
TOKENS_0 = [("First", 2.0), (",", 0.1), (" add", 0.3), (" 3", 0.2), (".", 0.05), ("\n", 0.4),
            ("However", 3.0), (",", 0.2), (" x", 0.1), (" is", 0.1), (" 5", 0.6), (".", 0.1), (" Wait", 2.5),
            (",", 0.3), (" let", 0.2), (" me", 0.1), (" check", 1.2), (".", 0.1), ("\n\n", 0.2),
            ("The", 0.1), (" answer", 0.1), (" is", 0.05), (" 5", 0.3), (".", 0.01), ("", 0.07)]
REFLECTIVE_0 = range(12, 18)  # " Wait" .. "." of "Wait, let me check."


def _nasty_tokens() -> list[tuple[str, float]]:
    return words_to_tokens(f"Escaping: {NASTY}\nDone.", {"escaping": 9.0, "done": 0.0}, default=0.4)


@pytest.fixture
def table() -> pd.DataFrame:
    return make_table([
        make_row(TOKENS_0, "p0", 0, prompt="What is 2 + 3? <b>bold</b> & more", answer="5", correct=True),
        make_row(_nasty_tokens(), "p0", 1, prompt=f"Prompt with {NASTY}", answer="5", correct=False),
        make_row([("Short", 0.0), (" one", 0.0)], "p1", 0, prompt="Easy?", answer=None, correct=None),
    ])


class _Spans(HTMLParser):
    """The token spans of a page (class, style, title, text) and the text of each .tokens box."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tokens: list[dict] = []
        self.boxes: list[str] = []
        self.reflective: list[list[int]] = []
        self._stack: list[str] = []
        self._token = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        self._stack.append(" ".join(cls))
        if "tokens" in cls:
            self.boxes.append("")
        if "rf" in cls and any("tokens" in s.split() for s in self._stack):
            self.reflective.append([])
        if "t" in cls and any("tokens" in s.split() for s in self._stack):
            self._token = {"class": cls, "style": a.get("style", ""), "title": a.get("title", ""), "text": ""}
            self.tokens.append(self._token)
            if any(c == "rf" for s in self._stack[:-1] for c in s.split()):
                self.reflective[-1].append(int(re.match(r"token (\d+)", self._token["title"]).group(1)))

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()
        self._token = None

    def handle_data(self, data):
        if any("tokens" in s.split() for s in self._stack):
            self.boxes[-1] += data
        if self._token is not None:
            self._token["text"] += data


def _parse(html: str) -> _Spans:
    parser = _Spans()
    parser.feed(html)
    return parser


def _background(style: str) -> str:
    return re.search(r"background:(#[0-9a-f]{6})", style).group(1)


def test_all_model_text_is_escaped_and_newlines_kept(table):
    html = heatmap_html(table, select=[("p0", 1), ("p0", 0)])
    assert "<script" not in html.lower()  # the page has no script at all; the model's is text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html  # the prompt
    assert "Prompt with &lt;script&gt;alert(1)&lt;/script&gt; &amp; a &lt; b &gt; c &quot;quoted&quot; &#x27;single&#x27;" in html
    parsed = _parse(html)
    # the text of each response box is exactly the response, newlines included
    assert parsed.boxes == [table.response[1], table.response[0]]
    assert "white-space: pre-wrap" in html


def test_colours_are_monotone_in_entropy_and_capped():
    cap = 2.0
    grid = np.linspace(0, 3 * cap, 301)
    lum = [relative_luminance(entropy_color(h, cap)) for h in grid]
    assert all(b <= a + 1e-12 for a, b in zip(lum, lum[1:])), "lighter colour for a higher entropy"
    assert lum[0] > lum[len(grid) // 6] > lum[len(grid) // 3]  # strictly darker up to the cap
    assert entropy_color(0.0, cap) == COLOR_STOPS[0] == "#ffffff"
    assert entropy_color(cap, cap) == entropy_color(5 * cap, cap) == COLOR_STOPS[-1]
    assert entropy_color(-1.0, cap) == COLOR_STOPS[0]


def test_page_colours_follow_the_table_cap(table):
    html = heatmap_html(table, select=[("p0", 0), ("p0", 1)])
    all_h = np.concatenate([np.asarray(e, dtype=np.float64) for e in table.entropy])
    cap = float(np.quantile(all_h, 0.95))
    assert entropy_cap(all_h, 0.95) == pytest.approx(cap)
    assert f"<b>{cap:.3f} nats</b>" in html and "95th percentile" in html  # the cap is stated
    tokens = _parse(html).tokens
    by_entropy = sorted(((float(re.search(r"H = ([0-9.]+) nats", t["title"]).group(1)), _background(t["style"]))
                         for t in tokens))
    lums = [relative_luminance(c) for _, c in by_entropy]
    assert all(b <= a + 1e-12 for a, b in zip(lums, lums[1:]))
    capped = {c for h, c in by_entropy if h >= cap}
    assert capped == {COLOR_STOPS[-1]}  # "Escaping" (9 nats) and everything above the cap: darkest
    # the darkest backgrounds get white text
    dark = [t for t in tokens if _background(t["style"]) == COLOR_STOPS[-1]]
    assert dark and all("color:#fff" in t["style"] for t in dark)


def test_hover_titles_hold_exact_values(table):
    html = heatmap_html(table, select=[("p0", 0)], pivotal=False, reflective=False)
    tokens = _parse(html).tokens
    assert len(tokens) == len(TOKENS_0)
    for i, (t, (text, h)) in enumerate(zip(tokens, TOKENS_0)):
        h32 = float(np.float32(h))
        assert t["title"].startswith(f"token {i}: ")
        assert f"H = {h32:.4f} nats" in t["title"]
        assert t["text"] == text
    assert tokens[5]["title"] == 'token 5: "\\n" · H = 0.4000 nats'  # newlines are shown as \n
    empty = tokens[-1]
    assert empty["class"] == ["t", "e"] and "(no text)" in empty["title"]


def test_legend_is_present(table):
    html = heatmap_html(table, top=1)
    assert 'class="hm-bar"' in html and "linear-gradient(to right, #ffffff 0%" in html
    assert COLOR_STOPS[-1] + " 100%" in html
    all_h = np.concatenate([np.asarray(e, dtype=np.float64) for e in table.entropy])
    cap = float(np.quantile(all_h, 0.95))
    assert ">0.00<" in html and f">≥ {cap:.2f}<" in html
    assert "Token entropy (nats)" in html


def test_reflective_sentence_is_outlined(table):
    pytest.importorskip("entropy_lens.analyses.reflect")
    html = heatmap_html(table, select=[("p0", 0)], pivotal=False)
    parsed = _parse(html)
    assert parsed.reflective == [list(REFLECTIVE_0)]
    inside = [t for t in parsed.tokens if "in a reflective sentence" in t["title"]]
    assert [int(re.match(r"token (\d+)", t["title"]).group(1)) for t in inside] == list(REFLECTIVE_0)
    assert "reflective sentence" in html  # legend key


def test_pivotal_tokens_are_underlined(table):
    pytest.importorskip("entropy_lens.analyses.pivotal")
    html = heatmap_html(table, select=[("p0", 0)], reflective=False)
    tokens = _parse(html).tokens
    marked = {int(re.match(r"token (\d+)", t["title"]).group(1)): t for t in tokens if "pv" in t["class"]}
    assert 6 in marked and "pv-contrastive" in marked[6]["class"]  # "However"
    assert "pivotal: contrastive" in marked[6]["title"]
    assert 0 in marked and "pv-sequential" in marked[0]["class"]  # "First"
    assert ".pv-contrastive { text-decoration-color: #D55E00; }" in html


def test_marks_can_be_turned_off(table):
    html = heatmap_html(table, select=[("p0", 0)], pivotal=False, reflective=False)
    assert 'class="rf"' not in html and " pv " not in html and "not marked" not in html


def test_selection(table):
    html = heatmap_html(table, top=2)
    order = re.findall(r'<section class="resp" id="r-([^"]+)"', html)
    assert order == ["p0-1", "p0-0"]  # the two highest mean entropies, highest first
    html = heatmap_html(table, select=[("p1", 0), ("p0", 0)])
    assert re.findall(r'<section class="resp" id="r-([^"]+)"', html) == ["p1-0", "p0-0"]
    assert "ungraded" in html and "incorrect" not in html.split('id="r-p0-0"')[0].split('id="r-p1-0"')[1]


def test_self_contained_page(table):
    html = heatmap_html(table, top=3)
    assert content_security_policies(html) == [CSP]
    assert external_references(html) == []
    assert "<script" not in html and "<link" not in html


@pytest.mark.parametrize("kwargs, message", [
    (dict(select=[("nope", 0)]), "no response with prompt_id 'nope'"),
    (dict(select=[("p0", 7)]), "sample_id 7"),
    (dict(select=[("p0", 0)], top=2), "both select and top"),
    (dict(top=0), "top=0"),
    (dict(select=[]), "select is empty"),
    (dict(select=["p0"]), "not a (prompt_id, sample_id) pair"),
    (dict(cap_quantile=0.0), "cap_quantile"),
    (dict(cap_quantile=1.5), "cap_quantile"),
])
def test_bad_inputs(table, kwargs, message):
    with pytest.raises(UserError, match=re.escape(message)):
        heatmap_html(table, **kwargs)


def test_unusable_row_and_missing_column(table):
    broken = table.copy()
    broken.at[2, "entropy"] = np.array([np.nan, 0.1], dtype=np.float32)
    with pytest.raises(UserError, match="cannot be shown"):
        heatmap_html(broken, select=[("p1", 0)])
    assert "Skipped 1 row: 1 NaN or infinite entropy." in heatmap_html(broken, top=1)
    with pytest.raises(UserError, match="lacks column"):
        heatmap_html(table.drop(columns=["offsets"]))


def test_write_heatmap_formats_and_refusals(table, tmp_path):
    page = write_heatmap(table, tmp_path / "h.html", top=2)
    assert page.read_text().startswith("<!DOCTYPE html>")
    png = write_heatmap(table, tmp_path / "h.png", select=[("p0", 0)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = write_heatmap(table, tmp_path / "h.svg")  # default: the response with the highest mean entropy
    assert "<svg" in svg.read_text()[:2000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.html", "h.png", "h.svg"]  # no temporary left

    before = page.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        write_heatmap(table, page)
    assert page.read_bytes() == before
    with pytest.raises(UserError, match="already exists"):
        write_heatmap(table, png, select=[("p0", 0)])
    with pytest.raises(UserError, match="suffix"):
        write_heatmap(table, tmp_path / "h.pdf")
    with pytest.raises(UserError, match="one response"):
        write_heatmap(table, tmp_path / "two.png", select=[("p0", 0), ("p0", 1)])
    with pytest.raises(UserError, match="one response"):
        write_heatmap(table, tmp_path / "two.svg", top=3)
    with pytest.raises(UserError, match="no response"):
        write_heatmap(table, tmp_path / "x.png", select=[("p9", 0)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.html", "h.png", "h.svg"]


def test_rollout_directory_input(table, tmp_path):
    folder = tmp_path / "rollouts"
    folder.mkdir()
    table.assign(offsets=[[list(o) for o in offs] for offs in table.offsets]).to_parquet(folder / "part-00000.parquet")
    html = heatmap_html(folder, select=[("p0", 0)], pivotal=False, reflective=False)
    assert _parse(html).boxes == [table.response[0]]


def test_figure_layout_keeps_text_and_wraps():
    from entropy_lens.plots.heatmap import layout_tokens

    row = make_row(words_to_tokens("word " * 40 + "\nend", {}))
    boxes = layout_tokens(row["response"], row["offsets"], width_chars=30)
    assert max(x + w for _, x, _, w, _ in boxes) <= 30 + 1e-9
    text = "".join(t for tok, _, _, _, t in boxes)
    assert text == row["response"].replace("\n", "")
    assert max(line for _, _, line, _, _ in boxes) >= 6


# -- in a real browser ---------------------------------------------------------------------------

@requires_chromium
def test_heatmap_page_renders_offline_in_chromium(table, tmp_path):
    path = write_heatmap(table, tmp_path / "heatmap.html", top=3)
    shown = render(path, tmp_path / "shots", height=1200)
    assert non_white_fraction(shown.screenshot) > 0.03, "the screenshot is blank"
    dom = shown.dom
    for text in ("However", "Wait", "check", "Escaping", "answer"):
        assert text in dom
    assert "&lt;script&gt;alert(1)" in dom and "<script" not in dom  # shown as text, never run
    assert shown.page_requests == [], f"the page fetched {shown.page_requests}"
    assert external_references(dom) == []


@requires_chromium
def test_network_detector_sees_a_fetching_page(tmp_path):
    """Control: a page that does load from the network is caught (so an empty list means something)."""
    path = tmp_path / "control.html"
    path.write_text('<!DOCTYPE html><html><body><p>control</p><img src="http://example.invalid/x.png"></body></html>')
    shown = render(path, tmp_path / "shots", width=400, height=300)
    assert "http://example.invalid/x.png" in shown.page_requests
    assert external_references(path.read_text()) == ["http://example.invalid/x.png"]


def test_split_characters_gaps_and_nullable_grades():
    """A character split over two tokens (the first has an empty span), text no token covers,
    and a pandas nullable ``correct`` column."""
    row = make_row([("caf", 0.2), ("", 1.5), ("é", 0.3), (" ok", 0.1)], "u", 0)
    row["response"] += "\n(trailing text no token covers)"
    frame = make_table([row]).astype({"correct": "boolean"})
    html = heatmap_html(frame, top=1, pivotal=False, reflective=False)
    parsed = _parse(html)
    assert parsed.boxes == [row["response"]]
    assert [t["text"] for t in parsed.tokens] == ["caf", "", "é", " ok"]
    assert parsed.tokens[1]["class"] == ["t", "e"] and "H = 1.5000 nats" in parsed.tokens[1]["title"]
    assert '<span class="tag na">ungraded</span>' in html
