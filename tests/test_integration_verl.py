"""The veRL hook (entropy_lens.integrations.verl) on veRL 0.9.1's own objects: its registry, its
actor config built by Hydra from its own YAML, its DataProto / TensorDict micro-batches and its
``ppo_loss``. Nothing of veRL is mocked. Needs veRL: ``make test-verl`` (its own environment)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("verl", reason="veRL is not installed here: make test-verl runs these tests in .venv-verl")

from verl import DataProto  # noqa: E402
from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla, get_policy_loss_fn  # noqa: E402
from verl.utils import tensordict_utils as tu  # noqa: E402
from verl.workers import engine_workers  # noqa: E402
from verl.workers.config import FSDPActorConfig, PolicyLossConfig  # noqa: E402
from verl.workers.utils.losses import ppo_loss as verl_ppo_loss  # noqa: E402
from verl.workers.utils.padding import left_right_2_no_padding  # noqa: E402

from entropy_lens.integrations import verl as hook  # noqa: E402

# the README's keys, as a veRL user passes them to python -m verl.trainer.main_ppo
README_KEYS = [
    "actor_rollout_ref.actor.policy_loss._target_=entropy_lens.integrations.verl.EntropyAdvPolicyLossConfig",
    "actor_rollout_ref.actor.policy_loss.loss_mode=entropy_adv",
    "+actor_rollout_ref.actor.policy_loss.entropy_adv_alpha=0.3",
    "+actor_rollout_ref.actor.policy_loss.entropy_adv_kappa=3.0",
    "actor_rollout_ref.actor.calculate_entropy=True",
]


def actor_config(policy_loss) -> FSDPActorConfig:
    """veRL's FSDP actor config (clip-higher as in the paper) with the given policy-loss config."""
    return FSDPActorConfig(strategy="fsdp", rollout_n=2, ppo_micro_batch_size_per_gpu=2, clip_ratio_low=0.2,
                           clip_ratio_high=0.28, policy_loss=policy_loss)


def entropy_adv(alpha=0.4, kappa=2.0, **kwargs) -> FSDPActorConfig:
    return actor_config(hook.EntropyAdvPolicyLossConfig(loss_mode="entropy_adv", entropy_adv_alpha=alpha,
                                                        entropy_adv_kappa=kappa, **kwargs))


def vanilla() -> FSDPActorConfig:
    return actor_config(PolicyLossConfig(loss_mode="vanilla"))


def by_hand(advantages, entropy, mask, alpha, kappa):
    """A + min(alpha * H, |A| / kappa) on response tokens, written out independently."""
    return torch.where(mask, advantages + torch.minimum(alpha * entropy, advantages.abs() / kappa), advantages)


