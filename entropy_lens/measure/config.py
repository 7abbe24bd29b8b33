"""One config dataclass per command. Field metadata carries the CLI help, so the
defaults live in one place and the CLI, the Python API and run.json agree."""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from entropy_lens.errors import UserError
from entropy_lens.measure.prompts import DEFAULT_INSTRUCTION


def option(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field whose metadata carries its CLI help (and e.g. ``choices``)."""
    return field(default=default, metadata={"help": help, **extra})


def option_like(cls, name: str, default: Any = MISSING) -> Any:
    """A field with the metadata (help, choices) of field ``name`` of the dataclass ``cls``,
    and its default unless ``default`` is given: the same setting in another command."""
    source = next(f for f in fields(cls) if f.name == name)
    return field(default=source.default if default is MISSING else default, metadata=dict(source.metadata))


def field_types(cls) -> dict[str, tuple[Any, bool]]:
    """Each field's value type and whether it may be None: ``int | None`` -> ``(int, True)``,
    ``bool`` -> ``(bool, False)`` (annotations resolved, also those written as strings)."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint)
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
        rest = [a for a in args if a is not type(None)] if optional else [hint]
        out[name] = (rest[0] if len(rest) == 1 else hint, optional)
    return out


_opt = option


# The option groups: each is shared by every command (config) that has those settings.

@dataclass
class ModelSource:
    """Which model to load, and where and how (generate, score, train)."""

    model: str = _opt("smollm2", "HF hub id, local folder, .gguf file, or 'smollm2' (offline default)")
    device: str = _opt("auto", "auto (cuda if present), cpu, cuda, cuda:N")
    dtype: str = _opt("auto", "auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16, float16")
    trust_remote_code: bool = _opt(False, "run code shipped inside the model folder (off by default)")


@dataclass
class MeasureOptions:
    """How the recorded entropies are computed (generate, score)."""

    entropy_temperature: float = _opt(1.0, "temperature of the distribution whose entropy and log-probs are recorded (1.0 = raw policy)")
    batch_size: int = _opt(8, "sequences per forward batch")

    def validate(self) -> None:
        if not self.entropy_temperature > 0:
            raise UserError(f"--entropy-temperature must be > 0, got {self.entropy_temperature}", "use 1.0 for the raw policy")
        if self.batch_size <= 0:
            raise UserError(f"--batch-size must be >= 1, got {self.batch_size}", "pass a positive batch size")


@dataclass
class PromptOptions:
    """How a problem becomes the model's input (generate, score, train)."""

    instruction: str = _opt(DEFAULT_INSTRUCTION, "text appended to each problem in the user message")
    chat_template: bool = _opt(True, "wrap prompts in the tokenizer's chat template (--no-chat-template for base models)")


@dataclass
class ModelOptions(PromptOptions, MeasureOptions, ModelSource):
    """The settings of every command that records entropies: fields in the order model,
    device, dtype, trust_remote_code, entropy_temperature, batch_size, instruction,
    chat_template (dataclasses order the fields of the bases from the last one)."""


@dataclass
class GenerateConfig(ModelOptions):
    tasks: str = _opt("arithmetic", "built-in task set (arithmetic, champ), known HF dataset id (e.g. HuggingFaceH4/MATH-500), or a local JSONL/Parquet file with a prompt column")
    n: int = _opt(4, "samples per problem")
    limit: int | None = _opt(None, "use only the first N problems")
    max_new_tokens: int = _opt(512, "maximum response length in tokens")
    temperature: float = _opt(0.6, "sampling temperature (0 = greedy)")
    top_p: float = _opt(0.95, "nucleus sampling threshold (1.0 = off)")
    top_k: int = _opt(0, "sample among the k most likely tokens (0 = off)")
    seed: int = _opt(0, "random seed; each (prompt, sample) pair gets its own stream, so results do not depend on batching")
    backend: str = _opt("hf", "generation engine: hf (transformers) or vllm (vLLM samples; the exact entropy and "
                              "log-prob come from a teacher-forced pass over its tokens)", choices=["hf", "vllm"])
    tensor_parallel_size: int = _opt(1, "--backend vllm: GPUs to shard the model over")
    gpu_memory_utilization: float | None = _opt(None, "--backend vllm: share of GPU memory vLLM reserves (default 0.5, "
                                                      "leaving room for the scoring model); on a CPU, the share of system "
                                                      "memory (default 0.2)")
    max_model_len: int | None = _opt(None, "--backend vllm: longest prompt + response the engine plans for "
                                           "(default: the longest prompt + --max-new-tokens)")
    lenient_truncated: bool = option(False, "grade a response cut off at --max-new-tokens by its last number "
                                            "(default: without a boxed or stated final answer it is wrong, as RLVR graders do)")

    def validate(self) -> None:
        super().validate()
        checks = [
            (self.n > 0, f"--n must be >= 1, got {self.n}", "ask for at least one sample per problem"),
            (self.limit is None or self.limit > 0, f"--limit must be >= 1, got {self.limit}", "pass a positive number of problems"),
            (self.max_new_tokens > 0, f"--max-new-tokens must be >= 1, got {self.max_new_tokens}", "pass a positive token budget"),
            (self.temperature >= 0, f"--temperature must be >= 0, got {self.temperature}", "use 0 for greedy or a positive temperature"),
            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}", "use 1.0 to turn nucleus sampling off"),
            (self.top_k >= 0, f"--top-k must be >= 0, got {self.top_k}", "use 0 to turn top-k off"),
            (self.tensor_parallel_size >= 1, f"--tensor-parallel-size must be >= 1, got {self.tensor_parallel_size}",
             "pass the number of GPUs, 1 on a CPU"),
            (self.gpu_memory_utilization is None or 0 < self.gpu_memory_utilization <= 1,
             f"--gpu-memory-utilization must be in (0, 1], got {self.gpu_memory_utilization}", "pass a share such as 0.5"),
            (self.max_model_len is None or self.max_model_len > 0, f"--max-model-len must be >= 1, got {self.max_model_len}",
             "pass a positive length, or leave it out"),
        ]
        for ok, problem, fix in checks:
            if not ok:
                raise UserError(problem, fix)
        self._validate_backend()

    def _validate_backend(self) -> None:
        """Engine options that need vLLM, and vLLM itself, checked without importing it."""
        engine_options = {"tensor_parallel_size": self.tensor_parallel_size != 1,
                          "gpu_memory_utilization": self.gpu_memory_utilization is not None,
                          "max_model_len": self.max_model_len is not None}
        if self.backend != "vllm":
            given = [name for name, set_ in engine_options.items() if set_]
            if given:
                flag = "--" + given[0].replace("_", "-")
                raise UserError(f"{flag} applies to --backend vllm only", f"add --backend vllm, or drop {flag}")
            return
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise UserError("--backend vllm needs vLLM, which is not installed in this environment",
                            "on a GPU machine: pip install 'entropy-lens[vllm]'; on a CPU: run `make vllm` and use "
                            ".venv-vllm/bin/entropy-lens (or use --backend hf)")

    def run_settings(self) -> dict[str, Any]:
        """The settings that decide the rows (compared on resume). Batch size and device are not among them."""
        # lenient_truncated decides the grading of rows, so a table graded under the other rule
        # (including one made before the option existed) is not resumed with mixed grades
        keep = ("model", "tasks", "n", "limit", "max_new_tokens", "temperature", "top_p", "top_k", "seed",
                "entropy_temperature", "instruction", "chat_template", "dtype", "backend", "lenient_truncated")
        return {"command": "generate", **{k: getattr(self, k) for k in keep}}


