"""Tests for entropy_lens.answers: answer extraction and grading."""

from __future__ import annotations

import threading

import pytest

from entropy_lens.tasks.answers import extract_answer, is_correct


# ---------------------------------------------------------------------------
# extract_answer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("response, expected", [
    (r"So the answer is $\boxed{12}$.", "12"),
    (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),                        # nested braces
    (r"\boxed{\left\{ 1, \frac{a}{b^{2}} \right\}}", r"\left\{ 1, \frac{a}{b^{2}} \right\}"),
    (r"first \boxed{3}, then corrected: \boxed{5}", "5"),            # last boxed wins
    (r"\boxed{3} and 17 more words 99", "3"),                        # boxed beats later numbers
    (r"The answer is \boxed 7.", "7"),                               # \boxed <token>
    (r"$\boxed 42$", "42"),
    (r"\fbox{-4}", "-4"),
    (r"\boxed {8}", "8"),
    (r"\boxed{} so 6", "6"),                                         # empty box ignored
    (r"... \boxed{12", "12"),                                        # truncated box: lenient number
])
def test_boxed(response, expected):
    assert extract_answer(response) == expected


@pytest.mark.parametrize("response, expected", [
    ("7 + 5 = 12", "12"),                                            # last number
    ("The answer is 12.", "12"),
    ("I think it is 3.75 dollars", "3.75"),
    ("It costs 1,234 dollars.", "1234"),                             # thousands separators
    ("about 12,345,678.5 people", "12345678.5"),
    ("The result is -5.", "-5"),                                     # negative
    ("x = -3/4", "-3/4"),
    ("so 3/4 of them", "3/4"),                                       # fraction
    ("7-5", "5"),                                                    # minus between numbers is not a sign
    ("\u22127 degrees", "-7"),                                       # unicode minus
    ("it is .5", "0.5"),
    ("1, 2, 3", "3"),
])
def test_lenient_last_number(response, expected):
    assert extract_answer(response) == expected


@pytest.mark.parametrize("response", ["", "I don't know.", "SmolLM2 says hi", r"\boxed{}"])
def test_no_answer(response):
    assert extract_answer(response) is None


# ---------------------------------------------------------------------------
# is_correct
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("predicted, gold", [
    ("12", "12"),
    ("12.0", "12"),
    ("1,234", "1234"),
    ("-5", "-5"),
    ("0.5", r"\frac{1}{2}"),
    ("1/2", "0.5"),
    (r"\dfrac{3}{4}", "3/4"),
    (r"\frac34", "0.75"),
    (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}"),
    (r"2^{n-1}", "2^(n-1)"),
    ("x = 5", "5"),
    (r"$\boxed{7}$", "7"),
    ("No", "no"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
])
def test_equivalent_answers_are_correct(predicted, gold):
    assert is_correct(predicted, gold) is True


@pytest.mark.parametrize("predicted, gold", [
    ("13", "12"),
    ("-5", "5"),
    ("0.5", r"\frac{1}{3}"),
    ("3/4", "4/3"),
    (r"\sqrt{3}", r"\sqrt{2}"),
    ("1234", "123"),
    ("", "4"),
])
def test_wrong_answers_are_false(predicted, gold):
    assert is_correct(predicted, gold) is False


def test_missing_prediction_and_missing_gold():
    assert is_correct(None, "4") is False
    assert is_correct("4", None) is None
    assert is_correct(None, None) is None


def test_end_to_end_extract_then_grade():
    response = r"Half of 1 is $\frac{1}{2}$, so the answer is $\boxed{\dfrac{1}{2}}$."
    assert is_correct(extract_answer(response), "0.5") is True
    assert is_correct(extract_answer("7 + 5 = 13"), "12") is False


def test_grading_works_outside_the_main_thread():
    # math-verify's signal-based timeouts only work in the main thread
    results = []

    def work():
        results.append(is_correct(r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2"))
        results.append(is_correct(r"\sqrt{3}", r"\sqrt{2}"))

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=60)
    assert results == [True, False]