def padded_tensors(seed=0, batch=4, length=6):
    """Per-token tensors as veRL's policy losses receive them; GRPO-style advantages, one group all-equal (A=0)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([length, 4, length - 1, 2])[:batch]
    mask = torch.arange(length)[None, :] < lengths[:, None]
    per_sequence = torch.tensor([1.3, -0.7, 0.0, -1.1])[:batch]
    advantages = per_sequence[:, None].expand(batch, length) * mask
    old_log_prob = -torch.rand(batch, length, generator=g) * 3
    log_prob = (old_log_prob + 0.3 * torch.randn(batch, length, generator=g)).requires_grad_()
    entropy = (torch.rand(batch, length, generator=g) * 4).requires_grad_()
    return old_log_prob, log_prob, advantages, mask, entropy


def loss_of(fn, config, old_log_prob, log_prob, advantages, mask, **kwargs):
    return fn(old_log_prob=old_log_prob, log_prob=log_prob, advantages=advantages, response_mask=mask,
              loss_agg_mode=config.loss_agg_mode, config=config, rollout_is_weights=None, **kwargs)


_THREADS = []


def setup_module():
    """One thread: with tiny tensors on a busy 2-core machine, threads only contend."""
    _THREADS.append(torch.get_num_threads())
    torch.set_num_threads(1)


def teardown_module():
    torch.set_num_threads(_THREADS.pop())


def test_the_registry_and_the_actor_loss_function_are_ours():
    assert get_policy_loss_fn("entropy_adv") is hook.compute_policy_loss_entropy_adv
    assert engine_workers.ppo_loss is hook.ppo_loss_with_entropy  # what ActorRolloutRefWorker binds
    hook.install()  # idempotent
    assert engine_workers.ppo_loss is hook.ppo_loss_with_entropy


def test_alpha_zero_is_verls_vanilla_loss_exactly():
    old, new, adv, mask, ent = padded_tensors()
    ours, metrics = loss_of(hook.compute_policy_loss_entropy_adv, entropy_adv(alpha=0.0), old, new, adv, mask,
                            entropy=ent)
    theirs, their_metrics = loss_of(compute_policy_loss_vanilla, vanilla(), old, new, adv, mask)
    assert torch.equal(ours, theirs)
    assert {k: metrics[k] for k in their_metrics} == their_metrics
    assert metrics["actor/entropy_adv_share"] == 0.0 and metrics["actor/entropy_adv_bonus"] == 0.0


@pytest.mark.parametrize("alpha,kappa", [(0.4, 2.0), (0.1, 2.0), (5.0, 1.5)])
def test_shaped_loss_is_vanilla_on_hand_shaped_advantages(alpha, kappa):
    old, new, adv, mask, ent = padded_tensors(seed=1)
    ours, metrics = loss_of(hook.compute_policy_loss_entropy_adv, entropy_adv(alpha, kappa), old, new, adv, mask,
                            entropy=ent)
    shaped = by_hand(adv, ent.detach(), mask, alpha, kappa)
    theirs, their_metrics = loss_of(compute_policy_loss_vanilla, vanilla(), old, new.detach().requires_grad_(),
                                    shaped, mask)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, loss_of(compute_policy_loss_vanilla, vanilla(), old, new, adv, mask)[0])
    assert {k: metrics[k] for k in their_metrics} == their_metrics
    psi = (shaped - adv)[mask]
    assert metrics["actor/entropy_adv_share"] == pytest.approx((psi.sum() / shaped[mask].abs().sum()).item())
    assert metrics["actor/entropy_adv_bonus"] == pytest.approx(psi.mean().item())
    assert torch.all(torch.sign(shaped) == torch.sign(adv))  # kappa > 1: no sign flips; A = 0 gets nothing


def test_the_gradient_reaches_log_prob_but_not_the_entropy():
    old, new, adv, mask, ent = padded_tensors(seed=2)
    ours, _ = loss_of(hook.compute_policy_loss_entropy_adv, entropy_adv(), old, new, adv, mask, entropy=ent)
    ours.backward()
    assert ent.grad is None and new.grad is not None and new.grad[mask].abs().sum() > 0
    reference = new.detach().requires_grad_()
    loss_of(compute_policy_loss_vanilla, vanilla(), old, reference, by_hand(adv, ent.detach(), mask, 0.4, 2.0),
            mask)[0].backward()
    assert torch.equal(new.grad, reference.grad)


def micro_batch(seed=0):
    """A veRL actor micro-batch as the FSDP engine hands it to the loss function: a left/right-padded
    DataProto, veRL's to_tensordict and left_right_2_no_padding, and the engine's batch metadata."""
    g = torch.Generator().manual_seed(seed)
    prompt_lens, response_lens, max_prompt, max_response, vocab = [3, 2, 4], [4, 2, 3], 4, 5, 11
    batch = len(prompt_lens)
    prompts = torch.zeros(batch, max_prompt, dtype=torch.long)
    responses = torch.zeros(batch, max_response, dtype=torch.long)
    prompt_mask = torch.zeros(batch, max_prompt, dtype=torch.long)
    response_mask = torch.zeros(batch, max_response, dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompt_lens, response_lens)):
        prompts[i, max_prompt - p:] = torch.randint(1, vocab, (p,), generator=g)  # left-padded prompt
        responses[i, :r] = torch.randint(1, vocab, (r,), generator=g)  # right-padded response
        prompt_mask[i, max_prompt - p:] = 1
        response_mask[i, :r] = 1
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    advantages = torch.tensor([0.9, 0.0, -1.2])[:, None] * response_mask
    data = DataProto.from_dict(tensors={
        "prompts": prompts, "responses": responses, "input_ids": torch.cat([prompts, responses], dim=1),
        "attention_mask": attention_mask, "position_ids": (attention_mask.cumsum(1) - 1).clamp(min=0),
        "response_mask": response_mask, "advantages": advantages.float(),
        "old_log_probs": -torch.rand(batch, max_response, generator=g) * 2})
    data = left_right_2_no_padding(data.to_tensordict())
    tu.assign_non_tensor(data, dp_size=1, batch_num_tokens=int(response_mask.sum()), global_batch_size=None)
    lengths = [p + r for p, r in zip(prompt_lens, response_lens)]
    return data, lengths, prompt_lens, response_lens, vocab


def model_output(logits, data):
    """log_probs and entropy as the engine returns them: nested over each sequence's tokens, position t
    scoring token t + 1 (veRL left-shifts them when it pads the response)."""
    tokens = data["input_ids"].values()
    logp = torch.log_softmax(logits, dim=-1)
    next_tokens = torch.roll(tokens, shifts=-1)
    log_probs = logp.gather(-1, next_tokens[:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    offsets = data["input_ids"].offsets()
    return {"log_probs": torch.nested.nested_tensor_from_jagged(log_probs, offsets),
            "entropy": torch.nested.nested_tensor_from_jagged(entropy, offsets)}, entropy


def test_verls_actor_loss_function_shapes_with_the_same_forwards_entropy():
    """ppo_loss as ActorRolloutRefWorker binds it (engine_workers.ppo_loss) equals veRL's own ppo_loss
    (vanilla) on advantages shaped by hand with each response token's entropy, located independently."""
    data, lengths, prompt_lens, response_lens, vocab = micro_batch()
    logits = torch.randn(sum(lengths), vocab, generator=torch.Generator().manual_seed(3)).requires_grad_()
    output, flat_entropy = model_output(logits, data)
    loss, metrics = engine_workers.ppo_loss(config=entropy_adv(0.4, 2.0), model_output=output, data=data)

    response_entropy = torch.zeros(len(lengths), data["advantages"].shape[1])
    start = 0
    for i, (n, p, r) in enumerate(zip(lengths, prompt_lens, response_lens)):
        response_entropy[i, :r] = flat_entropy.detach()[start + p - 1:start + p - 1 + r]  # logits before token
        start += n
    mask = data["response_mask"].bool()
    expected_data = data.clone()
    expected_data["advantages"] = by_hand(data["advantages"], response_entropy, mask, 0.4, 2.0)
    reference_logits = logits.detach().clone().requires_grad_()
    expected, _ = verl_ppo_loss(vanilla(), model_output(reference_logits, data)[0], expected_data)
    assert torch.equal(loss, expected)
    assert metrics["actor/entropy_adv_share"].values[0] > 0
    loss.backward()
    expected.backward()
    assert torch.allclose(logits.grad, reference_logits.grad, rtol=0, atol=1e-7)
    assert logits.grad.abs().sum() > 0


