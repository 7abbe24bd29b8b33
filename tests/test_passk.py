"""pass@k: the estimator against exact fractions, the table on hand-built rollouts, the
refusals (k > n, bad --k) and the CLI's files."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from entropy_lens.errors import UserError
from entropy_lens.analyses.passk import pass_at_k, passk_table

from rollout_factory import make_row, make_table


def exact(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def test_pass_at_k_equals_the_exact_fraction_everywhere_small():
    for n in range(1, 25):
        for c in range(0, n + 1):
            for k in range(1, n + 1):
                got = pass_at_k(n, c, k)
                assert isinstance(got, float)
                assert abs(got - float(exact(n, c, k))) <= 1e-12, (n, c, k, got)


@pytest.mark.parametrize("n, c, k", [(256, 1, 1), (256, 3, 128), (256, 30, 256), (1000, 7, 10), (1000, 999, 1),
                                     (512, 0, 64), (200, 1, 199), (64, 32, 16), (10_000, 5, 5000)])
def test_pass_at_k_large_n(n, c, k):
    assert abs(pass_at_k(n, c, k) - float(exact(n, c, k))) <= 1e-12


def test_pass_at_k_edges_are_exact():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 0, 10) == 0.0   # nothing correct: never passes
    assert pass_at_k(10, 10, 1) == 1.0 and pass_at_k(1, 1, 1) == 1.0   # all correct
    assert pass_at_k(10, 3, 8) == 1.0                                    # n - c = 7 < k: every 8-subset holds a correct one
    assert pass_at_k(10, 3, 7) == pytest.approx(float(exact(10, 3, 7)), abs=1e-15)  # n - c = k: just below 1
    assert pass_at_k(10, 3, 7) < 1.0
    assert pass_at_k(8, 2, 1) == pytest.approx(0.25, abs=1e-15)          # pass@1 = c / n
    assert pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(np.int64(5), np.int32(2), np.int64(2)) == pytest.approx(0.7, abs=1e-15)  # numpy integers work


@pytest.mark.parametrize("n, c, k", [(5, 1, 0), (5, 1, -1), (5, 1, 6), (0, 0, 1), (-1, 0, 1), (5, -1, 1), (5, 6, 1),
                                     (5.0, 1, 1), (5, 1.0, 1), (5, 1, 2.0), ("5", 1, 1), (5, None, 1), (True, 1, 1),
                                     (5, 1, True)])
def test_pass_at_k_rejects_invalid_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def _rows():
    """p0: 1 of 4 correct; p1: 0 of 4; p2: 2 of 5 graded plus one response without a gold answer."""
    rows = []
    for prompt_id, flags in (("p0", [True, False, False, False]), ("p1", [False] * 4),
                             ("p2", [True, False, True, False, False, None])):
        for sample_id, flag in enumerate(flags):
            rows.append(make_row([("x", 1.0)], prompt_id=prompt_id, sample_id=sample_id,
                                 answer=None if flag is None else "1", correct=flag))
    return rows


def test_passk_table_exact_numbers():
    per, mean = passk_table(make_table(_rows()), [4, 1, 2, 2], n_boot=500)
    assert list(per.columns) == ["prompt_id", "n", "c", "pass@1", "pass@2", "pass@4"]
    assert per["prompt_id"].tolist() == ["p0", "p1", "p2"]
    assert per["n"].tolist() == [4, 4, 5] and per["c"].tolist() == [1, 0, 2]
    # p0: 1/4, 1 - C(3,2)/C(4,2) = 1/2, 1; p1: 0, 0, 0; p2: 2/5, 1 - C(3,2)/C(5,2) = 7/10, 1 - C(3,4)/C(5,4) = 1
    np.testing.assert_allclose(per[["pass@1", "pass@2", "pass@4"]].to_numpy(),
                               [[0.25, 0.5, 1.0], [0.0, 0.0, 0.0], [0.4, 0.7, 1.0]], rtol=0, atol=1e-15)
    assert list(mean.columns) == ["k", "pass_at_k", "ci_low", "ci_high", "problems"]
    assert mean["k"].tolist() == [1, 2, 4] and mean["problems"].tolist() == [3, 3, 3]
    np.testing.assert_allclose(mean["pass_at_k"], [0.65 / 3, 0.4, 2 / 3], rtol=0, atol=1e-15)
    assert mean.attrs["excluded"] == 1
    assert (mean["ci_low"] <= mean["pass_at_k"]).all() and (mean["pass_at_k"] <= mean["ci_high"]).all()
    assert (mean["ci_low"] >= 0).all() and (mean["ci_high"] <= 1).all()
    # pass@4 over problems {1, 0, 1}: a bootstrap mean is a multiple of 1/3, and the CI spans several of them
    for bound in mean.loc[mean["k"] == 4, ["ci_low", "ci_high"]].to_numpy().ravel():
        assert abs(bound * 3 - round(bound * 3)) < 1e-9
    assert mean.loc[mean["k"] == 4, "ci_low"].item() < mean.loc[mean["k"] == 4, "ci_high"].item()
    result = passk_table(make_table(_rows()), [1], n_boot=50)
    assert result.excluded == 1 and "1 response without a gold answer" in result.skipped


def test_passk_ci_collapses_when_every_problem_is_alike_and_is_seeded():
    rows = [make_row([("x", 1.0)], prompt_id=f"p{i}", sample_id=s, answer="1", correct=s == 0)
            for i in range(5) for s in range(4)]
    _, mean = passk_table(make_table(rows), [1, 2, 3, 4])
    np.testing.assert_allclose(mean["pass_at_k"], [0.25, 0.5, 0.75, 1.0], atol=1e-15)
    np.testing.assert_allclose(mean["ci_low"], mean["pass_at_k"], atol=1e-12)
    np.testing.assert_allclose(mean["ci_high"], mean["pass_at_k"], atol=1e-12)
    again = passk_table(make_table(_rows()), [1, 2], seed=3).mean
    pd.testing.assert_frame_equal(again, passk_table(make_table(_rows()), [1, 2], seed=3).mean)


@pytest.mark.parametrize("ks, refused, affected", [([1, 8], 8, "3 of 3 problems"), ([1, 2, 5], 5, "2 of 3 problems")])
def test_k_larger_than_a_problems_samples_is_refused(ks, refused, affected):
    with pytest.raises(UserError) as info:
        passk_table(make_table(_rows()), ks)
    message = str(info.value)
    assert f"k = {refused}" in message and affected in message and "the fewest: 4" in message
    assert f"--n {max(ks)}" in message and "k <= 4" in message


def test_bad_ks_and_ungraded_tables_are_refused():
    for ks in ([], [0], [1, -2], [1.5], ["2"]):
        with pytest.raises(UserError):
            passk_table(make_table(_rows()), ks)
    ungraded = [make_row([("x", 1.0)], prompt_id="p0", sample_id=s) for s in range(3)]
    with pytest.raises(UserError, match="gold answer"):
        passk_table(make_table(ungraded), [1])


# ------------------------------------------------------------------------------ the CLI


def _write_rollouts(folder, rows):
    from entropy_lens.rollouts.store import RolloutStore

    store = RolloutStore(folder, {"command": "test"})
    store.open()
    store.write(rows)
    return folder


def test_cli_writes_one_row_per_model_and_k(tmp_path, capsys):
    from entropy_lens.cli.main import main

    first = _write_rollouts(tmp_path / "a" / "base", _rows())
    # the second model: every problem solved by exactly its first two of four samples
    second = _write_rollouts(tmp_path / "b" / "base", [
        make_row([("x", 1.0)], prompt_id=f"p{i}", sample_id=s, answer="1", correct=s < 2) for i in range(3) for s in range(4)])
    out = tmp_path / "out"
    assert main(["passk", "--rollouts", str(first), str(second), "--k", "1,2,4", "--out", str(out), "--n-boot", "200"]) == 0
    printed = capsys.readouterr().out
    assert "a/base pass@1 21.7%" in printed and "b/base pass@1 50.0%" in printed and "without a gold answer" in printed
    table = pd.read_csv(out / "passk.csv")
    assert list(table.columns) == ["model", "k", "pass_at_k", "ci_low", "ci_high", "problems", "excluded"]
    assert table["model"].tolist() == ["a/base"] * 3 + ["b/base"] * 3
    assert table["k"].tolist() == [1, 2, 4] * 2
    # b: pass@2 = 1 - C(2,2)/C(4,2) = 5/6, pass@4 = 1
    np.testing.assert_allclose(table["pass_at_k"], [0.65 / 3, 0.4, 2 / 3, 0.5, 5 / 6, 1.0], atol=1e-12)
    assert table["excluded"].tolist() == [1, 1, 1, 0, 0, 0] and table["problems"].tolist() == [3] * 6
    per = pd.read_csv(out / "passk_per_problem.csv")
    assert list(per.columns) == ["model", "prompt_id", "n", "c", "pass@1", "pass@2", "pass@4"]
    assert len(per) == 6 and per["n"].tolist() == [4, 4, 5, 4, 4, 4]
    assert (out / "passk.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "passk.svg").read_text()[:2000]
    # a rerun into its own output is allowed and gives the same table
    assert main(["passk", "--rollouts", str(first), str(second), "--k", "1,2,4", "--out", str(out), "--n-boot", "200"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "passk.csv"), table)


@pytest.mark.parametrize("k", ["1,x", "0", "", " , ", "2,-1", "1.5"])
def test_cli_bad_k_exits_2_with_one_line(k, tmp_path, capsys):
    from entropy_lens.cli.main import main

    rollouts = _write_rollouts(tmp_path / "base", _rows())
    out = tmp_path / "out"
    assert main(["passk", "--rollouts", str(rollouts), "--k", k, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --k") and "; " in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_cli_refusals_leave_nothing_behind(tmp_path, capsys):
    from entropy_lens.cli.main import main

    rollouts = _write_rollouts(tmp_path / "base", _rows())
    out = tmp_path / "out"
    cases = [
        (["--rollouts", str(rollouts), "--k", "1,8"], "k = 8 is larger than"),
        (["--rollouts", str(tmp_path / "absent"), "--k", "1"], "does not exist"),
        # checked before any model is loaded: --n 2 samples cannot give pass@4
        (["--model", "smollm2", "--n", "2", "--k", "1,4"], "needs at least 4 samples"),
    ]
    for args, expected in cases:
        assert main(["passk", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
        assert not out.exists()
