"""Rollouts: which problems a step uses, sampling G responses to each, and the padded
tensors the training forward pass reads.

Everything a step samples is a function of ``(seed, step)`` alone (the prompt order per
epoch over the task set, and one random stream per response, as in ``entropy-lens
generate``), so a resumed run draws exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch

from entropy_lens.measure.config import GenerateConfig
from entropy_lens.measure.generate import sample_batch
from entropy_lens.measure.models import LoadedModel
from entropy_lens.measure.offsets import decode_with_offsets
from entropy_lens.measure.prefix import cache_keyword, distinct_prefixes, left_pad, left_padded_positions, prefix_cache
from entropy_lens.measure.prompts import prompt_token_ids
from entropy_lens.measure.sampling import stream_seed
from entropy_lens.tasks.load import Problem

from .lean_layers import fewer_saved_activations
from .packed_weights import packed_linears


@dataclass
class Rollouts:
    """One rollout batch: ``prompts_per_step * group_size`` responses, groups contiguous."""

    problems: list[Problem]        # per response
    token_ids: list[list[int]]     # response tokens (EOS included when sampled)
    texts: list[str]               # decoded responses, special tokens skipped
    offsets: list[list[list[int]]]  # character span of each response token in its text
    entropy: list[list[float]]     # exact entropy (nats) of the sampling policy at each token, at the rollout temperature
    logprob: list[list[float]]     # log-prob of each sampled token under that policy, same temperature
    finish_reason: list[str]       # "stop" (EOS) or "length"
    tensors: dict[str, torch.Tensor]  # input_ids, attention_mask, position_ids (B, W); response_ids, response_mask (B, R)
    prompt_width: int              # W - R: prompts are left-padded to this width

    @property
    def n_tokens(self) -> int:
        return sum(len(t) for t in self.token_ids)


def step_problems(problems: list[Problem], step: int, count: int, seed: int) -> list[Problem]:
    """The ``count`` problems of training step ``step`` (0-based): consecutive slices of a
    fresh seeded shuffle of the task set per epoch."""
    orders: dict[int, list[int]] = {}
    picked = []
    for k in range(step * count, (step + 1) * count):
        epoch, index = divmod(k, len(problems))
        if epoch not in orders:
            orders[epoch] = list(range(len(problems)))
            random.Random(f"{seed}:epoch{epoch}").shuffle(orders[epoch])
        picked.append(problems[orders[epoch][index]])
    return picked


def sample_rollouts(loaded: LoadedModel, problems: list[Problem], *, step: int, group_size: int, seed: int,
                    max_new_tokens: int, temperature: float, top_p: float, instruction: str,
                    chat_template: bool, batch_size: int | None = None) -> Rollouts:
    """Sample ``group_size`` responses to each problem with the current policy,
    ``batch_size`` sequences at a time (all at once for None; the responses do not depend on it)."""
    cfg = GenerateConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=0,
                         entropy_temperature=temperature, instruction=instruction, chat_template=chat_template)
    tokenizer = loaded.tokenizer
    per_problem = [prompt_token_ids(tokenizer, p.prompt, instruction, chat_template=chat_template) for p in problems]
    prompts, seeds, owners = [], [], []
    for problem, ids in zip(problems, per_problem):
        for sample_id in range(group_size):
            prompts.append(ids)
            seeds.append(stream_seed(seed, f"{problem.prompt_id}@step{step}", sample_id))
            owners.append(problem)
    size = batch_size or len(prompts)
    with packed_linears(loaded.model):  # on a CPU, faster products with the same weights
        sampled = [s for start in range(0, len(prompts), size)
                   for s in sample_batch(loaded, prompts[start:start + size], seeds[start:start + size], cfg)]
    decoded = [decode_with_offsets(tokenizer, s["token_ids"]) for s in sampled]
    return Rollouts(
        problems=owners,
        token_ids=[s["token_ids"] for s in sampled],
        texts=[text for text, _ in decoded],
        offsets=[offsets for _, offsets in decoded],
        entropy=[s["entropy"] for s in sampled],
        logprob=[s["logprob"] for s in sampled],
        finish_reason=[s["finish_reason"] for s in sampled],
        tensors=pad_batch(prompts, [s["token_ids"] for s in sampled], tokenizer.pad_token_id),
        prompt_width=max(len(p) for p in prompts),
    )


def pad_batch(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> dict[str, Any]:
    """Prompts left-padded to a common width W - R, responses right-padded to R.

    Every response then starts at the same column, so one slice of positions holds the
    logits of all response tokens. Position ids count real tokens only, as ``generate``
    does for left-padded prompts, so the training pass sees what the sampler saw.
    """
    width = max(len(p) for p in prompts)
    length = max(1, max(len(r) for r in responses))
    input_ids, attention = left_pad(prompts, pad_id, extra_columns=length)
    for row, response in enumerate(responses):
        if response:
            input_ids[row, width:width + len(response)] = torch.tensor(response, dtype=torch.long)
            attention[row, width:width + len(response)] = 1
    position_ids = left_padded_positions(attention)
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "position_ids": position_ids,
        "response_ids": input_ids[:, width:].clone(),
        "response_mask": attention[:, width:].clone(),
    }


@dataclass
class MicroBatch:
    """Some rows of a rollout batch, with the columns that are padding in all of them cut off."""

    rows: torch.Tensor                # indices into the rollout batch
    tensors: dict[str, torch.Tensor]  # as Rollouts.tensors, trimmed
    prompt_width: int
    length: int                       # response columns kept: index (B, R) tensors with [rows, :length]


def micro_batches(tensors: dict[str, torch.Tensor], prompt_width: int, rows: torch.Tensor, size: int) -> list[MicroBatch]:
    """``rows`` in chunks of ``size``, each trimmed to its own longest prompt and response.

    Cutting columns that are padding in every row changes no result (they are masked, and
    position ids count real tokens), only the work.
    """
    parts = []
    for chunk in rows.split(size):
        sub = {k: v[chunk] for k, v in tensors.items()}
        used = sub["attention_mask"].any(dim=0).nonzero()
        first = min(int(used[0]) if len(used) else 0, prompt_width - 1)
        length = max(1, int(sub["response_mask"].sum(dim=1).max()))
        trimmed = {k: sub[k][:, first:prompt_width + length] for k in ("input_ids", "attention_mask", "position_ids")}
        trimmed.update({k: sub[k][:, :length] for k in ("response_ids", "response_mask")})
        parts.append(MicroBatch(chunk, trimmed, prompt_width - first, length))
    return parts


def response_logits(model, tensors: dict[str, torch.Tensor], prompt_width: int) -> torch.Tensor:
    """Logits ``(B, R, V)`` that predict each response token (positions W-R-1 .. W-2): the LM
    head, exactly as the model's forward applies it (``measure.score.logits_head``), on
    ``response_hidden``, so the prompt's logits are never computed."""
    from entropy_lens.measure.score import logits_head

    return logits_head(model)(response_hidden(model, tensors, prompt_width))


