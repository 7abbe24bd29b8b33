"""The analysis commands as a user runs them: outputs, skipped-row notes, bad input."""

import numpy as np
import pandas as pd
import pytest

from entropy_lens.cli.main import main
from entropy_lens.rollouts.store import RolloutStore
from rollout_factory import make_row, words_to_tokens

TEXT = ("First, we add 3 and 4. Because 3 + 4 = 7, the answer is 7. Wait, let me verify that. "
        "However, we should check again. Therefore the result is 7.")
ENTROPY = {"first": 2.5, "because": 2.2, "however": 2.8, "therefore": 2.0, "wait": 3.0}


def _write_rollouts(directory, rows):
    store = RolloutStore(directory, {"command": "test"})
    store.open()
    store.write([{**r, "entropy": [float(x) for x in r["entropy"]], "logprob": [float(x) for x in r["logprob"]]}
                 for r in rows])
    return directory


@pytest.fixture
def rollouts(tmp_path):
    rows = [make_row(words_to_tokens(TEXT, ENTROPY), prompt_id=f"p{i}", sample_id=s)
            for i in range(3) for s in range(2)]
    return _write_rollouts(tmp_path / "rollouts", rows)


def _one_error_line(capsys, expected):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and expected in err and len(err.splitlines()) == 1, err


def test_pivotal_and_reflect_write_their_files(rollouts, tmp_path, capsys):
    assert main(["pivotal", "--rollouts", str(rollouts), "--min-count", "2", "--out", str(tmp_path / "piv")]) == 0
    table = pd.read_csv(tmp_path / "piv" / "pivotal.csv")
    assert set(table.category) == {"causal", "contrastive", "sequential", "reasoning_verb"}
    causal = table.set_index("category").loc["causal"]
    assert causal.n == 12  # because + therefore in each of 6 responses
    assert causal["mean"] == pytest.approx(2.1, abs=1e-6)
    for name in ("pivotal_words.csv", "pivotal.png", "pivotal.svg"):
        assert (tmp_path / "piv" / name).is_file()
    assert main(["reflect", "--rollouts", str(rollouts), "--out", str(tmp_path / "ref")]) == 0
    sentences = pd.read_parquet(tmp_path / "ref" / "sentences.parquet")
    assert list(sentences.columns) == ["prompt_id", "sample_id", "sentence", "start", "end", "n_tokens",
                                       "mean_entropy", "reflective"]
    reflective = sentences[sentences.reflective].sentence.unique().tolist()
    assert reflective == ["Wait, let me verify that.", "However, we should check again."]
    assert not list((tmp_path / "ref").glob(".staging-*"))


def test_unusable_rows_are_skipped_and_counted(tmp_path, capsys):
    good = [make_row(words_to_tokens(TEXT, ENTROPY), prompt_id=f"p{i}") for i in range(3)]
    mismatched = make_row(words_to_tokens(TEXT, ENTROPY), prompt_id="bad-lengths")
    mismatched["entropy"] = mismatched["entropy"][:-2]
    with_nan = make_row(words_to_tokens(TEXT, ENTROPY), prompt_id="nan")
    with_nan["entropy"] = np.where(np.arange(len(with_nan["entropy"])) == 3, np.nan, with_nan["entropy"])
    empty = make_row([], prompt_id="empty")
    directory = _write_rollouts(tmp_path / "mixed", good + [mismatched, with_nan, empty])
    assert main(["pivotal", "--rollouts", str(directory), "--out", str(tmp_path / "piv")]) == 0
    out = capsys.readouterr().out
    assert "skipped 3 rows" in out and "different lengths" in out and "NaN" in out and "empty response" in out


