"""A synthetic rollout table of reasoning-like text, built with numpy in seconds.

    from synthetic import synthetic_rollouts
    frame = synthetic_rollouts(10_000_000)   # ~10M tokens, ~20k responses

Responses are sentences of GPT-2-style tokens (a leading space belongs to the next word):
an optional connective opening the sentence ("However,", "So", "First,", "This suggests"),
words from a math-reasoning vocabulary (some split into several tokens), numbers, LaTeX
(``\\frac{3}{4}``), operators, a few non-ASCII characters (×, ≤, π, ’), and pivotal words
inside sentences too. Entropies are drawn per token: most tokens near zero, the first
tokens of words higher, pivotal words higher still, continuation tokens low, with a
per-response factor so tokens of one response are correlated. The table has every column
of the rollout table; ``offsets`` is stored as ``pandas.read_parquet`` returns it.
"""

from __future__ import annotations

import numpy as np

PIVOTAL = {
    "causal": ["because", "therefore", "since", "thus", "hence", "so", "consequently"],
    "contrastive": ["however", "although", "but", "though", "yet", "instead", "alternatively", "whereas"],
    "sequential": ["first", "then", "second", "next", "finally", "now", "after"],
    "reasoning_verb": ["suggests", "shows", "implies", "indicates", "conclude", "assume", "consider", "shown"],
}
# mean of the non-zero part of each kind's entropy, nats (pivotal kinds vary by category)
KIND_SCALE = {"ordinary": 0.55, "continuation": 0.25, "symbol": 0.35, "causal": 1.1, "contrastive": 1.4,
              "sequential": 1.0, "reasoning_verb": 0.9}
KIND_ZERO = {"ordinary": 0.55, "continuation": 0.85, "symbol": 0.7, "causal": 0.3, "contrastive": 0.25,
             "sequential": 0.35, "reasoning_verb": 0.35}
WORDS = (
    "the of we is to and a in that this for it with as are be by on can number sum value equation answer "
    "let x y n total each two three four five ten terms term both side sides find get gives need equal "
    "equals product result step check problem which one its from all not will at an have has more than "
    "less per times divided plus minus square root area length width height triangle circle radius angle "
    "probability ways possible integer integers prime divisible remainder factor factors even odd positive "
    "negative real solution solutions simplify simplified compute calculate substitute substituting "
    "multiplication denominator numerator fraction expression function sequence series formula count "
    "counting case cases only also must should would could these those our us there here when where what "
    "how many much given known original initial new final correct wrong same different other another "
    "let's it's don't"
).split()
SPLIT = {  # words written as several tokens
    "multiplication": ["multip", "lication"], "denominator": ["denomin", "ator"], "substituting": ["substit", "uting"],
    "probability": ["prob", "ability"], "divisible": ["divis", "ible"], "alternatively": ["altern", "atively"],
    "consequently": ["consequ", "ently"], "simplified": ["simpl", "ified"], "remainder": ["remain", "der"],
}
SYMBOLS = [[" ="], [" +"], [" -"], [" \\", "frac", "{", "3", "}{", "4", "}"], [" $", "x", "^", "2", "$"],
           [" (", "a"], [")"], [" \\", "cdot"], [" ×"], [" ≤"], [" π"], [","], [":"], [" 2"], [" 12"], [" 3", ".", "5"],
           [" 100"], [" \\", "boxed", "{", "42", "}"], ["’s"], [" x"], [" y"]]
ENDINGS = [["."], [".\n\n"], [".\n"], [":\n"], ["?"], [".", "\n\n"]]