def response_hidden(model, tensors: dict[str, torch.Tensor], prompt_width: int) -> torch.Tensor:
    """Final hidden states ``(B, R, d)`` at the positions that predict each response token.

    When rows share a prompt (GRPO's groups), the prompt is run once per distinct prompt and
    its keys and values are shared by the group's responses: the same values, with the
    prompt's share of the forward and backward work divided by the group size. Gradients
    reach the shared prompt through every response that reads it. ``head.FusedHeadLoss``
    applies the LM head to these a chunk at a time; ``response_logits`` all at once."""
    ids, attention, positions = tensors["input_ids"], tensors["attention_mask"], tensors["position_ids"]
    decoder = model.get_decoder()
    with fewer_saved_activations(ids.device):  # the same values; less kept for the backward pass
        shared = distinct_prefixes(ids, attention, prompt_width - 1)
        cache = None if shared is None else prefix_cache(model, ids, attention, positions, prompt_width - 1, *shared)
        if cache is not None:
            tail = slice(prompt_width - 1, ids.shape[1] - 1)
            return decoder(input_ids=ids[:, tail], attention_mask=attention[:, :-1], position_ids=positions[:, tail],
                           use_cache=True, **{cache_keyword(decoder): cache}).last_hidden_state
        out = decoder(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=False)
    return out.last_hidden_state[:, prompt_width - 1:-1]
