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
        picks = [torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)]
        return torch.cat(picks)

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
