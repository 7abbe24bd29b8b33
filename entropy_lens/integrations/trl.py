"""TRL integration: the paper's entropy-based advantage shaping in TRL's ``GRPOTrainer``,
and this project's exploration metrics and rollout table from its training runs.

Install with ``pip install -e ".[trl]"`` (written and tested against TRL 1.16)::

    from entropy_lens.integrations.trl import EntropyGRPOConfig, EntropyGRPOTrainer, EntropyLensCallback

    args = EntropyGRPOConfig(output_dir="runs/trl", alpha=0.4, kappa=2.0, ...)   # any GRPOConfig setting
    trainer = EntropyGRPOTrainer(model, reward_funcs=reward, args=args, train_dataset=dataset,
                                 callbacks=[EntropyLensCallback(rollout_dir="runs/trl/rollouts")])
    trainer.train()

* :class:`EntropyGRPOTrainer` / :class:`EntropyGRPOConfig` (``trl_trainer.py``): per-token
  ``A + min(alpha * H.detach(), |A| / kappa)`` with ``H`` from the training forward;
  ``alpha=0`` is plain GRPO.
* :class:`EntropyLensCallback` (``trl_callback.py``): ``entropy_lens/...`` metrics in TRL's
  logs every step, and the completions with per-token entropy as a rollout table.
"""

from __future__ import annotations

from entropy_lens.integrations.trl_callback import EntropyLensCallback
from entropy_lens.integrations.trl_trainer import EntropyGRPOConfig, EntropyGRPOTrainer

__all__ = ["EntropyGRPOConfig", "EntropyGRPOTrainer", "EntropyLensCallback"]