def test_without_calculate_entropy_or_the_wrapper_it_refuses():
    data, lengths, *_, vocab = micro_batch()
    output, _ = model_output(torch.randn(sum(lengths), vocab), data)
    del output["entropy"]  # actor_rollout_ref.actor.calculate_entropy=False and entropy_coeff=0
    with pytest.raises(RuntimeError, match="calculate_entropy=True"):
        engine_workers.ppo_loss(config=entropy_adv(), model_output=output, data=data)
    old, new, adv, mask, _ = padded_tensors()
    with pytest.raises(RuntimeError, match="ppo_loss_with_entropy"):  # called outside veRL's actor loss function
        loss_of(hook.compute_policy_loss_entropy_adv, entropy_adv(), old, new, adv, mask)
    plain = actor_config(PolicyLossConfig(loss_mode="entropy_adv"))  # no _target_: no alpha or kappa
    with pytest.raises(TypeError, match="_target_=entropy_lens.integrations.verl.EntropyAdvPolicyLossConfig"):
        loss_of(hook.compute_policy_loss_entropy_adv, plain, old, new, adv, mask, entropy=torch.zeros_like(adv))


def test_other_loss_modes_pass_through_unchanged():
    data, lengths, *_, vocab = micro_batch(seed=4)
    logits = torch.randn(sum(lengths), vocab)
    ours, _ = engine_workers.ppo_loss(config=vanilla(), model_output=model_output(logits, data)[0], data=data)
    theirs, _ = verl_ppo_loss(vanilla(), model_output(logits, data)[0], data)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("bad", [{"entropy_adv_kappa": 1.0}, {"entropy_adv_alpha": -0.1},
                                 {"entropy_adv_base": "entropy_adv"}])
