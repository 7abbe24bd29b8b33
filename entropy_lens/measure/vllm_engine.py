"""``--backend vllm``: vLLM samples, a teacher-forced pass records the exact values.

vLLM returns at most 20 log-probs per position, taken from the raw logits, so an entropy
from them is only a lower bound. Here vLLM samples the tokens; the rollout table's exact
``entropy`` and ``logprob`` then come from ``score.score_batch`` (the bounded-memory,
hidden-state path of ``entropy-lens score``) over the sampled tokens, with the same weights
on the scoring device. vLLM's own log-prob of each sampled token is kept as
``engine_logprob``: its largest gap to ``logprob`` shows that both engines ran the same
model on the same input (prompts go to vLLM as token ids from our tokenizer).

Each request carries its own seed (``sampling.stream_seed``), so a response does not depend
on which other requests share its round, and a resumed run samples what an uninterrupted
one would have.

vLLM starts its engine in worker processes with ``spawn``: a script that calls the Python
API with ``backend="vllm"`` must do so under ``if __name__ == "__main__":`` (the CLI does).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from entropy_lens.errors import UserError
from entropy_lens.measure.config import GenerateConfig
from entropy_lens.measure.models import LoadedModel

# Teacher-forced scoring of a round, at most this many sequences per forward pass
# (sorted by length, so padding stays small): vLLM rounds are large, a forward pass need not be.
SCORE_BATCH = 16

# Defaults for --gpu-memory-utilization: on a GPU vLLM shares it with the scoring model, on a
# CPU the value is the share of system memory vLLM reserves for weights and KV cache.
GPU_MEMORY_SHARE = 0.5
CPU_MEMORY_SHARE = 0.2


# How to see what vLLM itself said, named in every error of this backend
SHOW_LOG = "VLLM_LOGGING_LEVEL=INFO shows vLLM's own log"


def _quiet_vllm_logs() -> None:
    """vLLM logs its start-up at INFO, platform notes at WARNING and a failing worker's
    traceback at ERROR; its failures reach the user as one line here instead (see SHOW_LOG).
    A level the user chose is kept."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "CRITICAL")
    # vLLM's worker processes inherit these: torch's C++ notes (NUMA binding) and
    # deprecation warnings from vLLM's own code are not the user's to act on
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")


def check_cpu_head_size(config) -> None:
    """vLLM's CPU attention runs only some head sizes; a model with another fails at its
    first step with a worker traceback, so refuse it before the engine starts."""
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        supported = CPUAttentionBackend.get_supported_head_sizes()
    except (ImportError, AttributeError):  # another vLLM layout: let vLLM decide
        return
    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if head not in supported:
        raise UserError(f"vLLM on the CPU cannot run this model: its attention head size is {head}, vLLM's CPU "
                        f"attention supports {', '.join(map(str, supported))}", "use --backend hf for this model")


def _one_line(exc: BaseException) -> str:
    """The last line of an exception's text: vLLM puts the specific cause there."""
    text = str(exc).strip()
    return (text.splitlines()[-1] if text else type(exc).__name__)[:300]


