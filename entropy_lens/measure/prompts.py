"""Turning a problem into the exact token ids the model sees."""

from __future__ import annotations

DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def prompt_text(tokenizer, problem: str, instruction: str = DEFAULT_INSTRUCTION, *, chat_template: bool = True) -> str:
    """The full model input as text: chat template (if the tokenizer has one) around problem + instruction."""
    content = f"{problem}\n\n{instruction}" if instruction else problem
    if chat_template and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
    return content + "\n"


def prompt_token_ids(tokenizer, problem: str, instruction: str = DEFAULT_INSTRUCTION, *, chat_template: bool = True) -> list[int]:
    """Token ids of :func:`prompt_text`. Templated text already holds its special tokens."""
    text = prompt_text(tokenizer, problem, instruction, chat_template=chat_template)
    templated = chat_template and bool(getattr(tokenizer, "chat_template", None))
    return list(tokenizer(text, add_special_tokens=not templated)["input_ids"])
