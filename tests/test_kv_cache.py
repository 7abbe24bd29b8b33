"""entropy_lens/measure/kv_cache.py: sampling reads keys and values from buffers reserved
once, with the same tokens, entropies and log-probs as transformers' own growing cache."""

import torch
from transformers.cache_utils import DynamicCache

import entropy_lens.measure.generate as generate
from entropy_lens.measure.config import GenerateConfig
from entropy_lens.measure.kv_cache import ReservedLayer, reserved_cache
from entropy_lens.measure.sampling import stream_seed


def _sample(loaded, prompts, reserve: bool, monkeypatch):
    import entropy_lens.measure.kv_cache as kv_cache

    if not reserve:  # generate's own DynamicCache (or the prefix cache as it is)
        monkeypatch.setattr(kv_cache, "reserved_cache", lambda model, capacity, prefilled=None: prefilled)
    else:
        monkeypatch.setattr(kv_cache, "reserved_cache", reserved_cache)
    cfg = GenerateConfig(max_new_tokens=12, temperature=1.0, top_p=1.0, top_k=0)
    seeds = [stream_seed(0, "p", i) for i in range(len(prompts))]
    return generate.sample_batch(loaded, prompts, seeds, cfg, ignore_eos=True)


def test_sampling_is_the_same_with_reserved_buffers(tiny, monkeypatch):
    # rows sharing a prompt (one prefill, then repeated) and distinct, left-padded prompts
    for prompts in ([[5, 6, 7, 8]] * 3 + [[9, 10]] * 2, [[5, 6, 7], [8, 9, 10, 11, 12], [13]]):
        plain = _sample(tiny, prompts, reserve=False, monkeypatch=monkeypatch)
        reserved = _sample(tiny, prompts, reserve=True, monkeypatch=monkeypatch)
        assert [r["token_ids"] for r in reserved] == [r["token_ids"] for r in plain]
        assert [r["entropy"] for r in reserved] == [r["entropy"] for r in plain]  # bit for bit
        assert [r["logprob"] for r in reserved] == [r["logprob"] for r in plain]


def test_a_reserved_layer_returns_what_concatenation_does_and_grows_past_its_room():
    layer, keys, values = ReservedLayer(capacity=3), [], []
    for step, width in enumerate((2, 1, 1, 3)):  # 7 positions in a room for 3: it doubles, then fits
        k, v = torch.randn(2, 3, width, 4), torch.randn(2, 3, width, 4)
        keys.append(k)
        values.append(v)
        got_k, got_v = layer.update(k, v)
        assert torch.equal(got_k, torch.cat(keys, dim=-2)) and torch.equal(got_v, torch.cat(values, dim=-2))
        assert layer.get_seq_length() == sum(x.shape[-2] for x in keys)
    assert layer.capacity >= 7
    layer.batch_select_indices(torch.tensor([1, 1, 0]))  # replaces the keys; the next update reserves again
    k, v = torch.randn(3, 3, 1, 4), torch.randn(3, 3, 1, 4)
    got_k, _ = layer.update(k, v)
    assert torch.equal(got_k, torch.cat([torch.cat(keys, dim=-2)[[1, 1, 0]], k], dim=-2))


def test_models_with_other_layers_keep_their_own_cache(tiny):
    reserved = reserved_cache(tiny.model, 16)
    assert reserved is not None and all(isinstance(layer, ReservedLayer) for layer in reserved.layers)
    prefilled = DynamicCache(config=tiny.model.config)
    prefilled.layers[0] = type("SlidingLayer", (type(prefilled.layers[0]),), {})()  # any other kind of layer
    assert reserved_cache(tiny.model, 16, prefilled) is prefilled
