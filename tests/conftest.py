"""Shared fixtures: a tiny Llama and byte-level BPE tokenizer built in code (fast), and the
real offline default model (slow, a few integration tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

CORPUS = [
    "What is 3 + 4? The answer is 7. Let me check: 3 + 4 = 7, so the answer is \\boxed{7}.",
    "First, we add the numbers. Then we verify the result. Therefore the sum is 12.",
    "However, wait: 5.6 is not an integer. Because of that, we reconsider the step.",
    "Step 1: compute 2 * 6 = 12. Step 2: subtract 5 to get 7. Thus x = 7.",
    "Schöne Grüße — naïve café 日本語 🙂 x² ≤ y³",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    backend.train_from_iterator(CORPUS * 20, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token=None)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_tiny_model(vocab_size: int, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    # Larger output weights give a spread of peaked and flat next-token distributions.
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved tiny model folder, usable as ``--model DIR``."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tok = build_tiny_tokenizer()
    model = build_tiny_model(len(tok))
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny(tiny_model_dir):
    from entropy_lens.measure.models import load_model

    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def smollm2():
    from entropy_lens.measure.models import load_model

    return load_model("smollm2", device="cpu")


@pytest.fixture
def tasks_file(tmp_path) -> Path:
    import json

    path = tmp_path / "tasks.jsonl"
    rows = [{"prompt_id": f"p{i}", "prompt": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1)} for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def one_thread():
    """Tiny models are all per-op overhead: one intra-op thread is several times faster,
    and far faster still when other work competes for the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
