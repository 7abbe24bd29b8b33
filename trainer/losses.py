"""Losses: the clipped surrogate with Clip-Higher, the critic's clipped value loss, the k3
KL penalty, and a differentiable exact log-prob + entropy of the response tokens.

Every loss is aggregated at token level (DAPO): the mean over all real response tokens of
the minibatch, so long responses weigh in proportion to their length.
"""

from __future__ import annotations

import torch

from entropy_lens.measure.entropy import entropy_and_logprob

from .advantages import masked_mean

# Elements per chunk in the backward pass of LogprobEntropy: 1.5M float32 values, a few
# MiB of work buffers whatever the vocabulary or the number of positions.
_CHUNK_ELEMENTS = 3 << 19


class LogprobEntropy(torch.autograd.Function):
    """Log-prob of the chosen tokens and exact entropy of ``softmax(z / tau)``, both differentiable.

    Forward reuses :func:`entropy_lens.measure.entropy.entropy_and_logprob` (float32, full vocabulary,
    chunked). Backward recomputes the softmax a chunk of rows at a time, so no extra
    ``N x V`` tensor is kept between the passes. With ``a = z / tau`` and ``log p = log_softmax(a)``::

        d logp(y) / d a_j = [j = y] - p_j
        d H / d a_j       = -p_j (log p_j + H)
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, token_ids: torch.Tensor, temperature: float):
        entropy, logprob = entropy_and_logprob(logits, token_ids, temperature)
        ctx.save_for_backward(logits, token_ids, entropy)
        ctx.temperature = temperature
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None: skip its term
        return logprob, entropy

    @staticmethod
    def backward(ctx, grad_logprob: torch.Tensor | None, grad_entropy: torch.Tensor | None):
        logits, token_ids, entropy = ctx.saved_tensors
        inv_t = 1.0 / ctx.temperature
        vocab = logits.shape[-1]
        z = logits.reshape(-1, vocab)
        ids = token_ids.reshape(-1)
        h = entropy.reshape(-1)
        g_lp = None if grad_logprob is None else grad_logprob.reshape(-1).float()
        g_h = None if grad_entropy is None else grad_entropy.reshape(-1).float()
        grad = torch.empty_like(z)
        step = max(1, _CHUNK_ELEMENTS // max(1, vocab))
        for start in range(0, z.shape[0], step):
            rows = slice(start, start + step)
            log_p = torch.log_softmax(z[rows].float() * inv_t, dim=-1)
            g = logits_gradient(log_p, ids[rows], h[rows], None if g_lp is None else g_lp[rows],
                                None if g_h is None else g_h[rows], inv_t)
            grad[rows] = g.to(grad.dtype)
        return grad.view_as(logits), None, None


def logits_gradient(log_p: torch.Tensor, token_ids: torch.Tensor, entropy: torch.Tensor,
                    grad_logprob: torch.Tensor | None, grad_entropy: torch.Tensor | None, inv_t: float) -> torch.Tensor:
    """Gradient with respect to rows of logits ``z`` (float32, ``(rows, V)``) of
    ``sum(grad_logprob * logp(y)) + sum(grad_entropy * H)``, given ``log_p = log_softmax(z / tau)``."""
    p = log_p.exp()
    g = None  # built in place, term by term: each pass over these (rows, V) tensors counts
    if grad_logprob is not None:
        g = p * (-grad_logprob[:, None])
        g.scatter_add_(1, token_ids[:, None], grad_logprob[:, None])
    if grad_entropy is not None:
        # p * log p is 0 where p is 0 (a -inf logit), not 0 * -inf
        p_log_p = torch.where(p > 0, p * log_p, torch.zeros_like(p))
        term = (p_log_p + p * entropy[:, None]) * (-grad_entropy[:, None])
        g = term if g is None else g.add_(term)
    if g is None:
        return torch.zeros_like(p)
    return g if inv_t == 1.0 else g.mul_(inv_t)


def logprob_and_entropy(logits: torch.Tensor, token_ids: torch.Tensor,
                        temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logprob, entropy)`` of ``token_ids`` under ``softmax(logits / temperature)``, float32,
    shape ``token_ids.shape``; both carry gradients to ``logits`` (entropy in nats)."""
    return LogprobEntropy.apply(logits, token_ids, float(temperature))


def surrogate_terms(logprob: torch.Tensor, old_logprob: torch.Tensor, advantages: torch.Tensor,
                    eps_low: float, eps_high: float) -> torch.Tensor:
    """Per-token loss of PPO's clipped objective with Clip-Higher (``clipped_surrogate`` is its token mean)."""
    ratio = torch.exp((logprob - old_logprob).clamp(-20.0, 20.0))  # exp() of a huge gap overflows to inf
    return torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1.0 - eps_low, 1.0 + eps_high))


def clipped_surrogate(logprob: torch.Tensor, old_logprob: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                      eps_low: float, eps_high: float, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped objective with Clip-Higher, as a loss to minimise (token mean).

    ``ratio = exp(logprob - old_logprob)`` is clipped to ``[1 - eps_low, 1 + eps_high]``:
    a positive advantage stops pushing once ``ratio > 1 + eps_high``, a negative one once
    ``ratio < 1 - eps_low``. Returns the loss and ``clip_fraction`` (share of tokens where
    the clipped term is the active one) and ``approx_kl`` (k3 estimate of KL(old || new)).
    ``keep`` (0/1 per token) zeroes the terms of tokens that get no gradient while the mean
    stays over all response tokens, as TRL's entropy mask does.
    """
    per_token = surrogate_terms(logprob, old_logprob, advantages, eps_low, eps_high)
    loss = masked_mean(per_token if keep is None else per_token * keep, mask)
    return loss, surrogate_stats(logprob, old_logprob, advantages, mask, eps_low, eps_high)


@torch.no_grad()
def surrogate_stats(logprob: torch.Tensor, old_logprob: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    eps_low: float, eps_high: float) -> dict[str, float]:
    """``clip_fraction`` and ``approx_kl`` of the clipped objective (see ``clipped_surrogate``)."""
    log_ratio = (logprob - old_logprob).clamp(-20.0, 20.0)
    ratio = torch.exp(log_ratio)
    clipped = -advantages * ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    return {"clip_fraction": float(masked_mean((clipped > -advantages * ratio).float(), mask)),
            "approx_kl": float(masked_mean(ratio - 1.0 - log_ratio, mask))}


def kl_terms(logprob: torch.Tensor, ref_logprob: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference): ``exp(d) - d - 1`` with ``d = ref - logprob``."""
    d = (ref_logprob - logprob).clamp(-20.0, 20.0)
    return torch.exp(d) - d - 1.0


def kl_penalty(logprob: torch.Tensor, ref_logprob: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """k3 estimate of KL(policy || reference), token mean."""
    return masked_mean(kl_terms(logprob, ref_logprob), mask)


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float) -> torch.Tensor:
    """Clipped value loss ``0.5 * max((V - R)^2, (V_clipped - R)^2)``, token mean."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)
