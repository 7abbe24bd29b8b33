"""Decoder layers that keep fewer activations for the backward pass, with the model's own
values: the gated MLP blocks and the RMSNorms of Llama, Qwen2/3, Mistral, SmolLM2, ...

Gated MLP blocks (``down(silu(gate(x)) * up(x))``).

Autograd keeps four ``intermediate_size`` tensors per token and layer for such a block: the
gate (for SiLU's derivative), SiLU's output and the up projection (for the product), and
the product (the down projection's input). That is most of a decoder layer's activation
memory, since the intermediate size is ~3x the hidden size. ``SwiGLU`` keeps only the
block's input (which ``recomputed_norm_outputs`` turns into nothing new) and recomputes the
rest in the backward pass: the gate and up projections with two more products (a third more
work for the block's backward pass), SiLU and the product element-wise (the idea of fused
SwiGLU kernels such as Liger-Kernel's, without a custom kernel). The forward pass runs the
same operations in the same order, so its values are bit for bit those of the model's own
block, and the gradients are the same formulas. Without gradients (sampling) the block runs
its own layers.

RMSNorms (``weight * (x * rsqrt(mean(x^2) + eps))``). Autograd keeps the input and the
normalised input; ``RMSNormLean`` keeps the input and one number per token (the inverse
RMS) and recomputes the rest. Together the two save about a quarter of a layer's activations.
The projections after each norm keep its output too; within ``recomputed_norm_outputs``
they keep nothing more, and the output is recomputed from what the norm keeps.

``use_lean_layers(model)`` swaps in both where a module's own forward gives exactly the
same values on a test input, and leaves every other module as it is.

Grouped-query attention (``unrepeated_keys``). With an attention mask (left-padded
prompts), transformers copies each key/value head once per query head it serves before
calling SDPA, and SDPA keeps those copies for the backward pass: for SmolLM2 (9 query
heads, 3 key/value heads) three times the keys and values. On the CPU, torch's SDPA reads
the grouped heads as they are, with the same kernel and the same values.
"""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F


