"""What the K resampled continuations of one fork did to the final answer.

``answer_outcomes(original, answers, gold)`` compares the final answers of the K
continuations (``answers``, extracted as for the original response; None where a
continuation gives none) with the original response's own final answer (``original``) and
with the gold answer:

- ``n_samples``: K, ``len(answers)``;
- ``accuracy``: share of answers correct against ``gold`` (``is_correct``, through the same
  cache; no answer is wrong); None when there is no gold answer;
- ``changed``: share of answers that are not the same final answer as ``original``;
- ``answers``: the distinct final answers in first-seen order, equivalent spellings grouped
  under the first one seen ("4" and "4.0" are one answer, shown as "4"); no answer (None)
  is shown as "" (an answer that is literally the empty string is also shown as "");
- ``answer_entropy``: entropy (nats) of the distribution of the answers over those classes,
  ``-sum p log p``, no answer counting as a class of its own; 0.0 when all agree.

With K = 0 the shares and the entropy are NaN (``accuracy`` stays None without gold).

Two answers are the same when both are None, when their strings are equal, or when
``is_correct(a, gold=b)`` holds (its cheap normalised / numeric comparison first, then
math-verify), ``b`` being the reference: ``original`` for ``changed``, the first spelling
of a class for the grouping. math-verify is not guaranteed symmetric, so the reference is
always passed as the gold side. Checks are cached on the string pair (across calls too:
forks of one problem repeat the same answers), and a string seen before joins its class
without any check, so K = 64 costs at most one check per (distinct string, class) pair.
"""

from __future__ import annotations

import math
from functools import lru_cache

from entropy_lens.tasks.answers import is_correct

__all__ = ["answer_outcomes", "same_answer"]

NO_ANSWER = ""  # how None appears in ``answers``


@lru_cache(maxsize=65536)
def _equivalent(answer: str, reference: str) -> bool:
    return bool(is_correct(answer, gold=reference))


def same_answer(answer: str | None, reference: str | None) -> bool:
    """Whether ``answer`` is the same final answer as ``reference`` (see module docstring)."""
    if answer is None or reference is None:
        return answer is None and reference is None
    return answer == reference or _equivalent(answer, reference)


def _classes(answers: list[str | None]) -> tuple[list[str | None], list[int]]:
    """The class representatives (first spelling, None for no answer) in first-seen order,
    and the class index of every answer."""
    representatives: list[str | None] = []
    known: dict[str | None, int] = {}  # every spelling seen -> its class
    labels = []
    for answer in answers:
        label = known.get(answer)
        if label is None:
            label = next((i for i, rep in enumerate(representatives) if same_answer(answer, rep)), None)
            if label is None:
                label = len(representatives)
                representatives.append(answer)
            known[answer] = label
        labels.append(label)
    return representatives, labels


def _entropy(labels: list[int], n_classes: int) -> float:
    if not labels:
        return math.nan
    counts = [0] * n_classes
    for label in labels:
        counts[label] += 1
    n = len(labels)
    return max(0.0, -sum(c / n * math.log(c / n) for c in counts if c))


def answer_outcomes(original: str | None, answers: list[str | None], gold: str | None) -> dict:
    """Outcome of one fork's continuations: n_samples, accuracy, changed, answers,
    answer_entropy (see module docstring)."""
    answers = list(answers)
    n = len(answers)
    representatives, labels = _classes(answers)
    if gold is None:
        accuracy = None
    else:
        accuracy = sum(same_answer(a, gold) for a in answers) / n if n else math.nan
    changed = sum(not same_answer(a, original) for a in answers) / n if n else math.nan
    return {
        "n_samples": n,
        "accuracy": accuracy,
        "changed": changed,
        "answers": [NO_ANSWER if rep is None else rep for rep in representatives],
        "answer_entropy": _entropy(labels, len(representatives)),
    }
