"""Writing a rollout directory: one row per response, stored as Parquet shards.

``pandas.read_parquet(DIR)`` reads the shards as one table. Run settings live in
``DIR/_run.json`` (the leading underscore keeps pyarrow from taking it for a shard).
Each shard is written to a hidden temporary name and renamed, so it appears whole or
not at all; a rerun skips the (prompt_id, sample_id) pairs already stored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from entropy_lens.errors import UserError
from entropy_lens.folders import make_folder, remove_made

from entropy_lens.rollouts.load import read_rollouts, read_shard, shards
from entropy_lens.rollouts.schema import RUN_FILE, SHARD_PATTERN, arrow_schema


class RolloutStore:
    """A rollout directory being written: settings check, resume bookkeeping, atomic shards.

    ``schema`` and ``key`` default to the rollout table's (one row per (prompt_id,
    sample_id)); another resumable table of shards (e.g. the fork probe's outcomes, keyed by
    position too) passes its own."""

    def __init__(self, directory: Path, settings: dict[str, Any], info: dict[str, Any] | None = None, *,
                 schema=None, key: tuple[str, ...] = ("prompt_id", "sample_id")):
        self.directory = Path(directory)
        self.settings = settings
        self.info = info or {}
        self.schema = schema
        self.key = key
        self.created: Path | None = None  # the topmost folder this run made, if any
        self.done: set[tuple] = set()
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
        unrecorded = sorted(set(self.settings) - set(stored))
        if unrecorded:
            raise UserError(f"--out {d} holds a run of an earlier entropy-lens that did not record {', '.join(unrecorded)}",
                            "choose a new --out (its rows may have been made under other rules)")
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
        self.created = make_folder(d)
        for stale in d.glob(".part-*.tmp"):  # left by a killed run: never a finished shard
            stale.unlink()
        run_file = d / RUN_FILE
        if not run_file.exists():
            _atomic_write_text(run_file, json.dumps({"settings": self.settings, "info": self.info}, indent=2, sort_keys=True))
        for shard in shards(d):
            self._next_index = max(self._next_index, int(SHARD_PATTERN.match(shard.name).group(1)) + 1)
        self.done.update(self.existing_keys())

    def existing_keys(self) -> set[tuple]:
        """The keys of the rows already in the folder, read without creating or changing
        anything (``open`` records them too, but makes the folder)."""
        if not self.directory.is_dir():
            return set()
        keys: set[tuple] = set()
        for shard in shards(self.directory):
            table = read_shard(shard, columns=list(self.key))
            keys.update(zip(*(table.column(name).to_pylist() for name in self.key)))
        return keys

    def write(self, rows: list[dict[str, Any]]) -> Path:
        """Write ``rows`` as one new shard, atomically; record their keys as done."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=self.schema if self.schema is not None else arrow_schema())
        final = self.directory / f"part-{self._next_index:05d}.parquet"
        tmp = self.directory / f".{final.name}.tmp"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        self._next_index += 1
        self.done.update(tuple(r[name] for name in self.key) for r in rows)
        return final

    def abandon(self) -> None:
        """Remove the directory if this run created it and finished nothing (no partial output)."""
        if self.created and not shards(self.directory):
            remove_made(self.created)


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
