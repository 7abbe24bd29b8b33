"""The training pass's log-probs and exact entropies, computed from the final hidden states
and the LM head a chunk of positions at a time, so the full ``B x R x V`` logits never exist.

A micro-batch of 8 responses x 8k tokens over a 152k vocabulary holds 40 GB of float32
logits, before autograd keeps its copies; its hidden states (``d = 896`` for a Qwen2.5-0.5B
sized model) take 0.2 GB. Two ways to keep only the hidden states:

- ``policy_loss`` (the trainer's pass) fuses the loss into the head, as fused linear
  cross-entropy kernels do: every loss the trainer uses is a token mean of a function of
  each token's log-prob and entropy, so for each chunk of positions it runs the head, the
  exact float32 entropy and log-prob, the chunk's loss terms and their gradient with
  respect to log-prob and entropy, and from those the gradient of the hidden states and of
  the head's weight. The backward pass then only scales the stored gradients and runs once
  through the model. Three head products per chunk, as the full path has.
- ``HeadLogprobEntropy`` returns differentiable ``(logprob, entropy)`` for any later loss;
  its backward pass runs each chunk's head again (a fourth product).

The extra memory is one chunk's logits (a few times ``_CHUNK_ELEMENTS`` floats), the
hidden states' gradient and the weight's gradient, and on the CPU a copy of the weight in
oneDNN's layout: a chunk's head product there goes through oneDNN
(``packed_weights.reordered_product``, about half of MKL's time at 128 positions). The values
are those of the full path (``rollout.response_logits`` then ``losses.logprob_and_entropy``)
up to float32 rounding: products of the same numbers in the model's dtype, summed in another
order on the CPU, and the same float32 softmax; gradients differ by the order of float32 sums.
Models whose head is not a plain bias-free ``Linear`` (logit softcapping or scaling) take
the full path.
"""

from __future__ import annotations

from typing import Callable

import torch

from entropy_lens.measure.entropy import entropy_and_logprob
from entropy_lens.measure.score import plain_head_weight

from . import losses, rollout
from .packed_weights import reordered_product

# Logits per chunk (positions x vocabulary): 4M float32 values, 16 MiB per work buffer, but
# never fewer than 128 positions: each chunk adds its share to the (V, d) weight gradient,
# a read and write of all of it (545 MB for a 152k x 896 head), so fewer, larger chunks keep
# that traffic small next to the products (128 positions of a 152k vocabulary: 78 MiB).
_CHUNK_ELEMENTS = 1 << 22
_MIN_ROWS = 128


