"""Sampling on the CPU with the linear layers' weights laid out once for oneDNN.

A decoding step multiplies a few rows (the batch) by every weight matrix of the model: on a
CPU it streams all the weights from memory for each new token. torch's float32 ``F.linear``
goes through MKL's general matrix product, which at 16 rows reads SmolLM2's 113 MB LM head
at about half the speed of oneDNN's product on the same weights held as oneDNN tensors (the
same path as ``torch.utils.mkldnn``). ``packed_linears(model)`` gives the LM head that path
for the duration of a block, and on CPUs with AVX-512 every other plain ``nn.Linear`` too
(there packing every layer made sampling faster; with only AVX2, oneDNN is slower than MKL
on the layers' small matrices), from copies of the current weights taken when the block
starts (the weights change every training step), and restores the modules after it. On 2
AVX-512 cores, sampling 16 responses of 64 tokens took 5.4-6.8 s against 7.4-8.8 s; on 2
AVX2 cores, with the head alone packed, 0.89x the time of none packed and 0.98x that of
every layer packed (``benchmarks/bench_packed_sampling.py``); the same tokens each time.

The products are float32 products of the same numbers, summed in another order: values
differ from MKL's by float32 rounding (the training pass recomputes every log-prob it
learns from). The copies take the weights' size again while the block runs; training
passes run outside it. Only float32 weights on the CPU are packed; elsewhere nothing
changes.
"""

from __future__ import annotations

import contextlib

import torch


def _packed_forward(weight: torch.Tensor, bias: torch.Tensor):
    def forward(x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).to_mkldnn()
        return torch._C._nn.mkldnn_linear(rows, weight, bias).to_dense().view(*x.shape[:-1], weight.shape[0])
    return forward


def _packable(module: torch.nn.Module) -> bool:
    return (type(module) is torch.nn.Linear and module.weight.device.type == "cpu"
            and module.weight.dtype == torch.float32 and torch.backends.mkldnn.is_available())


def packs_every_layer() -> bool:
    """Whether oneDNN's product beats MKL's on this CPU for the layers' small matrices too.

    Measured at 16 rows on 2 cores: with AVX-512, packing every layer made sampling faster
    than packing none; with only AVX2, oneDNN took 1.2-3.2x MKL's time on SmolLM2's layer
    matrices (576 x 576 to 1536 x 576) while still taking half of it on the LM head.
    """
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


@contextlib.contextmanager
def packed_linears(model: torch.nn.Module, every_layer: bool | None = None):
    """Within this block (no gradients), the model's LM head, and with ``every_layer`` its
    other plain float32 CPU linear layers too, multiply through oneDNN with packed copies of
    their weights. ``every_layer`` None: as :func:`packs_every_layer` says for this CPU."""
    every_layer = packs_every_layer() if every_layer is None else every_layer
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    swapped = []
    try:
        with torch.no_grad():
            for module in model.modules():
                if _packable(module) and (every_layer or module is head):
                    bias = module.bias if module.bias is not None else torch.zeros(module.out_features)
                    module.forward = _packed_forward(module.weight.detach().to_mkldnn(), bias.detach().to_mkldnn())
                    swapped.append(module)
        yield
    finally:
        for module in swapped:
            del module.forward  # the class's own forward again
