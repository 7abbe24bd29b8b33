"""What an ``EntropyGRPOTrainer`` saw in a step, as rollout-table rows and exploration metrics.

:class:`StepRecorder` is fed by the trainer's two hooks: at generation, each completion gets
its table key (``prompt_id`` = the dataset's id, else a hash of the prompt, plus
``@step{N}`` for the optimizer step it was sampled for; ``sample_id`` = its index among that
prompt's completions of the step), and at the first training forward that sees it, its
tokens with their entropies and log-probs (TRL's, at ``args.temperature``). Later updates on
the same completions (``num_iterations > 1``) add only to the entropy share.
:func:`exploration_metrics` turns a step's rows into the numbers of ``trainer/metrics.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from entropy_lens.quantiles import quantile

FORKING_QUANTILE = 0.8  # forking tokens: the top 20% of the step's token entropies (analyses/pivotal.py)


def prompt_text(prompt: Any) -> str:
    """The problem text of a TRL prompt: the string, or the last user message of a conversation."""
    if isinstance(prompt, str):
        return prompt
    messages = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"] or list(prompt)
    content = messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
    if isinstance(content, list):  # multimodal content blocks: their text
        content = " ".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return str(content)


def base_id(row: dict, id_column: str) -> str:
    """The dataset's id of a prompt (``id_column``, else ``id``), else a stable hash of the prompt."""
    for column in (id_column, "id"):
        if row.get(column) is not None:
            return str(row[column])
    digest = hashlib.sha1(json.dumps(row.get("prompt"), sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return f"p{digest[:12]}"


class StepRecorder:
    """Completions of the current step with their training-forward values; emptied by :meth:`take`."""

    def __init__(self, *, id_column: str = "prompt_id", answer_column: str = "answer"):
        self.id_column = id_column
        self.answer_column = answer_column
        self.meta: dict[int, dict[str, Any]] = {}  # row number -> its key, prompt and answer, until first trained
        self._next_row = 0
        self._numbered_step = None
        self._samples: dict[str, int] = defaultdict(int)  # prompt_id -> completions numbered so far this step
        self._clear()

    def _clear(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.psi_sum = 0.0
        self.shaped_abs_sum = 0.0
        self.untrained = 0  # completions with no trained token (mask_truncated_completions)

    def add_generation(self, trainer, inputs: list[dict], output: dict):
        """Name the completions of a generation batch; returns their row numbers as a tensor."""
        import torch
        from accelerate.utils import gather_object

        step = trainer.state.global_step + 1
        if step != self._numbered_step:
            self._numbered_step, self._samples = step, defaultdict(int)
        ids = [base_id(row, self.id_column) for row in inputs]
        first = trainer.accelerator.process_index * len(ids)  # TRL's slice of the global batch for this process
        numbered = []
        for base in gather_object(ids):  # every process numbers the whole batch the same way
            prompt_id = f"{base}@step{step}"
            numbered.append((prompt_id, self._samples[prompt_id]))
            self._samples[prompt_id] += 1
        rows = []
        prompt_ids, prompt_mask = output["prompt_ids"].cpu(), output["prompt_mask"].bool().cpu()
        for i, row in enumerate(inputs):
            prompt_id, sample_id = numbered[first + i]
            answer = row.get(self.answer_column)
            self.meta[self._next_row] = {
                "prompt_id": prompt_id, "sample_id": sample_id, "prompt": prompt_text(row.get("prompt", "")),
                "prompt_token_ids": prompt_ids[i][prompt_mask[i]].tolist(),
                "answer": None if answer is None else str(answer),
            }
            rows.append(self._next_row)
            self._next_row += 1
        return torch.tensor(rows, dtype=torch.long, device=output["prompt_ids"].device)

    def add_update(self, batch: dict, logps, entropies, advantages, shaped, mask) -> None:
        """One training forward: the entropy share's sums, and the completions it sees for the first time."""
        weights = mask.to(shaped.dtype)
        self.psi_sum += float(((shaped - advantages) * weights).sum())
        self.shaped_abs_sum += float((shaped.abs() * weights).sum())
        rows = dict.get(batch, "entropy_lens_row")
        if rows is None:
            return
        completion_ids = dict.__getitem__(batch, "completion_ids").cpu()
        completion_mask = dict.__getitem__(batch, "completion_mask").bool().cpu()
        entropies, logps = entropies.detach().float().cpu(), logps.detach().float().cpu()
        for i, row in enumerate(rows.tolist()):
            meta = self.meta.pop(row, None)
            if meta is None:
                continue  # seen by an earlier update
            keep = completion_mask[i]
            if not keep.any():
                self.untrained += 1  # TRL masked it out of the forward: no entropy to record
                continue
            self.records.append({**meta, "token_ids": completion_ids[i][keep].tolist(),
                                 "entropy": entropies[i][keep].tolist(), "logprob": logps[i][keep].tolist()})

    def take(self) -> dict[str, Any]:
        """This step's records and sums (this process's), and a fresh start for the next step."""
        taken = {"records": self.records, "psi_sum": self.psi_sum, "shaped_abs_sum": self.shaped_abs_sum,
                 "untrained": self.untrained}
        self._clear()
        return taken


def table_rows(tokenizer, records: Sequence[dict], eos_ids: Sequence[int], *, lenient_truncated: bool = False):
    """Rollout-table rows (``measure.records.response_row``) of recorded completions."""
    from entropy_lens.measure.records import response_row

    eos = {int(t) for t in eos_ids}
    return [response_row(tokenizer, **record, finish_reason="stop" if record["token_ids"][-1] in eos else "length",
                         lenient_truncated=lenient_truncated) for record in records]


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def exploration_metrics(rows: Sequence[dict], psi_sum: float, shaped_abs_sum: float) -> dict[str, float]:
    """A step's exploration metrics (NaN when undefined), as ``trainer/metrics.py`` defines them:
    ``entropy_share`` = sum psi / sum |A_shaped| over trained tokens and updates; the entropy at
    pivotal words' first tokens (``pivotal_entropy``, ``pivotal_count``) and the share of them
    above the 0.8 quantile of all the step's token entropies (``forking_share``); reflective
    sentences per response; 1 - distinct / all token 4-grams, per response. Without new rows
    (a step that only revisits completions, ``num_iterations > 1``) only the entropy share."""
    from entropy_lens.analyses.exploration import batch_pivotal_entropies, reflection_counts, repetition_rate

    share = psi_sum / shaped_abs_sum if shaped_abs_sum > 0 else math.nan
    if not rows:  # a step that only revisits completions (num_iterations > 1): nothing new to read
        return {"entropy_share": share}
    texts = [r["response"] for r in rows]
    entropies = [r["entropy"] for r in rows]
    pivotal = np.asarray(batch_pivotal_entropies(texts, [r["offsets"] for r in rows], entropies), dtype=np.float64)
    threshold = quantile(np.concatenate([np.asarray(e, dtype=np.float64) for e in entropies]), FORKING_QUANTILE)
    repetition = [v for r in rows if (v := repetition_rate(r["token_ids"])) is not None]
    return {
        "entropy_share": share,
        "pivotal_entropy": _mean(pivotal),
        "pivotal_count": float(len(pivotal)),
        "forking_share": _mean(pivotal > threshold) if len(pivotal) else math.nan,
        "reflection_frequency": _mean(reflection_counts(texts)),
        "repetition_rate": _mean(repetition),
    }
