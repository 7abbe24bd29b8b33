import math

import pytest

from entropy_lens.tasks import outcomes
from entropy_lens.tasks.outcomes import answer_outcomes, same_answer


def test_changed_and_answer_entropy_are_exact():
    out = answer_outcomes("4", ["4", "4.0", "5", None], gold="4")
    assert out["n_samples"] == 4
    assert out["changed"] == 0.5  # "5" and no answer
    assert out["accuracy"] == 0.5
    assert out["answers"] == ["4", "5", ""]  # first spelling of each class; None shown as ""
    assert out["answer_entropy"] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))


def test_all_agree_and_no_gold():
    out = answer_outcomes("\\frac{1}{2}", ["0.5", "1/2", "\\frac{1}{2}"], gold=None)
    assert out["accuracy"] is None
    assert out["changed"] == 0.0
    assert out["answers"] == ["0.5"]
    assert out["answer_entropy"] == 0.0


def test_none_original():
    out = answer_outcomes(None, [None, None, "3"], gold="3")
    assert out["changed"] == pytest.approx(1 / 3)
    assert out["accuracy"] == pytest.approx(1 / 3)
    assert out["answers"] == ["", "3"]
    assert out["answer_entropy"] == pytest.approx(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))


def test_symbolic_equivalence_groups_spellings():
    out = answer_outcomes("\\sqrt{2}/2", ["\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", "2"], gold=None)
    assert out["answers"] == ["\\frac{\\sqrt{2}}{2}", "2"]
    assert out["changed"] == pytest.approx(1 / 3)


def test_no_samples():
    out = answer_outcomes("4", [], gold="4")
    assert out["n_samples"] == 0 and out["answers"] == []
    assert math.isnan(out["changed"]) and math.isnan(out["accuracy"]) and math.isnan(out["answer_entropy"])


def test_same_answer():
    assert same_answer(None, None)
    assert not same_answer(None, "4") and not same_answer("4", None)
    assert same_answer("", "")  # equal strings, even where the grader sees no answer
    assert same_answer("1,000", "1000")


def test_repeated_strings_are_checked_once(monkeypatch):
    calls = []
    real = outcomes.is_correct

    def counting(predicted, gold):
        calls.append((predicted, gold))
        return real(predicted, gold)

    monkeypatch.setattr(outcomes, "is_correct", counting)
    outcomes._equivalent.cache_clear()
    answers = ["7", "8", "9", "7.0"] * 16  # K = 64
    out = answer_outcomes("7", answers, gold=None)
    assert out["answers"] == ["7", "8", "9"]
    assert out["changed"] == 0.5
    # one check per distinct (string, class) pair at most, none for a string seen before
    assert len(calls) <= 10 and len(set(calls)) == len(calls)
    outcomes._equivalent.cache_clear()
