"""The comparison report: one self-contained page with every section, exact numbers with n
and CIs, escaping, refusals, and the page as headless Chromium renders it."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd
import pytest

from entropy_lens.errors import UserError
from entropy_lens.pages.html import CSP
from entropy_lens.outputs import write_report
from entropy_lens.pages.report import SECTIONS, report_html
from entropy_lens.stats import newcombe_difference, wilson_interval
from rollout_factory import make_row, make_table, words_to_tokens

from browser import content_security_policies, external_references, non_white_fraction, render, requires_chromium

NASTY = "<script>alert(1)</script> & <b>x</b>"
ODD = "Quantum chromodynamics predicts gluon confinement on a lattice."  # said by the RL model only
TEXTS = [
    "First, we add 3 and 4 to get 7. However, wait: let me check the sum again. "
    "Because 3 + 4 = 7, the answer is 7.\nThe answer is \\boxed{7}.",
    "Then we multiply 2 by 6, which gives 12. Therefore the product is 12. I should verify this: 2 * 6 = 12. "
    "So the answer is 12.",
    "We consider the equation x + 5 = 9. Thus x = 4. Let me double-check: 4 + 5 = 9. Finally, x is 4.",
    "Since the triangle has sides 3, 4, 5, it is a right triangle. This suggests the area is 6. "
    "Although I could be wrong, the area is 6.",
]
HIGH = {"first": 2.5, "however": 3.0, "wait": 3.2, "because": 2.2, "then": 2.0, "therefore": 2.4, "so": 1.9,
        "consider": 2.1, "thus": 2.3, "finally": 1.8, "since": 2.2, "suggests": 2.6, "although": 2.7, "check": 1.5,
        "verify": 1.6}


class HashingEmbedder:
    """Stands in for a sentence-transformers model: a bag of words hashed into 64 dimensions
    (fast, offline, deterministic; sentences sharing words are near)."""

    def get_sentence_embedding_dimension(self) -> int:
        return 64

    def encode(self, sentences, **_):
        out = np.zeros((len(sentences), 64), dtype=np.float32)
        for i, sentence in enumerate(sentences):
            for word in re.findall(r"[a-z]+|\d+", sentence.lower()):
                out[i, zlib.crc32(word.encode()) % 63] += 1.0
            out[i, 63] = 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _table(scale: float, correct: list[bool], seed: int, nasty: bool = False, odd: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p, text in enumerate(TEXTS):
        for s in range(2):
            body = text + (f"\nNote: {NASTY}" if nasty and p == 1 and s == 0 else "")
            body += f" {ODD}" if odd and p == 3 and s == 1 else ""
            tokens = [(t, scale * (HIGH.get(t.strip().lower()) or float(rng.gamma(0.5, 0.3))))
                      for t, _ in words_to_tokens(body, {})]
            rows.append(make_row(tokens + [("", 0.02)], f"q{p}", s, prompt=f"Problem {p}: {NASTY}" if p == 1 else f"Problem {p}",
                                 answer=str(p), correct=correct[2 * p + s]))
    return make_table(rows)


@pytest.fixture(scope="module")
def tables():
    base = _table(1.0, [True, False, False, False, True, False, False, True], seed=0, nasty=True)
    rl = _table(0.6, [True, False, True, True, True, True, False, True], seed=1, odd=True)
    return base, rl


@pytest.fixture(scope="module")
def page(tables):
    base, rl = tables
    return report_html(base, rl, base_name="base <7B>", rl_name="rl & co", heatmaps=2, min_count=2,
                       embedder=HashingEmbedder(), rare_options={"k": 3})


def test_every_section_is_present(page):
    for anchor, heading, _ in SECTIONS:
        assert f'<section id="{anchor}"><h2>{heading}</h2>' in page
    assert page.count('<section class="resp"') == 4  # 2 prompts x (base, rl)


def test_no_section_is_missing(page):
    missing = re.findall(r"This section is missing[^<]*", page)
    assert not missing, missing


def test_accuracy_with_n_and_wilson_ci(tables, page):
    base, rl = tables
    for frame in (base, rl):
        k, n = int(frame.correct.sum()), len(frame)
        lo, hi = wilson_interval(k, n)
        assert f"<b>{100 * k / n:.1f}%</b> [{100 * lo:.1f}%, {100 * hi:.1f}%]" in page
        assert f"{k:,} of {n:,} graded" in page
    d, lo, hi = newcombe_difference(int(base.correct.sum()), 8, int(rl.correct.sum()), 8)
    assert f"{100 * d:+.1f} pp [{100 * lo:+.1f}, {100 * hi:+.1f}]" in page
    lengths = base.entropy.map(len).to_numpy()
    assert f"<b>{lengths.mean():.1f}</b>" in page


def test_newcombe_interval_contains_difference():
    d, lo, hi = newcombe_difference(3, 10, 7, 10)
    assert d == pytest.approx(0.4) and lo < 0.4 < hi and -1 <= lo and hi <= 1
    # Newcombe (1998) example: 56/70 vs 48/80 -> difference 0.2 [0.0524, 0.3339] (method 10)
    d, lo, hi = newcombe_difference(48, 80, 56, 70)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)


def test_figures_are_embedded_and_the_page_is_self_contained(page):
    assert content_security_policies(page) == [CSP]
    assert external_references(page) == []
    assert page.count('src="data:image/svg+xml;base64,') >= 1
    assert "<script" not in page


def test_model_text_and_names_are_escaped(page):
    assert "<script>" not in page and "<b>x</b>" not in page and "<7B>" not in page
    assert "Problem 1: &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;" in page
    assert "base &lt;7B&gt;" in page and "rl &amp; co" in page


def test_rare_sentences_listed_with_their_nearest_base_sentences(page):
    rare_part = page.split('<section id="rare">')[1].split("</section>")[0]
    assert "This section is missing" not in rare_part
    first = re.search(r'<ul class="rare-list"><li><div class="rl-sent">([^<]*)</div>', rare_part)
    assert first and first.group(1) == ODD  # the one sentence unlike anything the base model says
    assert "nearest base sentences:" in rare_part and rare_part.count("(distance ") >= 3
    assert "HashingEmbedder" in rare_part and "neighbours k / base sentences</th><td class=\"num\">3 /" in rare_part


def test_pivotal_and_reflective_sections_hold_both_checkpoints(page):
    pivotal_part = page.split('<section id="pivotal">')[1].split("</section>")[0]
    for category in ("causal", "contrastive", "sequential", "reasoning verb"):
        assert pivotal_part.count(f"<tr><td>{category}</td>") == 2
    reflective_part = page.split('<section id="reflective">')[1].split("</section>")[0]
    assert "reflective sentences per response [95% CI]" in reflective_part
    assert reflective_part.count("data:image/svg+xml;base64,") == 2  # one figure per checkpoint


def test_heatmaps_use_shared_prompts_and_one_scale(tables, page):
    base, rl = tables
    ids = re.findall(r'<section class="resp" id="r-([^"]+)"', page)
    # accuracy differences: q1 0/2 vs 2/2, q2 1/2 vs 2/2, q0 and q3 equal; both checkpoints shown
    assert ids == ["base-q1-0", "rl-q1-0", "base-q2-0", "rl-q2-0"]
    all_h = np.concatenate([np.asarray(e, dtype=np.float64) for e in list(base.entropy) + list(rl.entropy)])
    assert f"<b>{np.quantile(all_h, 0.95):.3f} nats</b>" in page


def test_write_report_never_overwrites(tables, tmp_path):
    base, rl = tables
    out = tmp_path / "report"
    path = write_report(base, rl, out, heatmaps=1, embedder=HashingEmbedder())
    assert path == out / "report.html" and path.read_text().startswith("<!DOCTYPE html>")
    before = path.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        write_report(base, rl, out)
    assert path.read_bytes() == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        write_report(base, rl, tmp_path / "file")


def test_bad_inputs(tables):
    base, rl = tables
    with pytest.raises(UserError, match="lacks column"):
        report_html(base.drop(columns=["entropy"]), rl)
    with pytest.raises(UserError, match="no usable rows"):
        report_html(base, rl.assign(response=""))


@requires_chromium
def test_report_renders_offline_in_chromium(page, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(page)
    shown = render(path, tmp_path / "shots", height=2400)
    assert non_white_fraction(shown.screenshot) > 0.03, "the screenshot is blank"
    for _, heading, _ in SECTIONS:
        assert f"<h2>{heading}</h2>" in shown.dom
    assert "Therefore" in shown.dom and "&lt;script&gt;alert(1)" in shown.dom and "<script" not in shown.dom
    assert shown.page_requests == [], f"the page fetched {shown.page_requests}"
    assert external_references(shown.dom) == []


def test_a_fork_result_adds_its_section_and_a_folder_works_too(tables, tmp_path):
    from entropy_lens.analyses.fork_stats import FORK_COLUMNS
    from entropy_lens.errors import UserError

    rows = [("p0", 0, 3, 2.0, "high", 0.75), ("p0", 1, 5, 2.5, "high", 1.0), ("p1", 0, 2, 3.0, "high", 0.5),
            ("p0", 0, 4, 0.1, "low", 0.0), ("p0", 1, 6, 0.2, "low", 0.25), ("p1", 0, 1, 0.05, "low", 0.0)]
    forks = pd.DataFrame(rows, columns=["prompt_id", "sample_id", "position", "entropy", "kind", "changed"])
    forks = forks.assign(token="<b>x</b>", n_samples=4, accuracy=0.5, answers=[["4"]] * len(forks),
                         answer_entropy=forks["changed"])[FORK_COLUMNS]
    (tmp_path / "fork").mkdir()
    forks.to_parquet(tmp_path / "fork" / "forks.parquet")
    base, rl = tables
    html = report_html(base, rl, heatmaps=1, embedder=HashingEmbedder(), fork=tmp_path / "fork")
    assert "id=\"fork\"" in html and "Forking tokens" in html and "high − low" in html
    assert "<b>x</b>" not in html  # model text is escaped, in the figure's labels too
    assert "Forking tokens" not in report_html(base, rl, heatmaps=1, embedder=HashingEmbedder())
    with pytest.raises(UserError, match="holds no forks.parquet"):
        report_html(base, rl, embedder=HashingEmbedder(), fork=tmp_path)
