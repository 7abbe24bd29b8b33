"""Sampling that records the raw policy's exact entropy and log-prob at every step.

HF ``generate`` hands logits processors the raw float32 logits. ``RecordingSampler`` is the
only processor: it records entropy / log-prob from those raw logits (never the warped ones),
then picks the next token itself, with one random stream per sequence, and returns scores
that leave exactly that token. ``generate`` then runs greedily over them. Owning the
sampling makes results independent of batch composition (and so of resuming), and keeps
memory at O(batch x steps) floats: no T x V logits history is ever stored.
"""

from __future__ import annotations

import hashlib

import torch

from entropy_lens.measure.entropy import entropy_and_logprob


def stream_seed(seed: int, prompt_id: str, sample_id: int) -> int:
    """A stable 63-bit seed for one (prompt, sample) pair."""
    digest = hashlib.sha256(f"{seed}\x00{prompt_id}\x00{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def warped_probs(logits: torch.Tensor, temperature: float, top_p: float = 1.0, top_k: int = 0) -> torch.Tensor:
    """Sampling distribution after temperature, top-k and top-p (HF / vLLM semantics), float32."""
    x = logits.float() / temperature
    vocab = x.shape[-1]
    if 0 < top_k < vocab:
        kth = torch.topk(x, top_k, dim=-1).values[:, -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if top_p < 1.0:
        sorted_x, order = torch.sort(x, dim=-1, descending=True)
        p = torch.softmax(sorted_x, dim=-1)
        # Drop a token once the tokens above it already hold top_p of the mass; the most
        # likely token is always kept.
        drop_sorted = (torch.cumsum(p, dim=-1) - p) >= top_p
        drop_sorted[:, 0] = False
        x = x.masked_fill(drop_sorted.scatter(1, order, drop_sorted), float("-inf"))
    return torch.softmax(x, dim=-1)


_ROWS_AT_ONCE = 32  # float64 uniforms held at a time: 32 x V (12.6 MB at a 49k vocabulary)


def draw_tokens(probs: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One token per row of ``probs``, row i drawn with ``generators[i]``: the same token, and
    the same generator state after, as ``torch.multinomial(probs[i], 1, generator=...)``.

    For one sample, torch's multinomial takes the argmax of ``p / q`` with ``q`` from
    ``exponential_`` (the exponential-race form of the Gumbel-max trick), and on the CPU
    ``exponential_`` is float32(-log1p(-u)) of float64 uniforms drawn one after another. Drawing
    those uniforms row by row, then taking the logarithm, the ratio and the argmax of all rows
    at once in vectorised ops, gives the same draws in about half the time of a multinomial
    per row (per-element logarithms are most of ``exponential_``'s time). Elsewhere than on
    the CPU, where the random streams differ, each row goes through torch.multinomial.
    """
    if probs.device.type != "cpu":
        return torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(generators)])
    # a nan or inf anywhere makes its row's sum one too, so the sums are checked, not every value
    if not bool(torch.isfinite(probs.sum(dim=-1)).all()) or bool(probs.amin() < 0):
        raise ValueError("sampling probabilities contain inf, nan or a value < 0 (the model's logits are not finite)")
    rows, vocab = probs.shape
    picks = torch.empty(rows, dtype=torch.long)
    uniforms = torch.empty(min(rows, _ROWS_AT_ONCE), vocab, dtype=torch.float64)
    for start in range(0, rows, _ROWS_AT_ONCE):
        block = uniforms[: min(_ROWS_AT_ONCE, rows - start)]
        for offset, row in enumerate(block):
            torch.rand(vocab, dtype=torch.float64, generator=generators[start + offset], out=row)
        race = block.neg_().log1p_().neg_().float()  # q ~ Exp(1), rounded to float32 as exponential_ does
        picks[start:start + len(block)] = torch.div(probs[start:start + len(block)], race, out=race).argmax(dim=-1)
    return picks


class RecordingSampler:
    """A logits processor for ``model.generate`` (see module docstring)."""

    def __init__(self, seeds: list[int], device: torch.device, *, temperature: float, top_p: float, top_k: int,
                 entropy_temperature: float = 1.0):
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.entropy_temperature = entropy_temperature
        self.entropy: list[torch.Tensor] = []
        self.logprob: list[torch.Tensor] = []
        self.tokens: list[torch.Tensor] = []

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        probs = warped_probs(logits, self.temperature, self.top_p, self.top_k)
        return draw_tokens(probs, self.generators)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        tokens = self.choose(scores)
        entropy, logprob = entropy_and_logprob(scores, tokens, self.entropy_temperature)
        self.entropy.append(entropy)
        self.logprob.append(logprob)
        self.tokens.append(tokens)
        only_chosen = torch.full_like(scores, float("-inf"))
        only_chosen.scatter_(1, tokens[:, None], 0.0)
        return only_chosen

    def history(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens, entropy, logprob), each (batch, steps), on the CPU."""
        stack = lambda xs: torch.stack(xs, dim=1).cpu()  # noqa: E731
        return stack(self.tokens), stack(self.entropy), stack(self.logprob)