def _chunks():
    """The vocabulary of chunks, each a list of (token string, kind), by class, with weights."""
    chunks = []
    classes = {"middle_word": [], "middle_pivotal": [], "symbol": [], "ending": [], "opener": []}
    weights = {"middle_word": [], "middle_pivotal": [], "symbol": [], "ending": [], "opener": []}

    def add(tokens, cls, weight):
        classes[cls].append(len(chunks))
        weights[cls].append(weight)
        chunks.append(tokens)

    def word(w, kind, capital=False):
        pieces = SPLIT.get(w, [w])
        head = pieces[0].capitalize() if capital else pieces[0]
        return [(" " + head, kind)] + [(p, "continuation") for p in pieces[1:]]

    for rank, w in enumerate(WORDS):
        add(word(w, "ordinary"), "middle_word", 1.0 / (rank + 3) ** 0.9)
    for category, words in PIVOTAL.items():
        for rank, w in enumerate(words):
            add(word(w, category), "middle_pivotal", 1.0 / (rank + 1))
            if category == "reasoning_verb":  # "This suggests", "We conclude"
                subject = "We" if w in ("conclude", "assume", "consider") else "This"
                add([(" " + subject, "ordinary")] + word(w, category), "opener", 1.0 / (rank + 1))
            else:
                add(word(w, category, capital=True) + [(",", "symbol")], "opener", 1.0 / (rank + 1))
    for w, weight in (("This", 3.0), ("We", 3.0), ("The", 3.0), ("Let", 2.0)):
        add([(" " + w, "ordinary")], "opener", weight)
    for tokens in SYMBOLS:
        add([(t, "symbol") for t in tokens], "symbol", 1.0)
    for tokens in ENDINGS:
        add([(t, "symbol") for t in tokens], "ending", 1.0)
    return chunks, classes, weights


