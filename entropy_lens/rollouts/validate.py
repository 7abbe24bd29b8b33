"""Checking a rollout table before an analysis reads it.

Structural problems (missing columns) are errors. Rows an analysis cannot use (per-token
lists of different lengths, NaN or infinite entropies, empty responses) are skipped and
counted, so every output can say how many rows were left out and why. A table with no
usable row at all is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from entropy_lens.errors import UserError

TOKEN_COLUMNS = ("prompt_id", "sample_id", "response", "token_ids", "offsets", "entropy")


@dataclass
class Checked:
    """The usable rows and what was skipped (reason -> number of rows)."""

    frame: object  # pandas.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)

    def skipped_note(self) -> str:
        """'' when nothing was skipped, else e.g. 'skipped 3 rows: 2 empty response, 1 NaN entropy'."""
        if not self.skipped:
            return ""
        total = sum(self.skipped.values())
        return f"skipped {total} row{'s' * (total != 1)}: " + ", ".join(f"{n} {why}" for why, n in self.skipped.items())


def check_rollouts(frame, *, need: tuple[str, ...] = TOKEN_COLUMNS, source: str = "rollout table") -> Checked:
    """Validate ``frame`` (a rollout table); returns the usable rows and the skip counts."""
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise UserError(f"{source} lacks column(s) {missing}", "pass a rollout directory written by `entropy-lens generate` or `score`")
    reasons = np.full(len(frame), "", dtype=object)
    if "token_ids" in need and "entropy" in need:
        n_tokens = frame["token_ids"].map(len).to_numpy()
        lengths_ok = n_tokens == frame["entropy"].map(len).to_numpy()
        if "offsets" in need:
            lengths_ok &= n_tokens == frame["offsets"].map(len).to_numpy()
        reasons[~lengths_ok] = "per-token lists of different lengths"
    if "entropy" in need:
        finite = frame["entropy"].map(lambda e: bool(np.isfinite(np.asarray(e, dtype=np.float64)).all())).to_numpy()
        reasons[(reasons == "") & ~finite] = "NaN or infinite entropy"
    if "response" in need:
        empty = frame["response"].map(lambda r: not isinstance(r, str) or not r.strip()).to_numpy()
        reasons[(reasons == "") & empty] = "empty response"
    keep = reasons == ""
    skipped: dict[str, int] = {}
    for why in reasons[~keep]:
        skipped[why] = skipped.get(why, 0) + 1
    if not keep.any():
        detail = Checked(frame, skipped).skipped_note() or "it has no rows"
        raise UserError(f"{source} has no usable rows ({detail})", "generate or score responses first")
    return Checked(frame[keep].reset_index(drop=True), skipped)
