"""Resampling at probed token positions, the measuring half of ``entropy-lens fork``.

At position ``t`` of a response the prefix is the prompt and the response's first ``t``
tokens; ``K`` continuations are sampled from it (the token at ``t`` is resampled too) with
the rollouts' own sampling settings and the rest of their response budget, and each is
graded like a rollout row; the response's own answer is graded again by the same rule, so
both sides of ``changed`` are read alike. The ``K`` rows of a position share one prefill of the prefix
(``measure/prefix.py``; with ``--batch-size`` below K, one prefill per batch of them). Every continuation has its own random stream, seeded from the
seed, the response and the position, so the outcome of a position does not depend on
batching or on which positions were probed before it.

Finished positions go to resumable shards (one row per position, keyed by prompt_id,
sample_id, position): a rerun after a kill samples only the positions still missing.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Iterable

from entropy_lens.measure.config import ForkConfig, GenerateConfig
from entropy_lens.measure.models import LoadedModel
from entropy_lens.progress import progress_bar
from entropy_lens.rollouts.store import RolloutStore
from entropy_lens.tasks.answers import grade
from entropy_lens.tasks.outcomes import answer_outcomes

KEY = ("prompt_id", "sample_id", "position")
# the settings of a rollout run that a continuation inherits
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "max_new_tokens", "entropy_temperature")
FLUSH_EVERY = 4  # positions per shard: a kill loses at most this many positions' samples


def probe_schema():
    import pyarrow as pa

    return pa.schema([
        ("prompt_id", pa.string()), ("sample_id", pa.int64()), ("position", pa.int64()),
        ("n_samples", pa.int64()), ("accuracy", pa.float64()), ("changed", pa.float64()),
        ("answers", pa.list_(pa.string())), ("answer_entropy", pa.float64()),
        ("sampled_answers", pa.list_(pa.string())), ("sampled_tokens", pa.int64()),
    ])


def sampling_settings(run_settings: dict[str, Any] | None) -> GenerateConfig:
    """The sampling settings of the rollouts (``DIR/_run.json``); generate's defaults for
    what a run did not record (a scored table, or a DataFrame without its run)."""
    given = {k: run_settings[k] for k in SAMPLING_KEYS if run_settings and run_settings.get(k) is not None}
    return replace(GenerateConfig(), **given)


def continuation_seed(seed: int, prompt_id: str, sample_id: int, position: int, k: int) -> int:
    from entropy_lens.measure.sampling import stream_seed

    return stream_seed(seed, f"{prompt_id}\x00{sample_id}\x00{position}", k)


def resample(loaded: LoadedModel, frame, positions: Iterable[tuple[str, int, int]], *, cfg: ForkConfig,
             sampling: GenerateConfig, store: RolloutStore | None = None, show_progress: bool = True) -> list[dict]:
    """Sample ``cfg.samples`` continuations at each (prompt_id, sample_id, position) of the
    rollout table ``frame`` and grade them; returns one outcome row per position not yet in
    ``store`` (those are written to it as they finish)."""
    from entropy_lens.measure.generate import sample_batch

    rows_by_key = {(r.prompt_id, int(r.sample_id)): r for r in frame.itertuples(index=False)}
    done = store.done if store is not None else set()
    positions = list(positions)
    todo = [p for p in positions if tuple(p) not in done]
    total = len(positions) * cfg.samples
    finished, pending = [], []
    with progress_bar(total=total, initial=total - len(todo) * cfg.samples, desc="fork", unit="cont",
                      enabled=show_progress) as bar:
        for prompt_id, sample_id, position in todo:
            row = rows_by_key[(prompt_id, sample_id)]
            tokens = [int(t) for t in row.token_ids]
            prefix = [int(t) for t in row.prompt_token_ids] + tokens[:position]
            gold = _missing_as_none(row.answer)
            # the response's own answer under the continuations' grading rule, so both sides compare alike
            original, _ = grade(row.response, gold, truncated=row.finish_reason == "length",
                                lenient_truncated=cfg.lenient_truncated)
            # the rest of the response budget (a scored response may be longer than the recorded budget)
            budget = replace(sampling, max_new_tokens=max(sampling.max_new_tokens, len(tokens)) - position)
            answers, sampled_tokens = [], 0
            for start in range(0, cfg.samples, cfg.batch_size):
                began, chunk_tokens = time.perf_counter(), 0
                ks = range(start, min(start + cfg.batch_size, cfg.samples))
                seeds = [continuation_seed(cfg.seed, prompt_id, sample_id, position, k) for k in ks]
                for s in sample_batch(loaded, [prefix] * len(seeds), seeds, budget):
                    text = loaded.tokenizer.decode(tokens[:position] + s["token_ids"], skip_special_tokens=True)
                    extracted, _ = grade(text, gold, truncated=s["finish_reason"] == "length",
                                         lenient_truncated=cfg.lenient_truncated)
                    answers.append(extracted)
                    chunk_tokens += len(s["token_ids"])
                sampled_tokens += chunk_tokens
                bar.record(len(seeds), chunk_tokens, time.perf_counter() - began)
            outcome = answer_outcomes(original, answers, gold)
            pending.append({
                "prompt_id": prompt_id, "sample_id": sample_id, "position": position,
                "n_samples": outcome["n_samples"], "accuracy": outcome["accuracy"], "changed": outcome["changed"],
                "answers": outcome["answers"], "answer_entropy": outcome["answer_entropy"],
                "sampled_answers": answers, "sampled_tokens": sampled_tokens,
            })
            if len(pending) >= FLUSH_EVERY:
                finished += _flush(store, pending)
        finished += _flush(store, pending)
    return finished


def sample_positions(frame, positions: list[tuple[str, int, int]], *, model: str, cfg: ForkConfig,
                     sampling: GenerateConfig, settings: dict[str, Any], out=None, show_progress: bool = True):
    """The outcome rows (one per position) of resampling at ``positions`` of ``frame`` with
    ``model``, as a DataFrame. With ``out`` the rows are resumable shards there (``settings``
    decide them: a rerun with others is refused), and a finished run loads no model."""
    from pathlib import Path

    import pandas as pd

    from entropy_lens.measure.models import load_model
    from entropy_lens.rollouts.load import read_rollouts

    store = None
    if out is not None:
        store = RolloutStore(Path(out), settings, schema=probe_schema(), key=KEY)
        store.check()
    try:
        if store is not None:
            store.open()
        rows = []
        if store is None or set(positions) - store.done:
            loaded = load_model(model, device=cfg.device, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code)
            rows = resample(loaded, frame, positions, cfg=cfg, sampling=sampling, store=store,
                            show_progress=show_progress)
    except BaseException:
        if store is not None:
            store.abandon()
        raise
    return read_rollouts(out) if store is not None else pd.DataFrame(rows)


def _missing_as_none(value):
    """A gold answer as stored (None; NaN when a DataFrame column has gaps) -> str or None."""
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def _flush(store: RolloutStore | None, pending: list[dict]) -> list[dict]:
    rows = list(pending)
    pending.clear()
    if store is not None and rows:
        store.write(rows)
    return rows
