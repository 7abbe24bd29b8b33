"""Advantages: GRPO's group-normalised outcome advantage, and PPO's GAE with whitening.

Tensors are ``(batch, response_len)`` with a 0/1 ``mask`` of real response tokens
(padding after EOS is 0). Conventions (as veRL):

* GRPO: ``A_i = (r_i - mean(r_group)) / (std(r_group) + 1e-6)`` with the *sample* standard
  deviation (Bessel's correction, ``torch.std``'s default), broadcast over the response.
  A group whose rewards are all equal gets 0 everywhere.
* GAE: ``delta_t = r_t + gamma V_{t+1} - V_t`` (``V`` past the last real token is 0),
  ``A_t = delta_t + gamma lambda A_{t+1}``; returns ``R_t = A_t + V_t`` (the critic's target).
* Whitening: ``(A - mean) / sqrt(var + 1e-8)`` over the masked tokens of the whole batch, with
  the sample variance.
"""

from __future__ import annotations

import torch

GROUP_STD_EPS = 1e-6
WHITEN_EPS = 1e-8


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1 (0 when the mask is empty)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1)


def group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Per-response GRPO advantages for ``rewards`` ``(n_groups * group_size,)``, groups contiguous."""
    if group_size < 2:
        raise ValueError(f"GRPO needs a group of at least 2 responses, got {group_size}")
    grouped = rewards.float().view(-1, group_size)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True)  # sample std (unbiased)
    return ((grouped - mean) / (std + GROUP_STD_EPS)).view(-1)


def broadcast(per_response: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A per-response value on every real response token, 0 on padding."""
    return per_response[:, None].to(torch.float32) * mask.to(torch.float32)


def outcome_token_rewards(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The outcome reward placed on each response's last real token, 0 elsewhere."""
    token_rewards = torch.zeros(mask.shape, dtype=torch.float32)
    lengths = mask.sum(dim=1).long()
    rows = torch.nonzero(lengths > 0).view(-1)
    token_rewards[rows, lengths[rows] - 1] = rewards.float()[rows]
    return token_rewards


def gae(token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation; returns ``(advantages, returns)``, 0 on padding."""
    mask = mask.to(torch.float32)
    values = values.float() * mask
    token_rewards = token_rewards.float() * mask
    advantages = torch.zeros_like(values)
    next_value = torch.zeros(values.shape[0])
    running = torch.zeros(values.shape[0])
    for t in reversed(range(values.shape[1])):
        delta = token_rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        # padding positions neither carry an advantage nor pass one back
        running = running * mask[:, t]
        advantages[:, t] = running
        next_value = values[:, t]
    return advantages, (advantages + values) * mask


def whiten(x: torch.Tensor, mask: torch.Tensor, total=float) -> torch.Tensor:
    """``(x - mean) / sqrt(var + 1e-8)`` over masked positions (sample variance); 0 on padding.

    ``total`` sums a number over the training processes (``distributed.Group.total``), so
    under torchrun the mean and variance are those of the whole batch."""
    m = mask.to(torch.float32)
    n = total(float(m.sum()))
    mean = total(float((x * m).sum())) / max(n, 1.0)
    var = total(float((((x - mean) * m) ** 2).sum())) / max(n - 1.0, 1.0)
    return (x - mean) * torch.rsqrt(torch.tensor(var, dtype=x.dtype) + WHITEN_EPS) * m


def top_entropy_mask(entropy: torch.Tensor, mask: torch.Tensor, quantile: float,
                     pool: torch.Tensor | None = None) -> torch.Tensor:
    """The response tokens (``mask`` > 0) whose ``entropy`` is in the top ``quantile`` share of
    all of them, as a float mask of ``mask``'s shape: the tokens that keep their policy
    gradient in the 80/20 baseline (Wang et al. 2025). ``quantile`` 1.0 keeps every token;
    ties at the threshold are kept, as TRL's ``top_entropy_quantile`` does. ``pool``: the
    entropies the threshold is taken over when they are more than these (the whole batch of
    all training processes)."""
    real = mask > 0
    if quantile >= 1.0 or not real.any():
        return real.float()
    values = entropy[real].float() if pool is None or not len(pool) else pool.float()
    threshold = torch.quantile(values, 1.0 - quantile)
    return (real & (entropy >= threshold)).float()
