"""Tests for entropy_lens.tasks.answers: answer extraction and grading, and the rule for responses
cut off at the token limit as rollout rows, the summary and the trainer's reward apply it."""

from __future__ import annotations

import threading

import pytest

from entropy_lens.tasks.answers import explicit_answer, extract_answer, grade, is_correct


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


# ---------------------------------------------------------------------------
# truncated responses (finish_reason "length"): only an explicit final answer counts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("response, expected", [
    (r"so it is $\boxed{12}$. Let me double-check: 5 + 7 = 1", "12"),      # a box, even before the cut
    ("The answer is 12. Let me verify: 3 + 4 = 7 and then", "12"),          # a statement, not the last number
    ("Answer: $\\frac{1}{2}$", r"\frac{1}{2}"),                              # DAPO's format, math span
    ("The final answer is **1,234** dollars", "1234"),
    ("so the answer is: x = 5. Next", "x = 5"),
    ("so the answer is 2x + 1", "2x + 1"),                                  # a number glued to a word is not alone
    ("Answer: 12\nnow 5 + 7 = 13 and", "12"),                               # its value ends with its line
    ("the answer is 3. Wait, no: the answer is -4 because", "-4"),          # the last statement wins
    ("We get 3. So the answer is", None),                                   # cut right after the marker
    ("7 + 5 = 12, so", None),                                               # a bare last number is not one
    (r"... \boxed{12", None),                                              # an unclosed box is not one
    ("Two answers: 5 and 6", None),
    (r"the answer is within \boxed{}, as the problem requires a step", None),  # prose after the marker
    ("so the answer is correct.", None),
    (r"the answer is \frac{3}{4}", r"\frac{3}{4}"),                          # a LaTeX command is no word
])
def test_explicit_answer(response, expected):
    assert explicit_answer(response) == expected


def test_truncated_without_a_final_answer_is_wrong_unless_lenient():
    cut = "7 + 5 = 12, and then we"
    assert grade(cut, "12", truncated=True) == (None, False)
    assert grade(cut, "12", truncated=True, lenient_truncated=True) == ("12", True)
    assert grade(cut, None, truncated=True) == (None, None)             # ungraded stays ungraded
    assert grade(cut, "12", truncated=False) == ("12", True)            # a finished response: the last number


def test_truncated_with_a_final_answer_is_graded_by_it():
    boxed = r"so it is $\boxed{12}$. Let me double-check: 5 + 7 = 1"
    for lenient in (False, True):
        assert grade(boxed, "12", truncated=True, lenient_truncated=lenient) == ("12", True)
    stated = "The answer is 12. Check: 3 + 4 = 7 and"
    assert grade(stated, "12", truncated=True) == ("12", True)
    assert grade(stated, "7", truncated=True) == ("12", False)
    assert grade(stated, "12", truncated=True, lenient_truncated=True) == ("7", False)  # the old rule


def _row(response, finish_reason, answer="12", **options):
    from entropy_lens.measure.records import response_row

    spans = [[i, i + 1] for i in range(len(response))]  # given text and spans: no tokenizer needed
    return response_row(None, prompt_id="p", sample_id=len(response), prompt="What is 7 + 5?", prompt_token_ids=[1],
                        token_ids=list(range(len(response))), entropy=[0.5] * len(response),
                        logprob=[-0.1] * len(response), answer=answer, finish_reason=finish_reason,
                        response=response, offsets=spans, **options)


def test_rollout_rows_grade_truncated_responses_by_the_rule():
    cut = "7 + 5 = 12, and then"
    assert (_row(cut, "length")["extracted"], _row(cut, "length")["correct"]) == (None, False)
    lenient = _row(cut, "length", lenient_truncated=True)
    assert (lenient["extracted"], lenient["correct"]) == ("12", True)
    assert _row(cut, "stop")["correct"] is True
    assert _row(r"\boxed{12} and then", "length")["correct"] is True


def test_summary_counts_truncated_responses():
    import pandas as pd

    from entropy_lens.analyses.summary import format_summary, summarize

    frame = pd.DataFrame([_row("7 + 5 = 12", "stop"), _row("7 + 5 = 12, and", "length"),
                          _row(r"\boxed{12} and", "length")])
    s = summarize(frame)
    assert s["truncated"] == 2 and s["accuracy"] == pytest.approx(2 / 3)
    assert "2 truncated at --max-new-tokens" in format_summary(frame)


def test_trainer_reward_applies_the_rule_when_it_knows_the_finish_reason():
    from entropy_lens_trainer.rewards import outcome_reward, score_responses

    responses, answers = ["7 + 5 = 12, and", "7 + 5 = 12", r"\boxed{12} and"], ["12"] * 3
    assert score_responses(outcome_reward, responses, answers, ["length", "stop", "length"]) == [-1.0, 1.0, 1.0]
    assert score_responses(outcome_reward, responses, answers) == [1.0, 1.0, 1.0]  # finish reasons unknown
    assert outcome_reward("7 + 5 = 12, and", "12", truncated=True) == -1.0
    # a user's reward function keeps its two arguments
    assert score_responses(lambda r, a: len(r), responses[:1], answers[:1], ["length"]) == [15.0]
