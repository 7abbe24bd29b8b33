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

Every bad input raises :class:`~entropy_lens.errors.UserError`. Heavy libraries
(``datasets``, ``pyarrow``, ``champ_dataset``) are imported inside functions.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from entropy_lens.errors import UserError

__all__ = ["Problem", "BUILTIN_TASKS", "HF_DATASETS", "load_tasks"]


@dataclass(frozen=True)
class Problem:
    prompt_id: str      # stable, unique within a task set
    prompt: str         # the problem text (no instruction; the caller adds template + instruction)
    answer: str | None  # gold answer as a string, None if unknown


ARITHMETIC_SEED = 20240531
ARITHMETIC_SIZE = 500

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

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet")
_PROMPT_COLUMNS = ("prompt", "problem", "question", "Prompt", "Problem", "Question")
_ANSWER_COLUMNS = ("answer", "Answer", "final_answer")
_ID_COLUMNS = ("prompt_id", "unique_id", "id", "ID", "Id", "problem_id", "idx")


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _one_line(text: Any, limit: int = 200) -> str:
    """``text`` squeezed onto one line (error messages must be one line)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _answer_str(value: Any) -> str | None:
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
        parts = [p for p in (_answer_str(v) for v in value) if p is not None]
        return ", ".join(parts) if parts else None
    s = str(value).strip()
    return s or None


def _first_present(columns: Iterable[str], candidates: Sequence[str]) -> str | None:
    cols = list(columns)
    for c in candidates:
        if c in cols:
            return c
    return None


def _check_limit(limit: int | None) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UserError(f"invalid limit {limit!r}", "pass a whole number >= 1 (or no limit)")


def _make_ids(prefix: str, raw_ids: Sequence[Any] | None, n: int) -> list[str]:
    """``<prefix>-<dataset id>`` when the dataset's own ids are present and unique, else
    ``<prefix>-<row>`` zero-padded."""
    width = max(4, len(str(max(n - 1, 0))))
    positional = [f"{prefix}-{i:0{width}d}" for i in range(n)]
    if raw_ids is None:
        return positional
    ids: list[str] = []
    for raw in raw_ids:
        s = _answer_str(raw)  # same normalisation: 3.0 -> '3', NaN / '' -> None
        if s is None:
            return positional
        ids.append(s if s.startswith(prefix + "-") else f"{prefix}-{s}")
    if len(set(ids)) != len(ids):
        return positional
    return ids


# ---------------------------------------------------------------------------
# arithmetic
# ---------------------------------------------------------------------------


def _arithmetic() -> list[Problem]:
    """500 easy problems, the same on every machine (pure ``random.Random(seed)``)."""
    import random

    rng = random.Random(ARITHMETIC_SEED)
    one_digit_add = [(a, "+", b) for a in range(10) for b in range(10)]
    one_digit_sub = [(a, "-", b) for a in range(19) for b in range(10) if 0 <= a - b <= 9]
    two_by_one_add = [(a, "+", b) for a in range(10, 90) for b in range(1, 10)]
    two_by_two_add = [(a, "+", b) for a in range(10, 50) for b in range(10, 50)]
    picked = (
        rng.sample(one_digit_add, 90)
        + rng.sample(one_digit_sub, 90)
        + rng.sample(two_by_one_add, 160)
        + rng.sample(two_by_two_add, 160)
    )
    rng.shuffle(picked)
    assert len(picked) == ARITHMETIC_SIZE
    problems = []
    for i, (a, op, b) in enumerate(picked):
        value = a + b if op == "+" else a - b
        problems.append(Problem(f"arithmetic-{i:04d}", f"What is {a} {op} {b}?", str(value)))
    return problems


# ---------------------------------------------------------------------------
# CHAMP
# ---------------------------------------------------------------------------


def _champ() -> list[Problem]:
    return list(_champ_cached())


@functools.lru_cache(maxsize=1)
def _champ_cached() -> tuple[Problem, ...]:
    """Parsing the package's 70 MB JSON takes a second or two: do it once per process."""
    try:
        import champ_dataset
    except ImportError as e:  # pragma: no cover - hard dependency
        raise UserError("the 'champ' task needs the champ_dataset package",
                        "pip install champ-dataset") from e
    dataset = champ_dataset.load("v0")
    problems = []
    for key, p in dataset.problems.items():
        text = p.text if p.text is not None else p.raw_text
        problems.append(Problem(str(p.identifier or key), str(text).strip(), _answer_str(p.answer)))
    return tuple(problems)


# ---------------------------------------------------------------------------
# Hugging Face datasets: adapters from each schema to Problem
# ---------------------------------------------------------------------------


