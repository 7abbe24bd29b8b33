"""Per-step training dynamics (METHOD.md section 7) and where they are written.

``MetricsLog`` appends one JSON object per step to ``RUN/metrics.jsonl`` and the same
numbers to TensorBoard (``RUN/tensorboard``). The keys (null when undefined for the step):

=====================  ==================================================================
step                   1-based training step
reward_mean            mean reward of the rollout batch
accuracy               share of responses with reward > 0 (= correct, for the default reward)
response_length        mean response length, tokens (EOS included)
truncated_share        share of responses cut at max_new_tokens
entropy                mean token entropy of the sampling policy over response tokens, nats
                       (exact, full vocabulary, at the rollout temperature)
train_entropy          the same from the training forward passes, averaged over updates
entropy_share          sum psi / sum |A_shaped| over response tokens and updates (0 without
                       entropy-adv: there is no psi)
pivotal_entropy        mean entropy at the first token of pivotal words (pivotal_count of them)
reflection_frequency   reflective sentences per response
repetition_rate        mean over responses of 1 - distinct 4-grams / 4-grams (tokens)
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

import bisect
import functools
import json
import math
import re
from pathlib import Path
from typing import Any, Sequence

from .events import EventWriter

@functools.lru_cache(maxsize=1)
def pivotal_words() -> frozenset[str]:
    """Lower-case pivotal words: the lexicon of ``entropy-lens pivotal``."""
    from entropy_lens.analyses.pivotal import load_lexicon

    return frozenset(w for words in load_lexicon().values() for w in words)


@functools.lru_cache(maxsize=1)
def reflection_pattern() -> re.Pattern:
    """The reflection pattern of ``entropy-lens reflect``."""
    from entropy_lens.analyses.reflect import REFLECTION_PATTERN

    return re.compile(REFLECTION_PATTERN, re.IGNORECASE) if isinstance(REFLECTION_PATTERN, str) else REFLECTION_PATTERN


def pivotal_entropies(text: str, offsets: Sequence[Sequence[int]], entropy: Sequence[float]) -> list[float]:
    """Entropy at the first token of every pivotal word of ``text`` (the token that emits it),
    with the word definition of ``entropy-lens pivotal``."""
    from entropy_lens.analyses.words import find_words

    words = pivotal_words()
    starts = [int(span[0]) for span in offsets]
    word_starts, _, word_ids, vocab = find_words(text)
    found = []
    for start, word_id in zip(word_starts.tolist(), word_ids.tolist()):
        if vocab[word_id] not in words:
            continue
        i = bisect.bisect_right(starts, start) - 1
        # the token whose span holds the word's first character (skip empty spans)
        while i >= 0 and not (offsets[i][0] <= start < offsets[i][1]):
            i -= 1
        if i >= 0:
            found.append(float(entropy[i]))
    return found


def reflection_count(text: str) -> int:
    """Number of reflective sentences in ``text`` (the splitter and pattern of ``reflect``)."""
    from entropy_lens.analyses.sentences import split_sentences

    pattern = reflection_pattern()
    return sum(1 for sentence in split_sentences(text) if pattern.search(sentence))


def repetition_rate(token_ids: Sequence[int], n: int = 4) -> float | None:
    """``1 - distinct n-grams / n-grams`` of one response (token level); None if shorter than n."""
    grams = [tuple(token_ids[i:i + n]) for i in range(len(token_ids) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def rollout_metrics(rollouts) -> dict[str, float | None]:
    """Text and entropy metrics of a rollout batch (entropy: of the sampling policy, nats)."""
    all_entropy = [h for row in rollouts.entropy for h in row]
    pivotal = [h for text, off, ent in zip(rollouts.texts, rollouts.offsets, rollouts.entropy)
               for h in pivotal_entropies(text, off, ent)]
    repetition = [r for ids in rollouts.token_ids if (r := repetition_rate(ids)) is not None]
    return {
        "response_length": _mean([len(ids) for ids in rollouts.token_ids]),
        "truncated_share": _mean([float(f == "length") for f in rollouts.finish_reason]),
        "entropy": _mean(all_entropy),
        "pivotal_entropy": _mean(pivotal),
        "pivotal_count": len(pivotal),
        "reflection_frequency": _mean([reflection_count(t) for t in rollouts.texts]),
        "repetition_rate": _mean(repetition),
    }


def _clean(value: Any) -> Any:
    """JSON-safe: NaN / inf become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """``RUN/metrics.jsonl`` (one object per step) and TensorBoard scalars under ``RUN/tensorboard``.

    ``resume_step`` keeps the lines of steps up to it (what the checkpoint had seen) and
    drops any logged after it by a run that was then stopped.
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
                    kept.append(line + "\n")
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


def read_metrics(run_dir: str | Path):
    """``RUN/metrics.jsonl`` as a pandas DataFrame, one row per step."""
    import pandas as pd

    path = Path(run_dir) / "metrics.jsonl"
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
