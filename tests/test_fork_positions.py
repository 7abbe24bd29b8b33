import math

import numpy as np
import pandas as pd
import pytest

from entropy_lens.analyses.fork_positions import KINDS, POSITION_COLUMNS, choose_positions
from rollout_factory import make_row, make_table, words_to_tokens


def _random_table(n_rows=6, n_tokens=80, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_rows):
        entropy = rng.gamma(1.0, 0.7, n_tokens)
        words = rng.choice(["so", "the", "but", "then", "x", "we", "sum", "hence"], n_tokens)
        rows.append(make_row([(" " + w, float(h)) for w, h in zip(words, entropy)], f"p{i // 2}", i % 2))
    return make_table(rows)


def test_columns_kinds_and_counts():
    frame = _random_table()
    out = choose_positions(frame, positions=3, seed=0)
    assert list(out.columns) == POSITION_COLUMNS
    assert set(out["kind"]) == set(KINDS)
    for (pid, sid), part in out.groupby(["prompt_id", "sample_id"]):
        counts = part["kind"].value_counts()
        assert counts["high"] == min(3, math.ceil(0.1 * 79)) == 3
        assert counts["low"] == 3 and counts["pivotal"] == 3
        assert not part.duplicated(["kind", "position"]).any()
        row = frame[(frame["prompt_id"] == pid) & (frame["sample_id"] == sid)].iloc[0]
        for _, r in part.iterrows():
            start, end = row["offsets"][r["position"]]
            assert r["token"] == row["response"][start:end]
            assert r["entropy"] == pytest.approx(float(row["entropy"][r["position"]]))
            assert r["relative_position"] == pytest.approx(r["position"] / len(row["entropy"]))
    # sorted by response, kind in KINDS order, position
    rank = out["kind"].map({k: i for i, k in enumerate(KINDS)})
    keys = list(zip(out["prompt_id"], out["sample_id"], rank, out["position"]))
    assert keys == sorted(keys)


def test_high_and_low_come_from_their_entropy_ranges():
    frame = _random_table()
    out = choose_positions(frame, positions=4, seed=3)
    for (pid, sid), part in out.groupby(["prompt_id", "sample_id"]):
        entropy = np.asarray(frame[(frame["prompt_id"] == pid) & (frame["sample_id"] == sid)].iloc[0]["entropy"],
                             dtype=np.float64)[:-1]
        top = set(np.argsort(-entropy, kind="stable")[:math.ceil(0.1 * len(entropy))].tolist())
        assert set(part.loc[part["kind"] == "high", "position"]) <= top
        assert (part.loc[part["kind"] == "low", "entropy"] <= np.median(entropy) + 1e-6).all()


def test_same_seed_same_positions_whatever_the_row_order_and_other_rows():
    frame = _random_table()
    a = choose_positions(frame, positions=2, seed=7)
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, choose_positions(shuffled, positions=2, seed=7))
    alone = choose_positions(frame.iloc[[3]].reset_index(drop=True), positions=2, seed=7)
    pid, sid = frame.iloc[3]["prompt_id"], frame.iloc[3]["sample_id"]
    mine = a[(a["prompt_id"] == pid) & (a["sample_id"] == sid)].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, alone)
    b = choose_positions(frame, positions=2, seed=8)
    assert not a[["prompt_id", "sample_id", "kind", "position"]].equals(b[["prompt_id", "sample_id", "kind", "position"]])


def _matched_row():
    """40 probed tokens + a last one: highs at 10, 15, 25, 30; the lower half (20 tokens of
    0.01) at 0-6, 13, 18, 20, 22, 27, 32-39; the rest 1.0; the last token the highest of all."""
    small = set(range(7)) | {13, 18, 20, 22, 27} | set(range(32, 40))
    high = {10: 5.0, 15: 4.0, 25: 4.5, 30: 5.5}
    entropy = [high.get(i, 0.01 if i in small else 1.0) for i in range(40)] + [9.0]
    return make_row([(f" t{i}", h) for i, h in enumerate(entropy)], "m", 0)