def _rows_to_problems(rows: list[dict], *, prefix: str, label: str, answer_fn=None) -> list[Problem]:
    """Generic adapter: prompt from problem/question/..., answer from answer/..., id from id/...."""
    if not rows:
        raise UserError(f"{label} has no rows", "check the dataset or file")
    columns = list(rows[0].keys())
    pcol = _first_present(columns, _PROMPT_COLUMNS)
    if pcol is None:
        raise UserError(f"{label} has no problem column (columns found: {', '.join(columns)})",
                        f"expected one of: {', '.join(_PROMPT_COLUMNS)}")
    acol = _first_present(columns, _ANSWER_COLUMNS)
    icol = _first_present(columns, _ID_COLUMNS)
    kept = []
    for row in rows:
        text = row.get(pcol)
        if not isinstance(text, str) or not text.strip():
            continue  # a few mirrors carry empty rows
        kept.append(row)
    if not kept:
        raise UserError(f"{label} has no non-empty problems in column '{pcol}'", "check the dataset or file")
    answers = [(answer_fn or _answer_str)(r.get(acol)) if acol else None for r in kept]
    ids = _make_ids(prefix, [r.get(icol) for r in kept] if icol else None, len(kept))
    return [Problem(i, r[pcol].strip(), a) for i, r, a in zip(ids, kept, answers)]


def _gsm8k_answer(value: Any) -> str | None:
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
        answers.append(_answer_str(truths[i]))
        raw_ids.append(indices[i])
    if not texts:
        raise UserError(f"{label} has no problems", "check the dataset or file")
    ids = _make_ids(prefix, raw_ids, len(texts))
    return [Problem(i, t, a) for i, t, a in zip(ids, texts, answers)]


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

HF_ALIASES: dict[str, str] = {
    "math500": "HuggingFaceH4/MATH-500",
    "aime24": "HuggingFaceH4/aime_2024",
    "aime25": "math-ai/aime25",
    "amc23": "math-ai/amc23",
    "gsm8k": "openai/gsm8k",
    "dapo17k": "BytedTsinghua-SIA/DAPO-Math-17k",
}


def _adapt(spec: HFSpec, ds, *, prefix: str, label: str) -> list[Problem]:
    if spec.adapter == "dapo":
        return _dapo_adapter(ds, prefix=prefix, label=label)
    rows = ds.to_list()
    answer_fn = _gsm8k_answer if spec.adapter == "gsm8k" else None
    return _rows_to_problems(rows, prefix=prefix, label=label, answer_fn=answer_fn)


def _config_prefix(spec: HFSpec, config: str | None) -> str:
    if len(spec.configs) > 1 and config:
        suffix = config.split("-")[-1] if "-" in config else config
        return f"{spec.alias}-{suffix}"
    return spec.alias


def _load_hub(spec: HFSpec, config: str | None) -> list[Problem]:
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
                f"could not download {name} (no network?): {_one_line(type(e).__name__ + ': ' + str(e), 160)}",
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


def _load_data_files(spec: HFSpec, config: str | None, path_str: str) -> list[Problem]:
    path = Path(path_str).expanduser()
    if not path.exists():
        raise UserError(f"data file '{path_str}' not found", "check the path")
    if path.is_dir():
        raise UserError(f"data file '{path_str}' is a directory", "pass one .jsonl/.json/.parquet file")
    suffix = path.suffix.lower()
    if suffix not in LOCAL_SUFFIXES:
        raise UserError(f"data file '{path_str}' is not .jsonl, .json or .parquet",
                        "convert it to JSONL or Parquet")
    if path.stat().st_size == 0:
        raise UserError(f"data file '{path_str}' is empty", "pass a file with at least one row")
    import datasets

    builder = "parquet" if suffix == ".parquet" else "json"
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(builder, data_files=str(path), split="train")
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001
        raise UserError(f"could not read '{path_str}' as {builder}: {_one_line(type(e).__name__ + ': ' + str(e), 160)}",
                        f"check that it is valid {'Parquet' if builder == 'parquet' else 'JSON/JSONL'} "
                        f"with the columns of {spec.repo}") from e
    finally:
        if bars:
            datasets.enable_progress_bars()
    if len(ds) == 0:
        raise UserError(f"data file '{path_str}' has no rows", "pass a file with at least one row")
    label = f"'{path_str}' (as {spec.repo})"
    return _adapt(spec, ds, prefix=_config_prefix(spec, config), label=label)


# ---------------------------------------------------------------------------
# local files
# ---------------------------------------------------------------------------


def _read_json_rows(path: Path, shown: str) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"could not read '{shown}': not UTF-8 text", "save it as UTF-8 JSON/JSONL") from e
    if not text.strip():
        raise UserError(f"task file '{shown}' is empty", "add at least one problem")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # maybe JSON Lines with a .json suffix
        if data is not None:
            if isinstance(data, dict):
                lists = [v for v in data.values() if isinstance(v, list)]
                if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
                    return lists[0]  # {"data": [...]} style
                if data and all(isinstance(v, list) for v in data.values()) and \
                        len({len(v) for v in data.values()}) == 1:
                    keys = list(data)
                    return [dict(zip(keys, vals)) for vals in zip(*data.values())]  # column-oriented
                return [data]
            if isinstance(data, list):
                return data
            raise UserError(f"task file '{shown}' holds a JSON {type(data).__name__}, not a list of objects",
                            "write a list of {\"prompt\": ..., \"answer\": ...} objects")
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise UserError(f"could not parse '{shown}': line {lineno} is not valid JSON ({e.msg})",
                            "write one JSON object per line (JSONL)") from e
    return rows


