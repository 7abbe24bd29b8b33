"""``EntropyLensCallback``: this project's exploration metrics in TRL's logs, and the
completions with their per-token entropy as a rollout table.

At the end of every optimizer step it gathers what the bound :class:`EntropyGRPOTrainer` saw
(``trl_records.StepRecorder``) from all processes, and on the main process

* appends ``entropy_lens/<name>`` to the trainer's ``_metrics["train"]``, which TRL averages
  over each logging window and writes with its own metrics (console, ``log_history``,
  TensorBoard, W&B, ...): ``entropy_share``, ``pivotal_entropy``, ``pivotal_count``,
  ``forking_share``, ``reflection_frequency``, ``repetition_rate`` (``trl_records.exploration_metrics``);
* with ``rollout_dir``, writes the step's completions as one shard of a rollout table
  (``RolloutStore``, ``measure.records.response_row``) that every ``entropy-lens`` analysis
  reads. The folder must be new, empty, or a table of this same run's settings (a resumed run
  adds the steps it has not stored); anything else is refused before training starts.

A completion's ``entropy`` and ``logprob`` are those of the first training forward that saw
it (TRL's exact entropy at ``args.temperature``, float32), not of a separate pass.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from entropy_lens.integrations.trl_records import StepRecorder, exploration_metrics, table_rows
from entropy_lens.integrations.trl_trainer import EntropyGRPOTrainer

METRIC_PREFIX = "entropy_lens/"


class EntropyLensCallback(TrainerCallback):
    """Exploration metrics each step, and (with ``rollout_dir``) the completions as a rollout table.

    ``id_column`` / ``answer_column``: the dataset columns that give a prompt's id (else
    ``id``, else a hash of the prompt) and its gold answer (graded into ``extracted`` and
    ``correct``; None without one). ``lenient_truncated`` grades a cut-off completion like a
    finished one. Works with :class:`EntropyGRPOTrainer` only (``alpha=0`` for plain GRPO).
    """

    def __init__(self, rollout_dir: str | Path | None = None, *, id_column: str = "prompt_id",
                 answer_column: str = "answer", lenient_truncated: bool = False):
        self.rollout_dir = None if rollout_dir is None else Path(rollout_dir)
        self.id_column = id_column
        self.answer_column = answer_column
        self.lenient_truncated = lenient_truncated
        self.trainer: EntropyGRPOTrainer | None = None
        self.store = None
        self.rows_written = 0

    def bind_trainer(self, trainer) -> None:
        """Attach to ``trainer`` (the trainer does this for its callbacks); checks ``rollout_dir`` now."""
        if not isinstance(trainer, EntropyGRPOTrainer):
            raise TypeError(f"EntropyLensCallback needs an EntropyGRPOTrainer, got {type(trainer).__name__}")
        if self.trainer is not None:
            raise ValueError("this EntropyLensCallback is bound to another trainer already; make one per trainer")
        if trainer._recorder is not None:
            raise ValueError("the trainer has an EntropyLensCallback already; pass only one")
        if self.rollout_dir is not None:
            from entropy_lens.rollouts.store import RolloutStore

            self.store = RolloutStore(self.rollout_dir, run_settings(trainer, self), run_info())
            self.store.check()  # a folder holding anything else is refused before any training
        self.trainer = trainer
        trainer._recorder = StepRecorder(id_column=self.id_column, answer_column=self.answer_column)

    def on_train_begin(self, args, state, control, **kwargs):
        if self.trainer is None:
            raise RuntimeError("EntropyLensCallback was never bound: pass it to EntropyGRPOTrainer(callbacks=[...])")
        if self.store is not None and state.is_world_process_zero:
            self.store.open()

    def on_step_end(self, args, state, control, **kwargs):
        from accelerate.utils import gather_object

        parts = gather_object([self.trainer._recorder.take()])
        if not state.is_world_process_zero:
            return
        records = [r for part in parts for r in part["records"]]
        rows = table_rows(self.trainer._tokenizer, records, self.trainer.eos_token_ids,
                          lenient_truncated=self.lenient_truncated)
        metrics = exploration_metrics(rows, sum(p["psi_sum"] for p in parts), sum(p["shaped_abs_sum"] for p in parts))
        for name, value in metrics.items():
            self.trainer._metrics["train"][METRIC_PREFIX + name].append(value)
        if self.store is not None:
            new = [r for r in rows if (r["prompt_id"], r["sample_id"]) not in self.store.done]
            if new:
                self.store.write(new)
                self.rows_written += len(new)


def run_settings(trainer, callback: EntropyLensCallback) -> dict[str, Any]:
    """What decides a rollout table's rows (compared when a run resumes into its folder); the
    sampling keys are named as ``entropy-lens generate`` names them, so ``fork`` reads them."""
    args = trainer.args
    return {
        "command": "trl-grpo", "model": trainer.model.config._name_or_path, "temperature": args.temperature,
        "top_p": args.top_p, "top_k": args.top_k, "min_p": args.min_p, "repetition_penalty": args.repetition_penalty,
        "max_new_tokens": args.max_completion_length, "entropy_temperature": args.temperature,
        "num_generations": args.num_generations, "alpha": args.alpha, "kappa": args.kappa,
        "loss_type": args.loss_type, "seed": args.seed, "id_column": callback.id_column,
        "answer_column": callback.answer_column, "lenient_truncated": callback.lenient_truncated,
    }


def run_info() -> dict[str, Any]:
    import trl

    from entropy_lens import __version__

    return {"entropy_lens_version": __version__, "trl_version": trl.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "columns": "see README: The rollout table",
            "entropy": "TRL's training forward (first update of each completion), exact, at the sampling temperature"}
