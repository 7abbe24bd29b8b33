"""Entropy-based advantage shaping inside TRL's ``GRPOTrainer`` (docs/method.md §5).

For every completion token, with TRL's advantage ``A`` and the entropy ``H`` of the training
forward pass::

    A_shaped = A + min(alpha * H.detach(), |A| / kappa)        (entropy_lens.shaping)

**The hook (TRL 1.16).** ``GRPOTrainer._compute_loss`` runs the training forward
(``_get_per_token_logps_and_entropies(..., compute_entropy=True)``) and only then reads
``inputs["advantages"]``, which it accepts as ``(B,)`` or, "to support subclasses", as
``(B, T)``. :class:`EntropyGRPOTrainer` gives ``_compute_loss`` a copy of the batch; when
that forward returns, the copy's advantages become the shaped ``(B, T)`` ones. The same
forward's entropies are used (no second pass), and the rest of TRL's loss runs as written:
the ratio and clipping of ``loss_type``, its token aggregation, ``top_entropy_quantile``,
the KL term, vLLM's importance-sampling correction, gradient accumulation, DeepSpeed/FSDP
and multi-node (the bonus is per token, so it needs no communication). Because
``0 <= psi < |A|``, no advantage changes sign, so TRL's sign-dependent branches (clip
ratios, the off-policy mask, SAPO, VESPO) take the same side as without shaping.
If a TRL version reads the advantages before that forward, or skips the hooked method,
the loss is refused with a RuntimeError rather than computed unshaped.

**Which entropy.** TRL's fused LM head: the exact full-vocabulary entropy of
``softmax(logits / temperature)`` at ``args.temperature`` (the sampling temperature;
top-p / top-k are not applied), accumulated in float32 by an online logsumexp over vocabulary
chunks. Prompt and padding positions (and tool output, with ``tool_mask``) get no bonus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import trl
from trl import GRPOConfig, GRPOTrainer

from entropy_lens.shaping import entropy_bonus, shape_advantages

ROW_KEY = "entropy_lens_row"  # the batch key that names each completion's recorded row (with a callback only)


@dataclass
class EntropyGRPOConfig(GRPOConfig):
    """``GRPOConfig`` plus the shaping's ``alpha`` (0 = plain GRPO) and ``kappa`` (> 1)."""

    alpha: float = field(default=0.4, metadata={"help": "entropy-adv: weight of the detached entropy in the "
                                                        "advantage bonus min(alpha*H, |A|/kappa); 0 turns shaping off "
                                                        "(paper: 0.4 for GRPO)"})
    kappa: float = field(default=2.0, metadata={"help": "entropy-adv: the bonus is at most |A|/kappa; must be > 1 "
                                                        "so that no advantage changes sign (paper: 2)"})

    def __post_init__(self):
        super().__post_init__()
        entropy_bonus(torch.zeros(1), torch.zeros(1), self.alpha, self.kappa)  # ValueError for a bad alpha or kappa


class _Batch(dict):
    """The batch ``_compute_loss`` reads, noting whether it read the advantages before they were shaped."""

    shaped = False
    read_early = False

    def __getitem__(self, key):
        if key == "advantages" and not self.shaped:
            self.read_early = True
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


class EntropyGRPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` with entropy-shaped advantages; ``args`` is an :class:`EntropyGRPOConfig`.

    Every other argument is ``GRPOTrainer``'s. An ``EntropyLensCallback`` among ``callbacks``
    (or added later) is bound to this trainer and receives what each update saw.
    """

    def __init__(self, model, reward_funcs=None, args=None, *rest, **kwargs):
        if args is None:
            name = model if isinstance(model, str) else model.config._name_or_path or "model"
            args = EntropyGRPOConfig(f"{name.rstrip('/').split('/')[-1]}-GRPO")
        if not isinstance(args, EntropyGRPOConfig):
            raise TypeError(f"EntropyGRPOTrainer needs args=EntropyGRPOConfig(...), got {type(args).__name__}: "
                            "it adds alpha and kappa to GRPOConfig (alpha=0 is plain GRPO)")
        self._recorder = None  # set by a bound EntropyLensCallback
        self._batch: _Batch | None = None
        super().__init__(model, reward_funcs, args, *rest, **kwargs)
        self._bind_callbacks()

    def add_callback(self, callback):
        super().add_callback(callback)
        self._bind_callbacks()

    def _bind_callbacks(self) -> None:
        for callback in self.callback_handler.callbacks:
            if getattr(callback, "bind_trainer", None) is not None and getattr(callback, "trainer", None) is not self:
                callback.bind_trainer(self)

    # -- generation: name each completion, when a callback records them --------------------
    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self._recorder is not None and self.model.training:
            output[ROW_KEY] = self._recorder.add_generation(self, inputs, output)
        return output

    # -- the loss: shaped advantages from the training forward's entropies -----------------
    def _compute_loss(self, model, inputs):
        batch = _Batch(inputs)  # a copy: buffered inputs reused by later iterations keep TRL's advantages
        self._batch = batch
        try:
            loss = super()._compute_loss(model, batch)
        finally:
            self._batch = None
        if batch.read_early or not batch.shaped:
            raise RuntimeError(
                f"TRL {trl.__version__}: GRPOTrainer._compute_loss no longer reads the advantages after its training "
                "forward (_get_per_token_logps_and_entropies), so they could not be shaped; "
                "EntropyGRPOTrainer is written for TRL 1.16 (pip install 'trl>=1.16,<1.17')")
        return loss

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs)
        batch = self._batch
        if batch is not None and not batch.shaped and entropies is not None:
            self._shape(batch, logps, entropies)
        return logps, entropies, aux_loss

    def _shape(self, batch: _Batch, logps: torch.Tensor, entropies: torch.Tensor) -> None:
        mask = dict.__getitem__(batch, "completion_mask")
        if "tool_mask" in batch:
            mask = mask * dict.__getitem__(batch, "tool_mask")
        advantages = dict.__getitem__(batch, "advantages")
        advantages = (advantages.unsqueeze(1) if advantages.dim() == 1 else advantages).expand_as(entropies)
        shaped = shape_advantages(advantages, entropies, self.args.alpha, self.args.kappa, mask=mask)
        dict.__setitem__(batch, "advantages", shaped)
        batch.shaped = True
        if self._recorder is not None and self.model.training:
            self._recorder.add_update(batch, logps, entropies, advantages, shaped, mask)
