"""Flat token arrays of a whole rollout table: every token's character span and entropy as
one array each, built with array operations and no Python loop over tokens.

``token_arrays`` joins the responses into one text (what word finding reads); ``token_spans``
keeps each span relative to its own response (what sentence assignment reads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEPARATOR = "\n"  # between responses in the joined text: never part of a word


@dataclass
class TokenArrays:
    """The tokens of a rollout table as flat arrays (N tokens, R responses).

    ``start``/``end`` are character positions in ``text``, the responses joined by one
    ``\\n``; response ``r`` begins at ``response_start[r]`` and owns tokens
    ``token_bounds[r]:token_bounds[r + 1]``. ``entropy`` is float32, nats.
    """

    text: str
    response_start: np.ndarray  # (R,) int64
    response_length: np.ndarray  # (R,) int64, characters
    token_bounds: np.ndarray  # (R + 1,) int64
    start: np.ndarray  # (N,) int64
    end: np.ndarray  # (N,) int64
    entropy: np.ndarray  # (N,) float32

    @property
    def n_tokens(self) -> int:
        return len(self.entropy)

    @property
    def token_response(self) -> np.ndarray:
        """(N,) the response index of every token."""
        return np.repeat(np.arange(len(self.response_start)), np.diff(self.token_bounds))


def _view_rows(row) -> np.ndarray | None:
    """Offsets of a row read from Parquet by pandas, without touching each token.

    pyarrow turns ``list<list<int32>>`` into an object array of length-2 arrays that are
    consecutive views into one flat buffer. When the first, middle and last views are views
    of one buffer at the addresses that layout implies, the row is a slice of that buffer.
    Returns None when anything differs; the caller then converts the row the slow way.
    """
    n = len(row)
    probes = (row[0], row[n // 2], row[n - 1])
    base = getattr(probes[0], "base", None)
    if not isinstance(base, np.ndarray) or base.dtype.kind not in "iu" or not base.flags.c_contiguous:
        return None
    size = base.itemsize
    for p in probes:
        if type(p) is not np.ndarray or p.base is not base or p.shape != (2,) or p.strides != (size,):
            return None
    first = probes[0].__array_interface__["data"][0]
    if probes[1].__array_interface__["data"][0] != first + 2 * (n // 2) * size \
            or probes[2].__array_interface__["data"][0] != first + 2 * (n - 1) * size:
        return None
    k0, rest = divmod(first - base.__array_interface__["data"][0], size)
    if rest or k0 < 0 or k0 + 2 * n > base.size:
        return None
    return base.reshape(-1)[k0:k0 + 2 * n].reshape(n, 2)


def _row_offsets(row) -> np.ndarray:
    if isinstance(row, np.ndarray) and row.ndim == 2 and row.dtype.kind in "iu":
        return row
    if len(row) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if isinstance(row, np.ndarray) and row.dtype == object:
        view = _view_rows(row)
        return view if view is not None else np.stack(row)
    return np.asarray(row, dtype=np.int64).reshape(-1, 2)


def flat_offsets(column) -> np.ndarray:
    """The ``offsets`` column of a table as one (N, 2) integer array (one cheap step per row;
    int32 when every row is int32, else int64)."""
    rows = [_row_offsets(r) for r in column]
    if not rows:
        return np.zeros((0, 2), dtype=np.int64)
    flat = np.concatenate(rows)
    return flat if flat.dtype in (np.int32, np.int64) else flat.astype(np.int64)


def token_arrays(frame) -> tuple[TokenArrays, np.ndarray]:
    """Flat token arrays of ``frame`` (a checked rollout table) and a mask of the rows whose
    offsets are unusable (a span that is reversed, overlaps the one before, or lies outside
    the response); those rows' tokens are still in the arrays."""
    responses = frame["response"].tolist()
    lengths = np.fromiter(map(len, responses), dtype=np.int64, count=len(responses))
    response_start = np.concatenate([[0], np.cumsum(lengths + len(SEPARATOR))[:-1]]).astype(np.int64)
    text = SEPARATOR.join(responses)
    counts = np.fromiter(map(len, frame["entropy"]), dtype=np.int64, count=len(frame))
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    entropy = (np.concatenate([np.asarray(e, dtype=np.float32) for e in frame["entropy"]])
               if len(frame) else np.zeros(0, dtype=np.float32))
    offsets = flat_offsets(frame["offsets"])
    # valid row: 0 <= start_0 <= end_0 <= start_1 <= ... <= end_last <= len(response), i.e.
    # its interleaved starts and ends never decrease
    interleaved = offsets.reshape(-1)
    drop = np.flatnonzero(interleaved[1:] < interleaved[:-1]) + 1  # interleaved[drop] < interleaved[drop - 1]
    token = drop // 2  # the token whose start (drop even) or end (drop odd) goes backwards
    fault = (drop % 2 == 1) | ~np.isin(token, bounds)  # a row's first start may be below the last row's end
    bad_rows = np.zeros(len(frame), dtype=bool)
    bad_rows[np.searchsorted(bounds, token[fault], side="right") - 1] = True
    nonempty = counts > 0
    bad_rows[nonempty] |= (offsets[bounds[:-1][nonempty], 0] < 0) | (offsets[bounds[1:][nonempty] - 1, 1] > lengths[nonempty])
    shift = np.repeat(response_start, counts)
    tokens = TokenArrays(text=text, response_start=response_start, response_length=lengths, token_bounds=bounds,
                         start=offsets[:, 0] + shift, end=offsets[:, 1] + shift, entropy=entropy)
    return tokens, bad_rows


def token_spans(frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flatten a rollout table's tokens: (row index, start, end, entropy) arrays, one entry
    per token, offsets relative to the row's response, entropy float64 nats."""
    lengths = np.fromiter(map(len, frame["entropy"]), dtype=np.int64, count=len(frame))
    rows = np.repeat(np.arange(len(frame), dtype=np.int64), lengths)
    if lengths.sum() == 0:
        empty = np.zeros(0, dtype=np.int64)
        return rows, empty, empty, np.zeros(0, dtype=np.float64)
    flat = flat_offsets(frame["offsets"])
    entropy = np.concatenate([np.asarray(e).reshape(-1) for e in frame["entropy"]]).astype(np.float64)
    return rows, flat[:, 0], flat[:, 1], entropy
