"""Rare behaviours: RL sentences far from everything the base model says, and their entropy.

Method (docs/method.md §4). Split the responses of a base model ``B`` and an RL model
``R`` (same prompts) into sentences, embed every sentence (sentence-transformers, default
all-MiniLM-L6-v2, unit vectors) and, for each RL sentence r:

- ``distance(r)`` = mean cosine distance (1 - cos) to its k nearest base sentences
  (exact search, ``entropy_lens.analyses.neighbors``; ties between equally near base sentences go
  to the earlier one in the base table, which cannot change the distance);
- ``rare(r)`` = ``distance(r) >= threshold``, the ``quantile`` (default 0.9) quantile of
  all RL distances (numpy's linear interpolation). So about the top 10% of RL sentences
  by distance are rare. Ties: every sentence whose distance equals the threshold is rare,
  so ties can only make the rare group larger, never drop one of two equal sentences.

The entropy of a sentence is the mean entropy of its tokens (``sentences.sentence_table``).
Rare and other RL sentences are compared with ``stats.compare``: difference of means with
a bootstrap 95% CI that resamples RL *responses* (a response's sentences are not
independent), Mann-Whitney p-value and rank-biserial effect size. The summary also gives
Spearman's rank correlation of distance with entropy over all RL sentences.

Neighbour pool. By default every base sentence (all prompts) is a candidate neighbour:
the paper's B is the base model's behaviour as a whole, and a sentence the base model
writes for another problem ("Let me double-check.") is still something it says. With
``same_prompt=True`` an RL sentence is compared only with base sentences of its own
``prompt_id``; every RL prompt then needs at least k base sentences. Duplicate sentences
count as separate neighbours: if the base model wrote "Let me check." 40 times, an RL
"Let me check." has k neighbours at distance 0.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from entropy_lens.errors import UserError
from entropy_lens.stats import N_BOOT

SENTENCE_COLUMNS = ("prompt_id", "sample_id", "sentence", "mean_entropy")


@dataclass
class RareResult:
    """What ``rare`` found.

    sentences: one row per RL sentence, rarest first: ``prompt_id``, ``sample_id``,
        ``sentence``, ``mean_entropy`` (nats), ``distance`` (mean cosine distance to the k
        nearest base sentences), ``rare`` (bool), ``rank`` (1 = rarest), then
        ``neighbor_1`` .. ``neighbor_n`` (nearest base sentences, nearest first) with
        ``neighbor_i_similarity`` (cosine), plus ``start``/``end``/``n_tokens`` when known.
    summary: one row: ``group`` ("rare"), the ``stats.compare`` fields of rare vs other RL
        sentences (n, mean, median, other_n, other_mean, other_median, diff, diff_ci_low,
        diff_ci_high, p_value, effect_size), ``threshold``, ``k``, ``quantile``,
        ``rare_share``, ``spearman_rho``/``spearman_p`` (distance vs entropy, all RL
        sentences), ``rl_sentences``, ``base_sentences``, ``same_prompt``, ``embedder``.
    """

    sentences: Any  # pandas.DataFrame
    summary: Any  # pandas.DataFrame
    threshold: float
    k: int
    quantile: float
    same_prompt: bool = False
    embedder: str = ""
    skipped: str = ""  # note on rollout rows left out ('' when none)


def check_options(k: int, quantile: float, neighbors_shown: int = 3) -> None:
    """UserError for k < 1, a quantile outside (0, 1) or a negative neighbors_shown."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"k must be a whole number >= 1, got {k!r}", "pass e.g. --k 5")
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float, np.floating)) \
            or not math.isfinite(float(quantile)) or not 0 < float(quantile) < 1:
        raise UserError(f"quantile must be strictly between 0 and 1, got {quantile!r}",
                        "pass e.g. --quantile 0.9 (rare = the top 10%)")
    if isinstance(neighbors_shown, bool) or not isinstance(neighbors_shown, (int, np.integer)) or neighbors_shown < 0:
        raise UserError(f"neighbors_shown must be a whole number >= 0, got {neighbors_shown!r}", "pass e.g. 3")


def _check_sides(n_base: int, n_rl: int, k: int) -> None:
    if n_rl == 0:
        raise UserError("the RL side has no sentences", "pass RL rollouts with non-empty responses")
    if n_base < k:
        raise UserError(f"the base side has {n_base} sentence{'s' * (n_base != 1)}, fewer than k={k}",
                        f"pass more base rollouts, or a smaller k (--k {max(n_base, 1)})")


