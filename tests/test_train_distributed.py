"""Data-parallel training: two CPU processes under torchrun (gloo) make the same update as one
process on the whole batch, write one run folder, and resume."""

import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

REWARD = "def score(response, answer):\n    return 1.0 if 'a' in response else -1.0\n"


def _args(model_dir, out, **extra):
    settings = {"--model": str(model_dir), "--device": "cpu", "--tasks": "arithmetic", "--limit": "8",
                "--instruction": "", "--prompts-per-step": "4", "--group-size": "4", "--max-new-tokens": "10",
                "--lr": "1e-6", "--steps": "1", "--save-every": "1", "--batch-size": "3", "--seed": "2",
                "--reward": "dp_reward:score", "--out": str(out), **extra}
    return ["train", *[x for pair in settings.items() for x in pair]]


def _run(command, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}  # a crash shows where each thread was
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def _torchrun(n, args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
            "-m", "entropy_lens", *args]


@pytest.mark.parametrize("algorithm, shaping", [("grpo", "entropy-adv"), ("ppo", "entropy-reg")])
def test_two_processes_make_the_update_of_one(algorithm, shaping, tiny_model_dir, tmp_path):
    (tmp_path / "dp_reward.py").write_text(REWARD)
    extra = {"--algorithm": algorithm, "--shaping": shaping, "--critic-warmup": "0"}
    single = _run([sys.executable, "-m", "entropy_lens", *_args(tiny_model_dir, tmp_path / "one", **extra)], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    double = _run(_torchrun(2, _args(tiny_model_dir, tmp_path / "two", **extra)), tmp_path)
    assert double.returncode == 0, double.stderr[-3000:]

    one = load_file(str(tmp_path / "one/checkpoints/step-000001/model.safetensors"))
    two = load_file(str(tmp_path / "two/checkpoints/step-000001/model.safetensors"))
    initial = load_file(str(tiny_model_dir / "model.safetensors"))
    import torch

    moved = max(float((one[k] - initial[k]).abs().max()) for k in one)
    assert moved > 5e-7, "the step did not change the weights: nothing was compared"
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=1e-7, msg=name)

    rows = [json.loads(line) for line in (tmp_path / "two/metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (tmp_path / "one/metrics.jsonl").read_text().splitlines()]
    assert len(rows) == len(ref) == 1
    for key in ("reward_mean", "accuracy", "rollout_entropy", "response_length", "tokens", "loss", "grad_norm"):
        assert rows[0][key] == pytest.approx(ref[0][key], rel=1e-4, abs=1e-6), key
    # only the first process wrote: one metrics file, one set of checkpoints, no stray folders
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


def test_two_processes_resume_and_refuse_an_uneven_split(tiny_model_dir, tmp_path):
    (tmp_path / "dp_reward.py").write_text(REWARD)
    out = tmp_path / "run"
    first = _run(_torchrun(2, _args(tiny_model_dir, out)), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = _run(_torchrun(2, _args(tiny_model_dir, out, **{"--steps": "2"}) + ["--resume"]), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    odd = _run(_torchrun(2, _args(tiny_model_dir, tmp_path / "odd", **{"--prompts-per-step": "3"})), tmp_path)
    assert odd.returncode != 0 and "does not split over 2 processes" in odd.stderr
    assert not (tmp_path / "odd").exists()


GROUP_ENDS = """
import os, sys
import torch
from entropy_lens.measure.models import load_model
from entropy_lens_trainer import distributed

group = distributed.setup("cpu")
load_model(sys.argv[1], device="cpu")  # transformers' model code, first imported with the group in place
group.sum_(torch.ones(2))
distributed.teardown(group)
threads = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
left = [name for name in threads if "gloo" in name]
print(f"rank {group.rank}: threads left after teardown: {left}", file=sys.stderr)
sys.exit(1 if left else 0)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads the process's threads from /proc (Linux)")
def test_teardown_ends_the_process_groups_threads(tiny_model_dir, tmp_path):
    # a group kept alive past destroy_process_group leaves its gloo threads running into the
    # interpreter's shutdown, where they abort the process now and then (see distributed.py)
    script = tmp_path / "group_ends.py"
    script.write_text(GROUP_ENDS)
    done = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                 str(script), str(tiny_model_dir)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("threads left after teardown: []") == 2
