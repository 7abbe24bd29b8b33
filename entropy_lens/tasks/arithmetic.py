"""The ``arithmetic`` task set: 500 seeded one-digit +/- and small two-digit additions."""

from __future__ import annotations

import random

from entropy_lens.tasks.problem import Problem

ARITHMETIC_SEED = 20240531
ARITHMETIC_SIZE = 500


def arithmetic_problems() -> list[Problem]:
    """500 easy problems, the same on every machine (pure ``random.Random(seed)``)."""
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
