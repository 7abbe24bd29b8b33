"""Reflective sentences: the pattern sentence by sentence, the statistics on hand-built
tables, custom and invalid patterns, skipped rows, the written files."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from entropy_lens.errors import UserError
from entropy_lens.analyses.reflect import REFLECTION_PATTERN, is_reflective, reflect
from entropy_lens.outputs import write_reflect
from rollout_factory import make_row, make_table, words_to_tokens

REFLECTIVE = [
    "Let me check the sum again.",
    "CHECK: 3 + 4 = 7.",
    "We checked every case.",
    "Checking the units, both are in metres.",
    "It checks out.",
    "Let me double-check this step.",
    "Let me double check this step.",
    "A quick re-check shows 12.",
    "I will recheck the arithmetic.",
    "Wait, that is not right.",
    "wait... the sign is wrong.",
    "Hmm, wait a moment.",
    "To verify, substitute x = 2.",
    "This verifies the claim.",
    "We verified it numerically.",
    "Verifying: 2 * 6 = 12.",
    "Verification: 5 + 7 = 12.",
    "Let me confirm the result.",
    "This confirms that x = 3.",
    "Confirmed, the answer is 4.",
    "Confirming with the second equation gives the same.",
    "Let me re-examine the second case.",
    "Reexamining the problem, the radius is 3.",
    "I should reconsider the approach.",
    "I made a mistake in step 2.",
    "There are no mistakes here.",
    "I was mistaken about the sign.",
    "Let me see if this works.",
    "Let's see what happens when x = 0.",
    "Let me make sure the units agree.",
    "Hold on, the denominator is zero.",
    "Let me recalculate the total.",
]
NOT_REFLECTIVE = [
    "Place the pieces on the checkerboard.",
    "The checker moves diagonally.",
    "Go to the checkout with 3 items.",
    "She wrote a checklist of 5 tasks.",
    "The waiter brought 4 plates.",
    "She waits 10 minutes for the bus.",
    "The waiting time is 5 minutes.",
    "He waited for 2 hours.",
    "The claim is unverified.",
    "RLVR uses verifiable rewards.",
    "The order is unconfirmed.",
    "First, we add the numbers.",
    "Therefore the answer is 12.",
    "Let me compute the sum.",
    "Let x be the number of apples.",
    "Make a table of values.",
    "Hold the ball with both hands.",
    "The seesaw is balanced.",
    "So x = 5.6 and y = 3.14.",
    "The sum of the masks is 7.",
]


@pytest.mark.parametrize("sentence", REFLECTIVE)
def test_reflective_sentence(sentence):
    assert re.search(REFLECTION_PATTERN, sentence, re.IGNORECASE), sentence
    assert is_reflective([sentence]).tolist() == [True]


@pytest.mark.parametrize("sentence", NOT_REFLECTIVE)
def test_not_reflective_sentence(sentence):
    assert not re.search(REFLECTION_PATTERN, sentence, re.IGNORECASE), sentence
    assert is_reflective([sentence]).tolist() == [False]


def test_prefilter_gives_the_same_answer_as_searching_every_sentence():
    sentences = REFLECTIVE + NOT_REFLECTIVE + ["", "x", "Let me\nsee it.", "A \u212a (Kelvin) sign: checK."]
    assert is_reflective(sentences).tolist() == [
        re.search(REFLECTION_PATTERN, s, re.IGNORECASE) is not None for s in sentences]
    # characters where str.lower and re.IGNORECASE disagree: the pre-filter is switched off
    sentences += ["İstanbul: wait.", "Let me \u017fee.", "Ver\u0131fy it."]
    full = np.array([re.search(REFLECTION_PATTERN, s, re.IGNORECASE) is not None for s in sentences])
    assert is_reflective(sentences).tolist() == full.tolist()


# -- statistics on a hand-built table ---------------------------------------------------------

def _table():
    """Two responses; every token's entropy is known, so every sentence mean is."""
    reflective_words = {"wait": 2.0, "check": 3.0, "verify": 2.5}
    rows = [
        make_row(words_to_tokens("First add 3 and 4. Wait, the sum is 7. Let me check it. Done.",
                                 reflective_words, default=1.0), "p0", 0),
        make_row(words_to_tokens("We verify the result.\nSo x is 5. The answer is 5.",
                                 reflective_words, default=0.5), "p1", 0),
    ]
    return make_table(rows)