@pytest.mark.parametrize("command", ["pivotal", "reflect"])
def test_missing_folder_and_missing_columns_exit_2_leaving_nothing(command, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([command, "--rollouts", str(tmp_path / "absent"), "--out", str(out)]) == 2
    _one_error_line(capsys, "does not exist")
    assert not out.exists()
    partial = tmp_path / "partial"
    partial.mkdir()
    pd.DataFrame({"prompt_id": ["a"], "sample_id": [0]}).to_parquet(partial / "part-00000.parquet")
    assert main([command, "--rollouts", str(partial), "--out", str(out)]) == 2
    _one_error_line(capsys, "lacks column")
    assert not out.exists()


def test_all_rows_unusable_is_an_error(tmp_path, capsys):
    directory = _write_rollouts(tmp_path / "empty", [make_row([], prompt_id="e1"), make_row([], prompt_id="e2")])
    assert main(["reflect", "--rollouts", str(directory), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "no usable rows")
    assert not (tmp_path / "out").exists()


def test_rare_with_too_few_base_sentences_exits_2(rollouts, tmp_path, capsys):
    tiny_base = _write_rollouts(tmp_path / "base", [make_row(words_to_tokens("One sentence only.", {}))])
    out = tmp_path / "rare"
    assert main(["rare", "--base", str(tiny_base), "--rl", str(rollouts), "--k", "5", "--out", str(out)]) == 2
    _one_error_line(capsys, "fewer than")
    assert not out.exists()


def test_analysis_refuses_an_out_the_user_made(rollouts, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["pivotal", "--rollouts", str(rollouts), "--out", str(mine)]) == 2
    _one_error_line(capsys, "did not write")
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(mine.iterdir())) == 1


def test_heatmap_never_overwrites(rollouts, tmp_path, capsys):
    page = tmp_path / "page.html"
    assert main(["heatmap", "--rollouts", str(rollouts), "--top", "2", "--out", str(page)]) == 0
    first = page.read_bytes()
    assert b"verify" in first and b"Content-Security-Policy" in first and b">nan<" not in first
    assert main(["heatmap", "--rollouts", str(rollouts), "--top", "2", "--out", str(page)]) == 2
    _one_error_line(capsys, "exists")
    assert page.read_bytes() == first


def test_pivotal_from_a_model_keeps_its_rollouts_and_regenerates_nothing(tiny_model_dir, tasks_file, tmp_path):
    out = tmp_path / "piv"
    args = ["pivotal", "--model", str(tiny_model_dir), "--tasks", str(tasks_file), "--n", "2",
            "--max-new-tokens", "8", "--min-count", "1", "--out", str(out)]
    assert main(args) == 0
    shards = {p.name: p.stat().st_mtime_ns for p in (out / "rollouts").glob("part-*.parquet")}
    assert len(pd.read_parquet(out / "rollouts")) == 8
    assert main(args) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "rollouts").glob("part-*.parquet")} == shards


def test_a_missing_rollout_directory_is_named_as_such(tmp_path, capsys):
    assert main(["pivotal", "--rollouts", str(tmp_path / "absent"), "--out", str(tmp_path / "o1")]) == 2
    _one_error_line(capsys, "rollout directory")
    assert main(["rare", "--base", str(tmp_path / "absent"), "--rl", str(tmp_path / "absent"),
                 "--out", str(tmp_path / "o2")]) == 2
    _one_error_line(capsys, "neither a rollout directory nor a model")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def _corrupt_second_shard(rollouts):
    _write_rollouts(rollouts, [make_row(words_to_tokens(TEXT, ENTROPY), prompt_id="p9")])
    shard = sorted(rollouts.glob("part-*.parquet"))[-1]
    shard.write_bytes(shard.read_bytes()[:200])  # a truncated copy
    return shard


def test_a_damaged_shard_is_named_and_nothing_is_created(rollouts, tmp_path, capsys):
    shard = _corrupt_second_shard(rollouts)
    assert main(["summary", str(rollouts)]) == 2
    _one_error_line(capsys, f"rollout shard {shard} is damaged")
    out = tmp_path / "runs" / "p1"
    assert main(["pivotal", "--rollouts", str(rollouts), "--out", str(out)]) == 2
    _one_error_line(capsys, "delete that file and rerun")
    assert not (tmp_path / "runs").exists()


def test_summary_reads_a_single_shard_and_names_other_files(rollouts, tmp_path, capsys):
    shard = sorted(rollouts.glob("part-*.parquet"))[0]
    assert main(["summary", str(shard)]) == 0
    assert "6 responses" in capsys.readouterr().out
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert main(["summary", str(other)]) == 2
    _one_error_line(capsys, "is a file, not a rollout directory")


def test_a_failed_analysis_takes_back_the_parent_folders_it_made(tmp_path, capsys):
    rows = [make_row([("", 1.0)], prompt_id="p0")]  # no usable row: the analysis fails inside OUT
    table = _write_rollouts(tmp_path / "empty", rows)
    assert main(["reflect", "--rollouts", str(table), "--out", str(tmp_path / "a" / "b" / "out")]) == 2
    _one_error_line(capsys, "no usable rows")
    assert not (tmp_path / "a").exists()


def test_rare_warns_when_both_sides_are_the_same_table(rollouts, tmp_path, capsys):
    main(["rare", "--base", str(rollouts), "--rl", str(rollouts), "--out", str(tmp_path / "rare")])
    assert "warning: --base and --rl are the same" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--n", "0"], ["--limit", "-3"], ["--max-new-tokens", "-1"], ["--temperature", "-1"]])
def test_range_errors_come_before_any_heavy_import(tmp_path, flags):
    import subprocess
    import sys

    code = ("import sys; from entropy_lens.cli.main import main; "
            f"rc = main(['pivotal', '--model', 'smollm2', '--out', {str(tmp_path / 'o')!r}, *{flags!r}]); "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: " + flags[0]) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "o").exists()
