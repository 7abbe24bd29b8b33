"""One real veRL 0.9.1 actor update on the CPU, run as a script by tests/test_integration_verl.py
(its own process: veRL's platform and torch.distributed's process group are process-wide).

    python tests/verl_cpu_actor.py WORKDIR     prints one JSON line

veRL's own ``ActorRolloutRefWorker`` (role ``actor``), built by ``init_model`` from veRL's own
``ppo_trainer.yaml`` plus the README's keys, with its FSDP2 engine on a tiny random Qwen2 model:
``compute_log_prob`` (old log-probs and entropy, as veRL's trainer gets them), then one
``update_actor``. Three workers start from the same weights: ``entropy_adv`` on advantages A,
``vanilla`` on A shaped by hand with the entropy of ``compute_log_prob``, and ``vanilla`` on A.

What is not veRL's: veRL 0.9.1 has no CPU platform (without an accelerator it falls back to
NVIDIA's), so this registers one through its ``PlatformRegistry`` (device ``cpu``, gloo; its
memory counters read 0) and picks the FSDP engine with veRL's ``VERL_ENGINE_DEVICE=cuda``
override (the engine is registered for cuda/npu only). No Ray: the worker runs in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from pathlib import Path

import torch

ALPHA, KAPPA, TEMPERATURE = 0.1, 2.0, 0.7
README_KEYS = [
    "actor_rollout_ref.actor.policy_loss._target_=entropy_lens.integrations.verl.EntropyAdvPolicyLossConfig",
    "actor_rollout_ref.actor.policy_loss.loss_mode=entropy_adv",
    f"+actor_rollout_ref.actor.policy_loss.entropy_adv_alpha={ALPHA}",
    f"+actor_rollout_ref.actor.policy_loss.entropy_adv_kappa={KAPPA}",
    "actor_rollout_ref.actor.calculate_entropy=True",
]
CPU_KEYS = [  # a tiny fp32 model without flash-attention, on one CPU process
    "+actor_rollout_ref.model.load_tokenizer=False",
    "+actor_rollout_ref.model.override_config.attn_implementation=eager",
    "actor_rollout_ref.model.use_remove_padding=False",
    "actor_rollout_ref.model.enable_gradient_checkpointing=False",
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.actor.fsdp_config.strategy=fsdp2",
    "actor_rollout_ref.actor.fsdp_config.use_torch_compile=False",
    "+actor_rollout_ref.actor.fsdp_config.mixed_precision={param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}",
    "actor_rollout_ref.actor.ppo_mini_batch_size=4",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
    # plain SGD without clipping, so that the weights after one step show the gradient itself
    "actor_rollout_ref.actor.optim.optimizer=SGD",
    "actor_rollout_ref.actor.optim.weight_decay=0",
    "actor_rollout_ref.actor.optim.lr=0.1",
    "actor_rollout_ref.actor.optim.clip_grad=1e9",
    "actor_rollout_ref.actor.grad_clip=1e9",
    "actor_rollout_ref.rollout.n=1",
]


def register_cpu_platform():
    from verl.plugin.platform.platform_base import PlatformBase
    from verl.plugin.platform.platform_manager import PlatformRegistry

    class CPUModule:
        """``torch.cpu`` where it has the name; the memory counters veRL logs read 0."""

        def __getattr__(self, name):
            if name == "get_device_name":
                return lambda *args, **kwargs: "CPU"
            if hasattr(torch.cpu, name):
                return getattr(torch.cpu, name)
            if name == "mem_get_info":
                return lambda *args, **kwargs: (0, 0)
            if name.startswith(("memory_", "max_memory", "reset_", "empty_cache")):
                return lambda *args, **kwargs: 0
            raise AttributeError(name)

    @PlatformRegistry.register(platform="cpu")
    class PlatformCPU(PlatformBase):
        device_name = "cpu"
        vendor_name = "cpu"
        device_module = CPUModule()

        def is_available(self): return True
        def current_device(self): return "cpu"
        def device_count(self): return 1
        def set_device(self, device_index): pass
        def synchronize(self, device_index=None): pass
        def manual_seed(self, seed): torch.manual_seed(seed)
        def manual_seed_all(self, seed): torch.manual_seed(seed)
        def set_allocator_settings(self, settings): pass
        def empty_cache(self): pass
        def get_device_capability(self, device_index=0): return (None, None)
        def communication_backend_name(self): return "gloo"
        def visible_devices_envvar(self): return "CPU_VISIBLE_DEVICES"
        def nvtx_range(self, msg): return contextlib.nullcontext()
        def profiler_start(self): pass
        def profiler_stop(self): pass
        def ray_resource_name(self): return "CPU"
        def ray_noset_envvars(self): return []
        def is_ipc_supported(self): return False
        def cudart(self): return None


def tiny_model(path: Path) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False, architectures=["Qwen2ForCausalLM"])
    Qwen2ForCausalLM(config).save_pretrained(path)


def worker(model: Path, keys: list[str]):
    import verl
    from hydra import compose, initialize_config_dir
    from verl.workers.engine_workers import ActorRolloutRefWorker

    with initialize_config_dir(os.path.join(os.path.dirname(verl.__file__), "trainer", "config"), version_base=None):
        config = compose("ppo_trainer", overrides=keys + CPU_KEYS + [f"actor_rollout_ref.model.path={model}"])
    actor = ActorRolloutRefWorker(config=config.actor_rollout_ref, role="actor")
    actor.init_model()  # binds engine_workers.ppo_loss as the actor's loss function
    return actor


def batch(extra: dict[str, torch.Tensor], **metadata):
    """A left/right-padded rollout batch turned into the actor's input as veRL's trainer does it."""
    from verl import DataProto
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.padding import left_right_2_no_padding

    g = torch.Generator().manual_seed(0)
    prompt_lens, response_lens, max_prompt, max_response = [3, 2, 4, 3], [4, 2, 3, 5], 4, 5
    size = len(prompt_lens)
    prompts, responses = torch.zeros(size, max_prompt, dtype=torch.long), torch.zeros(size, max_response, dtype=torch.long)
    prompt_mask, response_mask = torch.zeros_like(prompts), torch.zeros_like(responses)
    for i, (p, r) in enumerate(zip(prompt_lens, response_lens)):
        prompts[i, max_prompt - p:] = torch.randint(1, 64, (p,), generator=g)
        responses[i, :r] = torch.randint(1, 64, (r,), generator=g)
        prompt_mask[i, max_prompt - p:] = 1
        response_mask[i, :r] = 1
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    data = DataProto.from_dict(tensors={
        "prompts": prompts, "responses": responses, "input_ids": torch.cat([prompts, responses], dim=1),
        "attention_mask": attention_mask, "position_ids": (attention_mask.cumsum(1) - 1).clamp(min=0),
        "response_mask": response_mask, **extra}, meta_info={"temperature": TEMPERATURE})
    data = left_right_2_no_padding(data.to_tensordict())
    tu.assign_non_tensor(data, **metadata)
    return data, response_mask


def weights(actor) -> torch.Tensor:
    state = actor.actor.engine.module.state_dict()
    return torch.cat([(v.full_tensor() if hasattr(v, "full_tensor") else v).detach().flatten() for v in state.values()])


def update(actor, old_log_probs, advantages):
    from verl.utils import tensordict_utils as tu

    data, _ = batch({"old_log_probs": old_log_probs, "advantages": advantages}, calculate_entropy=True,
                    global_batch_size=4, mini_batch_size=4, epochs=1, seed=42, dataloader_kwargs={"shuffle": False},
                    compute_loss=True)
    metrics = tu.get(actor.update_actor(data), "metrics")
    return {k: float(v[0]) for k, v in metrics.items() if k.startswith("actor/") or k == "grad_norm"}


def main(workdir: Path) -> dict:
    torch.set_num_threads(1)  # tiny tensors: threads only contend
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      VERL_PLATFORM="cpu", VERL_ENGINE_DEVICE="cuda")
    register_cpu_platform()
    torch.distributed.init_process_group("gloo", rank=0, world_size=1)
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.padding import no_padding_2_padding

    model = workdir / "tiny-qwen2"
    tiny_model(model)
    vanilla_keys = ["actor_rollout_ref.actor.policy_loss.loss_mode=vanilla", "actor_rollout_ref.actor.calculate_entropy=True"]
    shaped, by_hand, plain = worker(model, README_KEYS), worker(model, vanilla_keys), worker(model, vanilla_keys)
    from entropy_lens.integrations import verl as hook

    start = weights(shaped)
    assert torch.equal(start, weights(by_hand)) and torch.equal(start, weights(plain))
    data, response_mask = batch({}, calculate_entropy=True, compute_loss=False)  # veRL's _compute_old_log_prob
    output = shaped.compute_log_prob(data)
    entropy = no_padding_2_padding(tu.get(output, "entropy"), data).float()
    old_log_probs = no_padding_2_padding(tu.get(output, "log_probs"), data).float()
    advantages = torch.tensor([1.0, -0.5, 0.0, 0.8])[:, None] * response_mask
    mask = response_mask.bool()
    hand_shaped = torch.where(mask, advantages + torch.minimum(ALPHA * entropy, advantages.abs() / KAPPA), advantages)
    metrics = update(shaped, old_log_probs, advantages)
    metrics_by_hand = update(by_hand, old_log_probs, hand_shaped)
    metrics_plain = update(plain, old_log_probs, advantages)
    after, after_by_hand, after_plain = weights(shaped), weights(by_hand), weights(plain)
    return {
        "loss_fn": shaped.loss_fn.func.__module__ + "." + shaped.loss_fn.func.__name__,
        "policy_loss": type(shaped.actor.loss_fn.keywords["config"].policy_loss).__name__,
        "bound_wrapper": shaped.loss_fn.func is hook.ppo_loss_with_entropy,
        "moved": (after - start).abs().max().item(),
        "vs_by_hand": (after - after_by_hand).abs().max().item(),
        "vs_unshaped": (after - after_plain).abs().max().item(),
        "clipped_tokens": int((ALPHA * entropy > advantages.abs() / KAPPA)[mask & (advantages != 0)].sum()),
        "free_tokens": int((ALPHA * entropy < advantages.abs() / KAPPA)[mask & (advantages != 0)].sum()),
        "metrics": metrics, "metrics_by_hand": metrics_by_hand, "metrics_unshaped": metrics_plain,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
