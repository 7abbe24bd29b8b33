import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from entropy_lens.analyses.tokens import flat_offsets, token_arrays
from entropy_lens.analyses.words import find_words, is_word, segment_words
from rollout_factory import make_row, make_table, words_to_tokens


def reference_words(text):
    """Words by the documented rules, one character at a time (the slow obvious way)."""
    def letter(j):
        return 0 <= j < len(text) and text[j].isalpha()

    out, i = [], 0
    while i < len(text):
        if not letter(i):
            i += 1
            continue
        j = i
        while j < len(text) and (letter(j) or (text[j] in "'\u2019" and letter(j - 1) and letter(j + 1))):
            j += 1
        if not (i > 0 and text[i - 1] == "\\"):
            out.append((i, j, text[i:j].lower().replace("\u2019", "'")))
        i = j
    return out


def found(text):
    starts, ends, ids, vocab = find_words(text)
    return [(a, b, vocab[i]) for a, b, i in zip(starts.tolist(), ends.tolist(), ids.tolist())]


@pytest.mark.parametrize("text", [
    "First, we add 3 + 4 = 7. So the answer is 7; some say thence, but butter isn't Firstly.",
    "Let's check: it\u2019s x2 double-check \\frac{1}{2} \\therefore \\text{so} SO So sO",
    "Schöne Grüße — naïve café 日本語 🙂 x² ≤ y³ MULTIPLICATION multiplication Alternatively \u212aelvin",
    "'quoted' don''t a'b ' '' x'",
    "", "a", "’", "\\", "supercalifragilisticexpialidocious and a twelveletter word: abcdefghijkl abcdefghijklm",
])
def test_words_follow_the_documented_rules(text):
    assert found(text) == reference_words(text)


def test_words_match_the_reference_on_random_text():
    rng = random.Random(0)
    alphabet = "abcXYZ'\u2019 \\é日1İ-\n.,"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert found(text) == reference_words(text), text


def test_same_word_same_id_whatever_the_case_or_length():
    starts, ends, ids, vocab = find_words("So so SO thence then multiplication MULTIPLICATION Multiplication café CAFÉ")
    words = vocab[ids].tolist()
    assert words == ["so", "so", "so", "thence", "then", "multiplication", "multiplication", "multiplication", "café", "café"]
    assert len(set(ids[:3])) == 1 and ids[3] != ids[4] and len(set(ids[5:8])) == 1 and ids[8] == ids[9]
    assert len(vocab) == len(set(vocab.tolist()))


def test_is_word():
    assert is_word("so") and is_word("let's") and is_word("café") and is_word("it\u2019s")
    assert not is_word("in other words") and not is_word("x2") and not is_word("'s") and not is_word("")


def _table():
    rows = [
        make_row([("First", 1.0), (",", 0.1), (" we", 0.2), (" multip", 2.0), ("lication", 0.5), ("ally", 0.3),
                  (" so", 1.5), (" some", 0.7), (".", 0.05)], "p0", 0),
        # a word whose first character is split over two tokens: the first gets an empty span
        make_row([("Then", 0.9), (" ", 0.1), ("", 0.7), ("é", 0.2), ("t", 0.4), ("é", 0.6), (" done", 0.3)], "p0", 1),
    ]
    return make_table(rows)


def test_segment_words_first_token_and_mean_over_tokens():
    frame = _table()
    first = segment_words(frame)
    assert first.strings().tolist() == ["first", "we", "multiplicationally", "so", "some", "then", "été", "done"]
    assert first.response.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert first.first_token.tolist() == [0, 2, 3, 6, 7, 9, 11, 15]
    assert first.entropy.tolist() == pytest.approx([1.0, 0.2, 2.0, 1.5, 0.7, 0.9, 0.7, 0.3])
    assert first.start.tolist() == [0, 7, 10, 29, 32, 0, 5, 9]
    assert first.end.tolist() == [5, 9, 28, 31, 36, 4, 8, 13]
    mean = segment_words(frame, word_entropy="mean")
    assert mean.last_token.tolist() == [0, 2, 5, 6, 7, 9, 14, 15]
    assert mean.entropy.tolist() == pytest.approx([1.0, 0.2, (2.0 + 0.5 + 0.3) / 3, 1.5, 0.7, 0.9,
                                                   (0.7 + 0.2 + 0.4 + 0.6) / 4, 0.3], rel=1e-6)
    initial = np.zeros(16, dtype=bool)
    initial[[0, 2, 3, 6, 7, 9, 11, 15]] = True
    assert np.array_equal(first.word_initial, initial)


def test_rows_with_unusable_offsets_are_skipped():
    good = make_row(words_to_tokens("So we stop.", {"so": 2.0}), "p", 0)
    reversed_span = make_row(words_to_tokens("Thus we go.", {}), "p", 1)
    reversed_span["offsets"][1] = [3, 2]
    overlapping = make_row(words_to_tokens("Hence it is.", {}), "p", 2)
    overlapping["offsets"][1] = [2, 8]
    outside = make_row(words_to_tokens("But no.", {}), "p", 3)
    outside["offsets"][-1] = [6, 40]
    words = segment_words(make_table([good, reversed_span, overlapping, outside]))
    assert words.skipped == {"offsets out of order or outside the response": 3}
    assert words.rows.tolist() == [0]
    assert words.strings().tolist() == ["so", "we", "stop"]
    assert words.entropy[0] == 2.0


def test_offsets_read_from_parquet_are_sliced_without_copying_each_token(tmp_path):
    offsets = [[[0, 2], [2, 5], [5, 5], [5, 9]], [[0, 1]], [], [[0, 3], [3, 4]]]
    table = pa.table({"offsets": pa.array(offsets, type=pa.list_(pa.list_(pa.int32())))})
    column = table.to_pandas()["offsets"]
    assert column.iloc[0].dtype == object  # pandas' layout: an object array of small arrays
    expected = np.array([p for row in offsets for p in row])
    assert np.array_equal(flat_offsets(column), expected)
    # a row whose middle element was replaced is no longer one slice: it is converted element by element
    tampered = column.copy()
    row = tampered.iloc[0].copy()
    row[2] = np.array([7, 7], dtype=np.int32)
    tampered.iloc[0] = row
    changed = expected.copy()
    changed[2] = [7, 7]
    assert np.array_equal(flat_offsets(tampered), changed)
    # lists of lists and (n, 2) arrays
    assert np.array_equal(flat_offsets(pd.Series([offsets[0], np.array(offsets[3])], dtype=object)),
                          np.array(offsets[0] + offsets[3]))


def test_token_arrays_are_global_positions():
    tokens, bad = token_arrays(_table())
    assert not bad.any()
    assert tokens.text == "First, we multiplicationally so some.\nThen été done"
    assert tokens.response_start.tolist() == [0, 38]
    assert [tokens.text[a:b] for a, b in zip(tokens.start, tokens.end)][9:12] == ["Then", " ", ""]
    assert tokens.token_bounds.tolist() == [0, 9, 16]


def test_a_table_whose_offsets_are_all_unusable_is_refused_with_one_line():
    from entropy_lens.errors import UserError
    from rollout_factory import make_row

    row = make_row([("Because", 1.0), (" so", 2.0)])
    row["offsets"] = [[5, 3], [0, 2]]  # reversed and out of order
    with pytest.raises(UserError, match="usable token offsets"):
        segment_words(pd.DataFrame([row]))
