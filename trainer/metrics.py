"""Per-step training dynamics (docs/method.md §7) and where they are written.

``MetricsLog`` appends one JSON object per step to ``RUN/metrics.jsonl`` and the same
numbers to TensorBoard (``RUN/tensorboard``). The keys (null when undefined for the step):

=====================  ==================================================================
step                   1-based training step
reward_mean            mean reward of the rollout batch
accuracy               share of responses with reward > 0 (= correct, for the default reward)
response_length        mean response length, tokens (EOS included)
truncated_share        share of responses cut at max_new_tokens
rollout_entropy        mean token entropy of the sampling policy over response tokens, nats
                       (exact, full vocabulary, at the rollout temperature; not a rollout
                       table's ``entropy``, which is at --entropy-temperature, default 1.0;
                       runs logged before the rename call it ``entropy``: ``read_metrics``
                       and a resumed run's log give it the new name)
train_entropy          the same from the training forward passes, averaged over updates
entropy_share          sum psi / sum |A_shaped| over response tokens and updates (0 without
                       entropy-adv: there is no psi)
pivotal_entropy        mean entropy at the first token of pivotal words (pivotal_count of them),
                       the words and token rule of ``entropy-lens pivotal``
reflection_frequency   reflective sentences per response (the sentences and pattern of
                       ``entropy-lens reflect``)
repetition_rate        mean over responses of 1 - distinct 4-grams / 4-grams (tokens)
gradient_token_share   share of response tokens that get a policy gradient (1 unless
                       --top-entropy-quantile < 1, the 80/20 baseline)
loss                   mean total policy loss of the updates
clip_fraction          share of tokens whose clipped term was active
approx_kl              k3 estimate of KL(old || new policy), token mean
kl                     k3 KL to the reference model (only with kl_coef > 0)
grad_norm              policy gradient norm before clipping
value_loss, value_mean, critic_grad_norm   ppo critic
policy_updates         optimiser updates of the policy this step
skipped_updates        updates skipped this step for a NaN / inf reward, advantage, loss or
                       gradient (a bad reward or advantage skips the whole step: 1)
skipped_updates_total  the same, all steps so far
lr                     policy learning rate after the step
tokens, tokens_per_s   completion tokens of the step, and per second of the whole step
rollout_s, step_s      seconds spent sampling, and on the whole step
=====================  ==================================================================
"""

from __future__ import annotations

import functools
import json
import math
import types
from pathlib import Path
from typing import Any, Sequence

from .events import EventWriter

LEGACY_KEYS = {"entropy": "rollout_entropy"}  # the name a key had in runs logged before its rename


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


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def rollout_metrics(rollouts) -> dict[str, float | None]:
    """Text and entropy metrics of a rollout batch (entropy: of the sampling policy, nats)."""
    all_entropy = [h for row in rollouts.entropy for h in row]
    pivotal = batch_pivotal_entropies(rollouts.texts, rollouts.offsets, rollouts.entropy)
    repetition = [r for ids in rollouts.token_ids if (r := repetition_rate(ids)) is not None]
    return {
        "response_length": _mean([len(ids) for ids in rollouts.token_ids]),
        "truncated_share": _mean([float(f == "length") for f in rollouts.finish_reason]),
        "rollout_entropy": _mean(all_entropy),
        "pivotal_entropy": _mean(pivotal),
        "pivotal_count": len(pivotal),
        "reflection_frequency": _mean(reflection_counts(rollouts.texts)),
        "repetition_rate": _mean(repetition),
    }


def batch_summary(batch) -> dict[str, list]:
    """What ``rollout_metrics`` reads of a rollout batch: under torchrun each process sends
    its part, and the step's metrics are those of all parts together (``merged_summaries``)."""
    return {"token_ids": batch.token_ids, "texts": batch.texts, "offsets": batch.offsets, "entropy": batch.entropy,
            "finish_reason": batch.finish_reason}


def merged_summaries(summaries: list[dict[str, list]]):
    """The processes' batch summaries as one batch for ``rollout_metrics``, in rank order."""
    return types.SimpleNamespace(**{key: [v for s in summaries for v in s[key]] for key in summaries[0]})


def _clean(value: Any) -> Any:
    """JSON-safe: NaN / inf become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """``RUN/metrics.jsonl`` (one object per step) and TensorBoard scalars under ``RUN/tensorboard``.

    ``resume_step`` keeps the lines of steps up to it (what the checkpoint had seen) and
    drops any logged after it by a run that was then stopped; the kept lines get today's
    key names (``LEGACY_KEYS``), so that one log uses one name for one thing.
    """

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        kept = []
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    break  # a line cut short by a kill: nothing after it is trustworthy
                if row.get("step", math.inf) <= resume_step:
                    renamed = _renamed(row)
                    kept.append((line if renamed == row else json.dumps(renamed)) + "\n")
        self.path.write_text("".join(kept))
        self.events = EventWriter(Path(run_dir) / "tensorboard")
        if resume_step is not None:
            self.events.restart(resume_step + 1)

    def write(self, row: dict[str, Any]) -> None:
        row = {k: _clean(v) for k, v in row.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        self.events.scalars(int(row["step"]), {k: v for k, v in row.items() if k != "step" and v is not None})

    def close(self) -> None:
        self.events.close()


def _renamed(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the old names of ``LEGACY_KEYS`` replaced (where the new one is absent)."""
    if not any(old in row and new not in row for old, new in LEGACY_KEYS.items()):
        return row
    return {LEGACY_KEYS[k] if k in LEGACY_KEYS and LEGACY_KEYS[k] not in row else k: v for k, v in row.items()}


def read_metrics(run_dir: str | Path):
    """``RUN/metrics.jsonl`` as a pandas DataFrame, one row per step (old key names renamed)."""
    import pandas as pd

    path = Path(run_dir) / "metrics.jsonl"
    return pd.DataFrame([_renamed(json.loads(line)) for line in path.read_text().splitlines() if line.strip()])