def _response_ids(table) -> np.ndarray:
    """One integer per (prompt_id, sample_id): the bootstrap clusters."""
    return table.groupby(["prompt_id", "sample_id"], sort=False, dropna=False).ngroup().to_numpy()


def _neighbors(base_sentences, rl_sentences, base_emb, rl_emb, k: int, same_prompt: bool):
    from entropy_lens.analyses.neighbors import nearest_neighbors

    if not same_prompt:
        return nearest_neighbors(rl_emb, base_emb, k)
    idx = np.empty((len(rl_sentences), k), dtype=np.int64)
    sim = np.empty((len(rl_sentences), k), dtype=np.float32)
    base_groups = base_sentences.groupby("prompt_id", sort=False).indices
    for prompt_id, rl_rows in rl_sentences.groupby("prompt_id", sort=False).indices.items():
        base_rows = base_groups.get(prompt_id, np.zeros(0, dtype=np.int64))
        if len(base_rows) < k:
            raise UserError(f"prompt {prompt_id!r} has {len(base_rows)} base sentence{'s' * (len(base_rows) != 1)}, "
                            f"fewer than k={k} (same_prompt=True)",
                            "pass base rollouts for every RL prompt, a smaller k, or drop same_prompt")
        i, s = nearest_neighbors(rl_emb[rl_rows], base_emb[base_rows], k)
        idx[rl_rows] = base_rows[i]
        sim[rl_rows] = s
    return idx, sim


def rare_from_sentences(base_sentences, rl_sentences, base_embeddings, rl_embeddings, *, k: int = 5,
                        quantile: float = 0.9, neighbors_shown: int = 3, same_prompt: bool = False,
                        n_boot: int = N_BOOT, seed: int = 0, embedder: str = "", skipped: str = "") -> RareResult:
    """The core of ``rare`` on sentence tables and their embeddings.

    ``base_sentences`` needs ``sentence`` (and ``prompt_id`` with ``same_prompt``);
    ``rl_sentences`` needs ``prompt_id``, ``sample_id``, ``sentence``, ``mean_entropy``
    (the shape of ``sentences.sentence_table``). Embeddings: (rows, dim) unit vectors in
    the tables' row order. See the module docstring for the method.
    """
    import pandas as pd

    from entropy_lens.stats import compare, rank_correlation

    check_options(k, quantile, neighbors_shown)
    k, quantile = int(k), float(quantile)
    missing = [c for c in SENTENCE_COLUMNS if c not in rl_sentences.columns]
    missing_base = [c for c in (("sentence", "prompt_id") if same_prompt else ("sentence",))
                    if c not in base_sentences.columns]
    if missing or missing_base:
        raise UserError(f"sentence table lacks column(s) {missing or missing_base}",
                        "pass tables made by entropy_lens.analyses.sentences.sentence_table")
    base_emb = np.asarray(base_embeddings, dtype=np.float32)
    rl_emb = np.asarray(rl_embeddings, dtype=np.float32)
    if base_emb.ndim != 2 or rl_emb.ndim != 2 or len(base_emb) != len(base_sentences) \
            or len(rl_emb) != len(rl_sentences) or base_emb.shape[1] != rl_emb.shape[1]:
        raise ValueError(f"embeddings {base_emb.shape} / {rl_emb.shape} do not match the sentence tables "
                         f"({len(base_sentences)} / {len(rl_sentences)} rows, same dimension)")
    _check_sides(len(base_sentences), len(rl_sentences), k)
    base_sentences = base_sentences.reset_index(drop=True)
    rl_sentences = rl_sentences.reset_index(drop=True)

    idx, sim = _neighbors(base_sentences, rl_sentences, base_emb, rl_emb, k, same_prompt)
    distance = np.clip(1.0 - sim.astype(np.float64).mean(axis=1), 0.0, 2.0)
    threshold = float(np.quantile(distance, quantile))
    flag = distance >= threshold

    entropy = rl_sentences["mean_entropy"].to_numpy(dtype=np.float64)
    clusters = _response_ids(rl_sentences)
    finite = np.isfinite(entropy)
    x, y = flag & finite, ~flag & finite
    comparison = compare(entropy[x], entropy[y], clusters[x], clusters[y], n_boot=n_boot, seed=seed)
    rho, p_rho = rank_correlation(distance[finite], entropy[finite])

    table = pd.DataFrame({
        "prompt_id": rl_sentences["prompt_id"].to_numpy(),
        "sample_id": rl_sentences["sample_id"].to_numpy(),
        "sentence": rl_sentences["sentence"].to_numpy(),
        "mean_entropy": entropy,
        "distance": distance,
        "rare": flag,
    })
    for extra in ("start", "end", "n_tokens"):
        if extra in rl_sentences.columns:
            table[extra] = rl_sentences[extra].to_numpy()
    base_text = base_sentences["sentence"].to_numpy()
    for j in range(min(int(neighbors_shown), k)):
        table[f"neighbor_{j + 1}"] = base_text[idx[:, j]]
        table[f"neighbor_{j + 1}_similarity"] = sim[:, j].astype(np.float64)
    order = np.lexsort((np.arange(len(table)), -distance))  # rarest first, then table order
    table = table.iloc[order].reset_index(drop=True)
    table.insert(table.columns.get_loc("rare") + 1, "rank", np.arange(1, len(table) + 1))

    summary = pd.DataFrame([{
        "group": "rare", **comparison.as_dict(),
        "threshold": threshold, "k": k, "quantile": quantile,
        "rare_share": float(flag.mean()),
        "spearman_rho": rho, "spearman_p": p_rho,
        "rl_sentences": len(rl_sentences), "base_sentences": len(base_sentences),
        "same_prompt": bool(same_prompt), "embedder": embedder,
    }])
    return RareResult(sentences=table, summary=summary, threshold=threshold, k=k, quantile=quantile,
                      same_prompt=bool(same_prompt), embedder=embedder, skipped=skipped)