def test_low_positions_are_matched_in_relative_position():
    out = choose_positions(make_table([_matched_row()]), positions=4, seed=0)
    assert out.loc[out["kind"] == "high", "position"].tolist() == [10, 15, 25, 30]
    # 10 -> 13 (6 is farther), 15 -> 18 (13 taken), 25 -> 27, 30 -> 32
    assert out.loc[out["kind"] == "low", "position"].tolist() == [13, 18, 27, 32]
    more = choose_positions(make_table([_matched_row()]), positions=6, seed=0)
    lows = more.loc[more["kind"] == "low", "position"].tolist()
    assert more["kind"].value_counts()["high"] == 4  # only 4 tokens in the top 10%
    assert len(lows) == 6 and {13, 18, 27, 32} <= set(lows)
    assert (more.loc[more["kind"] == "low", "entropy"] < 0.02).all()


def test_low_ties_are_drawn_by_the_seed():
    # high at 10; lower-half tokens at 8 and 12 only are equally near
    entropy = [0.01 if i in (8, 12) or i >= 14 else 1.0 for i in range(30)]
    entropy[10] = 5.0
    row = make_row([(f" t{i}", h) for i, h in enumerate(entropy)], "tie", 0)
    picks = {choose_positions(make_table([row]), positions=1, seed=s).query("kind == 'low'")["position"].item()
             for s in range(20)}
    assert picks == {8, 12}


def test_the_last_token_is_never_chosen():
    frame = _random_table(n_tokens=12)
    frame.at[0, "entropy"] = np.r_[np.full(11, 0.1, dtype=np.float32), np.float32(9.0)]
    out = choose_positions(frame, positions=50, seed=0)
    n_tokens = frame.set_index(["prompt_id", "sample_id"])["entropy"].map(len)
    last = out.apply(lambda r: n_tokens[(r["prompt_id"], r["sample_id"])] - 1, axis=1)
    assert (out["position"] < last).all()
    one = make_table([make_row([(" so", 1.0)], "one", 0)])
    assert len(choose_positions(one)) == 0


def test_pivotal_positions_are_first_tokens_of_lexicon_words():
    tokens = [(" First", 0.4), (" we", 0.2), (" add", 0.1), (".", 0.0), (" How", 0.9), ("ever", 0.3), (" the", 0.2),
              (" sum", 0.5), (" is", 0.1), (" 12", 0.3), (" because", 0.6), (" so", 0.7), (".", 0.0)]
    frame = make_table([make_row(tokens, "w", 0)])
    out = choose_positions(frame, positions=10, seed=0)
    assert out.loc[out["kind"] == "pivotal", "position"].tolist() == [0, 4, 10, 11]  # "How|ever" starts at 4
    custom = choose_positions(frame, positions=10, seed=0, lexicon={"verbs": ["Add", "sum"]})
    assert custom.loc[custom["kind"] == "pivotal", "position"].tolist() == [2, 7]
    two = choose_positions(frame, positions=2, seed=0)
    assert set(two.loc[two["kind"] == "pivotal", "position"]) <= {0, 4, 10, 11}


def test_pivotal_words_across_the_table():
    text = "So we add the numbers. Then, however, we check it because it matters."
    frame = make_table([make_row(words_to_tokens(text, {}), f"p{i}", 0) for i in range(3)])
    out = choose_positions(frame, positions=8, seed=0)
    pivotal = out[out["kind"] == "pivotal"]
    assert set(pivotal["token"].str.strip().str.lower()) == {"so", "then", "however", "because"}
    assert pivotal.groupby("prompt_id").size().tolist() == [4, 4, 4]


def test_empty_table():
    frame = _random_table().iloc[:0]
    out = choose_positions(frame)
    assert list(out.columns) == POSITION_COLUMNS and len(out) == 0
