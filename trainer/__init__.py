"""The bundled RLVR trainer (GRPO / PPO with entropy-based advantage shaping).

Imported as ``entropy_lens_trainer`` so it cannot clash with other packages' ``trainer``.
One module per job, in the order a step runs them: ``rollout`` (sampling) -> ``rewards`` ->
``advantages`` (GRPO, GAE) -> ``entropy_lens.shaping`` -> ``losses`` -> ``loop`` (the
optimiser step, and the run itself); ``critic`` (PPO), ``rundir`` (start, restart or continue), ``checkpoint``, ``metrics`` and
``events`` (TensorBoard files) around them; ``config`` holds every setting.

    from entropy_lens_trainer import TrainConfig, train
    metrics = train(TrainConfig(algorithm="grpo", shaping="entropy-adv", steps=20), "runs/grpo-adv")
"""

from __future__ import annotations

from typing import Any

from .config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(cfg: TrainConfig | None = None, out: Any = None, **kwargs: Any):
    """See :func:`entropy_lens_trainer.loop.train` (imported here lazily: it needs torch)."""
    from .loop import train as _train

    if out is None:
        raise TypeError("train() needs the run folder `out`")
    return _train(cfg or TrainConfig(), out, **kwargs)
