import json

import numpy as np
import pandas as pd
import pytest

from entropy_lens.errors import UserError
from entropy_lens.rollouts.load import read_rollouts
from entropy_lens.rollouts.schema import RUN_FILE
from entropy_lens.rollouts.store import RolloutStore


def _row(pid, sid, n=3):
    return {
        "prompt_id": pid, "sample_id": sid, "prompt": "What is 1 + 1?", "prompt_token_ids": [1, 5, 9],
        "response": "abc"[:n], "token_ids": list(range(n)), "offsets": [[i, i + 1] for i in range(n)],
        "entropy": [0.5] * n, "logprob": [-0.25] * n, "answer": "2", "extracted": None, "correct": None,
        "finish_reason": "stop",
    }


def test_schema_round_trip_through_pandas(tmp_path):
    store = RolloutStore(tmp_path / "out", {"command": "generate", "n": 2})
    store.open()
    store.write([_row("a", 0), _row("a", 1)])
    store.write([_row("b", 0, n=2)])
    frame = pd.read_parquet(tmp_path / "out")  # the documented way to read the table
    assert len(frame) == 3
    assert frame["sample_id"].dtype == np.int64
    assert isinstance(frame["prompt_id"].iloc[0], str)
    assert frame["entropy"].iloc[0].dtype == np.float32
    assert frame["logprob"].iloc[0].dtype == np.float32
    assert [list(x) for x in frame["offsets"].iloc[0]] == [[0, 1], [1, 2], [2, 3]]
    assert frame["correct"].isna().all()
    assert json.loads((tmp_path / "out" / RUN_FILE).read_text())["settings"] == {"command": "generate", "n": 2}
    assert list(read_rollouts(tmp_path / "out").prompt_id) == ["a", "a", "b"]


def test_resume_bookkeeping_and_stale_temporary_files(tmp_path):
    out = tmp_path / "out"
    first = RolloutStore(out, {"n": 2})
    first.open()
    first.write([_row("a", 0)])
    (out / ".part-00001.parquet.tmp").write_bytes(b"half a shard")
    again = RolloutStore(out, {"n": 2})
    again.open()
    assert again.done == {("a", 0)}
    assert not list(out.glob(".*.tmp"))
    again.write([_row("a", 1)])
    assert sorted(p.name for p in out.glob("part-*.parquet")) == ["part-00000.parquet", "part-00001.parquet"]


def test_other_settings_are_refused(tmp_path):
    RolloutStore(tmp_path / "out", {"n": 2, "seed": 0}).open()
    with pytest.raises(UserError, match="other settings.*seed"):
        RolloutStore(tmp_path / "out", {"n": 2, "seed": 1}).check()


def test_out_that_is_a_file_or_holds_other_things_is_refused(tmp_path):
    (tmp_path / "file.txt").write_text("mine")
    with pytest.raises(UserError, match="existing file"):
        RolloutStore(tmp_path / "file.txt", {}).check()
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.md").write_text("mine")
    with pytest.raises(UserError, match="other files"):
        RolloutStore(tmp_path / "dir", {}).check()
    assert (tmp_path / "dir" / "notes.md").read_text() == "mine"


def test_abandon_removes_only_a_directory_it_created_without_shards(tmp_path):
    store = RolloutStore(tmp_path / "new", {})
    store.open()
    store.abandon()
    assert not (tmp_path / "new").exists()
    (tmp_path / "existing").mkdir()
    kept = RolloutStore(tmp_path / "existing", {})
    kept.open()
    kept.abandon()
    assert (tmp_path / "existing").exists()


def test_a_run_that_did_not_record_a_setting_is_not_resumed_with_mixed_rules(tmp_path):
    RolloutStore(tmp_path / "r", {"command": "generate", "n": 2}).open()
    store = RolloutStore(tmp_path / "r", {"command": "generate", "n": 2, "lenient_truncated": False})
    with pytest.raises(UserError, match="did not record lenient_truncated"):
        store.check()


def test_score_and_train_record_the_grading_rule_of_truncated_responses():
    from entropy_lens.measure.config import ScoreConfig
    from entropy_lens_trainer.config import TrainConfig

    assert ScoreConfig(input="x.jsonl", lenient_truncated=True).run_settings("digest")["lenient_truncated"] is True
    assert TrainConfig().lenient_truncated is False


def test_rerunning_a_finished_table_loads_no_model(tiny_model_dir, tasks_file, tmp_path, monkeypatch):
    """A rerun with nothing left to sample reads the table back without loading the model
    (a resumed study or demo pays nothing for it); a table with rows left does load it."""
    import entropy_lens.measure.generate as gen

    kwargs = dict(tasks=str(tasks_file), n=2, max_new_tokens=4, device="cpu", instruction="")
    first = gen.generate(str(tiny_model_dir), out=tmp_path / "r", **kwargs)
    loads = []
    real_load = gen.load_model
    monkeypatch.setattr(gen, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    again = gen.generate(str(tiny_model_dir), out=tmp_path / "r", **kwargs)
    assert loads == [] and again.equals(first)
    more = gen.generate(str(tiny_model_dir), out=tmp_path / "r2", **kwargs)
    assert len(loads) == 1 and len(more) == len(first)
