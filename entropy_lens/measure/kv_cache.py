"""A key/value cache for sampling whose storage is reserved once for the whole response.

transformers' ``DynamicCache`` appends every new position with ``torch.cat``: each decoding
step copies every layer's keys and values into freshly allocated, one position longer
tensors and frees the old ones. For a batch of 16 rows of a 30-layer model that is ~100 MB
copied per generated token, and the allocator, never able to reuse a freed block for a
larger request, keeps taking fresh pages from the kernel (each one faulted in and zeroed).
On 2 CPU cores that was a third of GRPO's sampling time (``benchmarks/bench_train.py``).

``reserve(cache, capacity)`` gives each layer buffers for ``capacity`` positions; a step
writes its new position in place and attention reads a view of the positions so far: the
same tensors, values and shapes as ``DynamicLayer`` returns, so the logits are unchanged.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class ReservedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values are views of buffers with room for
    ``capacity`` positions (grown by doubling should a caller go past it). Anything that
    replaces ``keys`` (``crop``, ``batch_select_indices``, ...) is followed by the next
    update, which then reserves fresh buffers."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def _holds(self, length: int) -> bool:
        """True when ``self.keys`` is still the view of the buffers (nothing replaced it)."""
        buffer = self._key_buffer
        return (buffer is not None and self.keys is not None and self.keys.data_ptr() == buffer.data_ptr()
                and self.keys.shape[0] == buffer.shape[0] and length <= buffer.shape[-2])

    def _reserve(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        """Fresh buffers holding ``keys`` / ``values`` with room for ``length`` positions."""
        room = max(self.capacity, length)
        self._key_buffer = keys.new_empty((*keys.shape[:-2], room, keys.shape[-1]))
        self._value_buffer = values.new_empty((*values.shape[:-2], room, values.shape[-1]))
        self._key_buffer[..., :keys.shape[-2], :].copy_(keys)
        self._value_buffer[..., :values.shape[-2], :].copy_(values)
        self.capacity = room

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start = self.get_seq_length()
        end = start + key_states.shape[-2]
        if not self._holds(end):
            kept = (self.keys, self.values) if start else (key_states[..., :0, :], value_states[..., :0, :])
            self._reserve(*kept, end if end <= self.capacity else max(end, 2 * self.capacity))
        self._key_buffer[..., start:end, :].copy_(key_states)
        self._value_buffer[..., start:end, :].copy_(value_states)
        self.keys = self._key_buffer[..., :end, :]
        self.values = self._value_buffer[..., :end, :]
        return self.keys, self.values


def reserved_cache(model, capacity: int, prefilled: DynamicCache | None = None) -> DynamicCache | None:
    """A cache of reserved layers with room for ``capacity`` positions for ``model``,
    holding ``prefilled``'s keys and values (a prompt run once) when given. Models with
    other kinds of layers (sliding windows, linear attention, ...) keep ``prefilled``
    (None: generate's own cache), as their layers do more than append."""
    reserved = DynamicCache(config=model.config)
    layers = reserved.layers + (prefilled.layers if prefilled is not None else [])
    if not reserved.layers or any(type(layer) is not DynamicLayer for layer in layers):
        return prefilled
    reserved.layers = [ReservedLayer(capacity) for _ in reserved.layers]
    if prefilled is not None:
        for layer, source in zip(reserved.layers, prefilled.layers):
            if source.get_seq_length() > 0:
                layer.update(source.keys, source.values)
    return reserved
