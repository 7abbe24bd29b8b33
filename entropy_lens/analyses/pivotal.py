"""Pivotal tokens: the entropy of words that connect logical steps (docs/method.md §2).

Four categories of words (causal: because, therefore, ...; contrastive: however, but, ...;
sequential: first, then, ...; reasoning verbs: suggest, show, ...) come from a lexicon file
(``entropy_lens/data/pivotal_lexicon.json``, replaceable). Each word occurrence gets the
entropy of the token where it starts (or the mean over its tokens), see
:mod:`entropy_lens.analyses.words`. Every category is compared with the *ordinary* words (all
other word occurrences) with :func:`entropy_lens.stats.compare_groups`: bootstrap CIs
resample responses. ``forking_share`` is the share of a category's words whose entropy is
above the ``forking_quantile`` (0.8) quantile of all token entropies of the table: the
"forking" tokens of the 80/20 view.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from entropy_lens.errors import UserError
from entropy_lens.quantiles import group_medians, quantile, sorted_quantiles
from entropy_lens.stats import N_BOOT, compare_groups
from entropy_lens.analyses.words import WORD_ENTROPY, is_word, normalize_word, segment_words

CATEGORY_COLUMNS = ["category", "n", "mean", "median", "ordinary_n", "ordinary_mean", "diff_ci_low", "diff_ci_high",
                    "p_value", "effect_size", "forking_share"]
WORD_COLUMNS = ["word", "category", "count", "mean", "median"]
DEFAULT_LEXICON = "data/pivotal_lexicon.json"  # inside the entropy_lens package
_LEXICON_FIX = "pass a JSON file {\"category\": [\"word\", ...]} or a CSV file with columns word,category"


@dataclass
class PivotalResult:
    """What :func:`pivotal` found. Entropies in nats.

    ``categories``: one row per lexicon category (columns ``CATEGORY_COLUMNS``).
    ``words``: one row per distinct word (lexicon words never seen included, count 0):
    word, category ('' outside the lexicon), count, mean, median; by count, descending.
    ``top_words``: the data-driven list, words seen at least ``min_count`` times with the
    highest mean entropy (``top`` of them). ``distributions``: per group (``ordinary``
    first, then each category) n, mean and the 5/25/50/75/95% quantiles, for the figure.
    ``skipped``: '' or a note on the rows left out.
    """

    categories: Any  # pandas.DataFrame
    words: Any
    top_words: Any
    distributions: Any
    skipped: str
    lexicon: dict[str, list[str]]
    word_entropy: str
    min_count: int
    forking_quantile: float
    forking_threshold: float
    n_responses: int
    n_tokens: int
    n_words: int


# -- lexicon -------------------------------------------------------------------------------

def load_lexicon(path: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """The lexicon ``{category: [words]}``: the built-in one, or a user's JSON (same shape;
    keys starting with ``_`` are comments) or CSV (columns ``word,category``) file.
    Words are lower-cased; each must be a single word and belong to one category.
    Raises UserError on an unreadable, empty or malformed file."""
    if path is None:
        from importlib.resources import files

        text, name = files("entropy_lens").joinpath(DEFAULT_LEXICON).read_text(encoding="utf-8"), "built-in lexicon"
        suffix = ".json"
    else:
        p = Path(path)
        name, suffix = f"lexicon file {p}", p.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise UserError(f"{name} is neither .json nor .csv", _LEXICON_FIX)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{name} cannot be read ({getattr(e, 'strerror', None) or e})", _LEXICON_FIX) from None
    return _build_lexicon(_json_pairs(text, name) if suffix == ".json" else _csv_pairs(text, name), name)


def _build_lexicon(pairs: list[tuple[str, str]], name: str) -> dict[str, list[str]]:
    lexicon: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    bad = []
    for word, category in pairs:
        w = normalize_word(word)
        if not is_word(w):
            bad.append(word)
            continue
        if w in owner and owner[w] != category:
            raise UserError(f"{name}: {w!r} is in two categories ({owner[w]}, {category})", "keep each word in one category")
        if w not in owner:
            owner[w] = category
            lexicon.setdefault(category, []).append(w)
    if bad:
        raise UserError(f"{name}: {len(bad)} entr{'ies are' if len(bad) > 1 else 'y is'} not a single word: "
                        + ", ".join(repr(b) for b in bad[:5]),
                        "use single words (letters, apostrophes inside); phrases are not matched")
    if not lexicon:
        raise UserError(f"{name} holds no words", _LEXICON_FIX)
    return lexicon


def _json_pairs(text: str, name: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UserError(f"{name} is not valid JSON ({e})", _LEXICON_FIX) from None
    if not isinstance(data, dict):
        raise UserError(f"{name} is a JSON {type(data).__name__}, not an object of category -> word list", _LEXICON_FIX)
    return _dict_pairs(data, name)


def _dict_pairs(data: dict, name: str) -> list[tuple[str, str]]:
    pairs = []
    for category, words in data.items():
        if str(category).startswith("_"):
            continue
        if not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
            raise UserError(f"{name}: category {category!r} is not a list of strings", _LEXICON_FIX)
        if not isinstance(category, str) or not category.strip():
            raise UserError(f"{name} has an empty category name", _LEXICON_FIX)
        pairs += [(w, category.strip()) for w in words]
    return pairs


def _csv_pairs(text: str, name: str) -> list[tuple[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        columns = {c.strip().lower(): c for c in (reader.fieldnames or []) if c}
        if "word" not in columns or "category" not in columns:
            raise UserError(f"{name} lacks the CSV columns word and category (found {reader.fieldnames or 'none'})",
                            _LEXICON_FIX)
        rows = list(reader)
    except csv.Error as e:
        raise UserError(f"{name} is not a valid CSV file ({e})", _LEXICON_FIX) from None
    pairs = []
    for i, row in enumerate(rows, start=2):
        word, category = (row.get(columns["word"]) or "").strip(), (row.get(columns["category"]) or "").strip()
        if not word and not category:
            continue
        if not word or not category:
            raise UserError(f"{name} line {i}: empty word or category", _LEXICON_FIX)
        pairs.append((word, category))
    return pairs


# -- the analysis --------------------------------------------------------------------------

def pivotal(rollouts, *, lexicon: str | os.PathLike | dict[str, list[str]] | None = None, word_entropy: str = "first",
            min_count: int = 20, top: int = 30, forking_quantile: float = 0.8, n_boot: int = N_BOOT,
            seed: int = 0) -> PivotalResult:
    """Entropy of pivotal words vs ordinary words in a rollout table (a DataFrame or a
    rollout directory). ``lexicon``: a file path, a ``{category: [words]}`` dict, or None for
    the built-in one. ``word_entropy``: "first" (entropy at the word's first token) or
    "mean" (over its tokens). See :class:`PivotalResult` for what is returned."""
    import pandas as pd

    from entropy_lens.rollouts.load import load_rollouts
    from entropy_lens.rollouts.validate import TOKEN_COLUMNS, Checked

    if word_entropy not in WORD_ENTROPY:
        raise UserError(f"word_entropy={word_entropy!r} is not one of {WORD_ENTROPY}",
                        "use 'first' (entropy at the word's first token) or 'mean' (mean over its tokens)")
    if min_count < 1 or top < 0 or n_boot < 1:
        raise UserError(f"min_count={min_count}, top={top}, n_boot={n_boot}", "use min_count >= 1, top >= 0, n_boot >= 1")
    if not 0.0 < forking_quantile < 1.0:
        raise UserError(f"forking_quantile={forking_quantile} is not in (0, 1)", "use e.g. 0.8 (top 20% of token entropies)")
    lex = _lexicon_dict(lexicon)
    checked = load_rollouts(rollouts, columns=TOKEN_COLUMNS)
    words = segment_words(checked.frame, word_entropy=word_entropy)
    skipped = Checked(None, {**checked.skipped, **words.skipped}).skipped_note()

    categories = list(lex)
    vocab_category = vocab_categories(words.vocab, lex)
    category = vocab_category[words.word_id]
    values, clusters = words.entropy, words.response
    ordinary = category == -1
    groups = {}
    for i, c in enumerate(categories):
        mask = category == i
        groups[c] = (values[mask], clusters[mask])
    y = values[ordinary]
    y_sorted = np.sort(y)
    comparisons = compare_groups(groups, y, clusters[ordinary], y_sorted=y_sorted, n_boot=n_boot, seed=seed)
    threshold = quantile(words.tokens.entropy, forking_quantile)
    rows = []
    for c in categories:
        cmp, x = comparisons[c], groups[c][0]
        rows.append([c, cmp.n, cmp.mean, cmp.median, cmp.other_n, cmp.other_mean, cmp.diff_ci_low, cmp.diff_ci_high,
                     cmp.p_value, cmp.effect_size, float(np.mean(x > threshold)) if len(x) else math.nan])
    table = pd.DataFrame(rows, columns=CATEGORY_COLUMNS)

    words_table = _word_table(words, vocab_category, categories, lex)
    frequent = words_table[words_table["count"] >= min_count]
    top_words = frequent.sort_values(["mean", "count"], ascending=[False, False], kind="stable").head(top)
    distributions = pd.DataFrame([_distribution("ordinary", y_sorted)]
                                 + [_distribution(c, np.sort(groups[c][0])) for c in categories])
    return PivotalResult(
        categories=table, words=words_table, top_words=top_words.reset_index(drop=True), distributions=distributions,
        skipped=skipped, lexicon=lex, word_entropy=word_entropy, min_count=min_count,
        forking_quantile=forking_quantile, forking_threshold=threshold,
        n_responses=len(words.tokens.response_start), n_tokens=words.tokens.n_tokens, n_words=len(words),
    )


def vocab_categories(vocab, lexicon: dict[str, list[str]]) -> np.ndarray:
    """For each distinct word of ``vocab`` (``Words.vocab``), the index of its category in
    ``lexicon`` (in the lexicon's order), -1 for an ordinary word."""
    index = {w: i for i, c in enumerate(lexicon) for w in lexicon[c]}
    return np.fromiter((index.get(w, -1) for w in vocab), dtype=np.int64, count=len(vocab))


def _lexicon_dict(lexicon) -> dict[str, list[str]]:
    if isinstance(lexicon, dict):
        return _build_lexicon(_dict_pairs(lexicon, "lexicon"), "lexicon")
    return load_lexicon(lexicon)


def _word_table(words, vocab_category: np.ndarray, categories: list[str], lexicon: dict[str, list[str]]):
    import pandas as pd

    n = len(words.vocab)
    counts = np.bincount(words.word_id, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(words.word_id, weights=words.entropy, minlength=n) / counts
    names = np.array(list(categories) + [""], dtype=object)
    table = pd.DataFrame({"word": words.vocab, "category": names[vocab_category], "count": counts, "mean": means,
                          "median": group_medians(words.word_id, words.entropy, n)})
    present = set(words.vocab[vocab_category >= 0].tolist())
    missing = [(w, c) for c in categories for w in lexicon[c] if w not in present]
    if missing:
        table = pd.concat([table, pd.DataFrame({"word": [w for w, _ in missing], "category": [c for _, c in missing],
                                                "count": 0, "mean": math.nan, "median": math.nan})], ignore_index=True)
    return table.sort_values(["count", "word"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _distribution(group: str, x_sorted: np.ndarray) -> dict[str, Any]:
    q = sorted_quantiles(x_sorted, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"group": group, "n": len(x_sorted), "mean": float(x_sorted.mean()) if len(x_sorted) else math.nan,
            "q05": q[0], "q25": q[1], "median": q[2], "q75": q[3], "q95": q[4]}


def pivotal_words_table(result: PivotalResult):
    """The rows of ``pivotal_words.csv``: every lexicon word (list ``lexicon``, by category,
    then count) and the data-driven top words (list ``top``, by mean entropy)."""
    import pandas as pd

    order = {c: i for i, c in enumerate(result.lexicon)}
    lex = result.words[result.words["category"] != ""].copy()
    lex["_order"] = lex["category"].map(order)
    lex = lex.sort_values(["_order", "count", "word"], ascending=[True, False, True], kind="stable").drop(columns="_order")
    return pd.concat([lex.assign(list="lexicon"), result.top_words.assign(list="top")], ignore_index=True)[
        ["list"] + WORD_COLUMNS]
