"""Per-response exploration measures that training logs step by step: entropy at pivotal
words, reflective sentences, repetition. The bundled trainer (``trainer/metrics.py``) and the
TRL bridge (``integrations/trl_records.py``) both use them, with the words, token rule,
sentence splitter and reflection pattern of ``entropy-lens pivotal`` and ``reflect``."""

from __future__ import annotations

import functools
from typing import Sequence


@functools.lru_cache(maxsize=1)
def pivotal_words() -> frozenset[str]:
    """Lower-case pivotal words: the lexicon of ``entropy-lens pivotal``."""
    from entropy_lens.analyses.pivotal import load_lexicon

    return frozenset(w for words in load_lexicon().values() for w in words)


def batch_pivotal_entropies(texts: Sequence[str], offsets: Sequence[Sequence[Sequence[int]]],
                            entropies: Sequence[Sequence[float]]) -> list[float]:
    """Entropy at the first token of every pivotal word of the responses ``texts``, in order:
    the words of ``entropy-lens pivotal`` and its token rule (``segment_words``)."""
    import numpy as np
    import pandas as pd

    from entropy_lens.analyses.words import segment_words
    from entropy_lens.errors import UserError

    frame = pd.DataFrame({"response": list(texts), "offsets": list(offsets), "entropy": list(entropies)})
    try:
        words = segment_words(frame)
    except UserError:  # no response with usable offsets: no pivotal word to measure, not a failed step
        return []
    lexicon = pivotal_words()
    in_lexicon = np.fromiter((w in lexicon for w in words.vocab), dtype=bool, count=len(words.vocab))
    first = words.first_token[in_lexicon[words.word_id]]
    if not len(first):
        return []
    # the values given, not the float32 copy segment_words keeps (a bad row's tokens are not in its arrays)
    rows = range(len(frame)) if words.rows is None else words.rows.tolist()
    flat = np.concatenate([np.asarray(entropies[r], dtype=np.float64).reshape(-1) for r in rows])
    return flat[first].tolist()


def pivotal_entropies(text: str, offsets: Sequence[Sequence[int]], entropy: Sequence[float]) -> list[float]:
    """:func:`batch_pivotal_entropies` of one response."""
    return batch_pivotal_entropies([text], [offsets], [entropy])


def reflection_counts(texts: Sequence[str]) -> list[int]:
    """Reflective sentences in each of ``texts``: the splitter and pattern of ``entropy-lens reflect``."""
    from entropy_lens.analyses.reflect import is_reflective
    from entropy_lens.analyses.sentences import split_sentences

    sentences = [split_sentences(text) for text in texts]
    flags = is_reflective([s for parts in sentences for s in parts]).tolist()
    counts, at = [], 0
    for parts in sentences:
        counts.append(sum(flags[at:at + len(parts)]))
        at += len(parts)
    return counts


def reflection_count(text: str) -> int:
    """Number of reflective sentences in ``text``."""
    return reflection_counts([text])[0]


def repetition_rate(token_ids: Sequence[int], n: int = 4) -> float | None:
    """``1 - distinct n-grams / n-grams`` of one response (token level); None if shorter than n."""
    grams = [tuple(token_ids[i:i + n]) for i in range(len(token_ids) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else None
