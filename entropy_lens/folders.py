"""Creating an output folder so that a failed run can take back exactly what it made:
``--out runs/p1`` may create ``runs/`` too, and an error must not leave an empty ``runs/``."""

from __future__ import annotations

import shutil
from pathlib import Path


def make_folder(path: Path) -> Path | None:
    """Create ``path`` and any missing parents; returns the topmost folder created (None
    when ``path`` already existed)."""
    path = Path(path)
    top = None
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        top = folder
    path.mkdir(parents=True, exist_ok=True)
    return top


def remove_made(top: Path | None) -> None:
    """Remove what ``make_folder`` created (nothing when it created nothing)."""
    if top is not None:
        shutil.rmtree(top, ignore_errors=True)
