import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from entropy_lens.errors import UserError
from entropy_lens.analyses.pivotal import CATEGORY_COLUMNS, load_lexicon, pivotal, pivotal_words_table
from entropy_lens.outputs import write_pivotal
from rollout_factory import make_row, make_table, words_to_tokens

# (text, entropy of the token of each word, lower-cased); other tokens get 0.5
RESPONSES = [
    ("First we add the numbers. So the sum is 12. However we check it because it matters.",
     {"first": 1.9, "so": 1.4, "however": 2.2, "because": 1.1, "add": 0.3, "numbers": 0.05, "check": 0.8, ".": 0.01}),
    ("Then we see that it suggests a pattern. Thus some terms cancel, but not butter.",
     {"then": 1.2, "suggests": 0.9, "thus": 1.6, "but": 2.0, "some": 0.7, "butter": 3.0, "pattern": 0.2, ",": 0.02}),
    ("Next consider the thence case. Therefore the firstly answer is so clear.",
     {"next": 1.3, "consider": 1.0, "therefore": 1.7, "firstly": 0.6, "so": 1.5, "thence": 2.5, "clear": 0.1}),
]
CATEGORY_OF = {"first": "sequential", "then": "sequential", "next": "sequential", "firstly": "sequential",
               "so": "causal", "because": "causal", "thus": "causal", "therefore": "causal",
               "however": "contrastive", "but": "contrastive", "suggests": "reasoning_verb", "consider": "reasoning_verb"}


