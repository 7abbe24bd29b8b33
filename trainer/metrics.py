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

import json
import math
import types
from pathlib import Path
from typing import Any, Sequence

from entropy_lens.analyses.exploration import (  # noqa: F401  (the trainer's metrics, also imported from here)
    batch_pivotal_entropies, pivotal_entropies, reflection_count, reflection_counts, repetition_rate)

from .events import EventWriter

LEGACY_KEYS = {"entropy": "rollout_entropy"}  # the name a key had in runs logged before its rename


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
