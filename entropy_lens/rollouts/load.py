"""Reading a rollout table: one loader for "a DataFrame, a rollout directory or one Parquet
file", so every analysis accepts the same inputs and refuses bad ones the same way.

A damaged shard (a truncated copy, a file that is not Parquet) is named with the fix instead
of surfacing as a pyarrow traceback: a rerun of the command that wrote the directory resumes
and writes the rows of a removed shard again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from entropy_lens.errors import UserError
from entropy_lens.rollouts.schema import COLUMNS, RUN_FILE, SHARD_PATTERN
from entropy_lens.rollouts.validate import TOKEN_COLUMNS, Checked, check_rollouts

WHERE_FROM = "pass the --out folder of `entropy-lens generate` or `score`"


def shards(directory: Path) -> list[Path]:
    """The finished shards of a rollout directory, in write order."""
    return sorted(p for p in Path(directory).iterdir() if SHARD_PATTERN.match(p.name))


def is_table(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a rollout table (a folder with a run file or shards, or one
    ``.parquet`` shard) rather than, say, a model folder."""
    p = Path(path)
    if p.is_file():
        return p.suffix == ".parquet"
    return p.is_dir() and ((p / RUN_FILE).is_file() or bool(shards(p)))


def _damaged(shard: Path, error: Exception) -> UserError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return UserError(f"rollout shard {shard} is damaged ({reason})",
                     "delete that file and rerun the command that wrote the directory: it resumes and "
                     "writes the missing rows again")


def read_shard(shard: Path, columns: list[str] | None = None):
    """One shard as a pyarrow Table; a damaged file is a UserError that names it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(shard, columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise _damaged(shard, error) from None


def _read_directory(d: Path, columns: list[str] | None):
    import pandas as pd
    import pyarrow as pa

    found = shards(d)
    if not found:
        raise UserError(f"{d} holds no rollout shards (part-*.parquet)", "run `entropy-lens generate` or `score` into it first")
    try:
        return pd.read_parquet(d, columns=columns)
    except (pa.ArrowException, OSError):
        # name the shard that fails instead of the directory-level error
        for shard in found:
            read_shard(shard, columns)
        raise


def read_rollouts(path: str | os.PathLike, columns: Iterable[str] | None = None):
    """A rollout directory (or a single Parquet file of the same columns) as one pandas
    DataFrame, sorted by (prompt_id, sample_id)."""

    d = Path(path)
    columns = list(columns) if columns else None
    if d.is_file():
        if d.suffix != ".parquet":
            raise UserError(f"{d} is a file, not a rollout directory", WHERE_FROM + " (or one of its .parquet shards)")
        frame = read_shard(d, columns).to_pandas()
    elif d.is_dir():
        frame = _read_directory(d, columns)
    else:
        raise UserError(f"rollout directory {d} does not exist", WHERE_FROM)
    missing = [c for c in ("prompt_id", "sample_id") if c in (columns or COLUMNS) and c not in frame.columns]
    if missing:
        raise UserError(f"{d} lacks columns {missing}", "pass a rollout table written by entropy-lens")
    return frame.sort_values(["prompt_id", "sample_id"], kind="stable").reset_index(drop=True)


def as_frame(table_or_path, columns: Iterable[str] | None = None):
    """``table_or_path`` as a DataFrame: a DataFrame is passed through, a path is read."""
    import pandas as pd

    if isinstance(table_or_path, pd.DataFrame):
        return table_or_path
    return read_rollouts(table_or_path, columns=columns)


def load_rollouts(table_or_path, *, need: tuple[str, ...] = TOKEN_COLUMNS, source: str = "rollout table",
                  columns: Iterable[str] | None = None) -> Checked:
    """The usable rows of a rollout table given as a DataFrame or a path (reading only
    ``columns`` from disk, all when None), with the counts of rows skipped and why (see
    ``validate.check_rollouts``)."""
    return check_rollouts(as_frame(table_or_path, columns=columns), need=need, source=source)