def synthetic_rollouts(n_tokens: int = 10_000_000, *, seed: int = 0, mean_tokens: int = 500, samples: int = 8):
    """A rollout table (pandas DataFrame) of about ``n_tokens`` tokens; see module docstring."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    chunks, classes, weights = _chunks()
    token_strings = sorted({t for tokens in chunks for t, _ in tokens})
    token_index = {t: i for i, t in enumerate(token_strings)}
    kinds = list(KIND_SCALE)
    chunk_len = np.array([len(tokens) for tokens in chunks])
    chunk_start = np.concatenate([[0], np.cumsum(chunk_len)[:-1]])
    chunk_flat = np.array([token_index[t] for tokens in chunks for t, _ in tokens])
    chunk_kinds = np.array([kinds.index(k) for tokens in chunks for _, k in tokens])

    # sentences: an opener (60%), 6-20 middle chunks (words, 4% pivotal words, 26% symbols), an ending
    tokens_per_sentence = 14.0
    n_sent = int(n_tokens / tokens_per_sentence * 1.02) + 1
    middle = rng.integers(6, 21, n_sent)
    has_opener = rng.random(n_sent) < 0.6
    per_sentence = middle + has_opener + 1
    first = np.concatenate([[0], np.cumsum(per_sentence)[:-1]])
    total = int(per_sentence.sum())
    slot = np.zeros(total, dtype=np.int8)  # 0 middle, 1 opener, 2 ending
    slot[first[has_opener]] = 1
    slot[first + per_sentence - 1] = 2
    chunk_id = np.empty(total, dtype=np.int64)

    def draw(cls, n):
        w = np.asarray(weights[cls], dtype=np.float64)
        return np.asarray(classes[cls])[rng.choice(len(w), size=n, p=w / w.sum())]

    mid = np.flatnonzero(slot == 0)
    kind_draw = rng.random(len(mid))
    for cls, lo, hi in (("middle_pivotal", 0.0, 0.04), ("symbol", 0.04, 0.3), ("middle_word", 0.3, 1.01)):
        sel = mid[(kind_draw >= lo) & (kind_draw < hi)]
        chunk_id[sel] = draw(cls, len(sel))
    for value, cls in ((1, "opener"), (2, "ending")):
        sel = np.flatnonzero(slot == value)
        chunk_id[sel] = draw(cls, len(sel))

    # chunks -> tokens
    lens = chunk_len[chunk_id]
    token_chunk_start = np.repeat(chunk_start[chunk_id], lens)
    within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    tokens = chunk_flat[token_chunk_start + within]
    kind = chunk_kinds[token_chunk_start + within]
    tokens, kind = tokens[:n_tokens], kind[:n_tokens]
    n = len(tokens)

    # responses: lengths around mean_tokens, cut from the token stream
    lengths = np.clip(rng.lognormal(np.log(mean_tokens), 0.5, n // max(mean_tokens // 4, 1) + 10), 20, 8 * mean_tokens)
    bounds = np.concatenate([[0], np.cumsum(lengths.astype(np.int64))])
    bounds = bounds[bounds < n]
    bounds = np.concatenate([bounds, [n]])
    n_resp = len(bounds) - 1
    counts = np.diff(bounds)

    # entropies: zero-ish or gamma, per kind, scaled per response
    scale = np.array([KIND_SCALE[k] for k in kinds])[kind]
    zero = rng.random(n) < np.array([KIND_ZERO[k] for k in kinds])[kind]
    response_factor = np.repeat(rng.lognormal(0.0, 0.3, n_resp), counts)
    entropy = np.where(zero, rng.exponential(0.01, n), rng.gamma(1.6, 1.0 / 1.6, n) * scale * response_factor)
    entropy = np.minimum(entropy, 10.0).astype(np.float32)

    # text: code points of all token strings, gathered; offsets from the string lengths
    strings_cp = [np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32) for t in token_strings]
    string_len = np.array([len(s) for s in strings_cp])
    string_start = np.concatenate([[0], np.cumsum(string_len)[:-1]])
    string_flat = np.concatenate(strings_cp)
    tl = string_len[tokens]
    char_start = np.cumsum(tl) - tl
    cp = string_flat[np.repeat(string_start[tokens], tl) + np.arange(int(tl.sum())) - np.repeat(char_start, tl)]
    text = cp.tobytes().decode("utf-32-le")
    resp_char = np.concatenate([char_start, [int(tl.sum())]])[bounds]
    responses = [text[a:b] for a, b in zip(resp_char[:-1].tolist(), resp_char[1:].tolist())]
    local_start = char_start - np.repeat(resp_char[:-1], counts)
    offsets_flat = np.stack([local_start, local_start + tl], axis=1).astype(np.int32).ravel()

    list_offsets = pa.array(bounds.astype(np.int32))
    offsets = pa.ListArray.from_arrays(list_offsets, pa.ListArray.from_arrays(
        pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), pa.array(offsets_flat)))
    prompt_ids = [f"p{i // samples:06d}" for i in range(n_resp)]
    table = pa.table({
        "prompt_id": prompt_ids,
        "sample_id": pa.array(np.arange(n_resp) % samples, type=pa.int64()),
        "prompt": ["Solve the problem."] * n_resp,
        "prompt_token_ids": pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * n_resp + 1, 3, dtype=np.int32)),
                                                     pa.array(np.ones(3 * n_resp, dtype=np.int32))),
        "response": responses,
        "token_ids": pa.ListArray.from_arrays(list_offsets, pa.array(tokens.astype(np.int32))),
        "offsets": offsets,
        "entropy": pa.ListArray.from_arrays(list_offsets, pa.array(entropy)),
        "logprob": pa.ListArray.from_arrays(list_offsets, pa.array(-entropy * 0.5)),
        "answer": ["42"] * n_resp,
        "extracted": ["42"] * n_resp,
        "correct": pa.array(rng.random(n_resp) < 0.5),
        "finish_reason": ["stop"] * n_resp,
    })
    return table.to_pandas()


if __name__ == "__main__":
    import sys
    import time

    t0 = time.perf_counter()
    frame = synthetic_rollouts(int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000)
    print(f"{len(frame)} responses, {sum(map(len, frame['entropy'])):,} tokens in {time.perf_counter() - t0:.1f}s")
    print(frame.response[0][:600])
