"""Output folders of the analyses: never clobber what a user made, never leave half a result.

An analysis writes its files into a hidden staging folder inside ``OUT`` and moves them
into place only when all of them are written. ``OUT`` must be new, empty, or an earlier
output of the same command (marked by ``_entropy_lens.json``); anything else is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from entropy_lens.errors import UserError

MARKER = "_entropy_lens.json"


class OutputDir:
    def __init__(self, path: str | os.PathLike, command: str):
        self.path = Path(path)
        self.command = command
        self.created = False

    def check(self) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise UserError(f"--out {p} is an existing file", "choose a new directory name for --out")
        if not p.is_dir() or not any(x for x in p.iterdir() if not x.name.startswith(".")):
            return
        marker = p / MARKER
        try:
            command = json.loads(marker.read_text()).get("command") if marker.is_file() else None
        except ValueError:
            command = None
        if command != self.command:
            raise UserError(f"--out {p} already holds files that `entropy-lens {self.command}` did not write",
                            "choose a new or empty directory for --out")

    def open(self) -> None:
        self.check()
        if not self.path.exists():
            self.path.mkdir(parents=True)
            self.created = True
        (self.path / MARKER).write_text(json.dumps({"command": self.command}) + "\n")

    @contextmanager
    def staged(self) -> Iterator[Path]:
        """A folder to write results into; its files replace those in OUT only on success."""
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.path))
        try:
            yield staging
            for item in sorted(staging.iterdir()):
                os.replace(item, self.path / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def abandon(self) -> None:
        """After a failure: remove OUT if this run created it and nothing worth keeping is in it."""
        if self.created and not any(x for x in self.path.iterdir() if x.name not in (MARKER,) and not x.name.startswith(".")):
            shutil.rmtree(self.path, ignore_errors=True)
