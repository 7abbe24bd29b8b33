"""veRL integration: the paper's entropy-based advantage shaping as a veRL policy loss
(docs/method.md §5). Written and tested against veRL 0.9.1 (README: veRL).

For every response token, with veRL's advantage ``A`` and the entropy ``H`` of the actor's
training forward (the micro-batch whose loss is being computed)::

    A_shaped = A + min(alpha * H.detach(), |A| / kappa)        (entropy_lens.shaping)

and then veRL's own policy loss (``vanilla`` by default) on ``A_shaped``. A veRL run selects it
with its own config keys::

    actor_rollout_ref.actor.policy_loss._target_=entropy_lens.integrations.verl.EntropyAdvPolicyLossConfig
    actor_rollout_ref.actor.policy_loss.loss_mode=entropy_adv
    +actor_rollout_ref.actor.policy_loss.entropy_adv_alpha=0.4     # 0 = the base loss unchanged
    +actor_rollout_ref.actor.policy_loss.entropy_adv_kappa=2.0     # > 1
    actor_rollout_ref.actor.calculate_entropy=True

**The hook (veRL 0.9.1).** veRL's advantage estimators (``register_adv_est``) run in the
driver before the actor's forward, so they have no current-policy entropy. Its policy losses
(``register_policy_loss``) run inside the actor's update, but ``ppo_loss``
(``verl/workers/utils/losses.py``) calls them with ``old_log_prob, log_prob, advantages,
response_mask, loss_agg_mode, config, rollout_is_weights`` only: the entropy of that same
forward stays in ``model_output["entropy"]`` (present when ``calculate_entropy`` or
``entropy_coeff != 0``). So this module

* registers the policy loss ``entropy_adv`` (:func:`compute_policy_loss_entropy_adv`) with
  ``register_policy_loss``: it shapes the advantages and calls veRL's registered base loss;
* replaces the name ``ppo_loss`` in ``verl.workers.engine_workers`` (the one
  ``ActorRolloutRefWorker.init_model`` binds as the actor's loss function) with
  :func:`ppo_loss_with_entropy`, which pads the micro-batch's entropy exactly as ``ppo_loss``
  pads its log-probs (``no_padding_2_padding``), makes it visible to ``entropy_adv`` for the
  duration of the call, and runs veRL's ``ppo_loss`` unchanged (a pass-through for any other
  ``loss_mode``).

Both happen when this module is imported. The ``_target_`` key above imports it in every
process that builds the actor's config (Hydra instantiates it), including each actor worker
just before it binds its loss function; ``actor_rollout_ref.model.external_lib`` or
``VERL_USE_EXTERNAL_MODULES`` would import it too. Without the entropy (``calculate_entropy``
off) or without the wrapper (a custom loss function, distillation's ``distillation_ppo_loss``),
``entropy_adv`` raises instead of training unshaped.

**Which entropy.** veRL's: the full-vocabulary entropy of ``softmax(logits / temperature)`` at
``rollout.temperature``, of the same forward as ``log_prob``, in the engine's compute dtype.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

import torch
from verl.trainer.ppo.core_algos import get_policy_loss_fn, register_policy_loss
from verl.workers import engine_workers
from verl.workers.config import PolicyLossConfig
from verl.workers.utils.losses import ppo_loss as verl_ppo_loss
from verl.workers.utils.padding import no_padding_2_padding

from entropy_lens.shaping import entropy_bonus

LOSS_MODE = "entropy_adv"
_UNWRAPPED = object()  # no ppo_loss_with_entropy around the call
_ENTROPY: contextvars.ContextVar = contextvars.ContextVar("entropy_lens_verl_entropy", default=_UNWRAPPED)


@dataclass
class EntropyAdvPolicyLossConfig(PolicyLossConfig):
    """veRL's ``PolicyLossConfig`` plus the shaping's settings (``actor_rollout_ref.actor.policy_loss``).

    ``entropy_adv_alpha``: weight of the detached entropy (paper: 0.4 for GRPO, 0.1 for PPO;
    0 = the base loss unchanged); ``entropy_adv_kappa``: the bonus is at most ``|A|/kappa``,
    > 1 so that no advantage changes sign; ``entropy_adv_base``: the registered veRL policy loss
    that receives the shaped advantages.
    """

    entropy_adv_alpha: float = 0.4
    entropy_adv_kappa: float = 2.0
    entropy_adv_base: str = "vanilla"

    def __post_init__(self):
        entropy_bonus(torch.zeros(1), torch.zeros(1), self.entropy_adv_alpha, self.entropy_adv_kappa)  # ValueError
        if self.entropy_adv_base == LOSS_MODE:
            raise ValueError(f"entropy_adv_base must be another veRL policy loss than {LOSS_MODE!r}")


@register_policy_loss(LOSS_MODE)
def compute_policy_loss_entropy_adv(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean",
                                    config=None, rollout_is_weights=None, entropy=None):
    """veRL policy loss ``entropy_adv``: the base loss on ``A + min(alpha * H.detach(), |A| / kappa)``.

    ``entropy`` (``(batch, response_len)``, like ``advantages``) defaults to the one
    :func:`ppo_loss_with_entropy` passes on. Returns the base loss and its metrics plus
    ``actor/entropy_adv_share`` (sum psi / sum |A_shaped| over the micro-batch's response
    tokens) and ``actor/entropy_adv_bonus`` (mean psi).
    """
    settings = getattr(config, "policy_loss", None)
    if not isinstance(settings, EntropyAdvPolicyLossConfig):
        raise TypeError(f"loss_mode={LOSS_MODE} needs actor_rollout_ref.actor.policy_loss._target_="
                         f"{EntropyAdvPolicyLossConfig.__module__}.{EntropyAdvPolicyLossConfig.__name__}")
    if entropy is None:
        entropy = _ENTROPY.get()
    if entropy is _UNWRAPPED:
        raise RuntimeError(f"loss_mode={LOSS_MODE}: the policy loss was not called through "
                           f"{__name__}.ppo_loss_with_entropy, so the training forward's entropy is unknown "
                           "(a custom actor loss function or distillation is not supported)")
    if entropy is None:
        raise RuntimeError(f"loss_mode={LOSS_MODE} needs the training forward's entropy: set "
                           "actor_rollout_ref.actor.calculate_entropy=True")
    mask = response_mask.bool()
    psi = entropy_bonus(advantages, entropy, settings.entropy_adv_alpha, settings.entropy_adv_kappa, mask)
    shaped = advantages + psi
    loss, metrics = get_policy_loss_fn(settings.entropy_adv_base)(
        old_log_prob=old_log_prob, log_prob=log_prob, advantages=shaped, response_mask=response_mask,
        loss_agg_mode=loss_agg_mode, config=config, rollout_is_weights=rollout_is_weights)
    shaped_abs = shaped.detach().abs()[mask].sum()
    metrics = dict(metrics)
    metrics["actor/entropy_adv_share"] = (psi[mask].sum() / shaped_abs).item() if shaped_abs > 0 else 0.0
    metrics["actor/entropy_adv_bonus"] = psi[mask].mean().item() if mask.any() else 0.0
    return loss, metrics


def ppo_loss_with_entropy(config, model_output, data, dp_group=None):
    """veRL's ``ppo_loss``, with the micro-batch's padded, detached entropy visible to ``entropy_adv``."""
    entropy = None
    if config.policy_loss.get("loss_mode", "vanilla") == LOSS_MODE and model_output.get("entropy") is not None:
        entropy = no_padding_2_padding(model_output["entropy"].detach(), data)
    token = _ENTROPY.set(entropy)
    try:
        return verl_ppo_loss(config, model_output, data, dp_group)
    finally:
        _ENTROPY.reset(token)


ppo_loss_with_entropy.__wrapped__ = verl_ppo_loss


def install() -> None:
    """Make ``ActorRolloutRefWorker`` bind :func:`ppo_loss_with_entropy` (done on import; idempotent)."""
    current = engine_workers.ppo_loss
    if current is not verl_ppo_loss and getattr(current, "__wrapped__", None) is not verl_ppo_loss:
        raise RuntimeError(f"verl.workers.engine_workers.ppo_loss is not veRL's ppo_loss but {current!r}: "
                           "another patch of the actor's loss function")
    engine_workers.ppo_loss = ppo_loss_with_entropy


install()
