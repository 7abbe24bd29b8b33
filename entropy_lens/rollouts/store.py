"""The rollout table: one row per response, stored as Parquet shards in one directory.

``pandas.read_parquet(DIR)`` reads the shards as one table. Run settings live in
``DIR/_run.json`` (the leading underscore keeps pyarrow from taking it for a shard).
Each shard is written to a hidden temporary name and renamed, so it appears whole or
not at all; a rerun skips the (prompt_id, sample_id) pairs already stored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

from entropy_lens.errors import UserError

RUN_FILE = "_run.json"
SHARD_PATTERN = re.compile(r"^part-(\d{5,})\.parquet$")

# name -> (pyarrow type factory name, description); the README documents the same list.
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


def arrow_schema():
    import pyarrow as pa

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
        ]
    )


def _shards(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if SHARD_PATTERN.match(p.name))


class RolloutStore:
    """A rollout directory being written: settings check, resume bookkeeping, atomic shards."""

    def __init__(self, directory: Path, settings: dict[str, Any], info: dict[str, Any] | None = None):
        self.directory = Path(directory)
        self.settings = settings
        self.info = info or {}
        self.created = False
        self.done: set[tuple[str, int]] = set()
        self._next_index = 0

    # -- opening -----------------------------------------------------------------------
    def check(self) -> None:
        """Refuse an --out that is a file, a folder holding something else, or another run."""
        d = self.directory
        if d.exists() and not d.is_dir():
            raise UserError(f"--out {d} is an existing file", "choose a new directory name for --out")
        if not d.exists():
            return
        entries = [p for p in d.iterdir() if not p.name.startswith(".")]
        if not entries:
            return
        run_file = d / RUN_FILE
        if not run_file.is_file() or any(p.name != RUN_FILE and not SHARD_PATTERN.match(p.name) for p in entries):
            raise UserError(f"--out {d} already holds other files", "choose a new or empty directory for --out")
        try:
            stored = json.loads(run_file.read_text())["settings"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{run_file} is unreadable", "choose a new directory for --out") from None
        changed = sorted(k for k in set(stored) | set(self.settings) if stored.get(k) != self.settings.get(k))
        if changed:
            detail = ", ".join(f"{k}: {stored.get(k)!r} -> {self.settings.get(k)!r}" for k in changed[:4])
            raise UserError(
                f"--out {d} holds a run with other settings ({detail})",
                "rerun with the same settings to resume, or choose a new --out",
            )

    def open(self) -> None:
        """Create the directory (or resume in it): call after everything that can fail early."""
        self.check()
        d = self.directory
        if not d.exists():
            d.mkdir(parents=True)
            self.created = True
        for stale in d.glob(".part-*.tmp"):  # left by a killed run: never a finished shard
            stale.unlink()
        run_file = d / RUN_FILE
        if not run_file.exists():
            _atomic_write_text(run_file, json.dumps({"settings": self.settings, "info": self.info}, indent=2, sort_keys=True))
        import pyarrow.parquet as pq

        for shard in _shards(d):
            self._next_index = max(self._next_index, int(SHARD_PATTERN.match(shard.name).group(1)) + 1)
            table = pq.read_table(shard, columns=["prompt_id", "sample_id"])
            self.done.update(zip(table.column("prompt_id").to_pylist(), table.column("sample_id").to_pylist()))

    def write(self, rows: list[dict[str, Any]]) -> Path:
        """Write ``rows`` as one new shard, atomically; record their keys as done."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=arrow_schema())
        final = self.directory / f"part-{self._next_index:05d}.parquet"
        tmp = self.directory / f".{final.name}.tmp"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        self._next_index += 1
        self.done.update((r["prompt_id"], r["sample_id"]) for r in rows)
        return final

    def abandon(self) -> None:
        """Remove the directory if this run created it and finished nothing (no partial output)."""
        if self.created and not _shards(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)


class RowSink:
    """Where finished rows go: new shards of a :class:`RolloutStore`, or memory when the
    caller asked for no output folder."""

    def __init__(self, store: RolloutStore | None):
        self.store = store
        self.rows: list[dict[str, Any]] = []

    def add(self, rows: list[dict[str, Any]]) -> None:
        if self.store is not None:
            self.store.write(rows)
        else:
            self.rows.extend(rows)

    def table(self):
        """All rows as a DataFrame sorted by (prompt_id, sample_id); with a store, the whole
        directory (rows of earlier, resumed runs included)."""
        import pandas as pd

        if self.store is not None:
            return read_rollouts(self.store.directory)
        frame = pd.DataFrame(self.rows)
        return frame.sort_values(["prompt_id", "sample_id"], kind="stable").reset_index(drop=True) if len(frame) else frame


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_run_settings(directory: str | os.PathLike) -> dict[str, Any]:
    """The ``_run.json`` of a rollout directory: ``{"settings": ..., "info": ...}``."""
    return json.loads((Path(directory) / RUN_FILE).read_text())


def read_rollouts(directory: str | os.PathLike, columns: Iterable[str] | None = None):
    """Read a rollout directory as one pandas DataFrame, sorted by (prompt_id, sample_id)."""
    import pandas as pd

    d = Path(directory)
    if not d.is_dir():
        raise UserError(f"rollout directory {d} does not exist", "pass the --out folder of `entropy-lens generate` or `score`")
    if not _shards(d):
        raise UserError(f"{d} holds no rollout shards (part-*.parquet)", "run `entropy-lens generate` or `score` into it first")
    frame = pd.read_parquet(d, columns=list(columns) if columns else None)
    missing = [c for c in ("prompt_id", "sample_id") if c in (columns or COLUMNS) and c not in frame.columns]
    if missing:
        raise UserError(f"{d} lacks columns {missing}", "pass a rollout table written by entropy-lens")
    return frame.sort_values(["prompt_id", "sample_id"], kind="stable").reset_index(drop=True)
