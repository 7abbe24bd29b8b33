"""`entropy-lens fork` end to end on a tiny model: outputs, seeds, resume after SIGKILL, bad input."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from entropy_lens.cli.main import main

GENERATE = ["--n", "2", "--max-new-tokens", "24", "--temperature", "1.0", "--seed", "3", "--device", "cpu"]
PROBE = ["--positions", "1", "--samples", "3", "--batch-size", "3", "--device", "cpu"]


@pytest.fixture(scope="module")
def rollouts(tiny_model_dir, tmp_path_factory):
    import json

    root = tmp_path_factory.mktemp("fork")
    tasks = root / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"prompt_id": f"p{i}", "prompt": f"What is {i} + {i + 1}?",
                                         "answer": str(2 * i + 1)}) + "\n" for i in range(3)))
    out = root / "rollouts"
    assert main(["generate", "--model", str(tiny_model_dir), "--tasks", str(tasks), "--out", str(out), *GENERATE]) == 0
    return out


def test_fork_writes_one_row_per_probed_position(rollouts, tmp_path, capsys):
    out = tmp_path / "fork"
    assert main(["fork", "--rollouts", str(rollouts), "--out", str(out), *PROBE]) == 0
    printed = capsys.readouterr()
    assert "continuations" in printed.err and "wrote forks.parquet" in printed.out
    forks = pd.read_parquet(out / "forks.parquet")
    for column in ["prompt_id", "sample_id", "position", "token", "entropy", "kind", "n_samples", "accuracy",
                   "changed", "answers", "answer_entropy"]:
        assert column in forks.columns
    assert set(forks["kind"]) <= {"high", "low", "pivotal"} and {"high", "low"} <= set(forks["kind"])
    assert (forks["n_samples"] == 3).all()
    assert forks["changed"].between(0, 1).all() and (forks["answer_entropy"] >= 0).all()
    # one row per (response, kind, position); each distinct position sampled once
    assert not forks.duplicated(["prompt_id", "sample_id", "kind", "position"]).any()
    probes = pd.read_parquet(out / "probes")
    assert len(probes) == len(forks[["prompt_id", "sample_id", "position"]].drop_duplicates())
    summary = pd.read_csv(out / "fork_summary.csv")
    assert {"high", "low"} <= set(summary["kind"])
    assert (out / "fork.png").stat().st_size > 10_000 and (out / "fork.svg").is_file()


def test_entropies_of_the_probed_tokens_are_the_tables(rollouts, tmp_path):
    import entropy_lens as el

    table = el.read_rollouts(rollouts)
    result = el.fork(rollouts, positions=1, samples=2, batch_size=2, device="cpu", show_progress=False)
    by_key = {(r.prompt_id, r.sample_id): r for r in table.itertuples()}
    for row in result.forks.itertuples():
        source = by_key[(row.prompt_id, row.sample_id)]
        assert row.entropy == pytest.approx(float(source.entropy[row.position]))
        assert row.position < len(source.token_ids) - 1  # never the last token
    again = el.fork(rollouts, positions=1, samples=2, batch_size=1, device="cpu", show_progress=False)
    # per-continuation random streams: the outcome does not depend on batching
    cols = ["prompt_id", "sample_id", "kind", "position", "changed", "answer_entropy"]
    pd.testing.assert_frame_equal(result.forks[cols], again.forks[cols])


def test_dry_run_prints_the_plan_and_creates_nothing(rollouts, tmp_path, capsys):
    out = tmp_path / "dry"
    assert main(["fork", "--rollouts", str(rollouts), "--out", str(out), "--dry-run", *PROBE]) == 0
    text = capsys.readouterr().out
    assert "6 responses" in text and "x 3 samples" in text and "dry run" in text
    assert not out.exists()


def test_other_settings_into_the_same_out_are_refused(rollouts, tmp_path, capsys):
    out = tmp_path / "fork"
    assert main(["fork", "--rollouts", str(rollouts), "--out", str(out), *PROBE]) == 0
    capsys.readouterr()
    assert main(["fork", "--rollouts", str(rollouts), "--out", str(out), *PROBE[:-4], "--samples", "4",
                 "--batch-size", "3", "--device", "cpu"]) == 2
    assert "other settings" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [(["--samples", "0"], "--samples must be >= 1"),
                                            (["--positions", "-1"], "--positions must be >= 1"),
                                            (["--limit", "0"], "--limit must be >= 1")])
def test_bad_options_are_refused_before_any_heavy_import(rollouts, tmp_path, flags, message):
    code = ("import sys; from entropy_lens.cli.main import main; "
            f"rc = main(['fork', '--rollouts', {str(rollouts)!r}, '--out', {str(tmp_path / 'o')!r}, *{flags!r}]); "
            "assert 'torch' not in sys.modules, 'heavy import'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: " + message), proc.stderr
    assert not (tmp_path / "o").exists()


def test_fork_needs_rollouts_or_a_model(tmp_path, capsys):
    assert main(["fork", "--out", str(tmp_path / "o")]) == 2
    assert "--rollouts DIR or --model" in capsys.readouterr().err


def test_sigkill_then_rerun_gives_each_position_once(rollouts, tmp_path):
    out = tmp_path / "killed"
    cli = [sys.executable, "-m", "entropy_lens", "fork", "--rollouts", str(rollouts), "--out", str(out),
           "--positions", "2", "--samples", "2", "--batch-size", "1", "--device", "cpu"]
    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "probes").glob("part-*.parquet")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((out / "probes").glob("part-*.parquet")), "the run should have been killed after a shard"
    assert not (out / "forks.parquet").exists()

    rerun = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    probes = pd.read_parquet(out / "probes")
    keys = list(zip(probes.prompt_id, probes.sample_id, probes.position))
    assert len(keys) == len(set(keys))
    forks = pd.read_parquet(out / "forks.parquet")
    assert len(set(keys)) == len(forks[["prompt_id", "sample_id", "position"]].drop_duplicates())

    whole = tmp_path / "whole"
    subprocess.run(cli[:7] + [str(whole)] + cli[8:], check=True, capture_output=True, timeout=300)
    expected = pd.read_parquet(whole / "forks.parquet")
    cols = ["prompt_id", "sample_id", "kind", "position", "changed", "answer_entropy"]
    pd.testing.assert_frame_equal(forks[cols], expected[cols])


def test_generating_first_needs_a_limit(tmp_path, capsys):
    assert main(["fork", "--model", "smollm2", "--out", str(tmp_path / "o")]) == 2
    assert "needs --limit N" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_missing_rollout_directory_is_named_as_such(tmp_path, capsys):
    assert main(["fork", "--rollouts", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    assert "rollout directory" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_dataframe_with_other_ids_and_no_gold_answers(rollouts, tiny_model_dir):
    import entropy_lens as el

    table = el.read_rollouts(rollouts).head(2)
    table = table.assign(prompt_id=range(len(table)), answer=float("nan"))  # ints, and NaN for "no answer"
    result = el.fork(table, str(tiny_model_dir), positions=1, samples=2, batch_size=2, device="cpu",
                     show_progress=False)
    assert result.forks["accuracy"].isna().all()  # ungraded without a gold answer
    assert set(result.forks["prompt_id"]) == {"0", "1"}
    assert "generate's defaults" not in str(result.settings)  # the plan said so; settings stay data


def test_report_from_a_fork_folder_carries_the_runs_settings(rollouts, tmp_path):
    from entropy_lens.analyses.fork_stats import load_fork

    out = tmp_path / "fork"
    assert main(["fork", "--rollouts", str(rollouts), "--out", str(out), "--seed", "5", *PROBE]) == 0
    loaded = load_fork(out)
    assert loaded.settings["samples"] == 3 and loaded.settings["seed"] == 5
    written = pd.read_csv(out / "fork_summary.csv")
    assert loaded.summary["mean_changed"].tolist() == pytest.approx(written["mean_changed"].tolist(), nan_ok=True)
    assert loaded.summary["changed_ci_low"].tolist() == pytest.approx(written["changed_ci_low"].tolist(), nan_ok=True)
