"""Which responses a heatmap shows, and what it marks in them (compute only).

``select_rows`` picks rows of a checked rollout table (listed (prompt_id, sample_id) pairs,
or the responses with the highest mean token entropy); ``find_marks`` finds the pivotal
words (entropy_lens.analyses.pivotal's lexicon, segmented by entropy_lens.analyses.words)
and the reflective sentences (entropy_lens.analyses.reflect) as token positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from entropy_lens.errors import UserError

DEFAULT_TOP = 5


# -- rows --------------------------------------------------------------------------------------

def response_key(prompt_id: Any, sample_id: Any) -> tuple[str, int]:
    """(prompt_id as str, sample_id as int): how marks and selections name a response."""
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


def all_token_entropies(frame) -> np.ndarray:
    """Every token entropy of the table, as one float64 array."""
    return np.concatenate([np.asarray(e, dtype=np.float64) for e in frame["entropy"]]) if len(frame) else np.zeros(0)


def as_pairs(select) -> list:
    """``select`` as a list of pairs: one (prompt_id, sample_id) tuple becomes a list of one."""
    if isinstance(select, tuple) and len(select) == 2 and not isinstance(select[0], (tuple, list)):
        return [select]
    return list(select)


def select_rows(frame, select: Sequence[tuple[Any, int]] | None = None, top: int | None = None,
                *, original=None) -> list[int]:
    """Row positions in ``frame`` to show.

    ``select``: the listed (prompt_id, sample_id) pairs, in that order; ``top``: the ``top``
    responses with the highest mean token entropy (ties: prompt_id, sample_id); neither: the
    top ``DEFAULT_TOP``. An unknown pair, or one whose row is unusable, is a UserError.
    """
    if select is not None and top is not None:
        raise UserError("both select and top given", "pass one of them")
    index = {response_key(p, s): i for i, (p, s) in enumerate(zip(frame["prompt_id"], frame["sample_id"]))}
    if select is not None:
        rows = []
        for pair in as_pairs(select):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise UserError(f"select item {pair!r} is not a (prompt_id, sample_id) pair", "pass e.g. [('p0', 0)]")
            key = response_key(*pair)
            if key not in index:
                in_original = original is not None and any(
                    response_key(p, s) == key for p, s in zip(original["prompt_id"], original["sample_id"]))
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
    reflective_shown: bool = False  # reflective sentences were looked for (so the legend shows their key)


def pivotal_marks(frame, lexicon=None) -> tuple[dict, list[str]]:
    """{(prompt_id, sample_id): {token index: (category, word)}}: the token where each
    pivotal word starts (found by entropy_lens.analyses.words), and the categories in
    lexicon order. ``lexicon``: a lexicon file (``load_lexicon``'s argument; None: the
    built-in one) or a lexicon already loaded by ``load_lexicon``."""
    from entropy_lens.analyses.pivotal import load_lexicon, vocab_categories
    from entropy_lens.analyses.words import segment_words

    lex = lexicon if isinstance(lexicon, dict) else load_lexicon(lexicon)
    categories = list(lex)
    words = segment_words(frame)
    category = vocab_categories(words.vocab, lex)[words.word_id]
    hit = np.flatnonzero(category >= 0)
    response = words.response[hit]
    local = words.first_token[hit] - words.tokens.token_bounds[response]
    rows = response if words.rows is None else np.asarray(words.rows)[response]
    prompt_ids, sample_ids = frame["prompt_id"].to_numpy(), frame["sample_id"].to_numpy()
    marks: dict[tuple[str, int], dict[int, tuple[str, str]]] = {}
    for r, t, c, w in zip(rows.tolist(), local.tolist(), category[hit].tolist(), words.word_id[hit].tolist()):
        marks.setdefault(response_key(prompt_ids[r], sample_ids[r]), {})[int(t)] = (categories[c], str(words.vocab[w]))
    return marks, categories


def reflective_marks(frame, result=None) -> dict:
    """{(prompt_id, sample_id): [(first token, end token, mean entropy, sentence)]}: the token
    ranges of the reflective sentences found by entropy_lens.analyses.reflect. Tokens go to
    sentences by the rule of entropy_lens.analyses.sentences (a token belongs to the sentence
    holding its first non-space character), so the marks agree with the reflect statistics."""
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
            marks[response_key(pid, sid)] = ranges
    return marks


def find_marks(frame, *, pivotal: bool = True, reflective: bool = True, reflect_result=None) -> Marks:
    """The pivotal and reflective marks of ``frame`` (``reflect_result``: reflect(frame), if
    already computed)."""
    marks = Marks()
    if pivotal:
        marks.pivotal, marks.categories = pivotal_marks(frame)
    if reflective:
        marks.reflective = reflective_marks(frame, reflect_result)
        marks.reflective_shown = True
    return marks
