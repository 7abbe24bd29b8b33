"""Exact full-vocabulary token entropy: the one place entropy is computed.

For logits ``z`` over the whole vocabulary and entropy temperature ``tau``::

    p = softmax(z / tau),   H = -sum_v p(v) log p(v)   (nats)

Computed in float32 whatever the input dtype, one chunk of rows at a time so the extra
memory stays bounded: a small fraction of the logits tensor on a CPU, at most a quarter of
float32 logits (or 128 MiB) on a GPU.

How a chunk is computed (see ``_chunk_stats``), with ``a = (z - max z) / tau``::

    p = softmax(a)                       # ATen's fused kernel: the only exp pass
    S = sum_v exp(a_v) = sum(p) / max(p) # softmax divides by its own sum, and exp(0) = 1
    H = log S - sum_v p_v a_v / sum(p)

Why this shape: on CPU the elementwise ``torch.exp`` costs about 1.6x a whole fused
softmax (70 vs 44 ms over 4096 x 49152 cached float32 values on 2 AVX-512 cores), so all
exponentials come from the softmax kernel. Dividing by ``sum(p)``
renormalises with a pairwise float32 sum, cancelling the rounding of softmax's own
sequential sum over a large vocabulary. The dot product uses the shifted values ``a``,
never raw logits: its rounding error then scales with the entropy, not with ``|max z|``.

Chunk size depends on the device (``rows_per_chunk``); the arithmetic does not, so every
device computes the same float32 values by the same method. A CPU is cache-bound: 32 rows
of a 49k vocabulary (6 MiB per work buffer) keep a chunk's later passes in L3. A GPU is
launch-bound at that size (a pass over 6 MiB lasts about as long as launching its kernel,
and 4096 rows would be 128 chunks x 7 kernels), so there a chunk is an eighth of the
logits, clamped to 16M-64M elements: about eight chunks of a few large kernels each (one
chunk under 16M logits, more only past 512M). The two float32 work buffers then hold at
most max(128 MiB, a quarter of float32 logits or half of bfloat16 ones), and at most
512 MiB.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

# Elements per chunk (rows * vocab) on a CPU: 1.5M float32 values = 6 MiB per work buffer
# (two of them; 32 rows of a 49k vocabulary): large enough to amortise per-op dispatch,
# small enough that a chunk's passes after the first hit a CPU's L3 cache, not DRAM.
_CHUNK_ELEMENTS = 3 << 19

# On a GPU (or any other accelerator) the cost is kernel launches, not cache misses: a
# launch takes a few microseconds, as long as a GPU's pass over a 6 MiB chunk. So a chunk
# is an eighth of the logits, clamped to [16M, 64M] elements (64-256 MiB per float32
# buffer): every kernel streams for tens of microseconds, well above its launch. A tensor
# takes about 8 chunks (1 under 16M elements; more only past 512M, where the cap binds),
# and the extra memory is bounded both as a share of the logits (2 buffers x 4 bytes x
# 1/8 = 1 byte per logit, above the 128 MiB floor) and absolutely (2 x 256 MiB).
_ACCEL_CHUNK_SHARE = 8
_ACCEL_MIN_ELEMENTS = 1 << 24
_ACCEL_MAX_ELEMENTS = 1 << 26

# Positions per LM-head call in entropy_and_logprob_from_hidden: 256 on a CPU; on an
# accelerator as many as keep one call's logits near 64M elements (256 MiB in float32,
# the largest chunk above), but never fewer than 256.
_HIDDEN_CPU_ROWS = 256


def rows_per_chunk(vocab_size: int, device_type: str, n_rows: int, chunk_rows: int | None = None) -> int:
    """Rows of a ``(n_rows, vocab_size)`` logits matrix scored per chunk on ``device_type``.

    ``chunk_rows`` overrides the device's rule. Always in ``[1, max(1, n_rows)]``.
    """
    vocab = max(1, vocab_size)
    if chunk_rows is not None:
        rows = int(chunk_rows)
    elif device_type == "cpu":
        rows = _CHUNK_ELEMENTS // vocab
    else:
        share = n_rows * vocab // _ACCEL_CHUNK_SHARE
        rows = min(_ACCEL_MAX_ELEMENTS, max(_ACCEL_MIN_ELEMENTS, share)) // vocab
    return max(1, min(rows, n_rows))


def hidden_rows_per_chunk(vocab_size: int, device_type: str) -> int:
    """Default positions per LM-head call in :func:`entropy_and_logprob_from_hidden`."""
    if device_type == "cpu":
        return _HIDDEN_CPU_ROWS
    return max(_HIDDEN_CPU_ROWS, _ACCEL_MAX_ELEMENTS // max(1, vocab_size))


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"entropy temperature must be > 0, got {temperature}")


def _row_views(x: torch.Tensor) -> list[torch.Tensor]:
    """2-D ``(rows, V)`` views covering ``x``'s leading dims in order, never a copy.

    ``reshape(-1, V)`` would silently copy a non-contiguous input such as
    ``logits[:, :-1]``, doubling peak memory; split along the first dim instead.
    """
    try:
        return [x.view(-1, x.shape[-1])]
    except RuntimeError:
        return [view for sub in x.unbind(0) for view in _row_views(sub)]


def _chunks(x: torch.Tensor, step: int) -> Iterator[tuple[int, torch.Tensor]]:
    """``(first_row, block)`` for row blocks of at most ``step`` rows, in order."""
    offset = 0
    for view in _row_views(x):
        for start in range(0, view.shape[0], step):
            yield offset + start, view[start : start + step]
        offset += view.shape[0]


def _softmax_into(src: torch.Tensor, out: torch.Tensor) -> None:
    """Softmax over the last dim written into ``out`` (no allocation)."""
    torch.ops.aten._softmax.out(src, -1, False, out=out)


def _chunk_stats(z: torch.Tensor, a: torch.Tensor, p: torch.Tensor, inv_t: float, stats: torch.Tensor) -> None:
    """Per-row ``max(p)``, ``sum(p)``, ``sum(p * a)`` of a 2-D block ``z``, into ``stats`` (3, rows).

    ``a`` and ``p`` are float32 work buffers of ``z``'s shape. On return ``a`` holds the
    shifted scaled logits ``(z - max z) / tau``; ``p`` is clobbered.
    """
    if z.dtype == torch.float32 and inv_t == 1.0:
        # Commonest case: softmax reads the logits straight from memory, and the shift
        # below re-reads the block while it is still in cache.
        _softmax_into(z, p)
        torch.sub(z, z.amax(dim=-1, keepdim=True), out=a)
    else:
        if z.dtype == torch.float32:
            torch.sub(z, z.amax(dim=-1, keepdim=True), out=a)
        else:
            # Upcast first: arithmetic on bf16/fp16 operands would round in that dtype.
            a.copy_(z)
            a.sub_(a.amax(dim=-1, keepdim=True))
        if inv_t != 1.0:
            a.mul_(inv_t)  # after the shift, so the max entry stays exactly 0
        _softmax_into(a, p)
    # Reductions write straight into ``stats``: the per-row arithmetic on them is done once
    # for all rows in ``_finish``, instead of a few tiny ops per chunk.
    torch.amax(p, dim=-1, out=stats[0])  # = exp(0) / softmax's own sum
    torch.sum(p, dim=-1, out=stats[1])
    # nansum: a -inf logit gives p = 0 and 0 * -inf = NaN where the true term is 0. A NaN
    # or +inf logit still gives NaN entropy, through max(p) and sum(p).
    torch.nansum(p.mul_(a), dim=-1, out=stats[2])


def _finish(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy and ``log S = log sum_v exp(a_v)`` per row from ``_chunk_stats``' numbers."""
    p_max, p_sum, dot = stats
    log_s = torch.log(p_sum / p_max)
    return log_s - dot / p_sum, log_s


