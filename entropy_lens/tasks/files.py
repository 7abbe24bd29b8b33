"""Local JSONL / JSON / Parquet files: the one reader of rows that task files, ``data_files``
copies of hub datasets and the input of ``entropy-lens score`` all go through, and the
loader of task files (a ``prompt`` / ``problem`` / ``question`` column, optional ``answer``
and ``prompt_id``).

Every bad file raises :class:`~entropy_lens.errors.UserError` naming it; ``pyarrow`` is
imported only to read Parquet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from entropy_lens.errors import UserError
from entropy_lens.tasks.problem import ANSWER_COLUMNS, PROMPT_COLUMNS, Problem, answer_str, first_present, one_line

SUFFIXES = (".jsonl", ".json", ".parquet")
TASK_ROW = '{"prompt": ..., "answer": ...}'


def checked_file(spec: str, name: str, *, missing_fix: str = "check the path",
                 suffix_fix: str = "convert it to JSONL or Parquet") -> Path:
    """The path of ``spec`` once it is known to be one non-empty .jsonl/.json/.parquet file;
    ``name`` (e.g. ``task file 'x.jsonl'``) starts every message."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"{name} not found", missing_fix)
    if path.is_dir():
        raise UserError(f"{name} is a directory", "pass one .jsonl/.json/.parquet file")
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"{name} is not .jsonl, .json or .parquet", suffix_fix)
    if path.stat().st_size == 0:
        raise UserError(f"{name} is empty", "pass a file with at least one row")
    return path


def read_rows(path: Path, name: str, *, example: str = TASK_ROW) -> list[dict[str, Any]]:
    """The rows of a .parquet file, or of a .jsonl / .json file (JSON Lines, a list of objects,
    ``{"data": [...]}``, or column-oriented), each a dict; at least one. ``example`` shows
    the shape of a row in the hints."""
    rows = _parquet_rows(path, name) if path.suffix.lower() == ".parquet" else _json_rows(path, name, example)
    if not rows:
        raise UserError(f"{name} has no rows", f"write at least one {example} row")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UserError(f"row {bad} of {name} is a JSON {type(rows[bad]).__name__}, not an object",
                        f"write one {example} object per row")
    return rows


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order they first appear."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _json_document_rows(data: Any, name: str, example: str) -> list:
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise UserError(f"{name} holds a JSON {type(data).__name__}, not a list of objects",
                        f"write a list of {example} objects")
    values = list(data.values())
    lists = [v for v in values if isinstance(v, list)]
    if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
        return lists[0]  # {"data": [...]} style
    if values and all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
        return [dict(zip(data, row)) for row in zip(*values)]  # column-oriented: {"prompt": [...], ...}
    if values and values[0] and all(isinstance(v, dict) for v in values) and len({tuple(v) for v in values}) == 1:
        index = list(values[0])  # pandas' default to_json: {"prompt": {"0": ..., "1": ...}, ...}
        return [{column: data[column][i] for column in data} for i in index]
    return [data]


def _json_rows(path: Path, name: str, example: str) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"could not read {name}: not UTF-8 text", "save it as UTF-8 JSON/JSONL") from e
    if not text.strip():
        raise UserError(f"{name} is empty", f"write at least one {example} row")
    if path.suffix.lower() == ".json":
        try:
            return _json_document_rows(json.loads(text), name, example)
        except json.JSONDecodeError:
            pass  # maybe JSON Lines with a .json suffix
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise UserError(f"could not parse {name}: line {lineno} is not valid JSON ({e.msg})",
                            "write one JSON object per line (JSONL)") from e
    return rows


def _parquet_rows(path: Path, name: str) -> list:
    try:
        import pyarrow.parquet as pq

        return pq.read_table(str(path)).to_pylist()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001
        raise UserError(f"could not parse {name} as Parquet: {one_line(e, 160)}",
                        "check that it is a valid Parquet file") from e


def load_file(spec: str, *, missing_fix: str = "check the path") -> list[Problem]:
    """The problems of a local task file, in file order."""
    name = f"task file '{spec}'"
    path = checked_file(spec, name, missing_fix=missing_fix,
                        suffix_fix=f"convert it to JSONL (one {TASK_ROW} object per line) or Parquet")
    rows = read_rows(path, name)
    columns = columns_of(rows)
    pcol = first_present(columns, PROMPT_COLUMNS)
    if pcol is None:
        raise UserError(f"{name} has no prompt column (columns found: {', '.join(columns) or 'none'})",
                        "name the problem column 'prompt' (or 'problem' / 'question')")
    acol = first_present(columns, ANSWER_COLUMNS)
    has_ids = "prompt_id" in columns
    width = max(4, len(str(len(rows) - 1)))
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        text = r.get(pcol)
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"row {i} of {name} has an empty or non-text '{pcol}'",
                            f"give every row a non-empty '{pcol}' string")
        raw_id = r.get("prompt_id") if has_ids else None
        if has_ids and (raw_id is None or str(raw_id).strip() == ""):
            raise UserError(f"row {i} of {name} has no prompt_id", "give every row a prompt_id, or drop the column")
        pid = answer_str(raw_id) if has_ids else f"{path.stem}-{i:0{width}d}"
        if pid in seen:
            raise UserError(f"duplicate prompt_id '{pid}' in {name} (rows {seen[pid]} and {i})",
                            "make every prompt_id unique, or drop the column to number rows automatically")
        seen[pid] = i
        problems.append(Problem(pid, text.strip(), answer_str(r.get(acol)) if acol else None))
    return problems
