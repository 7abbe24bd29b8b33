"""Reading and checking the input of ``entropy-lens score``: prompt/response pairs."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entropy_lens.errors import UserError
from entropy_lens.rollouts.load import read_shard, shards
from entropy_lens.tasks.files import checked_file, columns_of, read_rows

SCORE_ROW = '{"prompt": ..., "response": ...}'


@dataclass
class ScoreItem:
    prompt_id: str
    sample_id: int
    prompt: str
    response: str
    answer: str | None
    finish_reason: str
    token_ids: list[int] | None = None         # given: scored exactly as they are
    prompt_token_ids: list[int] | None = None  # given: used as the exact model input


def input_digest(path: Path) -> str:
    """sha256 of the input's bytes (all shards for a rollout directory): a resume key."""
    digest = hashlib.sha256()
    for file in shards(path) if path.is_dir() else [path]:
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_records(path: Path) -> list[dict[str, Any]]:
    """The input's rows: a JSONL / JSON / Parquet file, or every shard of a rollout directory."""
    if not path.exists():
        raise UserError(f"input {path} does not exist", "pass a JSONL or Parquet file (or a rollout directory) with prompt and response columns")
    if path.is_dir():
        found = shards(path)
        if not found:
            raise UserError(f"input {path} holds no rollout shards (part-*.parquet)", "pass a rollout directory, or a JSONL or Parquet file")
        return [row for shard in found for row in read_shard(shard).to_pylist()]
    name = f"input {path}"
    return read_rows(checked_file(str(path), name), name, example=SCORE_ROW)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _int_list(value: Any) -> list[int] | None:
    if _is_missing(value):
        return None
    return [int(v) for v in value]


def read_score_items(path: str | Path) -> list[ScoreItem]:
    """The rows to score. Needs ``prompt`` and ``response``; ``prompt_id``, ``sample_id``,
    ``token_ids``, ``prompt_token_ids``, ``answer`` and ``finish_reason`` are optional."""
    path = Path(path)
    records = _read_records(path)
    columns = columns_of(records)
    missing = [c for c in ("prompt", "response") if c not in columns]
    if missing:
        raise UserError(f"input {path} lacks column(s) {missing} (found: {columns[:10]})",
                        "provide 'prompt' and 'response' columns")
    items: list[ScoreItem] = []
    seen_samples: dict[str, int] = {}
    for index, rec in enumerate(records):
        prompt, response = rec.get("prompt"), rec.get("response")
        if not isinstance(prompt, str) or not isinstance(response, str):
            raise UserError(f"input {path} row {index}: prompt and response must be text", "fill in or drop that row")
        prompt_id = str(rec["prompt_id"]) if not _is_missing(rec.get("prompt_id")) else f"row-{index:06d}"
        if not _is_missing(rec.get("sample_id")):
            sample_id = int(rec["sample_id"])
        else:  # number the responses of each prompt in order
            sample_id = seen_samples.get(prompt_id, 0)
        seen_samples[prompt_id] = sample_id + 1
        answer = rec.get("answer")
        items.append(ScoreItem(
            prompt_id=prompt_id, sample_id=sample_id, prompt=prompt, response=response,
            answer=None if _is_missing(answer) else str(answer),
            finish_reason=str(rec["finish_reason"]) if not _is_missing(rec.get("finish_reason")) else "given",
            token_ids=_int_list(rec.get("token_ids")), prompt_token_ids=_int_list(rec.get("prompt_token_ids")),
        ))
    keys = [(it.prompt_id, it.sample_id) for it in items]
    if len(set(keys)) != len(keys):
        raise UserError(f"input {path} has duplicate (prompt_id, sample_id) pairs", "make them unique or drop the sample_id column")
    return items
