"""A problem to pose, and the small helpers every problem source shares: one-line error
text, gold answers as strings, dataset ids, column lookup and the ``limit`` check."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from entropy_lens.errors import UserError

PROMPT_COLUMNS = ("prompt", "problem", "question", "Prompt", "Problem", "Question")
ANSWER_COLUMNS = ("answer", "Answer", "final_answer")
ID_COLUMNS = ("prompt_id", "unique_id", "id", "ID", "Id", "problem_id", "idx")


@dataclass(frozen=True)
class Problem:
    prompt_id: str      # stable, unique within a task set
    prompt: str         # the problem text (no instruction; the caller adds template + instruction)
    answer: str | None  # gold answer as a string, None if unknown


def one_line(text: Any, limit: int = 200) -> str:
    """``text`` squeezed onto one line (error messages must be one line)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def answer_str(value: Any) -> str | None:
    """A gold answer as a string: 27.0 -> '27', None / '' / NaN -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, (list, tuple)):
        parts = [p for p in (answer_str(v) for v in value) if p is not None]
        return ", ".join(parts) if parts else None
    s = str(value).strip()
    return s or None


def first_present(columns: Iterable[str], candidates: Sequence[str]) -> str | None:
    """The first of ``candidates`` that is one of ``columns``."""
    cols = list(columns)
    return next((c for c in candidates if c in cols), None)


def check_limit(limit: int | None) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UserError(f"invalid limit {limit!r}", "pass a whole number >= 1 (or no limit)")


def make_ids(prefix: str, raw_ids: Sequence[Any] | None, n: int) -> list[str]:
    """``<prefix>-<dataset id>`` when the dataset's own ids are present and unique, else
    ``<prefix>-<row>`` zero-padded."""
    width = max(4, len(str(max(n - 1, 0))))
    positional = [f"{prefix}-{i:0{width}d}" for i in range(n)]
    if raw_ids is None:
        return positional
    ids: list[str] = []
    for raw in raw_ids:
        s = answer_str(raw)  # same normalisation: 3.0 -> '3', NaN / '' -> None
        if s is None:
            return positional
        ids.append(s if s.startswith(prefix + "-") else f"{prefix}-{s}")
    if len(set(ids)) != len(ids):
        return positional
    return ids
