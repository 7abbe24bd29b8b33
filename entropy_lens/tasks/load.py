"""Task sets: the math problems that responses are generated for.

``load_tasks(spec)`` turns a task spec into a list of :class:`Problem`. A spec is one of

* a built-in name: ``arithmetic`` (procedural, seeded), ``champ`` (the CHAMP competition
  problems from the ``champ_dataset`` package), or a short alias of a Hugging Face
  dataset (``math500``, ``aime24``, ``aime25``, ``amc23``, ``gsm8k``, ``dapo17k``);
* a supported Hugging Face dataset id such as ``HuggingFaceH4/MATH-500``, optionally
  ``ID:CONFIG`` for a dataset with several configs (``opencompass/AIME2025:AIME2025-I``);
  with ``data_files=PATH`` the same adapter runs on a local JSON/JSONL/Parquet copy;
* a local ``.jsonl`` / ``.json`` / ``.parquet`` file with a ``prompt`` (or ``problem`` /
  ``question``) column, an optional ``answer`` column and an optional ``prompt_id`` column.

One module per source (``arithmetic``, ``champ``, ``hub``, ``files``); this one picks it.
Every bad input raises :class:`~entropy_lens.errors.UserError`. Heavy libraries
(``datasets``, ``pyarrow``, ``champ_dataset``) are imported inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from entropy_lens.errors import UserError
from entropy_lens.tasks.arithmetic import arithmetic_problems
from entropy_lens.tasks.champ import champ_problems
from entropy_lens.tasks.files import SUFFIXES, load_file
from entropy_lens.tasks.hub import HF_DATASETS, load_data_files, load_hub, resolve_hub
from entropy_lens.tasks.problem import Problem, check_limit

__all__ = ["Problem", "BUILTIN_TASKS", "load_tasks"]

BUILTIN_TASKS: dict[str, str] = {
    "arithmetic": "500 seeded one-digit +/- and small two-digit additions ('What is 7 + 5?')",
    "champ": "270 CHAMP competition problems with final answers (champ_dataset package)",
    "math500": "HuggingFaceH4/MATH-500, 500 MATH test problems (needs the HF hub)",
    "aime24": "AIME 2024, 30 problems, HuggingFaceH4/aime_2024 (needs the HF hub)",
    "aime25": "AIME 2025, 30 problems, math-ai/aime25 (needs the HF hub)",
    "amc23": "AMC 2023, 40 problems, math-ai/amc23 (needs the HF hub)",
    "gsm8k": "openai/gsm8k test split, 1319 grade-school problems (needs the HF hub)",
    "dapo17k": "BytedTsinghua-SIA/DAPO-Math-17k, deduplicated, instruction stripped (needs the HF hub)",
}

_GENERATED = {"arithmetic": arithmetic_problems, "champ": champ_problems}


def _unknown(spec: str) -> UserError:
    known = ", ".join(BUILTIN_TASKS)
    hub = ", ".join(s.repo for s in HF_DATASETS.values())
    return UserError(
        f"unknown task '{spec}' (built-ins: {known})",
        f"pass a built-in name, a local .jsonl/.json/.parquet file, or a supported Hugging Face id ({hub})",
    )


def _loader(spec: str, data_files: str | None) -> Callable[[], list[Problem]]:
    name = spec.lower()
    if name in _GENERATED:
        if data_files is not None:
            raise UserError(f"data_files does not apply to the built-in task '{name}'",
                            "drop data_files, or name a Hugging Face dataset (e.g. math500) it is a copy of")
        return _GENERATED[name]
    resolved = resolve_hub(spec)
    if resolved is not None:
        hf, config = resolved
        if data_files is not None:
            return lambda: load_data_files(hf, config, data_files)
        return lambda: load_hub(hf, config)
    if name.endswith(SUFFIXES) or Path(spec).expanduser().exists():
        if data_files is not None:
            raise UserError("data_files only applies to Hugging Face dataset ids",
                            f"pass the file '{spec}' alone, or name the dataset it is a copy of")
        return lambda: load_file(spec, missing_fix="check the path, or use a built-in task: " + ", ".join(BUILTIN_TASKS))
    raise _unknown(spec)


def load_tasks(spec: str, limit: int | None = None, *, data_files: str | None = None) -> list[Problem]:
    """The problems of task set ``spec`` (first ``limit`` of them when given)."""
    check_limit(limit)
    if not isinstance(spec, str) or not spec.strip():
        raise UserError("no task given", "pass a built-in name (" + ", ".join(BUILTIN_TASKS)
                        + "), a local .jsonl/.json/.parquet file, or a Hugging Face dataset id")
    spec = spec.strip()
    problems = _loader(spec, data_files)()
    if not problems:
        raise UserError(f"task '{spec}' has no problems", "check the task or file")
    return problems[:limit] if limit is not None else problems
