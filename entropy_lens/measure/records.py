"""Building one rollout-table row from a response's tokens and per-token values."""

from __future__ import annotations

from typing import Any, Sequence

from entropy_lens.tasks.answers import grade
from entropy_lens.measure.offsets import decode_with_offsets


def response_row(
    tokenizer,
    *,
    prompt_id: str,
    sample_id: int,
    prompt: str,
    prompt_token_ids: Sequence[int],
    token_ids: Sequence[int],
    entropy: Sequence[float],
    logprob: Sequence[float],
    answer: str | None,
    finish_reason: str,
    response: str | None = None,
    offsets: Sequence[Sequence[int]] | None = None,
    lenient_truncated: bool = False,
    engine_logprob: Sequence[float] | None = None,
) -> dict[str, Any]:
    """One row of the rollout table (see ``entropy_lens.rollouts.schema.COLUMNS``).

    ``response`` and ``offsets`` are decoded from ``token_ids`` unless given (scoring a
    text keeps the user's exact text and the tokenizer's own spans). A response cut off at
    the token limit (``finish_reason`` ``length``) is graded by ``tasks.answers.grade``: wrong
    without an explicit final answer unless ``lenient_truncated``. ``engine_logprob`` (the
    vLLM backend's own values) becomes a column of that name.
    """
    if response is None or offsets is None:
        response, offsets = decode_with_offsets(tokenizer, list(token_ids))
    extracted, correct = grade(response, answer, truncated=finish_reason == "length",
                               lenient_truncated=lenient_truncated)
    row = {
        "prompt_id": str(prompt_id),
        "sample_id": int(sample_id),
        "prompt": prompt,
        "prompt_token_ids": [int(t) for t in prompt_token_ids],
        "response": response,
        "token_ids": [int(t) for t in token_ids],
        "offsets": [[int(a), int(b)] for a, b in offsets],
        "entropy": [float(x) for x in entropy],
        "logprob": [float(x) for x in logprob],
        "answer": None if answer is None else str(answer),
        "extracted": extracted,
        "correct": correct,
        "finish_reason": finish_reason,
    }
    if engine_logprob is not None:
        row["engine_logprob"] = [float(x) for x in engine_logprob]
    return row