def test_bad_settings_are_refused_when_the_config_is_built(bad):
    with pytest.raises(ValueError):
        hook.EntropyAdvPolicyLossConfig(loss_mode="entropy_adv", **bad)


def test_the_readme_keys_import_the_hook_through_hydra():
    """In a fresh process, as in a veRL worker: veRL's own ppo_trainer.yaml plus the README's keys, turned
    into the actor's config by veRL (omega_conf_to_dataclass, as ActorRolloutRefWorker.init_model does),
    import the hook (the _target_), so the worker then binds the wrapped ppo_loss and finds the loss."""
    script = textwrap.dedent(f"""
        import os, sys
        import verl
        from hydra import compose, initialize_config_dir
        from verl.utils.config import omega_conf_to_dataclass
        import verl.workers.engine_workers as engine_workers
        assert "entropy_lens.integrations.verl" not in sys.modules
        with initialize_config_dir(os.path.join(os.path.dirname(verl.__file__), "trainer", "config"),
                                   version_base=None):
            cfg = compose("ppo_trainer", overrides={README_KEYS!r} + [
                "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2", "actor_rollout_ref.rollout.n=2"])
        actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
        from entropy_lens.integrations import verl as hook
        from verl.trainer.ppo.core_algos import get_policy_loss_fn
        assert type(actor.policy_loss) is hook.EntropyAdvPolicyLossConfig, type(actor.policy_loss)
        assert (actor.policy_loss.entropy_adv_alpha, actor.policy_loss.entropy_adv_kappa) == (0.3, 3.0)
        assert actor.policy_loss.entropy_adv_base == "vanilla" and actor.calculate_entropy
        assert engine_workers.ppo_loss is hook.ppo_loss_with_entropy
        assert get_policy_loss_fn(actor.policy_loss.loss_mode) is hook.compute_policy_loss_entropy_adv
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_a_real_verl_actor_update_on_the_cpu_trains_on_the_shaped_advantages(tmp_path):
    """veRL's ActorRolloutRefWorker (init_model, compute_log_prob, update_actor) with its FSDP2 engine
    on a tiny model, configured with the README's keys (tests/verl_cpu_actor.py says what is not
    veRL's: a CPU platform registered through veRL's PlatformRegistry). One SGD step with entropy_adv
    equals, to the bit, veRL's vanilla step on advantages shaped by hand with the entropy veRL's
    compute_log_prob reports, and differs from the unshaped step."""
    script = Path(__file__).with_name("verl_cpu_actor.py")
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bound_wrapper"] and result["policy_loss"] == "EntropyAdvPolicyLossConfig"
    assert result["clipped_tokens"] > 0 and result["free_tokens"] > 0  # both sides of the min are exercised
    assert result["moved"] > 1e-3
    assert result["vs_by_hand"] == 0.0
    assert result["vs_unshaped"] > 1e-3
    ours, by_hand, plain = result["metrics"], result["metrics_by_hand"], result["metrics_unshaped"]
    assert ours["actor/pg_loss"] == by_hand["actor/pg_loss"] != plain["actor/pg_loss"]
    assert ours["grad_norm"] == by_hand["grad_norm"]
    assert 0 < ours["actor/entropy_adv_share"] < 1 and ours["actor/entropy_adv_bonus"] > 0
    assert ours["actor/entropy_loss"] > 0  # veRL's own mean entropy of the same forward, logged
