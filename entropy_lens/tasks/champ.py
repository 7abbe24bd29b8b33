"""The ``champ`` task set: the 270 CHAMP competition problems of the ``champ_dataset`` package."""

from __future__ import annotations

import functools

from entropy_lens.errors import UserError
from entropy_lens.tasks.problem import Problem, answer_str


def champ_problems() -> list[Problem]:
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
        problems.append(Problem(str(p.identifier or key), str(text).strip(), answer_str(p.answer)))
    return tuple(problems)
