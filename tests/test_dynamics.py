"""Training dynamics: two hand-written metrics.jsonl files, the exact long table, smoothing,
the CLI's files and its refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from entropy_lens.analyses.dynamics import dynamics, unique_names
from entropy_lens.errors import UserError

GRPO = [
    {"step": 1, "reward_mean": -0.5, "accuracy": 0.25, "entropy": 1.25, "entropy_share": None, "grad_norm": 2.0,
     "lr": 1e-6, "note": "text is ignored"},
    {"step": 2, "reward_mean": 0.0, "accuracy": 0.5, "entropy": 1.0, "entropy_share": None, "grad_norm": 1.5, "lr": 1e-6},
    {"step": 3, "reward_mean": 0.5, "accuracy": 0.75, "entropy": 0.75, "entropy_share": None, "grad_norm": 1.0, "lr": 1e-6},
]
ADV = [
    {"step": 1, "reward_mean": -1.0, "accuracy": 0.0, "entropy": 1.5, "entropy_share": 0.25, "clip_fraction": 0.125},
    {"step": 2, "reward_mean": 1.0, "accuracy": 1.0, "entropy": 1.5, "entropy_share": 0.125, "clip_fraction": 0.0625},
]


def _run(folder, rows, config: str | None = None, tail: str = ""):
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)
    if config:
        (folder / "config.yaml").write_text(config)
    return folder


@pytest.fixture
def runs(tmp_path):
    return (_run(tmp_path / "grpo", GRPO, "algorithm: grpo\nshaping: none\n"),
            _run(tmp_path / "grpo-adv", ADV, "algorithm: grpo\nshaping: entropy-adv\n"))


def _values(long, run, metric, column="value"):
    part = long[(long["run"] == run) & (long["metric"] == metric)]
    return part["step"].tolist(), part[column].tolist()


def test_long_table_is_exact(runs):
    result = dynamics(runs)
    long = result.long
    assert list(long.columns) == ["run", "step", "metric", "value"]
    assert result.runs == ["grpo", "grpo-adv"]
    assert result.labels == {"grpo": "grpo (grpo)", "grpo-adv": "grpo-adv (grpo, entropy-adv)"}
    assert _values(long, "grpo", "reward_mean") == ([1, 2, 3], [-0.5, 0.0, 0.5])
    assert _values(long, "grpo", "entropy") == ([1, 2, 3], [1.25, 1.0, 0.75])
    assert _values(long, "grpo", "entropy_share") == ([], [])          # null: undefined without shaping, no row
    assert _values(long, "grpo-adv", "entropy_share") == ([1, 2], [0.25, 0.125])
    assert _values(long, "grpo-adv", "clip_fraction") == ([1, 2], [0.125, 0.0625])
    assert _values(long, "grpo", "lr") == ([1, 2, 3], [1e-6] * 3)       # other numeric keys are kept too
    assert "note" not in set(long["metric"])
    # 5 numeric metrics x 3 steps for grpo (entropy_share is null), 5 x 2 for grpo-adv
    assert len(long) == 5 * 3 + 5 * 2
    # panels: the tracked metrics that were logged, in the paper's order
    assert result.metrics == ["reward_mean", "accuracy", "entropy", "entropy_share", "clip_fraction", "grad_norm"]


def test_smoothing_is_a_trailing_moving_average(runs):
    long = dynamics(runs, smooth=2).long
    assert list(long.columns) == ["run", "step", "metric", "value", "smoothed"]
    assert _values(long, "grpo", "reward_mean", "smoothed") == ([1, 2, 3], [-0.5, -0.25, 0.25])
    assert _values(long, "grpo", "reward_mean") == ([1, 2, 3], [-0.5, 0.0, 0.5])
    assert _values(long, "grpo-adv", "entropy_share", "smoothed") == ([1, 2], [0.25, 0.1875])
    with pytest.raises(UserError):
        dynamics(runs, smooth=0)


def test_a_step_logged_twice_keeps_the_later_line_and_a_cut_last_line_is_skipped(tmp_path):
    rows = [{"step": 1, "reward_mean": 0.0}, {"step": 2, "reward_mean": 0.5}, {"step": 2, "reward_mean": 1.0}]
    run = _run(tmp_path / "r", rows, tail='{"step": 3, "reward_me')
    result = dynamics([run])
    assert _values(result.long, "r", "reward_mean") == ([1, 2], [0.0, 1.0])
    assert "cut short" in result.skipped


@pytest.mark.parametrize("case, expected", [
    ("absent", "does not exist"), ("no-file", "has no metrics.jsonl"), ("empty", "is empty"),
    ("blank", "is empty"), ("bad-middle", "line 1 is not JSON"), ("no-step", "has no step number"),
])
def test_bad_runs_are_refused(case, expected, tmp_path):
    folder = tmp_path / case
    if case != "absent":
        folder.mkdir()
    content = {"empty": "", "blank": "\n\n", "bad-middle": "{oops\n" + json.dumps(GRPO[0]) + "\n",
               "no-step": json.dumps({"reward_mean": 1.0}) + "\n"}
    if case in content:
        (folder / "metrics.jsonl").write_text(content[case])
    with pytest.raises(UserError, match=expected):
        dynamics([folder])


def test_unique_names(tmp_path):
    assert unique_names(["runs/a", "runs/b"]) == ["a", "b"]
    assert unique_names(["x/run", "y/run", "z"]) == ["x/run", "y/run", "z"]
    assert unique_names(["x/run/", "x/run"]) == ["run (1)", "run (2)"]
    assert unique_names(["smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct"]) == ["smollm2", "SmolLM2-135M-Instruct"]


# ------------------------------------------------------------------------------ the CLI


def test_cli_writes_csv_and_figure(runs, tmp_path, capsys):
    from entropy_lens.cli.main import main

    out = tmp_path / "out"
    assert main(["dynamics", *map(str, runs), "--out", str(out), "--smooth", "2"]) == 0
    assert "2 runs, 6 panels" in capsys.readouterr().out
    table = pd.read_csv(out / "dynamics.csv")
    assert list(table.columns) == ["run", "step", "metric", "value", "smoothed"]
    assert _values(table, "grpo", "grad_norm") == ([1, 2, 3], [2.0, 1.5, 1.0])
    assert _values(table, "grpo", "grad_norm", "smoothed") == ([1, 2, 3], [2.0, 1.75, 1.25])
    assert _values(table, "grpo-adv", "accuracy") == ([1, 2], [0.0, 1.0])
    assert len(table) == 25
    assert (out / "dynamics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "dynamics.svg").read_text()[:2000]


def test_cli_missing_metrics_exits_2_and_leaves_nothing(runs, tmp_path, capsys):
    from entropy_lens.cli.main import main

    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "empty-run").mkdir()
    (tmp_path / "empty-run" / "metrics.jsonl").write_text("")
    out = tmp_path / "out"
    for bad, expected in (("absent", "does not exist"), ("not-a-run", "has no metrics.jsonl"), ("empty-run", "is empty")):
        assert main(["dynamics", str(runs[0]), str(tmp_path / bad), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and "; " in err and len(err.splitlines()) == 1, err
        assert not out.exists()
    assert main(["dynamics", str(runs[0]), "--out", str(out), "--smooth", "0"]) == 2
    assert "--smooth" in capsys.readouterr().err and not out.exists()


def test_runs_logged_before_and_after_the_rename_share_one_entropy_panel(tmp_path):
    new = [{("rollout_entropy" if k == "entropy" else k): v for k, v in row.items()} for row in ADV]
    result = dynamics([_run(tmp_path / "old", GRPO, "algorithm: grpo\n"), _run(tmp_path / "new", new, "algorithm: grpo\n")])
    assert "entropy" not in result.metrics and "rollout_entropy" in result.metrics
    assert _values(result.long, "old", "rollout_entropy") == ([1, 2, 3], [1.25, 1.0, 0.75])
    assert _values(result.long, "new", "rollout_entropy") == ([1, 2], [1.5, 1.5])
