"""The real offline default model, end to end (a few tokens each, to stay fast)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from entropy_lens import generate
from reference import full_forward_reference

pytestmark = pytest.mark.slow


def test_smollm2_generation_entropies_are_exact(smollm2):
    frame = generate(smollm2, "arithmetic", limit=1, n=2, max_new_tokens=12, show_progress=False)
    assert len(frame) == 2
    row = frame.iloc[0]
    entropy, logprob = full_forward_reference(smollm2.model, row.prompt_token_ids, row.token_ids)
    assert np.allclose(row.entropy, entropy.numpy(), atol=2e-4)
    assert np.allclose(row.logprob, logprob.numpy(), atol=2e-4)
    # the prompt went through SmolLM2's chat template
    text = smollm2.tokenizer.decode(row.prompt_token_ids)
    assert text.startswith("<|im_start|>system") and text.rstrip().endswith("<|im_start|>assistant")


def test_cli_generate_then_score_on_the_default_model(tmp_path):
    gen_out, score_out = tmp_path / "gen", tmp_path / "score"
    cli = [sys.executable, "-m", "entropy_lens"]
    subprocess.run(cli + ["generate", "--tasks", "arithmetic", "--limit", "2", "--n", "2", "--max-new-tokens", "16",
                          "--out", str(gen_out)], check=True, capture_output=True, timeout=300)
    generated = pd.read_parquet(gen_out)
    assert len(generated) == 4 and generated["answer"].notna().all()
    subprocess.run(cli + ["score", "--input", str(gen_out), "--out", str(score_out)], check=True,
                   capture_output=True, timeout=300)
    scored = pd.read_parquet(score_out).sort_values(["prompt_id", "sample_id"]).reset_index(drop=True)
    generated = generated.sort_values(["prompt_id", "sample_id"]).reset_index(drop=True)
    for a, b in zip(generated.itertuples(), scored.itertuples()):
        assert list(a.token_ids) == list(b.token_ids)
        assert np.allclose(a.entropy, b.entropy, atol=1e-4)
        assert np.allclose(a.logprob, b.logprob, atol=1e-4)


def test_score_text_without_token_ids(smollm2, tmp_path):
    from entropy_lens import score

    path = tmp_path / "pairs.jsonl"
    pd.DataFrame({"prompt": ["What is 2 + 2?"], "response": ["2 + 2 = 4, so the answer is \\boxed{4}."],
                  "answer": ["4"]}).to_json(path, orient="records", lines=True)
    frame = score(smollm2, path, show_progress=False)
    row = frame.iloc[0]
    assert row.response == "2 + 2 = 4, so the answer is \\boxed{4}."
    assert "".join(row.response[a:b] for a, b in row.offsets) == row.response
    assert row.extracted == "4" and row.correct
    entropy, _ = full_forward_reference(smollm2.model, row.prompt_token_ids, row.token_ids)
    assert np.allclose(row.entropy, entropy.numpy(), atol=2e-4)


def test_fork_probe_on_the_default_model(tmp_path):
    """`fork --model smollm2` generates one short response and probes it: the real model's
    continuations are graded, and a continuation resampled at a position reproduces the
    response's own tokens before it (the prefix is the response's)."""
    out = tmp_path / "fork"
    proc = subprocess.run([sys.executable, "-m", "entropy_lens", "fork", "--model", "smollm2", "--tasks", "arithmetic",
                           "--limit", "1", "--max-new-tokens", "40", "--positions", "1", "--samples", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    forks = pd.read_parquet(out / "forks.parquet")
    rollouts = pd.read_parquet(out / "rollouts")
    assert len(rollouts) == 1 and {"high", "low"} <= set(forks["kind"])
    assert (forks["n_samples"] == 2).all() and forks["changed"].between(0, 1).all()
    row = rollouts.iloc[0]
    assert forks["entropy"].tolist() == pytest.approx([float(row.entropy[p]) for p in forks["position"]])
