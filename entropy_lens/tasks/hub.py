"""Hugging Face datasets: the supported ids (:data:`HF_DATASETS`), their short names
(:data:`HF_ALIASES`), and one adapter per schema from a dataset to :class:`Problem` — the
generic one (problem/question, answer, id columns), GSM8K's ``#### 72`` answers, and
DAPO-Math-17k's chat prompts. ``data_files=PATH`` runs the same adapter on a local copy.

``datasets`` and ``pyarrow`` are imported inside functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from entropy_lens.errors import UserError
from entropy_lens.tasks.files import checked_file
from entropy_lens.tasks.problem import (
    ANSWER_COLUMNS, ID_COLUMNS, PROMPT_COLUMNS, Problem, answer_str, first_present, make_ids, one_line,
)


@dataclass(frozen=True)
class HFSpec:
    repo: str                       # canonical Hugging Face id
    alias: str                      # short name, also the prompt_id prefix
    split: str
    configs: tuple[str | None, ...] = (None,)
    adapter: str = "generic"        # generic | gsm8k | dapo


HF_DATASETS: dict[str, HFSpec] = {
    s.repo.lower(): s
    for s in (
        # columns: problem, solution, answer, subject, level, unique_id
        HFSpec("HuggingFaceH4/MATH-500", "math500", "test"),
        # columns: id, problem, solution, answer, url, year
        HFSpec("HuggingFaceH4/aime_2024", "aime24", "train"),
        # columns: ID, Problem, Solution, Answer
        HFSpec("Maxwell-Jia/AIME_2024", "aime24", "train"),
        # columns: id, problem, solution, answer, url, year
        HFSpec("yentinglin/aime_2025", "aime25", "train"),
        # columns: problem, answer, id
        HFSpec("math-ai/aime25", "aime25", "test"),
        # configs AIME2025-I / AIME2025-II; columns: question, answer
        HFSpec("opencompass/AIME2025", "aime25", "test", ("AIME2025-I", "AIME2025-II")),
        # columns: id, question, answer, url
        HFSpec("math-ai/amc23", "amc23", "test"),
        # columns: id, question, answer, url
        HFSpec("zwhe99/amc23", "amc23", "test"),
        # config main; columns: question, answer ('... #### 72')
        HFSpec("openai/gsm8k", "gsm8k", "test", ("main",), adapter="gsm8k"),
        # columns: data_source, prompt [{content, role}], ability,
        #          reward_model {ground_truth, style}, extra_info {index}
        HFSpec("BytedTsinghua-SIA/DAPO-Math-17k", "dapo17k", "train", adapter="dapo"),
    )
}

# the short name of a dataset that several mirrors carry names the one loaded from the hub
HF_ALIASES: dict[str, str] = {
    "math500": "HuggingFaceH4/MATH-500",
    "aime24": "HuggingFaceH4/aime_2024",
    "aime25": "math-ai/aime25",
    "amc23": "math-ai/amc23",
    "gsm8k": "openai/gsm8k",
    "dapo17k": "BytedTsinghua-SIA/DAPO-Math-17k",
}


# ---------------------------------------------------------------------------
# adapters from each schema to Problem
# ---------------------------------------------------------------------------


def _rows_to_problems(rows: list[dict], *, prefix: str, label: str, answer_fn=None) -> list[Problem]:
    """Generic adapter: prompt from problem/question/..., answer from answer/..., id from id/...."""
    if not rows:
        raise UserError(f"{label} has no rows", "check the dataset or file")
    columns = list(rows[0].keys())
    pcol = first_present(columns, PROMPT_COLUMNS)
    if pcol is None:
        raise UserError(f"{label} has no problem column (columns found: {', '.join(columns)})",
                        f"expected one of: {', '.join(PROMPT_COLUMNS)}")
    acol = first_present(columns, ANSWER_COLUMNS)
    icol = first_present(columns, ID_COLUMNS)
    # a few mirrors carry empty rows
    kept = [row for row in rows if isinstance(row.get(pcol), str) and row[pcol].strip()]
    if not kept:
        raise UserError(f"{label} has no non-empty problems in column '{pcol}'", "check the dataset or file")
    answers = [(answer_fn or answer_str)(r.get(acol)) if acol else None for r in kept]
    ids = make_ids(prefix, [r.get(icol) for r in kept] if icol else None, len(kept))
    return [Problem(i, r[pcol].strip(), a) for i, r, a in zip(ids, kept, answers)]


def gsm8k_answer(value: Any) -> str | None:
    """openai/gsm8k answers are a worked solution ending in '#### 72'."""
    if value is None:
        return None
    s = str(value)
    if "####" in s:
        s = s.rsplit("####", 1)[1]
    s = s.strip().replace(",", "")
    return s.rstrip(".") or None


_DAPO_PREFIX = re.compile(
    r"^\s*Solve the following math problem step by step\..*?"
    r"where \$Answer is the answer to the problem\.?\s*",
    re.DOTALL,
)
_DAPO_SUFFIX = re.compile(r"\s*Remember to put your answer on its own line after \"Answer:\"\.?\s*$")


def strip_dapo_instruction(content: str) -> str:
    """The bare problem of a DAPO-Math-17k user message (the answer-format instruction removed)."""
    s = _DAPO_PREFIX.sub("", content, count=1)
    s = _DAPO_SUFFIX.sub("", s, count=1)
    return s.strip()


def _dapo_user_content(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, dict):
        return prompt.get("content")
    if isinstance(prompt, (list, tuple)):
        messages = [m for m in prompt if isinstance(m, dict)]
        for m in messages:
            if m.get("role") == "user":
                return m.get("content")
        if messages:
            return messages[-1].get("content")
    return None


def _dapo_columns(ds, label: str) -> tuple[list, list, list]:
    """(user contents, ground truths, indices) of a DAPO dataset; fast arrow path for 1.8M rows."""
    table = ds.with_format("arrow")[:]
    names = table.column_names
    for col in ("prompt", "reward_model"):
        if col not in names:
            raise UserError(f"{label} does not look like DAPO-Math-17k: "
                            f"no '{col}' column (columns found: {', '.join(names)})",
                            "pass the DAPO-Math-17k parquet or a file with its schema")
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        prompt = table.column("prompt").combine_chunks()
        if not pa.types.is_list(prompt.type) and not pa.types.is_large_list(prompt.type):
            raise TypeError("prompt is not a list")
        lengths = pc.list_value_length(prompt)
        if pc.min(lengths).as_py() != 1 or pc.max(lengths).as_py() != 1:
            raise TypeError("prompts with several messages")
        contents = pc.struct_field(pc.list_element(prompt, 0), "content").to_pylist()
        reward = table.column("reward_model").combine_chunks()
        truths = pc.struct_field(reward, "ground_truth").to_pylist()
        if "extra_info" in names:
            extra = table.column("extra_info").combine_chunks()
            indices = pc.struct_field(extra, "index").to_pylist()
        else:
            indices = [None] * len(contents)
    except Exception:  # noqa: BLE001 - unexpected layout: take the slow, general path
        rows = table.to_pylist()
        contents = [_dapo_user_content(r.get("prompt")) for r in rows]
        truths = [(r.get("reward_model") or {}).get("ground_truth")
                  if isinstance(r.get("reward_model"), dict) else r.get("reward_model") for r in rows]
        indices = [(r.get("extra_info") or {}).get("index")
                   if isinstance(r.get("extra_info"), dict) else None for r in rows]
    return contents, truths, indices


def _dapo_adapter(ds, *, prefix: str, label: str) -> list[Problem]:
    """DAPO-Math-17k: chat prompt -> bare problem; gold = reward_model.ground_truth; dedup."""
    contents, truths, indices = _dapo_columns(ds, label)
    first_seen: dict[str, int] = {}
    for i, c in enumerate(contents):
        if isinstance(c, str) and c not in first_seen:
            first_seen[c] = i
    seen_problems: set[str] = set()
    texts: list[str] = []
    answers: list[str | None] = []
    raw_ids: list[Any] = []
    for content, i in first_seen.items():  # dicts keep first-occurrence order
        text = strip_dapo_instruction(content)
        if not text or text in seen_problems:
            continue
        seen_problems.add(text)
        texts.append(text)
        answers.append(answer_str(truths[i]))
        raw_ids.append(indices[i])
    if not texts:
        raise UserError(f"{label} has no problems", "check the dataset or file")
    ids = make_ids(prefix, raw_ids, len(texts))
    return [Problem(i, t, a) for i, t, a in zip(ids, texts, answers)]


def _adapt(spec: HFSpec, ds, *, prefix: str, label: str) -> list[Problem]:
    if spec.adapter == "dapo":
        return _dapo_adapter(ds, prefix=prefix, label=label)
    answer_fn = gsm8k_answer if spec.adapter == "gsm8k" else None
    return _rows_to_problems(ds.to_list(), prefix=prefix, label=label, answer_fn=answer_fn)


# ---------------------------------------------------------------------------
# naming and loading a dataset
# ---------------------------------------------------------------------------


def resolve_hub(spec: str) -> tuple[HFSpec, str | None] | None:
    """The HFSpec (and config) that ``spec`` names: an alias, an id, or ``id:config``; None
    when it names no supported dataset."""
    key = spec.strip()
    if key.lower() in HF_ALIASES:
        return HF_DATASETS[HF_ALIASES[key.lower()].lower()], None
    repo, _, config = key.partition(":")
    hf = HF_DATASETS.get(repo.lower())
    if hf is None:
        return None
    if not config:
        return hf, None
    for c in hf.configs:
        if c and c.lower() == config.lower():
            return hf, c
    known = ", ".join(c for c in hf.configs if c) or "none"
    raise UserError(f"{hf.repo} has no config '{config}' (configs: {known})",
                    f"use one of them, or plain '{hf.repo}'")


def _config_prefix(spec: HFSpec, config: str | None) -> str:
    if len(spec.configs) > 1 and config:
        suffix = config.split("-")[-1] if "-" in config else config
        return f"{spec.alias}-{suffix}"
    return spec.alias


def load_hub(spec: HFSpec, config: str | None) -> list[Problem]:
    """The problems of a dataset downloaded from the hub (every config unless one is named)."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - hard dependency
        raise UserError("loading Hugging Face datasets needs the 'datasets' package",
                        "pip install datasets") from e
    problems: list[Problem] = []
    for cfg in ([config] if config else list(spec.configs)):
        name = spec.repo + (f" (config {cfg})" if cfg else "")
        try:
            dd = datasets.load_dataset(spec.repo, cfg) if cfg else datasets.load_dataset(spec.repo)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - any failure here is "could not download"
            raise UserError(
                f"could not download {name} (no network?): {one_line(type(e).__name__ + ': ' + str(e), 160)}",
                f"download it first (huggingface-cli download --repo-type dataset {spec.repo}), "
                f"or pass a local JSONL/Parquet file to --tasks",
            ) from e
        if spec.split in dd:
            ds = dd[spec.split]
        elif len(dd) == 1:
            ds = next(iter(dd.values()))
        else:
            raise UserError(f"{name} has no '{spec.split}' split (splits: {', '.join(dd)})",
                            "pass a local JSONL/Parquet file of the split you want to --tasks")
        problems += _adapt(spec, ds, prefix=_config_prefix(spec, cfg), label=name)
    return problems


def load_data_files(spec: HFSpec, config: str | None, path_str: str) -> list[Problem]:
    """The problems of a local JSON/JSONL/Parquet copy of dataset ``spec``.

    It goes through ``datasets`` (not :func:`~entropy_lens.tasks.files.read_rows`) so the
    DAPO adapter keeps its Arrow fast path on the 1.8M-row parquet.
    """
    path = checked_file(path_str, f"data file '{path_str}'")
    import datasets

    builder = "parquet" if path.suffix.lower() == ".parquet" else "json"
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(builder, data_files=str(path), split="train")
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001
        raise UserError(f"could not read '{path_str}' as {builder}: {one_line(type(e).__name__ + ': ' + str(e), 160)}",
                        f"check that it is valid {'Parquet' if builder == 'parquet' else 'JSON/JSONL'} "
                        f"with the columns of {spec.repo}") from e
    finally:
        if bars:
            datasets.enable_progress_bars()
    if len(ds) == 0:
        raise UserError(f"data file '{path_str}' has no rows", "pass a file with at least one row")
    return _adapt(spec, ds, prefix=_config_prefix(spec, config), label=f"'{path_str}' (as {spec.repo})")
