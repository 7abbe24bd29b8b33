"""Entropy-based advantage shaping (arXiv 2506.14758, docs/method.md §5).

For each response token, with advantage ``A_t`` and the current policy's entropy ``H_t``::

    psi_t      = min(alpha * H_t.detach(), |A_t| / kappa)
    A_shaped_t = A_t + psi_t

``kappa > 1`` keeps ``0 <= psi_t < |A_t|``: the sign of an advantage never flips, and a
token with ``A_t = 0`` (a group whose rewards are all equal) gets no bonus. ``H_t`` is
detached, so the policy gradient keeps PPO's form ``sum_t A_shaped_t grad log pi(o_t)``;
entropy *regularisation* (a loss term with gradient through ``H_t``) is the contrast the
paper compares against and lives in the trainer's losses.
"""

from __future__ import annotations

import math

import torch


def _check(alpha: float, kappa: float) -> None:
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    if not (isinstance(kappa, (int, float)) and kappa > 1):
        raise ValueError(f"kappa must be > 1 (it bounds the bonus by |A|/kappa), got {kappa}")


def entropy_bonus(advantages: torch.Tensor, entropy: torch.Tensor, alpha: float, kappa: float,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """``psi = min(alpha * H.detach(), |A| / kappa)``, 0 where ``mask`` is false; same shape as ``advantages``."""
    _check(alpha, kappa)
    psi = torch.minimum(alpha * entropy.detach().to(advantages.dtype), advantages.detach().abs() / kappa)
    if mask is not None:
        psi = torch.where(mask.bool(), psi, torch.zeros_like(psi))
    return psi


def shape_advantages(advantages: torch.Tensor, entropy: torch.Tensor, alpha: float, kappa: float = 2.0,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """Entropy-shaped advantages ``A + min(alpha * H.detach(), |A| / kappa)``.

    ``advantages`` and ``entropy`` (nats) have the same shape, e.g. ``(batch, response_len)``;
    positions where ``mask`` is false (prompt, padding) are returned unchanged. No gradient
    ever reaches ``entropy``. Raises ``ValueError`` for ``kappa <= 1`` or ``alpha < 0``.
    """
    if advantages.shape != entropy.shape:
        raise ValueError(f"advantages {tuple(advantages.shape)} and entropy {tuple(entropy.shape)} differ in shape")
    return advantages + entropy_bonus(advantages, entropy, alpha, kappa, mask)
