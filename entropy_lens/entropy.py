"""Exact full-vocabulary token entropy: the one place entropy is computed.

For logits ``z`` over the whole vocabulary and entropy temperature ``tau``::

    p = softmax(z / tau),   H = -sum_v p(v) log p(v)   (nats)

Computed in float32 whatever the input dtype, one chunk of rows at a time so the extra
memory stays a small fraction of the logits tensor.
"""

from __future__ import annotations

from typing import Callable

import torch

# Elements per chunk: rows * vocab. 2**21 float32 values = 8 MiB per temporary buffer.
_CHUNK_ELEMENTS = 1 << 21


def _rows_per_chunk(vocab_size: int, chunk_rows: int | None) -> int:
    if chunk_rows is not None:
        return max(1, int(chunk_rows))
    return max(1, _CHUNK_ELEMENTS // max(1, vocab_size))


def _entropy_lse(block: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy and log-sum-exp of ``block / temperature`` for a 2-D block of rows, float32."""
    z = block.float()
    m = z.amax(dim=-1, keepdim=True)
    shifted = z - m
    if temperature != 1.0:
        shifted.mul_(1.0 / temperature)
    e = torch.exp(shifted)
    s = e.sum(dim=-1)
    # sum_v e_v * shifted_v as a batched dot product: no third V-sized temporary.
    dot = torch.bmm(e.unsqueeze(1), shifted.unsqueeze(2)).view(-1)
    log_s = torch.log(s)
    entropy = log_s - dot / s
    lse = log_s + m.view(-1) / temperature
    return entropy, lse


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"entropy temperature must be > 0, got {temperature}")


def token_entropy(logits: torch.Tensor, temperature: float = 1.0, *, chunk_rows: int | None = None) -> torch.Tensor:
    """Exact entropy (nats, float32) of ``softmax(logits / temperature)`` over the last dim.

    ``logits`` has shape ``(..., V)`` in any float dtype; the result has shape ``(...)``.
    """
    _check_temperature(temperature)
    vocab = logits.shape[-1]
    flat = logits.reshape(-1, vocab)
    out = torch.empty(flat.shape[0], dtype=torch.float32, device=logits.device)
    step = _rows_per_chunk(vocab, chunk_rows)
    for start in range(0, flat.shape[0], step):
        out[start : start + step] = _entropy_lse(flat[start : start + step], temperature)[0]
    return out.view(logits.shape[:-1])


def entropy_and_logprob(
    logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0, *, chunk_rows: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy and log-prob of ``token_ids`` under ``softmax(logits / temperature)``, float32.

    ``logits``: ``(..., V)``; ``token_ids``: ``(...)``. Both results have shape ``(...)``.
    """
    _check_temperature(temperature)
    vocab = logits.shape[-1]
    flat = logits.reshape(-1, vocab)
    ids = token_ids.reshape(-1).to(flat.device)
    entropy = torch.empty(flat.shape[0], dtype=torch.float32, device=flat.device)
    logprob = torch.empty_like(entropy)
    step = _rows_per_chunk(vocab, chunk_rows)
    for start in range(0, flat.shape[0], step):
        block = flat[start : start + step]
        h, lse = _entropy_lse(block, temperature)
        picked = block.gather(-1, ids[start : start + step, None]).view(-1).float() / temperature
        entropy[start : start + step] = h
        logprob[start : start + step] = picked - lse
    return entropy.view(token_ids.shape), logprob.view(token_ids.shape)


def entropy_and_logprob_from_hidden(
    hidden: torch.Tensor,
    to_logits: Callable[[torch.Tensor], torch.Tensor],
    token_ids: torch.Tensor,
    temperature: float = 1.0,
    *,
    chunk_rows: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`entropy_and_logprob`, from final hidden states ``(N, d)`` and an LM head.

    The head is applied ``chunk_rows`` positions at a time, so the ``N x V`` logits matrix
    never exists: long reasoning traces are scored in bounded memory.
    """
    n = hidden.shape[0]
    entropy = torch.empty(n, dtype=torch.float32, device=hidden.device)
    logprob = torch.empty_like(entropy)
    for start in range(0, n, chunk_rows):
        logits = to_logits(hidden[start : start + chunk_rows])
        h, lp = entropy_and_logprob(logits, token_ids[start : start + chunk_rows], temperature)
        entropy[start : start + chunk_rows] = h
        logprob[start : start + chunk_rows] = lp
    return entropy, logprob
