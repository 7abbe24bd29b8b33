"""trainer/packed_weights.py: sampling's linear layers multiply through oneDNN with packed
copies of the current weights, with float32 products equal to torch's own up to rounding,
and every module is itself again after the block."""

import pytest
import torch

from conftest import build_tiny_model
from entropy_lens_trainer import packed_weights
from entropy_lens_trainer.packed_weights import packed_linears

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def test_packed_layers_give_torchs_products_and_are_restored_after_the_block():
    model = build_tiny_model(vocab_size=64, seed=3)
    ids = torch.randint(64, (3, 11), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        own = model(input_ids=ids).logits
        with packed_linears(model, every_layer=True):
            assert all("forward" in vars(m) for m in model.modules() if type(m) is torch.nn.Linear)
            packed = model(input_ids=ids).logits
        again = model(input_ids=ids).logits
    assert not any("forward" in vars(m) for m in model.modules() if type(m) is torch.nn.Linear)
    torch.testing.assert_close(packed, own, rtol=1e-5, atol=1e-5)
    assert torch.equal(again, own)


def test_the_copies_follow_the_weights_of_the_moment_and_an_error_restores_the_modules():
    layer = torch.nn.Linear(8, 5)
    x = torch.randn(2, 4, 8)
    with torch.no_grad():
        layer.weight.mul_(2)  # an update before the block: the copy is taken at its start
        with packed_linears(layer, every_layer=True):
            assert "forward" in vars(layer)
            torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))
        with pytest.raises(RuntimeError, match="stop"):
            with packed_linears(layer, every_layer=True):
                raise RuntimeError("stop")
    assert "forward" not in vars(layer)


def test_other_dtypes_are_left_as_they_are():
    layer = torch.nn.Linear(8, 5).to(torch.float64)
    with packed_linears(layer, every_layer=True):
        assert "forward" not in vars(layer)


def test_every_layer_by_default_and_only_the_lm_head_without_every_layer():
    model = build_tiny_model(vocab_size=64, seed=3)
    ids = torch.randint(64, (2, 5), generator=torch.Generator().manual_seed(0))
    head = model.get_output_embeddings()
    linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
    with torch.no_grad():
        own = model(input_ids=ids).logits
        with packed_linears(model, every_layer=False):
            assert [m for m in model.modules() if "forward" in vars(m)] == [head]
            torch.testing.assert_close(model(input_ids=ids).logits, own, rtol=1e-5, atol=1e-5)
        with packed_linears(model):
            assert [m for m in model.modules() if "forward" in vars(m)] == linears
    assert not any("forward" in vars(m) for m in model.modules())


def test_one_row_and_a_bias_give_torchs_product():
    layer = torch.nn.Linear(576, 192)  # SmolLM2's key projection shape, with a bias
    with torch.no_grad(), packed_linears(layer):
        for x in (torch.randn(576), torch.randn(1, 1, 576), torch.randn(16, 576)):
            packed = layer(x)
            assert packed.shape == x.shape[:-1] + (192,)
            torch.testing.assert_close(packed, torch.nn.functional.linear(x, layer.weight, layer.bias),
                                       rtol=1e-5, atol=1e-5)


def test_a_torch_without_the_onednn_ops_keeps_torchs_own_products(monkeypatch):
    monkeypatch.setattr(packed_weights, "_onednn_linear_available", lambda: False)
    layer = torch.nn.Linear(8, 5)
    with packed_linears(layer):
        assert "forward" not in vars(layer)


def test_a_reordered_product_is_torchs_product_and_other_dtypes_take_f_linear():
    weight = torch.randn(300, 24, generator=torch.Generator().manual_seed(5))
    x = torch.randn(7, 24, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(packed_weights.reordered_product(weight)(x), torch.nn.functional.linear(x, weight),
                               rtol=1e-5, atol=1e-5)
    assert torch.equal(packed_weights.reordered_product(weight.double())(x.double()),
                       torch.nn.functional.linear(x.double(), weight.double()))