class SwiGLU(torch.autograd.Function):
    """``F.linear(silu(x @ gate_weight.T + gate_bias) * (x @ up_weight.T + up_bias), down_weight,
    down_bias)``, saving only ``x`` (which the layer before keeps anyway): the gate and up
    projections are recomputed in the backward pass."""

    @staticmethod
    def forward(ctx, x, gate_weight, gate_bias, up_weight, up_bias, down_weight, down_bias):
        ctx.save_for_backward(x, gate_weight, gate_bias, up_weight, up_bias, down_weight)
        ctx.has_down_bias = down_bias is not None
        gate, up = F.linear(x, gate_weight, gate_bias), F.linear(x, up_weight, up_bias)
        return F.linear(F.silu(gate) * up, down_weight, down_bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, gate_weight, gate_bias, up_weight, up_bias, down_weight = ctx.saved_tensors
        # the same products as the forward pass: the same values
        gate, up = F.linear(x, gate_weight, gate_bias), F.linear(x, up_weight, up_bias)
        silu = F.silu(gate)
        grad_product = grad_out @ down_weight                  # (..., intermediate)
        flat_grad = grad_out.reshape(-1, grad_out.shape[-1])
        grad_down_weight = flat_grad.T @ (silu * up).reshape(-1, up.shape[-1])
        grad_down_bias = flat_grad.sum(dim=0) if ctx.has_down_bias else None
        grad_up = grad_product * silu
        # SiLU's own backward kernel, as autograd runs it: one pass over these large tensors, not six
        grad_gate = torch.ops.aten.silu_backward(grad_product * up, gate)
        flat_x, flat_gate, flat_up = (t.reshape(-1, t.shape[-1]) for t in (x, grad_gate, grad_up))
        grad_x = grad_gate @ gate_weight + grad_up @ up_weight
        return (grad_x, flat_gate.T @ flat_x, flat_gate.sum(dim=0) if gate_bias is not None else None,
                flat_up.T @ flat_x, flat_up.sum(dim=0) if up_bias is not None else None, grad_down_weight, grad_down_bias)


def _lean_mlp_forward(self, x):
    if not torch.is_grad_enabled():  # nothing is kept for a backward pass: the block's own layers, as they are
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
    return SwiGLU.apply(x, self.gate_proj.weight, self.gate_proj.bias, self.up_proj.weight, self.up_proj.bias,
                        self.down_proj.weight, self.down_proj.bias)


def _is_silu_gated_mlp(module) -> bool:
    names = ("gate_proj", "up_proj", "down_proj")
    if not all(isinstance(getattr(module, n, None), torch.nn.Linear) for n in names):
        return False
    act = getattr(module, "act_fn", None)
    # transformers' ACT2FN["silu"] is torch.nn.SiLU (or its own SiLUActivation in older releases)
    return isinstance(act, torch.nn.SiLU) or type(act).__name__ == "SiLUActivation"


def _swap_forwards(model, matches, lean_forward, width) -> int:
    """Give every module for which ``matches(module)`` holds, and whose own forward gives
    exactly ``lean_forward``'s values on a small input of ``width(module)`` features, the
    lean forward (once); returns how many were swapped."""
    count = 0
    for module in model.modules():
        if getattr(module, "_lean", False) or not matches(module):
            continue
        if not _same_as_own_forward(module, lean_forward, width(module)):
            continue
        module.forward = types.MethodType(lean_forward, module)
        module._lean = True
        count += 1
    return count


def _same_as_own_forward(module, lean_forward, width: int) -> bool:
    weight = next(module.parameters())
    x = torch.randn(2, 3, width, device=weight.device, generator=torch.Generator(device=weight.device).manual_seed(0))
    x = (x * 3).to(weight.dtype).requires_grad_()
    with torch.enable_grad():  # the path a training pass takes
        lean = lean_forward(module, x).detach()
    with torch.no_grad():
        return torch.equal(module(x), lean)


# ------------------------------------------------------------------------------ RMSNorm


class RMSNormLean(torch.autograd.Function):
    """``weight * (x32 * rsqrt(mean(x32^2) + eps)).to(x.dtype)``, x32 = x in float32, saving
    ``x`` and the inverse RMS only."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        x32 = x.to(torch.float32)
        inverse_rms = torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
        ctx.save_for_backward(x, weight, inverse_rms)
        out = _normed(x, weight, inverse_rms)
        out._lean_recompute = (x, weight, inverse_rms)  # for recomputed_norm_outputs
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, inverse_rms = ctx.saved_tensors
        normed = x.to(torch.float32) * inverse_rms
        grad_weight = (grad_out * normed.to(x.dtype)).reshape(-1, weight.shape[-1]).sum(dim=0).to(weight.dtype)
        grad_normed = (grad_out * weight).to(torch.float32)
        # d/dx of x * r(x), r = (mean(x^2) + eps)^-1/2: r * (g - normed * mean(g * normed))
        grad_x = inverse_rms * (grad_normed - normed * (grad_normed * normed).mean(-1, keepdim=True))
        return grad_x.to(x.dtype), grad_weight, None


def _normed(x, weight, inverse_rms):
    return weight * (x.to(torch.float32) * inverse_rms).to(x.dtype)


@contextlib.contextmanager
def recomputed_norm_outputs():
    """Within this block, a layer that keeps a lean RMSNorm's output (or a view of it) for
    its backward pass, as the projections after every norm do, keeps the norm's own saved
    input and inverse RMS instead and recomputes the output, bit for bit, when its backward
    pass runs: one ``hidden_size`` tensor per norm and token fewer (autograd's saved-tensor
    hooks)."""
    with torch.autograd.graph.saved_tensors_hooks(pack_norm_output, unpack_norm_output):
        yield


def pack_norm_output(t: torch.Tensor):
    """What is kept of a tensor saved for the backward pass: a lean norm's output as its recipe."""
    base = t if t._base is None else t._base
    recipe = getattr(base, "_lean_recompute", None)
    if recipe is None or not base.is_contiguous() or base.storage_offset() != 0:
        return t  # not a fresh norm output: kept as it is
    return recipe, t.shape, t.stride(), t.storage_offset()


def unpack_norm_output(saved) -> torch.Tensor:
    if isinstance(saved, torch.Tensor):
        return saved
    (x, weight, inverse_rms), shape, stride, offset = saved
    return _normed(x, weight, inverse_rms).as_strided(shape, stride, offset)


def _lean_norm_forward(self, hidden_states):
    if not torch.is_grad_enabled():  # nothing is kept for a backward pass: the norm's own forward, as it is
        return type(self).forward(self, hidden_states)
    return RMSNormLean.apply(hidden_states, self.weight, self.variance_epsilon)


def _is_llama_rmsnorm(module) -> bool:
    """transformers' Llama-style norm: a ``weight`` vector and ``variance_epsilon``."""
    weight = getattr(module, "weight", None)
    return (type(module).__name__.endswith("RMSNorm") and isinstance(weight, torch.nn.Parameter)
            and weight.dim() == 1 and hasattr(module, "variance_epsilon"))


def use_lean_layers(model) -> dict[str, int]:
    """Swap in the lean MLP blocks and RMSNorms (see the module docstring); returns how many
    of each were swapped. Weights, state dict and saved checkpoints are unchanged."""
    return {"mlp": _swap_forwards(model, _is_silu_gated_mlp, _lean_mlp_forward, lambda m: m.gate_proj.in_features),
            "rmsnorm": _swap_forwards(model, _is_llama_rmsnorm, _lean_norm_forward, lambda m: m.weight.shape[0])}


@contextlib.contextmanager
def unrepeated_keys(device):
    """Within this block, a forward pass on the CPU hands SDPA the grouped key/value heads
    as they are: transformers' own test for that (``use_gqa_in_sdpa``, which says yes only
    without a mask, for CUDA's sake) answers yes. The switch is the module's function, not
    the ``TRANSFORMERS_SDPA_FORCE_GQA`` environment variable: changing the environment while
    other threads read it is unsafe. Elsewhere, or where transformers has no such test,
    nothing changes."""
    try:
        from transformers.integrations import sdpa_attention
    except ImportError:
        sdpa_attention = None
    own = getattr(sdpa_attention, "use_gqa_in_sdpa", None)
    if torch.device(device).type != "cpu" or own is None:
        yield
        return
    sdpa_attention.use_gqa_in_sdpa = lambda attention_mask, key, value, *args, **kwargs: True
    try:
        yield
    finally:
        sdpa_attention.use_gqa_in_sdpa = own


@contextlib.contextmanager
def fewer_saved_activations(device):
    """A training forward pass keeps less for its backward pass, with the same values and
    gradients: grouped key/value heads once (``unrepeated_keys``) and no RMSNorm outputs
    (``recomputed_norm_outputs``)."""
    with unrepeated_keys(device), recomputed_norm_outputs():
        yield