def test_reflect_exact_numbers():
    result = reflect(_table(), n_boot=200)
    s = result.sentences
    assert s["sentence"].tolist() == ["First add 3 and 4.", "Wait, the sum is 7.", "Let me check it.", "Done.",
                                      "We verify the result.", "So x is 5.", "The answer is 5."]
    assert s["reflective"].tolist() == [False, True, True, False, True, False, False]
    # words_to_tokens: "First"," add"," 3"," and"," 4","." -> 6 tokens at 1.0
    # "Wait" 2.0 + "," " the" " sum" " is" " 7" "." (1.0 each) -> (2 + 6) / 7
    # "Let"," me"," check"(3.0)," it","." -> (1+1+3+1+1)/5 ; "Done","." -> 1.0
    # "We"," verify"(2.5)," the"," result","." -> (0.5*4 + 2.5) / 5 ; then 0.5 everywhere
    expected = [1.0, 8 / 7, 7 / 5, 1.0, 4.5 / 5, 0.5, 0.5]
    assert np.allclose(s["mean_entropy"], expected, rtol=0, atol=1e-6)
    assert s["n_tokens"].tolist() == [6, 7, 5, 2, 5, 5, 5]

    refl = np.array([8 / 7, 7 / 5, 4.5 / 5])
    other = np.array([1.0, 1.0, 0.5, 0.5])
    row = result.summary.iloc[0]
    assert row["group"] == "reflective"
    assert row["n"] == 3 and row["other_n"] == 4
    assert math.isclose(row["mean"], refl.mean(), abs_tol=1e-6)
    assert math.isclose(row["median"], np.median(refl), abs_tol=1e-6)
    assert math.isclose(row["other_mean"], other.mean(), abs_tol=1e-6)
    assert math.isclose(row["diff"], refl.mean() - other.mean(), abs_tol=1e-6)
    reference = mannwhitneyu(refl, other, alternative="two-sided", method="asymptotic", use_continuity=False)
    assert math.isclose(row["p_value"], reference.pvalue, rel_tol=1e-6)
    assert math.isclose(row["effect_size"], 2 * reference.statistic / (3 * 4) - 1, abs_tol=1e-9)
    assert row["diff_ci_low"] <= row["diff"] <= row["diff_ci_high"]

    per = result.per_response
    assert per[["prompt_id", "n_sentences", "n_reflective"]].values.tolist() == [["p0", 4, 2], ["p1", 3, 1]]
    assert result.frequency == 1.5
    half = 1.96 * np.std([2, 1], ddof=1) / math.sqrt(2)
    assert np.allclose(result.frequency_ci, (1.5 - half, 1.5 + half))
    assert row["reflections_per_response"] == 1.5 and row["responses"] == 2
    assert row["responses_with_reflection"] == 2
    assert math.isclose(row["reflective_share"], 3 / 7)
    assert result.skipped == ""


def test_custom_pattern():
    result = reflect(_table(), pattern=r"\banswer\b|^so\b", n_boot=50)
    assert result.sentences["reflective"].tolist() == [False, False, False, False, False, True, True]
    assert result.pattern == r"\banswer\b|^so\b"
    assert result.summary.iloc[0]["n"] == 2


@pytest.mark.parametrize("pattern", ["(wait", "[check", "*verify"])
def test_invalid_pattern_is_a_one_line_user_error(pattern):
    with pytest.raises(UserError) as info:
        reflect(_table(), pattern=pattern)
    message = str(info.value)
    assert "\n" not in message and "not a valid regular expression" in message and pattern in message


def test_pattern_matching_nothing_in_particular_is_refused():
    with pytest.raises(UserError, match="empty string"):
        reflect(_table(), pattern="x*")


def test_skipped_rows_are_noted():
    frame = _table()
    empty = make_row([], "p2", 0)
    nan = make_row([("Wait.", float("nan"))], "p3", 0)
    bad = make_row([("Wait", 1.0), (".", 1.0)], "p4", 0)
    bad["offsets"] = [[0, 4], [2, 5]]
    result = reflect(pd.concat([frame, make_table([empty, nan, bad])], ignore_index=True), n_boot=50)
    assert result.skipped == ("skipped 3 rows: 1 empty response, 1 NaN or infinite entropy, "
                              "1 offsets out of order or outside the response")
    assert result.per_response["prompt_id"].tolist() == ["p0", "p1"]
    assert result.summary.iloc[0]["n"] == 3


def test_no_reflective_sentence(tmp_path):
    frame = make_table([make_row(words_to_tokens("Add 2 and 3. The sum is 5.", {}), "p0", 0)])
    result = reflect(frame, n_boot=50)
    row = result.summary.iloc[0]
    assert row["n"] == 0 and row["other_n"] == 2 and math.isnan(row["mean"]) and math.isnan(row["p_value"])
    assert result.frequency == 0.0
    assert write_reflect(result, tmp_path)[-2].stat().st_size > 10_000  # the figure copes


def test_reads_a_rollout_directory_and_writes_outputs(tmp_path):
    from entropy_lens.rollouts.schema import arrow_schema

    rollouts = tmp_path / "rollouts"
    rollouts.mkdir()
    frame = _table()
    frame["sample_id"] = frame["sample_id"].astype("int64")
    frame.to_parquet(rollouts / "part-00000.parquet", schema=arrow_schema(), index=False)
    result = reflect(rollouts, n_boot=50)
    assert result.sentences["reflective"].sum() == 3

    paths = write_reflect(result, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["reflect.csv", "reflect.png", "reflect.svg", "sentences.parquet"]
    sentences = pd.read_parquet(tmp_path / "out" / "sentences.parquet")
    assert list(sentences.columns) == ["prompt_id", "sample_id", "sentence", "start", "end", "n_tokens",
                                       "mean_entropy", "reflective"]
    assert len(sentences) == 7
    csv = pd.read_csv(tmp_path / "out" / "reflect.csv")
    assert len(csv) == 1 and csv["n"].iloc[0] == 3 and csv["reflections_per_response"].iloc[0] == 1.5
    assert {"p_value", "effect_size", "diff_ci_low", "diff_ci_high", "pattern", "skipped"} <= set(csv.columns)
    assert (tmp_path / "out" / "reflect.png").stat().st_size > 10_000
