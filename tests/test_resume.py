"""A generate run killed with SIGKILL mid-way resumes and ends with every row exactly once."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd

ARGS = ["--n", "4", "--max-new-tokens", "40", "--batch-size", "1", "--temperature", "1.0", "--seed", "3"]


def _cli(model_dir, tasks_file, out):
    return [sys.executable, "-m", "entropy_lens", "generate", "--model", str(model_dir), "--tasks", str(tasks_file),
            "--out", str(out), "--device", "cpu", *ARGS]


def test_sigkill_then_rerun_gives_each_row_once(tiny_model_dir, tasks_file, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(tiny_model_dir, tasks_file, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(out.glob("part-*.parquet")))
    assert 3 <= finished < 16, "the run should have been killed part-way"

    rerun = subprocess.run(_cli(tiny_model_dir, tasks_file, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    resumed = pd.read_parquet(out)
    keys = list(zip(resumed.prompt_id, resumed.sample_id))
    assert len(keys) == len(set(keys)) == 16
    assert not list(out.glob(".*.tmp"))

    whole = tmp_path / "whole"
    subprocess.run(_cli(tiny_model_dir, tasks_file, whole), check=True, capture_output=True, timeout=300)
    expected = pd.read_parquet(whole).sort_values(["prompt_id", "sample_id"]).reset_index(drop=True)
    resumed = resumed.sort_values(["prompt_id", "sample_id"]).reset_index(drop=True)
    # per-pair random streams: the resumed table is the uninterrupted one
    assert [list(t) for t in resumed.token_ids] == [list(t) for t in expected.token_ids]
