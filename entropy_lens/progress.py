"""Progress bars for long work: responses done and tokens per second, on stderr."""

from __future__ import annotations

import sys
from contextlib import contextmanager


class _Bar:
    def __init__(self, bar):
        self.bar = bar
        self.tokens = 0
        self.seconds = 0.0

    def record(self, items: int, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.tokens / max(self.seconds, 1e-9):.1f} tok/s", refresh=False)
            self.bar.update(items)


@contextmanager
def progress_bar(*, total: int, initial: int = 0, desc: str, unit: str, enabled: bool = True):
    """A tqdm bar with a tokens/s readout; silent when disabled."""
    bar = None
    if enabled:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)
    try:
        yield _Bar(bar)
    finally:
        if bar is not None:
            bar.close()
