"""Where ``entropy-lens fork`` probes a response: token positions of three kinds.

For every response of a checked rollout table, up to ``positions`` token positions of each
kind (``KINDS``), never its last token (resampling the final EOS, or the last token of a
cut-off response, cannot change the answer). "Tokens" below are the response's tokens but
the last; n is their number.

- ``high``: drawn at random among the top 10% by entropy (the ``ceil(0.1 * n)`` highest,
  ties broken by position);
- ``low``: from the lower half by entropy (entropy <= the median), less the positions chosen
  as ``high``, matched in relative position: for each chosen high position (in order of
  position) the not yet chosen low-half token nearest to it (ties drawn at random); when
  there are fewer highs than ``positions``, the rest are drawn at random from the low half;
- ``pivotal``: drawn at random among the first tokens of the words of the pivotal lexicon
  (:mod:`entropy_lens.analyses.pivotal`; words as :mod:`entropy_lens.analyses.words` finds
  them, so a response whose offsets are unusable has none).

A position chosen by two kinds (a pivotal token that is also high) gives a row for each.
Every response draws from its own generator, ``numpy.random.default_rng([seed,
crc32(prompt_id), sample_id])``: the choice depends neither on the order of the rows nor on
the other rows.

Output (``POSITION_COLUMNS``), one row per (response, kind, position): prompt_id,
sample_id, position (token index in the response), kind, token (its text,
``response[start:end]``), entropy (nats), relative_position (position / the response's
number of tokens, the last one included); sorted by prompt_id, sample_id, kind (in the order
of ``KINDS``) and position.
"""

from __future__ import annotations

import math
import os
import zlib

import numpy as np

from entropy_lens.errors import UserError

KINDS = ("high", "low", "pivotal")
POSITION_COLUMNS = ["prompt_id", "sample_id", "position", "kind", "token", "entropy", "relative_position"]
HIGH_SHARE = 0.1


def response_rng(seed: int, prompt_id: str, sample_id: int) -> np.random.Generator:
    """The generator of one response's draws (independent of every other row)."""
    return np.random.default_rng([int(seed), zlib.crc32(str(prompt_id).encode("utf-8")), int(sample_id)])


