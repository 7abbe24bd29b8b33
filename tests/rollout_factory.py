"""Rollout tables built by hand: tokens given as (text, entropy) pairs, so every number an
analysis computes from them is known in advance."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def make_row(tokens: Sequence[tuple[str, float]], prompt_id: str = "p0", sample_id: int = 0,
             prompt: str = "What is 1 + 1?", answer: str | None = None, correct: bool | None = None) -> dict:
    """One rollout-table row whose response is the concatenation of the token texts."""
    offsets, pos = [], 0
    for text, _ in tokens:
        offsets.append([pos, pos + len(text)])
        pos += len(text)
    return {
        "prompt_id": prompt_id, "sample_id": sample_id, "prompt": prompt, "prompt_token_ids": [1, 2, 3],
        "response": "".join(t for t, _ in tokens), "token_ids": list(range(10, 10 + len(tokens))),
        "offsets": offsets, "entropy": np.asarray([h for _, h in tokens], dtype=np.float32),
        "logprob": np.full(len(tokens), -1.0, dtype=np.float32), "answer": answer, "extracted": None,
        "correct": correct, "finish_reason": "stop",
    }


def words_to_tokens(text: str, entropy: dict[str, float], default: float = 0.5) -> list[tuple[str, float]]:
    """Split ``text`` GPT-2 style (a leading space belongs to the next word) and give each
    token the entropy of its lower-cased stripped text from ``entropy`` (else ``default``)."""
    import re

    pieces = re.findall(r" ?[A-Za-z']+| ?\d+| ?[^\sA-Za-z\d]+|\s+", text)
    assert "".join(pieces) == text
    return [(p, entropy.get(p.strip().lower(), default)) for p in pieces]


def make_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)
