"""Sampling on the CPU with the linear layers' weights laid out once for oneDNN.

A decoding step multiplies a few rows (the batch) by every weight matrix of the model: on a
CPU it streams all the weights from memory for each new token. torch's float32 ``F.linear``
goes through MKL's general matrix product, which at 16 rows is slow on these shapes: on
SmolLM2's 113 MB LM head it runs at about half the speed of oneDNN's product with the weight
reordered once into oneDNN's blocked layout. ``packed_linears(model)`` gives every plain
``nn.Linear`` that path for the duration of a block (the op torch's own compiler emits for
prepacked CPU linears, ``mkldnn._linear_pointwise``: dense rows in, dense rows out), from
copies of the current weights taken when the block starts (the weights change every
training step), and restores the modules after it.

An earlier version handed oneDNN its inputs as oneDNN tensors and converted each output
back: the two conversions cost about 60 us a product, more than the product itself on the
small layer matrices, and made oneDNN look slower than MKL there on CPUs with only AVX2.
Without them, oneDNN is the faster side on every matrix of SmolLM2 at 16 rows, with AVX2 and
with AVX-512 (``benchmarks/bench_packed_sampling.py`` measures whole rollouts against MKL's
products and against packing the LM head alone).

The products are float32 products of the same numbers, summed in another order: values
differ from MKL's by float32 rounding (the training pass recomputes every log-prob it
learns from). The copies take the weights' size again while the block runs; training
passes run outside it. Only float32 weights on the CPU are packed; elsewhere nothing
changes.
"""

from __future__ import annotations

import contextlib
import functools

import torch


@functools.cache
def _onednn_linear_available() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    try:  # torch's private ops: present in builds with oneDNN, checked rather than assumed
        torch.ops.mkldnn._reorder_linear_weight, torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):
        return False
    return True


def _reorderable(weight: torch.Tensor) -> bool:
    return weight.device.type == "cpu" and weight.dtype == torch.float32 and _onednn_linear_available()


def reordered_product(weight: torch.Tensor, bias: torch.Tensor | None = None):
    """``x -> F.linear(x, weight, bias)`` for fixed weights, through oneDNN with a copy of the
    weight reordered once into its layout (float32 CPU weights; anything else goes through
    ``F.linear``). No gradients flow through it: for sampling (``packed_linears``) and for
    products inside an autograd Function's own forward or backward, such as the training
    pass's chunked LM head (``trainer/head.py``), where it takes about half of MKL's time per
    chunk of 128 positions."""
    if not _reorderable(weight):
        return lambda x: torch.nn.functional.linear(x, weight, bias)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach())
    bias = None if bias is None else bias.detach()
    out_features = weight.shape[0]

    def product(x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        out = torch.ops.mkldnn._linear_pointwise(rows, packed, bias, "none", [], "")
        return out.view(*x.shape[:-1], out_features)
    return product


@contextlib.contextmanager
def packed_linears(model: torch.nn.Module, every_layer: bool = True):
    """Within this block (no gradients), the model's plain float32 CPU linear layers multiply
    through oneDNN with packed copies of their weights; with ``every_layer=False`` only its
    LM head (what ``benchmarks/bench_packed_sampling.py`` compares against)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    swapped = []
    try:
        with torch.no_grad():
            for module in model.modules():
                if (type(module) is torch.nn.Linear and _reorderable(module.weight)
                        and (every_layer or module is head)):
                    module.forward = reordered_product(module.weight, module.bias)
                    swapped.append(module)
        yield
    finally:
        for module in swapped:
            del module.forward  # the class's own forward again
