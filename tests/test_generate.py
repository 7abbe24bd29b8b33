"""generate on a tiny model built in code: exact values, teacher-forcing agreement,
batch independence, greedy decoding."""

import numpy as np
import pytest
import torch

from entropy_lens import generate, score
from reference import full_forward_reference


@pytest.fixture(scope="module")
def rollouts(tiny, tasks_file_module):
    return generate(tiny, str(tasks_file_module), n=3, max_new_tokens=24, temperature=1.0, top_p=1.0,
                    batch_size=4, seed=7, show_progress=False)


@pytest.fixture(scope="module")
def tasks_file_module(tmp_path_factory):
    import json

    path = tmp_path_factory.mktemp("tasks") / "tasks.jsonl"
    rows = [{"prompt_id": f"p{i}", "prompt": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1)} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_table_has_one_row_per_pair_and_consistent_lengths(rollouts):
    assert len(rollouts) == 9
    assert sorted(zip(rollouts.prompt_id, rollouts.sample_id)) == [(f"p{i}", s) for i in range(3) for s in range(3)]
    for row in rollouts.itertuples():
        n = len(row.token_ids)
        assert 1 <= n <= 24
        assert len(row.entropy) == len(row.logprob) == len(row.offsets) == n
        assert row.finish_reason in ("stop", "length")
        assert (row.finish_reason == "length") == (n == 24 and row.token_ids[-1] != 2)


def test_generation_time_values_equal_an_independent_float64_computation(tiny, rollouts):
    for row in rollouts.itertuples():
        entropy, logprob = full_forward_reference(tiny.model, row.prompt_token_ids, row.token_ids)
        assert np.allclose(row.entropy, entropy.numpy(), atol=1e-4), row.prompt_id
        assert np.allclose(row.logprob, logprob.numpy(), atol=1e-4), row.prompt_id


def test_generation_time_values_equal_teacher_forced_scores(tiny, rollouts, tmp_path):
    path = tmp_path / "rollouts.parquet"
    rollouts.to_parquet(path)
    scored = score(tiny, path, show_progress=False, batch_size=5)
    assert list(scored.prompt_id) == list(rollouts.prompt_id)
    for a, b in zip(rollouts.itertuples(), scored.itertuples()):
        assert list(a.token_ids) == list(b.token_ids)
        assert a.response == b.response
        assert np.allclose(a.entropy, b.entropy, atol=1e-5)
        assert np.allclose(a.logprob, b.logprob, atol=1e-5)


def test_rows_do_not_depend_on_batch_size(tiny, rollouts, tasks_file_module):
    other = generate(tiny, str(tasks_file_module), n=3, max_new_tokens=24, temperature=1.0, top_p=1.0,
                     batch_size=1, seed=7, show_progress=False)
    assert [list(t) for t in other.token_ids] == [list(t) for t in rollouts.token_ids]
    different_seed = generate(tiny, str(tasks_file_module), n=3, max_new_tokens=24, temperature=1.0, top_p=1.0,
                              batch_size=4, seed=8, show_progress=False)
    assert [list(t) for t in different_seed.token_ids] != [list(t) for t in rollouts.token_ids]


def test_greedy_picks_the_argmax_every_step(tiny, tasks_file_module):
    greedy = generate(tiny, str(tasks_file_module), n=1, max_new_tokens=12, temperature=0.0, show_progress=False)
    for row in greedy.itertuples():
        ids = torch.tensor([list(row.prompt_token_ids) + list(row.token_ids)])
        with torch.no_grad():
            logits = tiny.model(input_ids=ids).logits[0]
        start = len(row.prompt_token_ids) - 1
        expected = logits[start : start + len(row.token_ids)].argmax(-1).tolist()
        assert list(row.token_ids) == expected
