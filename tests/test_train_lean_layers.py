"""The lean decoder layers (trainer/lean_layers.py): the model's own values and gradients,
fewer saved activations, and only the modules they match are changed."""

import copy

import pytest
import torch

from conftest import build_tiny_model
from entropy_lens_trainer.lean_layers import (RMSNormLean, SwiGLU, pack_norm_output, recomputed_norm_outputs,
                                             unpack_norm_output, unrepeated_keys, use_lean_layers)

pytestmark = pytest.mark.usefixtures("one_thread")


def _saved_bytes(fn, pack_first=lambda t: t, unpack=lambda t: t):
    """Bytes autograd keeps for the backward pass while ``fn()`` runs (each storage once: a
    tensor and its views are one), with ``pack_first`` / ``unpack`` as its saved-tensor hooks
    (only what they keep as tensors counted)."""
    seen = {}

    def pack(t):
        kept = pack_first(t)
        if isinstance(kept, torch.Tensor):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return kept

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        out = fn()
    return out, sum(seen.values())


@pytest.mark.parametrize("bias", [False, True])
def test_values_and_gradients_equal_autograd_in_float64(bias):
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=gen, requires_grad=True)
    x, gate_weight, up_weight, down_weight = rand(3, 5, 6), rand(12, 6), rand(12, 6), rand(7, 12)
    biases = (rand(12), rand(12), rand(7)) if bias else ()

    def block(x, gate_weight, up_weight, down_weight, *biases):
        gate_bias, up_bias, down_bias = biases if bias else (None, None, None)
        return SwiGLU.apply(x, gate_weight, gate_bias, up_weight, up_bias, down_weight, down_bias)
    assert torch.autograd.gradcheck(block, (x, gate_weight, up_weight, down_weight) + biases)


def test_rmsnorm_values_and_gradients_equal_float64_autograd():
    """The norm computes in float32 (as the models' own does), so the reference is autograd
    through the same formula in float64, to float32 tolerance."""
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(2, 5, 9, generator=gen) * 3).requires_grad_()
    weight = torch.randn(9, generator=gen, requires_grad=True)
    grad_out = torch.randn(2, 5, 9, generator=gen)
    out = RMSNormLean.apply(x, weight, 1e-5)
    gx, gw = torch.autograd.grad(out, (x, weight), grad_out)
    x64, w64 = x.detach().double().requires_grad_(), weight.detach().double().requires_grad_()
    ref = w64 * x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + 1e-5)
    rx, rw = torch.autograd.grad(ref, (x64, w64), grad_out.double())
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gx.double(), rx, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gw.double(), rw, rtol=1e-5, atol=1e-6)


def test_the_tiny_model_trains_the_same_with_fewer_saved_activations():
    model = build_tiny_model(vocab_size=64, seed=3)
    lean = copy.deepcopy(model)
    layers = model.config.num_hidden_layers
    assert use_lean_layers(lean) == {"mlp": layers, "rmsnorm": 2 * layers + 1}  # + the final norm
    ids = torch.randint(64, (4, 17), generator=torch.Generator().manual_seed(1))

    def loss_of(m):
        return m(input_ids=ids).logits.log_softmax(-1).mean()

    plain_loss, plain_saved = _saved_bytes(lambda: loss_of(model))
    lean_loss, lean_saved = _saved_bytes(lambda: loss_of(lean))
    assert torch.equal(plain_loss, lean_loss)  # the same operations in the same order
    plain_loss.backward()
    lean_loss.backward()
    for (name, p), q in zip(model.named_parameters(), lean.parameters()):
        # float32 rounding of the norms' reordered sums, relative to each gradient's scale
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6 * float(p.grad.abs().max()), msg=name)
    # per token: none of each MLP's 4 intermediate-size tensors and no norm's normalised
    # input is kept any more
    tokens, inter, hidden = ids.numel(), model.config.intermediate_size, model.config.hidden_size
    norms = 2 * layers + 1
    assert plain_saved - lean_saved == 4 * tokens * (4 * layers * inter + norms * hidden)


def test_other_blocks_are_left_alone():
    model = build_tiny_model(vocab_size=64, seed=3)
    for layer in model.model.layers:
        layer.mlp.act_fn = torch.nn.GELU()  # not SiLU: a different block
    assert use_lean_layers(model)["mlp"] == 0
    model = build_tiny_model(vocab_size=64, seed=3)
    assert use_lean_layers(model)["mlp"] == 2 and use_lean_layers(model) == {"mlp": 0, "rmsnorm": 0}  # once only


def test_grouped_keys_are_kept_once_for_the_backward_pass_with_the_same_values():
    model = build_tiny_model(vocab_size=64, seed=3)  # 4 query heads, 2 key/value heads
    ids = torch.randint(64, (3, 9), generator=torch.Generator().manual_seed(2))
    attention = torch.ones_like(ids)
    attention[0, :4] = 0  # left padding: transformers then copies each key/value head per query head
    kv_shapes = []

    def run():
        def pack(t):
            if t.dim() == 4 and t.shape[2] == ids.shape[1] and t.shape[3] == 8:  # (B, heads, positions, head_dim)
                kv_shapes.append(t.shape[1])
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            logits = model(input_ids=ids, attention_mask=attention).logits
        loss = logits.log_softmax(-1).mean()
        return logits, torch.autograd.grad(loss, list(model.parameters()))

    plain_logits, plain_grads = run()
    plain_shapes, kv_shapes[:] = list(kv_shapes), []
    from transformers.integrations import sdpa_attention

    own = sdpa_attention.use_gqa_in_sdpa
    with unrepeated_keys("cpu"):
        lean_logits, lean_grads = run()
    assert sdpa_attention.use_gqa_in_sdpa is own  # the switch is only on within the block
    assert 2 in kv_shapes and 2 not in plain_shapes  # the keys and values kept: 2 heads, not 4
    assert torch.equal(plain_logits, lean_logits)
    for plain, lean in zip(plain_grads, lean_grads):
        torch.testing.assert_close(lean, plain, rtol=1e-5, atol=1e-6 * float(plain.abs().max()))


def test_norm_outputs_are_recomputed_for_the_backward_pass_bit_for_bit():
    model = build_tiny_model(vocab_size=64, seed=3)
    use_lean_layers(model)
    ids = torch.randint(64, (4, 17), generator=torch.Generator().manual_seed(1))

    def run(*hooks):
        loss, saved = _saved_bytes(lambda: model(input_ids=ids).logits.log_softmax(-1).mean(), *hooks)
        return saved, torch.autograd.grad(loss, list(model.parameters()))

    kept_saved, kept_grads = run()
    lean_saved, lean_grads = run(pack_norm_output, unpack_norm_output)  # the hooks of recomputed_norm_outputs
    with recomputed_norm_outputs():  # and through the context manager itself
        hooked_grads = torch.autograd.grad(model(input_ids=ids).logits.log_softmax(-1).mean(), list(model.parameters()))
    for kept, lean, hooked in zip(kept_grads, lean_grads, hooked_grads):
        assert torch.equal(kept, lean) and torch.equal(kept, hooked)
    # every norm's output (two per layer and the final one, read by the LM head) is no longer kept
    norms = 2 * model.config.num_hidden_layers + 1
    assert kept_saved - lean_saved == 4 * ids.numel() * norms * model.config.hidden_size