def _rows(vocab: int) -> int:
    return max(_MIN_ROWS, _CHUNK_ELEMENTS // max(1, vocab))


class HeadLogprobEntropy(torch.autograd.Function):
    """``(logprob, entropy)`` of ``token_ids`` under ``softmax(hidden @ weight.T / tau)``, float32,
    differentiable in ``hidden`` ``(N, d)`` and ``weight`` ``(V, d)``, never holding ``N x V``.

    With ``a = z / tau``, the gradients with respect to the logits are those of
    ``losses.LogprobEntropy``; the chain rule through ``z = h W^T`` gives
    ``dh = dz W`` and ``dW = dz^T h``, accumulated chunk by chunk (in float32)."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, token_ids: torch.Tensor, temperature: float):
        n = hidden.shape[0]
        logprob = torch.empty(n, dtype=torch.float32, device=hidden.device)
        entropy = torch.empty_like(logprob)
        step, head = _rows(weight.shape[0]), reordered_product(weight)
        for start in range(0, n, step):
            rows = slice(start, start + step)
            entropy[rows], logprob[rows] = entropy_and_logprob(head(hidden[rows]), token_ids[rows], temperature)
        ctx.save_for_backward(hidden, weight, token_ids, entropy)
        ctx.temperature = temperature
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None: skip its term
        return logprob, entropy

    @staticmethod
    def backward(ctx, grad_logprob: torch.Tensor | None, grad_entropy: torch.Tensor | None):
        hidden, weight, token_ids, entropy = ctx.saved_tensors
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
        inv_t = 1.0 / ctx.temperature
        # reordered again rather than kept from the forward pass: the copy is the head's size,
        # and between the two passes it would sit beside every activation of the model
        step, head = _rows(weight.shape[0]), reordered_product(weight)
        for start in range(0, hidden.shape[0], step):
            rows = slice(start, start + step)
            h = hidden[rows]
            log_p = torch.log_softmax(head(h).float() * inv_t, dim=-1)
            g = losses.logits_gradient(log_p, token_ids[rows], entropy[rows],
                                       None if grad_logprob is None else grad_logprob[rows].float(),
                                       None if grad_entropy is None else grad_entropy[rows].float(), inv_t)
            g = g.to(weight.dtype)  # as autograd's own linear backward sees the logits' gradient
            if want_hidden:
                grad_hidden[rows] = g @ weight
            if want_weight:
                grad_weight.addmm_(g.t().float(), h.float())
        return grad_hidden, None if grad_weight is None else grad_weight.to(weight.dtype), None, None


def logprob_and_entropy(model, tensors: dict[str, torch.Tensor], prompt_width: int, temperature: float,
                        *, full_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logprob, entropy)`` ``(B, R)`` of a micro-batch's response tokens under ``model``,
    float32, both differentiable; from hidden states a chunk at a time, or (``full_logits``,
    or a head that is not a plain ``Linear``) from the whole ``B x R x V`` logits."""
    response_ids = tensors["response_ids"]
    weight = None if full_logits else plain_head_weight(model)
    if weight is None:
        logits = rollout.response_logits(model, tensors, prompt_width)
        return losses.logprob_and_entropy(logits, response_ids, temperature)
    hidden = rollout.response_hidden(model, tensors, prompt_width)
    b, r, d = hidden.shape
    logprob, entropy = HeadLogprobEntropy.apply(hidden.reshape(b * r, d), weight, response_ids.reshape(-1),
                                                float(temperature))
    return logprob.view(b, r), entropy.view(b, r)


# A chunk's loss: (logprob, entropy, rows) -> a scalar, its share of the micro-batch's loss;
# logprob and entropy are the float32 values of the flat positions ``rows`` of the micro-batch.
TokenLoss = Callable[[torch.Tensor, torch.Tensor, slice], torch.Tensor]


def _chunk_gradients(token_loss: TokenLoss, logprob: torch.Tensor, entropy: torch.Tensor, rows: slice):
    """The chunk's loss and its gradients with respect to its log-probs and entropies (None
    for one the loss does not use), by autograd over these few numbers."""
    with torch.enable_grad():
        lp, ent = logprob.detach().requires_grad_(), entropy.detach().requires_grad_()
        loss = token_loss(lp, ent, rows)
        if not loss.requires_grad:
            return loss.detach(), None, None
        g_lp, g_h = torch.autograd.grad(loss, (lp, ent), allow_unused=True)
    return loss.detach(), g_lp, g_h


class FusedHeadLoss(torch.autograd.Function):
    """``sum over chunks of token_loss`` from hidden states ``(N, d)`` and the head's weight
    ``(V, d)``, with its gradients computed chunk by chunk in the forward pass; also returns
    the (non-differentiable) log-probs and entropies of all ``N`` positions."""

    @staticmethod
    def forward(ctx, hidden, weight, token_ids, temperature: float, token_loss: TokenLoss):
        n = hidden.shape[0]
        logprob = torch.empty(n, dtype=torch.float32, device=hidden.device)
        entropy = torch.empty_like(logprob)
        grad_hidden = torch.zeros_like(hidden)
        grad_weight = None  # the first chunk's product, then each later chunk's added to it
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        inv_t = 1.0 / temperature
        step, head = _rows(weight.shape[0]), reordered_product(weight)
        for start in range(0, n, step):
            rows = slice(start, start + step)
            h = hidden[rows]
            z = head(h)
            entropy[rows], logprob[rows] = entropy_and_logprob(z, token_ids[rows], temperature)
            loss, g_lp, g_h = _chunk_gradients(token_loss, logprob[rows], entropy[rows], rows)
            total += loss
            if g_lp is None and g_h is None:
                continue
            log_p = torch.log_softmax(z.float() * inv_t if inv_t != 1.0 else z.float(), dim=-1)
            g = losses.logits_gradient(log_p, token_ids[rows], entropy[rows], g_lp, g_h, inv_t).to(weight.dtype)
            grad_hidden[rows] = g @ weight
            if grad_weight is None:
                grad_weight = g.t().float() @ h.float()
            else:
                grad_weight.addmm_(g.t().float(), h.float())
        if grad_weight is None:  # no chunk's loss depended on the head
            grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        del grad_weight  # a float32 weight's gradient is the saved tensor itself; another dtype's copy goes
        ctx.mark_non_differentiable(logprob, entropy)
        return total, logprob, entropy

    @staticmethod
    def backward(ctx, grad_total, _grad_logprob, _grad_entropy):
        # scaled in place: no second copy of the (V, d) weight gradient (so one backward only)
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden.mul_(grad_total), grad_weight.mul_(grad_total), None, None, None


def policy_loss(model, tensors: dict[str, torch.Tensor], prompt_width: int, temperature: float, token_loss: TokenLoss,
                *, full_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A micro-batch's loss (differentiable in the model's weights) and the detached
    ``(logprob, entropy)`` ``(B, R)`` of its response tokens. ``token_loss`` gets flat
    ``(B * R)`` positions; see ``FusedHeadLoss``. A head that is not a plain ``Linear`` (or
    ``full_logits``) takes the full-logits path with the same ``token_loss``."""
    response_ids = tensors["response_ids"]
    b, r = response_ids.shape
    weight = None if full_logits else plain_head_weight(model)
    if weight is None:
        logits = rollout.response_logits(model, tensors, prompt_width)
        logprob, entropy = losses.logprob_and_entropy(logits, response_ids, temperature)
        loss = token_loss(logprob.reshape(-1), entropy.reshape(-1), slice(None))
        return loss, logprob.detach(), entropy.detach()
    hidden = rollout.response_hidden(model, tensors, prompt_width)
    loss, logprob, entropy = FusedHeadLoss.apply(hidden.reshape(b * r, -1), weight, response_ids.reshape(-1),
                                                 float(temperature), token_loss)
    return loss, logprob.view(b, r), entropy.view(b, r)