def _read_parquet_rows(path: Path, shown: str) -> list:
    try:
        import pyarrow.parquet as pq

        return pq.read_table(str(path)).to_pylist()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001
        raise UserError(f"could not parse '{shown}' as Parquet: {_one_line(e, 160)}",
                        "check that it is a valid Parquet file") from e


def _load_local(spec: str) -> list[Problem]:
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"task file '{spec}' not found", "check the path, or use a built-in task: "
                        + ", ".join(BUILTIN_TASKS))
    if path.is_dir():
        raise UserError(f"task file '{spec}' is a directory", "pass one .jsonl/.json/.parquet file")
    if path.suffix.lower() not in LOCAL_SUFFIXES:
        raise UserError(f"task file '{spec}' is not .jsonl, .json or .parquet",
                        "convert it to JSONL (one {\"prompt\": ..., \"answer\": ...} object per line) or Parquet")
    if path.stat().st_size == 0:
        raise UserError(f"task file '{spec}' is empty", "add at least one problem")
    if path.suffix.lower() == ".parquet":
        rows = _read_parquet_rows(path, spec)
    else:
        rows = _read_json_rows(path, spec)
    if not rows:
        raise UserError(f"task file '{spec}' has no rows", "add at least one problem")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UserError(f"row {bad} of '{spec}' is a JSON {type(rows[bad]).__name__}, not an object",
                        "write one {\"prompt\": ..., \"answer\": ...} object per row")
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    pcol = _first_present(columns, _PROMPT_COLUMNS)
    if pcol is None:
        raise UserError(f"task file '{spec}' has no prompt column (columns found: {', '.join(columns) or 'none'})",
                        "name the problem column 'prompt' (or 'problem' / 'question')")
    acol = _first_present(columns, _ANSWER_COLUMNS)
    has_ids = "prompt_id" in columns
    stem = path.stem
    width = max(4, len(str(len(rows) - 1)))
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        text = r.get(pcol)
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"row {i} of '{spec}' has an empty or non-text '{pcol}'",
                            f"give every row a non-empty '{pcol}' string")
        raw_id = r.get("prompt_id") if has_ids else None
        if has_ids and (raw_id is None or str(raw_id).strip() == ""):
            raise UserError(f"row {i} of '{spec}' has no prompt_id", "give every row a prompt_id, or drop the column")
        pid = _answer_str(raw_id) if has_ids else f"{stem}-{i:0{width}d}"
        if pid in seen:
            raise UserError(f"duplicate prompt_id '{pid}' in '{spec}' (rows {seen[pid]} and {i})",
                            "make every prompt_id unique, or drop the column to number rows automatically")
        seen[pid] = i
        problems.append(Problem(pid, text.strip(), _answer_str(r.get(acol)) if acol else None))
    return problems


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def _resolve_hf(spec: str) -> tuple[HFSpec, str | None] | None:
    """The HFSpec (and config) that ``spec`` names: an alias, an id, or ``id:config``."""
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


def _unknown(spec: str) -> UserError:
    known = ", ".join(BUILTIN_TASKS)
    hub = ", ".join(s.repo for s in HF_DATASETS.values())
    return UserError(
        f"unknown task '{spec}' (built-ins: {known})",
        f"pass a built-in name, a local .jsonl/.json/.parquet file, or a supported Hugging Face id ({hub})",
    )


def load_tasks(spec: str, limit: int | None = None, *, data_files: str | None = None) -> list[Problem]:
    """The problems of task set ``spec`` (first ``limit`` of them when given)."""
    _check_limit(limit)
    if not isinstance(spec, str) or not spec.strip():
        raise UserError("no task given", "pass a built-in name (" + ", ".join(BUILTIN_TASKS)
                        + "), a local .jsonl/.json/.parquet file, or a Hugging Face dataset id")
    spec = spec.strip()
    name = spec.lower()
    loader: Callable[[], list[Problem]]
    if name in ("arithmetic", "champ"):
        if data_files is not None:
            raise UserError(f"data_files does not apply to the built-in task '{name}'",
                            "drop data_files, or name a Hugging Face dataset (e.g. math500) it is a copy of")
        loader = _arithmetic if name == "arithmetic" else _champ
    else:
        resolved = _resolve_hf(spec)
        if resolved is not None:
            hf, config = resolved
            if data_files is not None:
                loader = lambda: _load_data_files(hf, config, data_files)  # noqa: E731
            else:
                loader = lambda: _load_hub(hf, config)  # noqa: E731
        elif spec.lower().endswith(LOCAL_SUFFIXES) or Path(spec).expanduser().exists():
            if data_files is not None:
                raise UserError("data_files only applies to Hugging Face dataset ids",
                                f"pass the file '{spec}' alone, or name the dataset it is a copy of")
            loader = lambda: _load_local(spec)  # noqa: E731
        else:
            raise _unknown(spec)
    problems = loader()
    if not problems:
        raise UserError(f"task '{spec}' has no problems", "check the task or file")
    return problems[:limit] if limit is not None else problems