def _sentences_of(rollouts, side: str):
    """(sentence table, skipped note) of a rollout table or directory."""
    from entropy_lens.analyses.sentences import sentences_and_bad_rows
    from entropy_lens.rollouts.load import load_rollouts
    from entropy_lens.rollouts.validate import TOKEN_COLUMNS, Checked

    checked = load_rollouts(rollouts, columns=TOKEN_COLUMNS, source=f"{side} rollout table")
    frame = checked.frame
    table, bad_rows = sentences_and_bad_rows(frame)
    skipped = dict(checked.skipped)
    if bad_rows.any():
        skipped["offsets out of order or outside the response"] = int(bad_rows.sum())
    note = Checked(frame, skipped).skipped_note()
    return table, (f"{side}: {note}" if note else "")


def rare(base, rl, *, k: int = 5, quantile: float = 0.9, embedder: Any = None, neighbors_shown: int = 3,
         same_prompt: bool = False, n_boot: int = N_BOOT, seed: int = 0, batch_size: int = 64,
         device: str = "cpu", progress: bool | None = None) -> RareResult:
    """Rare behaviours of an RL model relative to its base model (see module docstring).

    ``base``, ``rl``: rollout tables (DataFrames) or rollout directories, on the same
    prompts. ``embedder``: ``None`` (offline all-MiniLM-L6-v2), a sentence-transformers
    model folder or hub id, or a loaded model (anything with ``encode``). ``k`` nearest base
    sentences; rare = distance at or above the ``quantile`` of RL distances.
    ``neighbors_shown`` nearest base sentences are listed per RL sentence.
    """
    from entropy_lens.analyses.embed import embed, embedder_name, load_embedder

    check_options(k, quantile, neighbors_shown)  # before any slow work
    base_table, base_note = _sentences_of(base, "base")
    rl_table, rl_note = _sentences_of(rl, "rl")
    _check_sides(len(base_table), len(rl_table), int(k))
    loaded = embedder is not None and not isinstance(embedder, (str, os.PathLike)) and hasattr(embedder, "encode")
    model = embedder if loaded else load_embedder(embedder, device=device)
    vectors = embed(model, base_table["sentence"].tolist() + rl_table["sentence"].tolist(),
                    batch_size=batch_size, progress=progress)
    n = len(base_table)
    return rare_from_sentences(base_table, rl_table, vectors[:n], vectors[n:], k=k, quantile=quantile,
                               neighbors_shown=neighbors_shown, same_prompt=same_prompt, n_boot=n_boot, seed=seed,
                               embedder=embedder_name(model, embedder),
                               skipped="; ".join(x for x in (base_note, rl_note) if x))
