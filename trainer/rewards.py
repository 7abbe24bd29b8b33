"""Rewards: the paper's outcome reward, and users' own verifiers.

A reward function is any callable ``reward_fn(response: str, answer: str | None) -> float``.
The default gives +1 when the response's final answer is correct and -1 otherwise
(``entropy_lens.tasks.answers``: the last ``\\boxed{}``, else the last number, checked exactly,
numerically, then with math-verify); a response cut off at ``max_new_tokens`` without an
explicit final answer (a box or an "answer is X" statement) gets -1, as RLVR graders do
(``entropy_lens.tasks.answers.grade``). On the CLI, ``--reward module:function`` names one.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Callable, Sequence

from entropy_lens.tasks.answers import grade
from entropy_lens.errors import UserError

RewardFn = Callable[[str, "str | None"], float]


def outcome_reward(response: str, answer: str | None, *, truncated: bool = False) -> float:
    """+1.0 if the final answer of ``response`` equals ``answer``, else -1.0; a ``truncated``
    response needs an explicit final answer."""
    return 1.0 if grade(response, answer, truncated=truncated)[1] else -1.0


REASONED_MIN_WORDS = 8
_WORD = re.compile(r"[^\W\d_]{2,}")  # a run of two or more letters: "so", "add", not "7" or "+"


def reasoned_outcome(response: str, answer: str | None, *, truncated: bool = False) -> float:
    """The outcome reward, except that a right answer also needs some working in words: at
    least ``REASONED_MIN_WORDS`` words of two or more letters anywhere in the response.

    Under the plain outcome reward a small model learns to drop its reasoning (a bare
    "57 + 3 = 60" is right as often and never runs out of tokens), which leaves no pivotal or
    reflective tokens to study; this keeps the reasoning without grading its content.
    On the CLI: ``--reward entropy_lens_trainer.rewards:reasoned_outcome``.
    """
    if len(_WORD.findall(response)) < REASONED_MIN_WORDS:
        return -1.0
    return outcome_reward(response, answer, truncated=truncated)


def _takes_truncated(reward_fn) -> bool:
    """Whether ``reward_fn`` has a ``truncated`` keyword (as the bundled rewards do): it is
    then told which responses were cut off at max_new_tokens."""
    try:
        return "truncated" in inspect.signature(reward_fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False


def load_reward(spec: str | None) -> RewardFn:
    """The reward function named ``module:function`` (the default outcome reward for None)."""
    if not spec:
        return outcome_reward
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"--reward '{spec}' is not of the form module:function", "e.g. --reward my_rewards:score")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # the `entropy-lens` script does not put the current folder on the path
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"could not import reward module '{module_name}': {exc}",
                        "make it importable (installed, or on PYTHONPATH / in the current folder)") from None
    fn = getattr(module, attribute, None)
    if not callable(fn):
        raise UserError(f"module '{module_name}' has no function '{attribute}'", "check the name after the colon")
    return fn


def score_responses(reward_fn: RewardFn, responses: Sequence[str], answers: Sequence[str | None],
                    finish_reasons: Sequence[str] | None = None, *, lenient_truncated: bool = False) -> list[float]:
    """``reward_fn`` on every (response, answer) pair, as floats. With ``finish_reasons`` a
    reward with a ``truncated`` keyword (the bundled ones, or a user's) learns which responses
    were cut off (``length``); any other ``reward_fn`` is called with its two arguments.

    A non-numeric result is a user error; a NaN or infinite one is passed on (the trainer
    then skips the step and counts it).
    """
    rewards = []
    finish = finish_reasons if finish_reasons is not None else [None] * len(responses)
    takes_truncated = _takes_truncated(reward_fn)
    for response, answer, reason in zip(responses, answers, finish):
        if takes_truncated:
            value = reward_fn(response, answer, truncated=reason == "length" and not lenient_truncated)
        else:
            value = reward_fn(response, answer)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise UserError(f"the reward function returned {value!r}, not a number",
                            "return a float such as 1.0 / -1.0") from None
        rewards.append(value)
    return rewards