class VllmSampler:
    """A vLLM engine on the model ``loaded`` came from, sampling rounds of requests."""

    def __init__(self, loaded: LoadedModel, cfg: GenerateConfig, *, longest_prompt: int, eos_ids: Sequence[int]):
        _quiet_vllm_logs()
        from vllm import LLM

        self.cfg = cfg
        self.eos_ids = list(eos_ids)
        on_gpu = loaded.device.type == "cuda"
        if not on_gpu:
            check_cpu_head_size(loaded.model.config)
        share = cfg.gpu_memory_utilization or (GPU_MEMORY_SHARE if on_gpu else CPU_MEMORY_SHARE)
        # the scoring model's dtype: both engines then compute in the same precision
        dtype = str(loaded.dtype).removeprefix("torch.")
        try:
            self.llm = LLM(
                model=str(loaded.source), dtype=dtype, seed=cfg.seed,
                tensor_parallel_size=cfg.tensor_parallel_size, gpu_memory_utilization=share,
                max_model_len=cfg.max_model_len or longest_prompt + cfg.max_new_tokens,
                trust_remote_code=cfg.trust_remote_code,
                # CUDA graphs take minutes to capture: worth it on a GPU, not for CPU rounds
                enforce_eager=not on_gpu,
                use_tqdm_on_load=False,
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # vLLM raises many types (ValueError, RuntimeError, its own) on load
            raise UserError(f"vLLM could not load model {cfg.model}: {_one_line(exc)}",
                            f"check --max-model-len and --gpu-memory-utilization, or use --backend hf; {SHOW_LOG}") from None

    def sample(self, prompts: list[list[int]], seeds: list[int], *, ignore_eos: bool = False) -> list[dict[str, Any]]:
        """One response per prompt: ``token_ids``, ``engine_logprob``, ``finish_reason``.

        ``ignore_eos`` samples every response to ``max_new_tokens`` (fixed-work benchmarks)."""
        from vllm import SamplingParams

        cfg = self.cfg
        params = [
            SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k, seed=seed,
                           max_tokens=cfg.max_new_tokens, stop_token_ids=[] if ignore_eos else self.eos_ids,
                           ignore_eos=ignore_eos, logprobs=0,
                           detokenize=False)  # prompts are token ids from our tokenizer, which decodes too
            for seed in seeds
        ]
        try:
            outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params, use_tqdm=False)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # the engine died (a kernel it lacks, memory): its rounds so far are kept
            raise UserError(f"vLLM failed while sampling from {cfg.model}: {_one_line(exc)}",
                            f"{SHOW_LOG}; --backend hf runs every model transformers loads") from None
        results = []
        for output in outputs:
            completion = output.outputs[0]
            token_ids = list(completion.token_ids)
            # logprobs=0 returns just the sampled token's entry at each position
            engine_logprob = [float(step[token].logprob) for step, token in zip(completion.logprobs, token_ids)]
            results.append({"token_ids": token_ids, "engine_logprob": engine_logprob,
                            "finish_reason": "stop" if completion.finish_reason == "stop" else "length"})
        return results

    def close(self) -> None:
        shutdown = getattr(self.llm, "shutdown", None)
        if callable(shutdown):
            shutdown()
        self.llm = None


def add_exact_values(loaded: LoadedModel, prompts: list[list[int]], sampled: list[dict[str, Any]],
                     entropy_temperature: float) -> list[dict[str, Any]]:
    """``sampled`` with the exact ``entropy`` and ``logprob`` of each token, teacher-forced."""
    from entropy_lens.measure.score import score_batch

    order = sorted(range(len(sampled)), key=lambda i: len(prompts[i]) + len(sampled[i]["token_ids"]))
    for start in range(0, len(order), SCORE_BATCH):
        batch = [i for i in order[start : start + SCORE_BATCH] if sampled[i]["token_ids"]]
        if not batch:
            continue
        values = score_batch(loaded, [prompts[i] for i in batch], [sampled[i]["token_ids"] for i in batch],
                             entropy_temperature)
        for i, (entropy, logprob) in zip(batch, values):
            sampled[i].update(entropy=entropy, logprob=logprob)
    for s in sampled:
        s.setdefault("entropy", [])
        s.setdefault("logprob", [])
    return sampled


def logprob_gap(frame) -> tuple[float, int]:
    """Largest |engine_logprob - logprob| over every token of a vLLM table, and the token count."""
    import numpy as np

    if "engine_logprob" not in frame.columns or not len(frame):
        return float("nan"), 0
    engine = np.concatenate([np.asarray(v, dtype=np.float64) for v in frame["engine_logprob"]])
    exact = np.concatenate([np.asarray(v, dtype=np.float64) for v in frame["logprob"]])
    if not len(exact):
        return float("nan"), 0
    return float(np.abs(engine - exact).max()), int(len(exact))


def gap_line(frame, entropy_temperature: float) -> str:
    """What the generate command prints about the two engines' agreement."""
    gap, n = logprob_gap(frame)
    if not n:
        return "vLLM check: no tokens sampled"
    line = f"vLLM check: largest gap between vLLM's and the teacher-forced log-prob of the sampled tokens {gap:.2e} nats over {n} tokens"
    if entropy_temperature != 1.0:
        line += f" (vLLM's log-probs are at temperature 1, the recorded ones at {entropy_temperature}: not comparable)"
    return line

