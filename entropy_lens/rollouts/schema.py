"""The rollout table's schema: one row per response, its columns and their Arrow types.

The same list is documented in the README; ``measure/`` writes rows of this shape and
``analyses/`` read them.
"""

from __future__ import annotations

import re

RUN_FILE = "_run.json"
SHARD_PATTERN = re.compile(r"^part-(\d{5,})\.parquet$")

# name -> "type: description"; the README documents the same list, arrow_schema() the Arrow types.
COLUMNS: dict[str, str] = {
    "prompt_id": "str: the problem's id",
    "sample_id": "int: index of this response among the problem's samples",
    "prompt": "str: the problem text",
    "prompt_token_ids": "list[int]: the exact model input, chat template included",
    "response": "str: the decoded response (special tokens skipped)",
    "token_ids": "list[int]: response tokens, EOS included when generated",
    "offsets": "list[[start, end)]: character span of each token in response",
    "entropy": "list[float32]: exact full-vocabulary entropy at each token (nats)",
    "logprob": "list[float32]: log-prob of each token under the policy",
    "answer": "str | null: gold answer",
    "extracted": "str | null: answer read from the response",
    "correct": "bool | null: extracted == answer (math-verify)",
    "finish_reason": "str: stop (EOS) | length (max tokens) | given (scored input)",
}

# Only in tables made with --backend vllm: the engine's own log-prob of each sampled token
# (raw logits, temperature 1), kept next to the exact teacher-forced ``logprob`` as a check.
ENGINE_COLUMNS: dict[str, str] = {
    "engine_logprob": "list[float32]: vLLM's log-prob of each token (--backend vllm tables only)",
}


def arrow_schema(*, engine_logprob: bool = False):
    """The Arrow schema of a shard; ``engine_logprob`` adds the vLLM backend's column."""
    import pyarrow as pa

    extra = [("engine_logprob", pa.list_(pa.float32()))] if engine_logprob else []
    return pa.schema(
        [
            ("prompt_id", pa.string()),
            ("sample_id", pa.int64()),
            ("prompt", pa.string()),
            ("prompt_token_ids", pa.list_(pa.int32())),
            ("response", pa.string()),
            ("token_ids", pa.list_(pa.int32())),
            ("offsets", pa.list_(pa.list_(pa.int32(), 2))),
            ("entropy", pa.list_(pa.float32())),
            ("logprob", pa.list_(pa.float32())),
            ("answer", pa.string()),
            ("extracted", pa.string()),
            ("correct", pa.bool_()),
            ("finish_reason", pa.string()),
            *extra,
        ]
    )