@dataclass
class ScoreConfig(ModelOptions):
    input: str = _opt(None, "JSONL or Parquet file (or rollout directory) with prompt and response columns; optional prompt_id, sample_id, token_ids, answer")
    lenient_truncated: bool = option_like(GenerateConfig, "lenient_truncated")  # rows with finish_reason length

    def run_settings(self, input_digest: str) -> dict[str, Any]:
        keep = ("model", "entropy_temperature", "instruction", "chat_template", "dtype", "lenient_truncated")
        return {"command": "score", "input_sha256": input_digest, **{k: getattr(self, k) for k in keep}}


@dataclass
class ForkConfig(ModelSource):
    """``entropy-lens fork``: where and how continuations are resampled. The sampling settings
    (temperature, top-p, top-k, the response budget) are the rollouts' own, from their run."""

    model: str | None = _opt(None, "model to resample with (default: the rollouts' own model, from their _run.json)")
    positions: int = _opt(4, "token positions probed per kind (high, low, pivotal) in each response")
    samples: int = _opt(8, "continuations sampled at each probed position")
    limit: int | None = _opt(None, "probe only the first N responses (by prompt_id, sample_id); with --model, "
                                   "one response to each of the first N problems is generated first")
    seed: int = _opt(0, "seed of the position choice and of every continuation's own random stream")
    batch_size: int = option_like(MeasureOptions, "batch_size")
    lenient_truncated: bool = option_like(GenerateConfig, "lenient_truncated")

    def validate(self) -> None:
        checks = [
            (self.positions > 0, f"--positions must be >= 1, got {self.positions}", "probe at least one position per kind"),
            (self.samples > 0, f"--samples must be >= 1, got {self.samples}", "sample at least one continuation, e.g. --samples 8"),
            (self.limit is None or self.limit > 0, f"--limit must be >= 1, got {self.limit}", "pass a positive number of responses"),
            (self.batch_size > 0, f"--batch-size must be >= 1, got {self.batch_size}", "pass a positive batch size"),
        ]
        for ok, problem, fix in checks:
            if not ok:
                raise UserError(problem, fix)