def _frame():
    return make_table([make_row(words_to_tokens(text, h), "p%d" % (i // 2), i % 2) for i, (text, h) in enumerate(RESPONSES)])


def _expected_words():
    """(word, entropy, response) of every word, the obvious way (ASCII text, one token per word)."""
    out = []
    for r, (text, h) in enumerate(RESPONSES):
        out += [(w.lower(), h.get(w.lower(), 0.5), r) for w in re.findall(r"[A-Za-z]+", text)]
    return out


def _all_token_entropies():
    return np.concatenate([np.asarray(row["entropy"], dtype=np.float64) for _, row in _frame().iterrows()])


def test_categories_numbers_are_exact():
    result = pivotal(_frame(), n_boot=500)
    table = result.categories
    assert list(table.columns) == CATEGORY_COLUMNS
    assert list(table["category"]) == ["causal", "contrastive", "sequential", "reasoning_verb"]
    words = _expected_words()
    ordinary = np.array([h for w, h, _ in words if w not in CATEGORY_OF], dtype=np.float32).astype(np.float64)
    threshold = np.quantile(_all_token_entropies(), 0.8)
    assert result.forking_threshold == pytest.approx(threshold)
    for _, row in table.iterrows():
        x = np.array([h for w, h, _ in words if CATEGORY_OF.get(w) == row["category"]], dtype=np.float32).astype(np.float64)
        assert row["n"] == len(x)
        assert row["mean"] == pytest.approx(x.mean())
        assert row["median"] == pytest.approx(np.median(x))
        assert row["ordinary_n"] == len(ordinary) == 30
        assert row["ordinary_mean"] == pytest.approx(ordinary.mean())
        assert row["forking_share"] == pytest.approx(np.mean(x > threshold))
        ref = mannwhitneyu(x, ordinary, alternative="two-sided", method="asymptotic", use_continuity=False)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert row["effect_size"] == pytest.approx(2 * ref.statistic / (len(x) * len(ordinary)) - 1)
        assert row["diff_ci_low"] <= x.mean() - ordinary.mean() <= row["diff_ci_high"]
    causal = table.set_index("category").loc["causal"]
    assert causal["n"] == 5  # so, because, thus, therefore, so
    assert causal["mean"] == pytest.approx((1.4 + 1.1 + 1.6 + 1.7 + 1.5) / 5)


def test_look_alike_words_are_not_pivotal():
    words = pivotal(_frame(), n_boot=50, min_count=1).words.set_index("word")
    assert words.loc["some", "category"] == "" and words.loc["some", "count"] == 1      # not "so"
    assert words.loc["thence", "category"] == ""                                        # not "then"
    assert words.loc["butter", "category"] == ""                                        # not "but"
    assert words.loc["so", "count"] == 2 and words.loc["then", "count"] == 1
    # "firstly" is its own word (a sequential word of the lexicon), never counted as "first"
    assert words.loc["first", "count"] == 1 and words.loc["firstly", "count"] == 1
    assert words.loc["firstly", "category"] == "sequential"
    # lexicon words never seen are listed with count 0
    assert words.loc["nevertheless", "count"] == 0 and math.isnan(words.loc["nevertheless", "mean"])


def test_words_and_top_words():
    result = pivotal(_frame(), n_boot=50, min_count=2, top=3)
    words = result.words.set_index("word")
    assert words.loc["the", "count"] == 4 and words.loc["the", "mean"] == pytest.approx(0.5)
    assert words.loc["so", "median"] == pytest.approx((1.4 + 1.5) / 2, rel=1e-6)
    top = result.top_words
    assert (top["count"] >= 2).all() and len(top) == 3
    assert top["word"].tolist()[0] == "so" and list(top["mean"]) == sorted(top["mean"], reverse=True)


def test_mean_over_tokens_option_changes_split_words_only():
    tokens = [("First", 1.0), (" multip", 2.0), ("lication", 0.5), (" is", 0.3), (" hard", 0.4), (".", 0.1)]
    frame = make_table([make_row(tokens)])
    first = pivotal(frame, n_boot=20, min_count=1).words.set_index("word")
    mean = pivotal(frame, n_boot=20, min_count=1, word_entropy="mean").words.set_index("word")
    assert first.loc["multiplication", "mean"] == pytest.approx(2.0)
    assert mean.loc["multiplication", "mean"] == pytest.approx(1.25)
    assert first.loc["hard", "mean"] == mean.loc["hard", "mean"] == pytest.approx(0.4)
    with pytest.raises(UserError, match="word_entropy"):
        pivotal(frame, word_entropy="last")


def test_ci_covers_a_known_difference():
    rng = np.random.default_rng(0)
    rows = []
    for r in range(80):
        words = rng.choice(["however", "the", "value", "of", "we", "sum", "is"], size=30, p=[0.1] + [0.15] * 6)
        tokens = [((" " if i else "") + w, float(rng.uniform(1, 2) if w == "however" else rng.uniform(0, 1)))
                  for i, w in enumerate(words)]
        rows.append(make_row(tokens, f"p{r}", 0))
    row = pivotal(make_table(rows)).categories.set_index("category").loc["contrastive"]
    assert row["diff_ci_low"] < 1.0 < row["diff_ci_high"]  # true difference of means: 1.5 - 0.5
    assert row["diff_ci_high"] - row["diff_ci_low"] < 0.2
    assert row["effect_size"] == 1.0 and row["p_value"] < 1e-50 and row["forking_share"] > 0.5


def test_custom_lexicon_json_csv_and_dict(tmp_path):
    lexicon = {"_note": "ignored", "hedge": ["Maybe", "perhaps"], "causal": ["so"]}
    (tmp_path / "lex.json").write_text(json.dumps(lexicon))
    (tmp_path / "lex.csv").write_text("word,category\nmaybe,hedge\nperhaps,hedge\nSo,causal\n")
    frame = make_table([make_row(words_to_tokens("Maybe so, perhaps not. So maybe.", {"maybe": 2.0, "so": 1.0}))])
    results = [pivotal(frame, lexicon=lexicon_arg, n_boot=50) for lexicon_arg in
               (tmp_path / "lex.json", tmp_path / "lex.csv", {"hedge": ["maybe", "perhaps"], "causal": ["so"]})]
    for result in results:
        table = result.categories.set_index("category")
        assert list(table.index) == ["hedge", "causal"]
        assert table.loc["hedge", "n"] == 3 and table.loc["hedge", "mean"] == pytest.approx((2.0 + 0.5 + 2.0) / 3)
        assert table.loc["causal", "n"] == 2 and table.loc["causal", "ordinary_n"] == 1  # "not"
    assert load_lexicon(tmp_path / "lex.json") == {"hedge": ["maybe", "perhaps"], "causal": ["so"]}


@pytest.mark.parametrize("name, content, message", [
    ("missing.json", None, "cannot be read"),
    ("empty.json", "", "not valid JSON"),
    ("broken.json", "{\"causal\": [\"so\"", "not valid JSON"),
    ("list.json", "[\"so\", \"because\"]", "not an object"),
    ("nested.json", "{\"causal\": {\"so\": 1}}", "not a list of strings"),
    ("none.json", "{\"causal\": []}", "holds no words"),
    ("phrase.json", "{\"causal\": [\"so\", \"as a result\"]}", "not a single word"),
    ("twice.json", "{\"causal\": [\"so\"], \"sequential\": [\"so\"]}", "two categories"),
    ("columns.csv", "term,kind\nso,causal\n", "lacks the CSV columns"),
    ("empty.csv", "", "lacks the CSV columns"),
    ("blank.csv", "word,category\nso,\n", "empty word or category"),
    ("lexicon.txt", "so causal", "neither .json nor .csv"),
])
def test_bad_lexicon_file_is_a_user_error(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message):
        pivotal(_frame(), lexicon=path)


def test_builtin_lexicon_has_the_four_categories():
    lexicon = load_lexicon()
    assert list(lexicon) == ["causal", "contrastive", "sequential", "reasoning_verb"]
    for word, category in [("because", "causal"), ("therefore", "causal"), ("however", "contrastive"),
                           ("although", "contrastive"), ("first", "sequential"), ("then", "sequential"),
                           ("suggest", "reasoning_verb"), ("demonstrates", "reasoning_verb"), ("implies", "reasoning_verb")]:
        assert word in lexicon[category]


def test_skipped_rows_are_noted():
    good = [make_row(words_to_tokens(text, h), f"p{i}", 0) for i, (text, h) in enumerate(RESPONSES)]
    empty = make_row([], "e", 0)
    nan = make_row(words_to_tokens("So it goes.", {"so": float("nan")}), "n", 0)
    bad_offsets = make_row(words_to_tokens("Thus it goes.", {}), "o", 0)
    bad_offsets["offsets"][0] = [2, 1]
    result = pivotal(make_table(good + [empty, nan, bad_offsets]), n_boot=50)
    assert result.skipped.startswith("skipped 3 rows")
    for reason in ("1 NaN or infinite entropy", "1 empty response", "1 offsets out of order or outside the response"):
        assert reason in result.skipped
    assert result.n_responses == 3
    clean = pivotal(make_table(good), n_boot=50)
    assert clean.skipped == ""
    pd.testing.assert_frame_equal(result.categories, clean.categories)


def test_directory_input_and_written_files(tmp_path):
    from entropy_lens.rollouts.store import RolloutStore

    store = RolloutStore(tmp_path / "runs", {"command": "test"})
    store.open()
    store.write(_frame().to_dict("records"))
    from_dir = pivotal(tmp_path / "runs", n_boot=200, min_count=2)
    pd.testing.assert_frame_equal(from_dir.categories, pivotal(_frame(), n_boot=200).categories)

    paths = write_pivotal(from_dir, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["pivotal.csv", "pivotal.png", "pivotal.svg", "pivotal_words.csv"]
    assert list(pd.read_csv(tmp_path / "out" / "pivotal.csv").columns) == CATEGORY_COLUMNS
    words = pd.read_csv(tmp_path / "out" / "pivotal_words.csv", keep_default_na=False)
    assert list(words.columns) == ["list", "word", "category", "count", "mean", "median"]
    assert set(words["list"]) == {"lexicon", "top"}
    assert len(words[words["list"] == "lexicon"]) == sum(len(v) for v in from_dir.lexicon.values())
    assert len(pivotal_words_table(from_dir)) == len(words)
    assert (tmp_path / "out" / "pivotal.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "out" / "pivotal.svg").read_text()[:2000]


def test_tables_without_words_or_without_ordinary_words(tmp_path):
    no_words = pivotal(make_table([make_row([("12", 0.5), (" +", 0.2), (" 3", 0.1)]), make_row([("=", 0.3)], "p1")]),
                       n_boot=50)
    assert (no_words.categories["n"] == 0).all() and no_words.categories["mean"].isna().all()
    assert no_words.n_words == 0 and len(no_words.top_words) == 0
    only_pivotal = pivotal(make_table([make_row([("So", 0.5)])]), n_boot=50)
    causal = only_pivotal.categories.set_index("category").loc["causal"]
    assert causal["n"] == 1 and causal["ordinary_n"] == 0 and math.isnan(causal["p_value"])
    for name, result in (("none", no_words), ("pivotal", only_pivotal)):  # the figure copes too
        write_pivotal(result, tmp_path / name)
        assert (tmp_path / name / "pivotal.png").stat().st_size > 10_000


def test_group_medians():
    from entropy_lens.quantiles import group_medians

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30, 500)
    for values in (rng.gamma(1.0, 1.0, 500).astype(np.float32).astype(np.float64),  # float32 entropies: bit keys
                   rng.normal(0.0, 1.0, 500)):                                        # anything else: ranks
        values[:3] = [-0.0, 0.0, 0.0] if values.min() >= 0 else values[:3]
        expected = [np.median(values[ids == g]) if (ids == g).any() else np.nan for g in range(32)]
        np.testing.assert_allclose(group_medians(ids, values, 32), expected)
