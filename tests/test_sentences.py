"""The sentence splitter on reasoning-trace cases, and tokens mapped to sentences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from entropy_lens.analyses.sentences import (assign_tokens, sentence_table, sentences_and_bad_rows, split_sentences,
                                    split_spans)
from rollout_factory import make_row, make_table, words_to_tokens

# (text, its sentences in order). Each case is checked for the exact spans: every sentence
# is located in the text after the previous one.
CASES = [
    ("The mean is 5.6 and pi is 3.14. Next we go.",
     ["The mean is 5.6 and pi is 3.14.", "Next we go."]),
    ("It is approx. 5.6 here. So 0.5 + 0.25 = 0.75.",
     ["It is approx. 5.6 here.", "So 0.5 + 0.25 = 0.75."]),
    ("Use a formula, e.g. the sum rule, i.e. add them. Then stop.",
     ["Use a formula, e.g. the sum rule, i.e. add them.", "Then stop."]),
    ("See Dr. Smith vs. Mr. Jones. E.g. this. Fig. 2 shows it.",
     ["See Dr. Smith vs. Mr. Jones.", "E.g. this.", "Fig. 2 shows it."]),
    ("Apples, pears, etc. are fruit. We eat apples etc. Then we stop.",
     ["Apples, pears, etc. are fruit.", "We eat apples etc.", "Then we stop."]),
    ("Is it 7? Yes! It is.", ["Is it 7?", "Yes!", "It is."]),
    ("We have $x = 5. y$ here. And \\(a. b\\) too.", ["We have $x = 5. y$ here.", "And \\(a. b\\) too."]),
    ("So:\n\\[\n x = 1. \n y = 2.\n\\]\nThus done.", ["So:", "\\[\n x = 1. \n y = 2.\n\\]", "Thus done."]),
    ("Then \\[ a = 1. b = 2. \\] holds. Next.", ["Then \\[ a = 1. b = 2. \\] holds.", "Next."]),
    ("Take $$a = 1.\nb = 2.$$ and go. Next.", ["Take $$a = 1.\nb = 2.$$ and go.", "Next."]),
    ("The half is \\frac{1}{2}. Next one.", ["The half is \\frac{1}{2}.", "Next one."]),
    ("So $x = \\frac{1}{2}$. Now y.", ["So $x = \\frac{1}{2}$.", "Now y."]),
    ("\\begin{align} x &= 1. \\\\ y &= 2. \\end{align} Done. Next",
     ["\\begin{align} x &= 1. \\\\ y &= 2. \\end{align} Done.", "Next"]),
    ("Step 1: Add the numbers.\nStep 2: compute 2 * 6 = 12. Then stop.",
     ["Step 1: Add the numbers.", "Step 2: compute 2 * 6 = 12.", "Then stop."]),
    ("### Step 1: Understand\nWe need x.\n\nStep 2:\nSolve it",
     ["### Step 1: Understand", "We need x.", "Step 2:", "Solve it"]),
    ("We need:\n1. First item\n2. Second item. More here\n10. Tenth",
     ["We need:", "1. First item", "2. Second item.", "More here", "10. Tenth"]),
    ("Cases:\n- bullet one\n* bullet two\n  - nested", ["Cases:", "- bullet one", "* bullet two", "- nested"]),
    ("a line without a period\nanother line\n\n\nlast", ["a line without a period", "another line", "last"]),
    ("Windows line.\r\nNext line", ["Windows line.", "Next line"]),
    ("Hmm... let me think. Wait... No.", ["Hmm... let me think.", "Wait...", "No."]),
    ("So 5! = 120 and 3! is 6. Done! Next", ["So 5! = 120 and 3! is 6.", "Done!", "Next"]),
    ("It costs $5. Then $6 more.", ["It costs $5.", "Then $6 more."]),
    ("(This one.) \"Quoted.\" **Bold.** next", ["(This one.)", "\"Quoted.\"", "**Bold.**", "next"]),
    ("Open \\[ never closed. Next.", ["Open \\[ never closed.", "Next."]),
]


def expected_spans(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for s in sentences:
        start = text.index(s, pos)
        spans.append((start, start + len(s)))
        pos = start + len(s)
    return spans


@pytest.mark.parametrize("text,sentences", CASES, ids=[c[0][:30] for c in CASES])
def test_split_cases(text, sentences):
    assert split_sentences(text) == sentences
    assert split_spans(text) == expected_spans(text, sentences)


def test_exact_spans_and_trimming():
    text = "  Hi there.  \n\n 1. Item one \n\\[\n a. \n\\]  ok "
    spans = split_spans(text)
    assert [text[a:b] for a, b in spans] == ["Hi there.", "1. Item one", "\\[\n a. \n\\]  ok"]
    assert spans == [(2, 11), (16, 27), (29, 43)]


def test_every_non_space_character_is_in_exactly_one_sentence():
    text = "".join(c[0] + "\n" for c in CASES) + " trailing  \n  "
    covered = np.zeros(len(text), dtype=int)
    previous_end = 0
    for a, b in split_spans(text):
        assert a >= previous_end and b > a
        assert not text[a].isspace() and not text[b - 1].isspace()
        covered[a:b] += 1
        previous_end = b
    non_space = np.array([not c.isspace() for c in text])
    assert (covered[non_space] == 1).all()


def test_empty_and_blank_text():
    assert split_spans("") == []
    assert split_spans(" \n\n \t") == []
    assert split_spans("x") == [(0, 1)]


# -- tokens to sentences -------------------------------------------------------------------

def test_assign_tokens_rules():
    # text: "Ab. Cd." -> sentences [0, 3) and [4, 7)
    starts, ends = np.array([0, 4]), np.array([3, 7])
    tok_start = np.array([0, 2, 3, 3, 5, 7, 7])
    tok_end = np.array([2, 3, 4, 5, 7, 7, 8])
    # "Ab" -> 0, "." -> 0, " " (gap) -> none, " C" (first non-space in sentence 1) -> 1,
    # "d." -> 1, empty span at the end -> none, span past the end -> none
    assert assign_tokens(starts, ends, tok_start, tok_end).tolist() == [0, 0, -1, 1, 1, -1, -1]
    # an empty span just before a sentence's first character goes with it
    assert assign_tokens(starts, ends, np.array([4]), np.array([4])).tolist() == [1]


def test_sentence_table_exact_means():
    tokens = [("First", 1.0), (" step", 2.0), (".", 3.0), ("\n\n", 9.0), ("Wait", 4.0), (",", 0.0),
              (" check", 5.0), (" 5", 1.0), (".", 0.5), ("6", 0.5), (".\n", 2.0), ("Done", 7.0)]
    other = words_to_tokens("Is it 3.14? Yes.", {"is": 1.0, "yes": 3.0}, default=0.0)
    frame = make_table([make_row(tokens, "p0", 0), make_row(other, "p1", 1)])
    table = sentence_table(frame)
    assert list(table.columns) == ["prompt_id", "sample_id", "response_index", "sentence", "start", "end",
                                   "n_tokens", "mean_entropy"]
    assert table["sentence"].tolist() == ["First step.", "Wait, check 5.6.", "Done", "Is it 3.14?", "Yes."]
    assert table["start"].tolist() == [0, 13, 30, 0, 12]
    assert table["end"].tolist() == [11, 29, 34, 11, 16]
    # "\n\n" lies between sentences: no sentence; " Yes" starts in the gap, belongs to "Yes."
    assert table["n_tokens"].tolist() == [3, 7, 1, 6, 2]
    expected = [2.0, (4 + 0 + 5 + 1 + 0.5 + 0.5 + 2) / 7, 7.0, 1.0 / 6, 3.0 / 2]
    assert np.allclose(table["mean_entropy"].to_numpy(), expected, rtol=0, atol=1e-6)
    assert table["prompt_id"].tolist() == ["p0", "p0", "p0", "p1", "p1"]
    assert table["sample_id"].tolist() == [0, 0, 0, 1, 1]
    assert table["response_index"].tolist() == [0, 0, 0, 1, 1]


def test_token_straddling_two_sentences_goes_to_its_first_non_space_character():
    # ".\n\nThe" starts in sentence 0 (its "."): it belongs there; "\n\n The" would go to 1
    tokens = [("A", 1.0), (".\n\nThe", 3.0), (" end", 5.0), ("\n\n The", 7.0), (" x", 9.0)]
    table = sentence_table(make_table([make_row(tokens)]))
    assert table["sentence"].tolist() == ["A.", "The end", "The x"]
    assert table["n_tokens"].tolist() == [2, 1, 2]
    assert table["mean_entropy"].tolist() == [2.0, 5.0, 8.0]


def test_sentence_without_tokens_is_dropped_or_nan():
    # the second token has an empty span on the space: no token reaches "Yo."
    row = make_row([("Hi.", 2.0), (" Yo.", 4.0)])
    row["offsets"] = [[0, 3], [3, 3]]
    frame = make_table([row])
    assert sentence_table(frame)["sentence"].tolist() == ["Hi."]
    full = sentence_table(frame, drop_empty=False)
    assert full["n_tokens"].tolist() == [1, 0]
    assert full["mean_entropy"].iloc[0] == 2.0 and math.isnan(full["mean_entropy"].iloc[1])


def test_rows_with_unusable_offsets_give_no_sentence():
    good = make_row([("Hi.", 2.0)], "p0", 0)
    overlapping = make_row([("Hi.", 2.0), (" Yo.", 4.0)], "p1", 0)
    overlapping["offsets"] = [[0, 3], [1, 3]]
    outside = make_row([("Hi.", 2.0)], "p2", 0)
    outside["offsets"] = [[0, 9]]
    table, bad = sentences_and_bad_rows(make_table([good, overlapping, outside]))
    assert bad.tolist() == [False, True, True]
    assert table["prompt_id"].tolist() == ["p0"]


def test_sentence_table_reads_parquet_round_trip(tmp_path):
    frame = make_table([make_row([("One.", 1.0), (" Two.", 3.0)], "p0", 0)])
    frame.to_parquet(tmp_path / "t.parquet")
    table = sentence_table(pd.read_parquet(tmp_path / "t.parquet"))
    assert table["mean_entropy"].tolist() == [1.0, 3.0]
