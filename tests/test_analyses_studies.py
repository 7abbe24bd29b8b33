"""analyses/figures.py end to end on the tiny model: every study runs (training first, then
the checkpoints' pass@k and the base-vs-RL comparison), writes its files and DONE.json, a
second run skips them all, and bad input is one line with exit 2.

The scripts are run as a user runs them (subprocesses of this Python), since they are
scripts, not package modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ANALYSES = Path(__file__).resolve().parents[1] / "analyses"
# the tiny model is all per-op overhead: one thread is the fastest
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def figures(*flags, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ANALYSES / "figures.py"), *map(str, flags)],
                          capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def studies(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    flags = ["--model", tiny_model_dir, "--limit", 4, "--n", 2, "--max-new-tokens", 24, "--device", "cpu",
             "--figures-dir", root / "figures", "--runs-dir", root / "runs"]
    first = figures("--with-training", "--train-steps", 2, *flags)
    return root, flags, first


def test_every_study_runs_and_writes_its_files(studies):
    root, _, first = studies
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = root / "figures"
    expected = {"training_dynamics": ["dynamics.csv", "dynamics.png"],
                "pivotal_tokens": ["pivotal.csv", "pivotal.png"],
                "reflective_sentences": ["reflect.csv", "heatmap.html"],
                "forking_tokens": ["fork_summary.csv", "fork.png"],
                "pass_at_k": ["passk.csv", "passk.png"],
                "rare_behaviours": ["rare_summary.csv", "rare.png", "report.html"]}
    for name, files in expected.items():
        for file in files + ["DONE.json"]:
            assert (out / name / file).is_file(), f"{name}/{file} missing"
    trained = json.loads((out / "training_dynamics" / "DONE.json").read_text())
    assert set(trained["checkpoints"]) == {"none", "entropy-adv", "entropy-reg", "top-entropy-0.2"}
    assert all(Path(path, "model.safetensors").is_file() for path in trained["checkpoints"].values())
    # each mode took the 2 steps it was asked for
    dynamics = pd.read_csv(out / "training_dynamics" / "dynamics.csv")
    assert dynamics.groupby("run")["step"].max().to_dict() == dict.fromkeys(trained["checkpoints"], 2)
    # pass@k covers the base model and every checkpoint, k = 1 ... n
    passk = pd.read_csv(out / "pass_at_k" / "passk.csv")
    assert set(passk["model"]) == {"base", *trained["checkpoints"]}
    assert sorted(passk["k"].unique()) == [1, 2]
    # the comparison is against the entropy-adv checkpoint
    rare = json.loads((out / "rare_behaviours" / "DONE.json").read_text())
    assert trained["checkpoints"]["entropy-adv"] in rare["argv"]
    assert "== pass_at_k: finished" in first.stdout


def test_a_second_run_skips_every_finished_study(studies):
    root, flags, _ = studies
    again = figures("--with-training", "--train-steps", 2, *flags, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("already done") == 6, again.stdout


@pytest.mark.parametrize("flags, problem", [
    (["--only", "pivotal"], "unknown study 'pivotal'"),
    (["--skip", "nope"], "unknown study 'nope'"),
])
def test_bad_study_names_are_one_line_and_exit_2(tmp_path, flags, problem):
    proc = figures(*flags, "--figures-dir", tmp_path / "f", "--runs-dir", tmp_path / "r", timeout=60)
    assert proc.returncode == 2
    assert problem in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "f").exists() and not (tmp_path / "r").exists()


def test_a_clone_without_the_checkpoints_keeps_the_comparison(studies):
    """runs/ is not in git: a clone's pass_at_k must not replace the committed comparison with
    the base model alone. Last in this file: it removes the module's training runs."""
    import shutil

    root, flags, _ = studies
    before = (root / "figures" / "pass_at_k" / "passk.csv").read_bytes()
    shutil.rmtree(root / "runs" / "training_dynamics")
    proc = figures("--only", "pass_at_k", "--only", "rare_behaviours", *flags, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("skipped (its figures are kept)") == 2, proc.stdout
    assert (root / "figures" / "pass_at_k" / "passk.csv").read_bytes() == before
