"""The training pass from hidden states (trainer/head.py) equals the full-logits pass: values,
gradients, and whole training steps of GRPO and PPO with each shaping mode."""

import functools

import pytest
import torch

from entropy_lens.measure.score import plain_head_weight
from entropy_lens_trainer import TrainConfig, head, train
from entropy_lens_trainer.losses import logprob_and_entropy as full_logprob_and_entropy


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 8 positions, so every test crosses many chunk boundaries."""
    monkeypatch.setattr(head, "_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(head, "_MIN_ROWS", 8)


def _loss_terms(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=gen), torch.randn(n, generator=gen)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("outputs", ["both", "logprob", "entropy"])
def test_values_and_gradients_equal_the_full_logits(temperature, outputs, small_chunks):
    gen = torch.Generator().manual_seed(1)
    n, d, vocab = 53, 16, 300
    hidden = (torch.randn(n, d, generator=gen) * 2).requires_grad_()
    weight = (torch.randn(vocab, d, generator=gen)).requires_grad_()
    ids = torch.randint(vocab, (n,), generator=gen)
    a, b = _loss_terms(n)

    def loss_of(logprob, entropy):
        terms = {"both": (a * logprob).sum() + (b * entropy).sum(), "logprob": (a * logprob).sum(),
                 "entropy": (b * entropy).sum()}
        return terms[outputs]

    lp, h = head.HeadLogprobEntropy.apply(hidden, weight, ids, temperature)
    loss_of(lp, h).backward()
    ours = (lp.detach(), h.detach(), hidden.grad.clone(), weight.grad.clone())
    hidden.grad = weight.grad = None

    lp_full, h_full = full_logprob_and_entropy(hidden @ weight.t(), ids, temperature)
    loss_of(lp_full, h_full).backward()
    # the same products and softmax: identical forward values
    assert torch.equal(ours[0], lp_full.detach()) and torch.equal(ours[1], h_full.detach())
    torch.testing.assert_close(ours[2], hidden.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours[3], weight.grad, rtol=1e-5, atol=1e-5)


def test_entropy_gradient_against_float64_autograd(small_chunks):
    """An independent reference: autograd through a float64 log_softmax."""
    gen = torch.Generator().manual_seed(2)
    hidden = torch.randn(20, 8, generator=gen, dtype=torch.float64)
    weight = torch.randn(100, 8, generator=gen, dtype=torch.float64)
    ids = torch.randint(100, (20,), generator=gen)
    h32, w32 = hidden.float().requires_grad_(), weight.float().requires_grad_()
    lp, ent = head.HeadLogprobEntropy.apply(h32, w32, ids, 1.0)
    (lp.sum() - 0.3 * ent.sum()).backward()
    h64, w64 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    log_p = torch.log_softmax(h64 @ w64.t(), dim=-1)
    ent64 = -(log_p.exp() * log_p).sum(-1)
    (log_p[torch.arange(20), ids].sum() - 0.3 * ent64.sum()).backward()
    torch.testing.assert_close(ent.double(), ent64.detach(), rtol=0, atol=1e-5)
    torch.testing.assert_close(h32.grad.double(), h64.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(w32.grad.double(), w64.grad, rtol=1e-4, atol=1e-5)


def test_bfloat16_weights_match_the_full_path_in_bfloat16(small_chunks):
    gen = torch.Generator().manual_seed(3)
    hidden = torch.randn(40, 16, generator=gen).bfloat16().requires_grad_()
    weight = torch.randn(200, 16, generator=gen).bfloat16().requires_grad_()
    ids = torch.randint(200, (40,), generator=gen)
    lp, ent = head.HeadLogprobEntropy.apply(hidden, weight, ids, 1.0)
    (lp.sum() + ent.sum()).backward()
    assert lp.dtype == torch.float32 and hidden.grad.dtype == torch.bfloat16 and weight.grad.dtype == torch.bfloat16
    ours = (lp.detach(), ent.detach(), hidden.grad.float(), weight.grad.float())
    hidden.grad = weight.grad = None
    lp_f, ent_f = full_logprob_and_entropy(hidden @ weight.t(), ids, 1.0)
    (lp_f.sum() + ent_f.sum()).backward()
    torch.testing.assert_close(ours[0], lp_f.detach(), rtol=0, atol=1e-2)
    torch.testing.assert_close(ours[1], ent_f.detach(), rtol=0, atol=1e-2)
    torch.testing.assert_close(ours[2], hidden.grad.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(ours[3], weight.grad.float(), rtol=2e-2, atol=2e-2)


def _model(tied: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=tied)
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("shared_prompt", [False, True])
def test_model_gradients_equal_the_full_logits_pass(tied, shared_prompt, small_chunks):
    """Through a real model: tied embeddings (SmolLM2 ties its head) and the shared-prompt pass."""
    from entropy_lens_trainer.rollout import pad_batch

    model = _model(tied)
    prompts = [[5, 6, 7, 8]] * 2 + [[9, 10]] * 2 if shared_prompt else [[5, 6, 7, 8], [9, 10], [11, 12, 13], [14]]
    responses = [[20, 21, 22], [23, 24], [25, 26, 27, 28], [29]]
    batch = pad_batch(prompts, responses, pad_id=0)
    width = batch["input_ids"].shape[1] - batch["response_ids"].shape[1]
    mask = batch["response_mask"].float()
    grads = []
    for full in (True, False):
        model.zero_grad(set_to_none=True)
        lp, ent = head.logprob_and_entropy(model, batch, width, 0.9, full_logits=full)
        ((lp * mask).sum() + 0.5 * (ent * mask).sum()).backward()
        grads.append(({k: p.grad.clone() for k, p in model.named_parameters()}, lp.detach(), ent.detach()))
    (g_full, lp_full, ent_full), (g_ours, lp_ours, ent_ours) = grads
    torch.testing.assert_close(lp_ours * mask, lp_full * mask, rtol=0, atol=1e-5)
    torch.testing.assert_close(ent_ours * mask, ent_full * mask, rtol=0, atol=1e-5)
    for name in g_full:
        torch.testing.assert_close(g_ours[name], g_full[name], rtol=1e-4, atol=1e-6, msg=name)


def test_a_head_that_is_not_plain_takes_the_full_path():
    model = _model(False)
    assert plain_head_weight(model) is model.lm_head.weight
    model.config.final_logit_softcapping = 30.0
    assert plain_head_weight(model) is None


def _cfg(model_dir, **overrides) -> TrainConfig:
    base = dict(model=str(model_dir), device="cpu", tasks="arithmetic", limit=8, instruction="", prompts_per_step=2,
                group_size=4, max_new_tokens=10, lr=1e-3, critic_lr=1e-3, critic_warmup=0, save_every=2, steps=2,
                batch_size=3, seed=4)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
@pytest.mark.parametrize("shaping", ["none", "entropy-adv", "entropy-reg"])
def test_training_steps_equal_the_full_logits_path(algorithm, shaping, tiny_model_dir, tmp_path, monkeypatch):
    """Two steps (micro-batches of 3, several chunks each) of the fused loss: the same metrics,
    and the same gradient in the first policy update, as the loss over the full logits.
    (Weights are not compared: Adam's first update is about lr * sign(gradient), so a
    gradient entry at rounding level moves its weight by lr either way.)"""
    from entropy_lens_trainer import loop

    def reward(response, answer):
        return 1.0 if "a" in response else -1.0

    def recording(into):
        real = loop._clip_and_step

        def clip_and_step(parameters, optimizer, max_norm):
            params = list(parameters)
            into.append([p.grad.clone() for p in params if p.grad is not None])
            return real(params, optimizer, max_norm)
        return clip_and_step

    cfg = _cfg(tiny_model_dir, algorithm=algorithm, shaping=shaping)
    monkeypatch.setattr(head, "_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(head, "_MIN_ROWS", 8)
    chunked_calls, grads_ours, grads_full = [], [], []
    apply = head.FusedHeadLoss.apply
    monkeypatch.setattr(head.FusedHeadLoss, "apply", lambda *a: chunked_calls.append(1) or apply(*a))
    monkeypatch.setattr(loop, "_clip_and_step", recording(grads_ours))
    ours = train(cfg, tmp_path / "ours", reward_fn=reward, verbose=False)
    assert chunked_calls, "the hidden-state path did not run"
    monkeypatch.setattr(head, "policy_loss", functools.partial(head.policy_loss, full_logits=True))
    monkeypatch.setattr(loop, "_clip_and_step", recording(grads_full))
    full = train(cfg, tmp_path / "full", reward_fn=reward, verbose=False)
    for key in ("reward_mean", "loss", "grad_norm", "train_entropy", "entropy_share", "clip_fraction"):
        if key in full and full[key].notna().all():
            assert ours[key].tolist() == pytest.approx(full[key].tolist(), rel=1e-4, abs=1e-6), key
    assert len(grads_ours[0]) == len(grads_full[0]) > 0  # the policy's update (ppo's critic update comes after)
    for g_ours, g_full in zip(grads_ours[0], grads_full[0]):
        torch.testing.assert_close(g_ours, g_full, rtol=1e-4, atol=1e-6)