def _scan(
    logits: torch.Tensor, token_ids: torch.Tensor | None, temperature: float, chunk_rows: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Entropy (and log-probs of ``token_ids`` if given) for every row, flat float32."""
    _check_temperature(temperature)
    vocab = logits.shape[-1]
    n = logits.numel() // vocab if vocab else 0
    device = logits.device
    step = rows_per_chunk(vocab, device.type, n, chunk_rows)
    # Two work buffers, reused by every chunk: this is all the V-sized extra memory.
    a_buf = torch.empty(step, vocab, dtype=torch.float32, device=device)
    p_buf = torch.empty_like(a_buf)
    stats = torch.empty(3, n, dtype=torch.float32, device=device)
    if token_ids is not None:
        ids = token_ids.reshape(-1, 1).to(device)
        picked = torch.empty(n, 1, dtype=torch.float32, device=device)  # a[token] per row
    inv_t = 1.0 / float(temperature)
    for start, block in _chunks(logits, step):
        rows = slice(start, start + block.shape[0])
        a, p = a_buf[: block.shape[0]], p_buf[: block.shape[0]]
        _chunk_stats(block, a, p, inv_t, stats[:, rows])
        if token_ids is not None:
            torch.gather(a, -1, ids[rows], out=picked[rows])
    entropy, log_s = _finish(stats)
    logprob = None if token_ids is None else picked.view(-1) - log_s
    return entropy, logprob


def token_entropy(logits: torch.Tensor, temperature: float = 1.0, *, chunk_rows: int | None = None) -> torch.Tensor:
    """Exact entropy (nats, float32) of ``softmax(logits / temperature)`` over the last dim.

    ``logits`` has shape ``(..., V)`` in any float dtype; the result has shape ``(...)``.
    """
    entropy, _ = _scan(logits, None, temperature, chunk_rows)
    return entropy.view(logits.shape[:-1])


def entropy_and_logprob(
    logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0, *, chunk_rows: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy and log-prob of ``token_ids`` under ``softmax(logits / temperature)``, float32.

    ``logits``: ``(..., V)``; ``token_ids``: ``(...)``. Both results have shape ``(...)``.
    """
    entropy, logprob = _scan(logits, token_ids, temperature, chunk_rows)
    return entropy.view(token_ids.shape), logprob.view(token_ids.shape)


def entropy_and_logprob_from_hidden(
    hidden: torch.Tensor,
    to_logits: Callable[[torch.Tensor], torch.Tensor],
    token_ids: torch.Tensor,
    temperature: float = 1.0,
    *,
    chunk_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`entropy_and_logprob`, from final hidden states ``(N, d)`` and an LM head.

    The head is applied ``chunk_rows`` positions at a time, so the ``N x V`` logits matrix
    never exists: long reasoning traces are scored in bounded memory. By default
    (``None``) 256 positions on a CPU; on an accelerator the first call's 256 positions
    show the vocabulary size, and later calls take ``hidden_rows_per_chunk`` positions
    (logits of about 64M elements, never fewer than 256 positions).
    """
    _check_temperature(temperature)
    n = hidden.shape[0]
    entropy = torch.empty(n, dtype=torch.float32, device=hidden.device)
    logprob = torch.empty_like(entropy)
    step = _HIDDEN_CPU_ROWS if chunk_rows is None else max(1, int(chunk_rows))
    start = 0
    while start < n:
        rows = slice(start, start + step)
        logits = to_logits(hidden[rows])
        entropy[rows], logprob[rows] = entropy_and_logprob(logits, token_ids[rows], temperature)
        start += step
        if chunk_rows is None:
            step = hidden_rows_per_chunk(logits.shape[-1], logits.device.type)
    return entropy, logprob