def _draw(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    """``min(k, len(pool))`` distinct entries of ``pool`` at random, in ascending order."""
    if k >= len(pool):
        return np.sort(pool)
    return np.sort(rng.choice(pool, size=k, replace=False))


def _matched_low(rng: np.random.Generator, highs: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """Low positions from ``pool``: one nearest to each high (in order), then random ones."""
    free = np.ones(len(pool), dtype=bool)
    chosen = []
    for h in highs[:k]:
        if not free.any():
            break
        distance = np.where(free, np.abs(pool - h), np.iinfo(np.int64).max)
        nearest = np.flatnonzero(distance == distance.min())
        pick = nearest[0] if len(nearest) == 1 else rng.choice(nearest)
        free[pick] = False
        chosen.append(pool[pick])
    rest = _draw(rng, pool[free], k - len(chosen)) if k > len(chosen) else np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate([np.asarray(chosen, dtype=np.int64), rest.astype(np.int64)]))


def _choose(entropy: np.ndarray, pivotal: np.ndarray, rng: np.random.Generator, k: int) -> dict[str, np.ndarray]:
    """The positions of each kind in one response (``entropy``: all its tokens)."""
    n = len(entropy) - 1  # the last token is never probed
    if n < 1:
        return {kind: np.zeros(0, dtype=np.int64) for kind in KINDS}
    values = entropy[:n]
    by_entropy = np.argsort(-values, kind="stable")
    top = by_entropy[:math.ceil(HIGH_SHARE * n)]
    highs = _draw(rng, top, k)
    low_pool = np.flatnonzero(values <= np.median(values))
    low_pool = low_pool[~np.isin(low_pool, highs)]
    lows = _matched_low(rng, highs, low_pool, k)
    pivots = _draw(rng, pivotal[pivotal < n], k)
    return {"high": highs, "low": lows, "pivotal": pivots}


def _lexicon(lexicon) -> dict[str, list[str]]:
    from entropy_lens.analyses.pivotal import load_lexicon
    from entropy_lens.analyses.words import normalize_word

    if lexicon is None or isinstance(lexicon, (str, os.PathLike)):
        return load_lexicon(lexicon)
    if isinstance(lexicon, dict):
        return {c: [normalize_word(w) for w in words] for c, words in lexicon.items() if not str(c).startswith("_")}
    raise UserError(f"lexicon of type {type(lexicon).__name__}", "pass a file path, a {category: [words]} dict or None")


def pivotal_positions(frame, lexicon=None) -> list[np.ndarray]:
    """For each row of ``frame``, the token positions where a lexicon word starts (sorted,
    distinct); empty for rows whose offsets are unusable."""
    from entropy_lens.analyses.pivotal import vocab_categories
    from entropy_lens.analyses.words import segment_words

    out = [np.zeros(0, dtype=np.int64) for _ in range(len(frame))]
    if not len(frame):
        return out
    try:
        words = segment_words(frame)
    except UserError:  # no row with usable offsets: no word starts, but high and low still work
        return out
    pivotal = vocab_categories(words.vocab, _lexicon(lexicon))[words.word_id] >= 0
    response = words.response[pivotal]
    local = words.first_token[pivotal] - words.tokens.token_bounds[response]
    rows = response if words.rows is None else words.rows[response]
    order = np.lexsort((local, rows))
    rows, local = rows[order], local[order]
    bounds = np.searchsorted(rows, np.arange(len(frame) + 1))
    for r in np.flatnonzero(np.diff(bounds)):
        out[r] = np.unique(local[bounds[r]:bounds[r + 1]]).astype(np.int64)
    return out


def choose_positions(frame, *, positions: int = 4, seed: int = 0, lexicon=None):
    """The token positions to probe in every response of ``frame`` (a checked rollout
    table: prompt_id, sample_id, response, token_ids, offsets, entropy): a DataFrame with
    ``POSITION_COLUMNS``, see the module docstring. ``lexicon``: a file path, a
    ``{category: [words]}`` dict, or None for the built-in pivotal lexicon."""
    import pandas as pd

    if positions < 1:
        raise UserError(f"positions={positions}", "probe at least 1 position of each kind per response")
    if seed < 0:
        raise UserError(f"seed={seed} is negative", "use a seed >= 0")
    pivots = pivotal_positions(frame, lexicon)
    kind_rank = {kind: i for i, kind in enumerate(KINDS)}
    columns: dict[str, list] = {c: [] for c in POSITION_COLUMNS}
    for row, pivotal in zip(frame[["prompt_id", "sample_id", "response", "offsets", "entropy"]].itertuples(index=False),
                            pivots):
        entropy = np.asarray(row.entropy, dtype=np.float64)
        chosen = _choose(entropy, pivotal, response_rng(seed, row.prompt_id, row.sample_id), positions)
        for kind in KINDS:
            for t in chosen[kind].tolist():
                start, end = row.offsets[t]
                columns["prompt_id"].append(row.prompt_id)
                columns["sample_id"].append(int(row.sample_id))
                columns["position"].append(t)
                columns["kind"].append(kind)
                columns["token"].append(row.response[int(start):int(end)])
                columns["entropy"].append(float(entropy[t]))
                columns["relative_position"].append(t / len(entropy))
    table = pd.DataFrame(columns).astype({"sample_id": "int64", "position": "int64", "entropy": "float64",
                                          "relative_position": "float64"})
    table["_rank"] = table["kind"].map(kind_rank)
    table = table.sort_values(["prompt_id", "sample_id", "_rank", "position"], kind="stable")
    return table.drop(columns="_rank").reset_index(drop=True)
