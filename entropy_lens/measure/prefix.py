"""Shared prompt prefixes: run each distinct prompt once and let every row that repeats it
(the G samples of a GRPO group, the ``--n`` samples of ``generate``) read one key/value cache.

The logits are those of running every row in full (up to float rounding), and the prompt's
share of the work is divided by the number of rows that share it. Keys and values are
repeated per row by indexing, which autograd follows: in a training pass the gradient
reaches the shared prompt through every row that reads it.
"""

from __future__ import annotations

import torch


def distinct_prefixes(input_ids: torch.Tensor, attention_mask: torch.Tensor, width: int):
    """``(first_rows, inverse)`` for the distinct left-padded prefixes ``[:, :width]``: the
    first row holding each one, and for every row the index of its prefix. None when no two
    rows share one (nothing to gain) or ``width`` is 0."""
    if width < 1:
        return None
    key = torch.cat([input_ids[:, :width], attention_mask[:, :width]], dim=1)
    distinct, inverse = torch.unique(key, dim=0, return_inverse=True)
    if len(distinct) == len(key):
        return None
    first = torch.full((len(distinct),), len(key), dtype=torch.long, device=key.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(key), device=key.device), reduce="amin")
    return first, inverse


def cache_keyword(model) -> str:
    """The keyword a model takes (and returns) its key/value cache by: ``cache`` in recent
    transformers, where ``past_key_values`` is deprecated and warns on every call (breaking
    the progress bar), ``past_key_values`` in the releases before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def prefix_cache(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                 width: int, first: torch.Tensor, inverse: torch.Tensor):
    """The key/value cache of columns ``[:width]`` for every row, computed once per distinct
    prefix (rows ``first``) and repeated per row (``inverse``). None for a model that
    cannot take one (no ``logits_to_keep`` or no cache with ``batch_select_indices``)."""
    try:
        out = model(input_ids=input_ids[first, :width], attention_mask=attention_mask[first, :width],
                    position_ids=position_ids[first, :width], use_cache=True, logits_to_keep=1)
        cache = out.cache if cache_keyword(model) == "cache" else out.past_key_values
        cache.batch_select_indices(inverse)
    except (TypeError, AttributeError):
        return None
    return cache


def left_pad(prompts: list[list[int]], pad_id: int, extra_columns: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of the prompts left-padded to the longest one, so
    every prompt ends in the same column, followed by ``extra_columns`` columns of padding."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width + extra_columns), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids):width] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids):width] = 1
    return input_ids, attention


def left_padded_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids counting real tokens only (0 on left padding), as ``generate`` uses."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
