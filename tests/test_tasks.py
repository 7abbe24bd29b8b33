"""Tests for entropy_lens.tasks: built-in sets, every Hugging Face schema through small local
files of that exact schema (the real loading code, no hub), local files, and every error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from entropy_lens.errors import UserError
from entropy_lens.tasks.hub import HF_DATASETS, strip_dapo_instruction
from entropy_lens.tasks.load import BUILTIN_TASKS, load_tasks
from entropy_lens.tasks.problem import Problem


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    """Keep the `datasets` cache of local test files out of the user's home."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def write_parquet(path, rows, schema=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, str(path))
    return str(path)


def user_error(fn, *args, **kwargs) -> str:
    """Run fn, expect a UserError, check its message is one line, return the message."""
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert msg.strip() == msg and msg
    return msg


# ---------------------------------------------------------------------------
# arithmetic
# ---------------------------------------------------------------------------


def test_arithmetic_is_deterministic_and_correct():
    first = load_tasks("arithmetic")
    assert first == load_tasks("arithmetic")
    assert len(first) == 500
    ids = [p.prompt_id for p in first]
    assert len(set(ids)) == 500
    assert ids[0] == "arithmetic-0000" and ids[-1] == "arithmetic-0499"
    ops = set()
    for p in first:
        assert isinstance(p, Problem)
        m = re.fullmatch(r"What is (\d+) ([+-]) (\d+)\?", p.prompt)
        assert m, p.prompt
        a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
        ops.add(op)
        assert int(p.answer) == (a + b if op == "+" else a - b)
        assert int(p.answer) >= 0 and a < 100 and b < 100
    assert ops == {"+", "-"}
    # easy: a good share of the problems are one-digit sums and differences (operands < 20)
    assert sum(all(int(x) < 20 for x in re.findall(r"\d+", p.prompt)) for p in first) >= 150


def test_arithmetic_limit_and_bad_limits():
    assert load_tasks("arithmetic", limit=7) == load_tasks("arithmetic")[:7]
    assert len(load_tasks("ARITHMETIC", limit=1)) == 1
    for bad in (0, -3, True, 2.5, "3"):
        assert "limit" in user_error(load_tasks, "arithmetic", limit=bad)


# ---------------------------------------------------------------------------
# champ
# ---------------------------------------------------------------------------


def test_champ_loads_270_problems_with_answers():
    problems = load_tasks("champ")
    assert len(problems) == 270
    assert len({p.prompt_id for p in problems}) == 270
    assert all(p.prompt_id.startswith("P_") for p in problems)
    assert all(p.answer for p in problems)
    assert all(p.prompt and "@@" not in p.prompt for p in problems)
    first = next(p for p in problems if p.prompt_id == "P_Combinatorics_1")
    assert first.answer == "239" and first.prompt.startswith("Let a string consist of digit 1, 2, 3.")
    assert load_tasks("champ", limit=3) == problems[:3]


# ---------------------------------------------------------------------------
# Hugging Face schemas, through local files of the exact schema
# ---------------------------------------------------------------------------


def test_math500_parquet_schema(tmp_path):
    rows = [
        {"problem": "Convert the point $(0,3)$ to polar coordinates.", "solution": "... $\\boxed{(3,\\frac{\\pi}{2})}$",
         "answer": "\\left( 3, \\frac{\\pi}{2} \\right)", "subject": "Precalculus", "level": 2,
         "unique_id": "test/precalculus/807.json"},
        {"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$.", "answer": "2", "subject": "Prealgebra",
         "level": 1, "unique_id": "test/prealgebra/1.json"},
    ]
    path = write_parquet(tmp_path / "math500.parquet", rows)
    problems = load_tasks("HuggingFaceH4/MATH-500", data_files=path)
    assert problems == [
        Problem("math500-test/precalculus/807.json", rows[0]["problem"], rows[0]["answer"]),
        Problem("math500-test/prealgebra/1.json", "What is $1+1$?", "2"),
    ]
    # the alias and a differently-cased id run the same adapter
    assert load_tasks("math500", data_files=path) == problems
    assert load_tasks("huggingfaceh4/math-500", data_files=path, limit=1) == problems[:1]


def test_aime24_h4_and_maxwell_schemas(tmp_path):
    h4 = [{"id": 60, "problem": "Every morning Aya goes for a walk.", "solution": "sol", "answer": "204",
           "url": "https://artofproblemsolving.com/x", "year": "2024"},
          {"id": 61, "problem": "Let $ABC$ be a triangle.", "solution": "sol", "answer": "113",
           "url": "https://artofproblemsolving.com/y", "year": "2024"}]
    got = load_tasks("HuggingFaceH4/aime_2024", data_files=write_jsonl(tmp_path / "h4.jsonl", h4))
    assert [(p.prompt_id, p.answer) for p in got] == [("aime24-60", "204"), ("aime24-61", "113")]
    assert got[0].prompt == "Every morning Aya goes for a walk."

    mj = [{"ID": "2024-I-1", "Problem": "Every morning Aya goes for a walk.", "Solution": "sol", "Answer": 204},
          {"ID": "2024-II-4", "Problem": "Let $x,y$ be reals.", "Solution": "sol", "Answer": 33}]
    got = load_tasks("Maxwell-Jia/AIME_2024", data_files=write_parquet(tmp_path / "mj.parquet", mj))
    assert got == [Problem("aime24-2024-I-1", "Every morning Aya goes for a walk.", "204"),
                   Problem("aime24-2024-II-4", "Let $x,y$ be reals.", "33")]
    assert load_tasks("aime24", data_files=str(tmp_path / "h4.jsonl"))[1].answer == "113"


def test_aime25_schemas_and_configs(tmp_path):
    yl = [{"id": 0, "problem": "Find the sum of all integer bases $b>9$.", "solution": "s", "answer": "70",
           "url": "u", "year": "2025"}]
    got = load_tasks("yentinglin/aime_2025", data_files=write_parquet(tmp_path / "yl.parquet", yl))
    assert got == [Problem("aime25-0", "Find the sum of all integer bases $b>9$.", "70")]

    mathai = [{"problem": "P one", "answer": "70", "id": "0"}, {"problem": "P two", "answer": "588", "id": "1"}]
    got = load_tasks("aime25", data_files=write_jsonl(tmp_path / "aime25.jsonl", mathai))
    assert [(p.prompt_id, p.prompt, p.answer) for p in got] == [("aime25-0", "P one", "70"),
                                                                ("aime25-1", "P two", "588")]

    oc = [{"question": "Find the sum of all integer bases.", "answer": "70"},
          {"question": "On triangle ABC ...", "answer": "588"}]
    path = write_jsonl(tmp_path / "aime2025-II.jsonl", oc)
    got = load_tasks("opencompass/AIME2025:AIME2025-II", data_files=path)
    assert [p.prompt_id for p in got] == ["aime25-II-0000", "aime25-II-0001"]
    assert got[1] == Problem("aime25-II-0001", "On triangle ABC ...", "588")
    assert [p.prompt_id for p in load_tasks("opencompass/aime2025:aime2025-i", data_files=path)] == \
        ["aime25-I-0000", "aime25-I-0001"]
    assert [p.prompt_id for p in load_tasks("opencompass/AIME2025", data_files=path)] == \
        ["aime25-0000", "aime25-0001"]
    msg = user_error(load_tasks, "opencompass/AIME2025:AIME2025-III", data_files=path)
    assert "AIME2025-III" in msg and "AIME2025-I, AIME2025-II" in msg


def test_amc23_schemas(tmp_path):
    rows = [{"id": 0, "question": "How many positive divisors?", "answer": 27.0, "url": "u0"},
            {"id": 1, "question": "What is the ratio?", "answer": 0.5, "url": "u1"}]
    got = load_tasks("math-ai/amc23", data_files=write_parquet(tmp_path / "amc.parquet", rows))
    assert got == [Problem("amc23-0", "How many positive divisors?", "27"),
                   Problem("amc23-1", "What is the ratio?", "0.5")]
    zw = [{"id": 0, "question": "Q0", "answer": 3.0, "url": "u"},
          {"id": 1, "question": "  ", "answer": 1.0, "url": "u"},   # empty row some mirrors carry
          {"id": 2, "question": "Q2", "answer": 50.0, "url": "u"}]
    got = load_tasks("zwhe99/amc23", data_files=write_jsonl(tmp_path / "zw.jsonl", zw))
    assert [(p.prompt_id, p.prompt, p.answer) for p in got] == [("amc23-0", "Q0", "3"), ("amc23-2", "Q2", "50")]


def test_gsm8k_answer_after_hashes(tmp_path):
    rows = [{"question": "Natalia sold clips to 48 of her friends in April...",
             "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"},
            {"question": "A shop sells 1,200 pens.", "answer": "1200+34=1234\n#### 1,234"}]
    got = load_tasks("openai/gsm8k", data_files=write_parquet(tmp_path / "gsm8k.parquet", rows))
    assert [(p.prompt_id, p.answer) for p in got] == [("gsm8k-0000", "72"), ("gsm8k-0001", "1234")]
    assert got[0].prompt.startswith("Natalia sold clips")
    assert load_tasks("gsm8k", data_files=str(tmp_path / "gsm8k.parquet")) == got


DAPO_PRE = ("Solve the following math problem step by step. The last line of your response should be of "
            "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n")
DAPO_POST = "\n\nRemember to put your answer on its own line after \"Answer:\"."


def _dapo_row(problem, truth, index):
    return {"data_source": "math_dapo",
            "prompt": [{"content": DAPO_PRE + problem + DAPO_POST, "role": "user"}],
            "ability": "MATH",
            "reward_model": {"ground_truth": truth, "style": "rule-lighteval/MATH_v2"},
            "extra_info": {"index": index}}


def test_dapo_parquet_dedup_and_instruction_stripping(tmp_path):
    p1 = "In triangle $ABC$, $\\sin \\angle A = \\frac{4}{5}$. Find $k+m$."
    p2 = "Let $x$ be a real number.\n\nFind the minimum of $x^2 + 1$."
    p3 = "How many primes are below 20?"
    rows = []
    for _ in range(3):  # the dataset repeats every problem many times
        rows += [_dapo_row(p1, "34", "9a9b6eb4-a1cb-49d1-8c1e-62eaf2f74079"),
                 _dapo_row(p2, "1", "b426d104-244d-4831-a2c4-cd756b61700a"),
                 _dapo_row(p3, "8", "5c6d8a3e-0000-4000-8000-000000000003")]
    path = write_parquet(tmp_path / "dapo-math-17k.parquet", rows)
    got = load_tasks("BytedTsinghua-SIA/DAPO-Math-17k", data_files=path)
    assert got == [Problem("dapo17k-9a9b6eb4-a1cb-49d1-8c1e-62eaf2f74079", p1, "34"),
                   Problem("dapo17k-b426d104-244d-4831-a2c4-cd756b61700a", p2, "1"),
                   Problem("dapo17k-5c6d8a3e-0000-4000-8000-000000000003", p3, "8")]
    assert all("Answer" not in p.prompt and "Remember" not in p.prompt for p in got)
    assert load_tasks("dapo17k", data_files=path, limit=2) == got[:2]


def test_dapo_general_path_and_positional_ids(tmp_path):
    # a system message before the user turn, and copies whose index differs: the slow path,
    # dedup by problem text, and positional ids when the dataset's ids repeat
    rows = [
        {"prompt": [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": DAPO_PRE + "What is 2+2?" + DAPO_POST}],
         "reward_model": {"ground_truth": "4", "style": "rule"}, "extra_info": {"index": "a"}},
        {"prompt": [{"role": "user", "content": DAPO_PRE + "What is 2+2?" + DAPO_POST}],
         "reward_model": {"ground_truth": "4", "style": "rule"}, "extra_info": {"index": "b"}},
        {"prompt": [{"role": "user", "content": "What is 3+3?"}],
         "reward_model": {"ground_truth": "6", "style": "rule"}, "extra_info": {"index": "a"}},
    ]
    got = load_tasks("dapo17k", data_files=write_jsonl(tmp_path / "dapo.jsonl", rows))
    assert got == [Problem("dapo17k-0000", "What is 2+2?", "4"), Problem("dapo17k-0001", "What is 3+3?", "6")]


def test_strip_dapo_instruction_keeps_unwrapped_text():
    assert strip_dapo_instruction(DAPO_PRE + "Find $x$." + DAPO_POST) == "Find $x$."
    assert strip_dapo_instruction("Find $x$.") == "Find $x$."


def test_dapo_wrong_schema(tmp_path):
    path = write_jsonl(tmp_path / "notdapo.jsonl", [{"question": "q", "answer": "1"}])
    msg = user_error(load_tasks, "dapo17k", data_files=path)
    assert "DAPO" in msg and "question" in msg


def test_data_files_errors(tmp_path):
    msg = user_error(load_tasks, "math500", data_files=str(tmp_path / "missing.parquet"))
    assert "not found" in msg and "missing.parquet" in msg
    (tmp_path / "empty.jsonl").write_text("")
    assert "empty" in user_error(load_tasks, "math500", data_files=str(tmp_path / "empty.jsonl"))
    (tmp_path / "broken.jsonl").write_text('{"problem": "x", "answer": \n')
    assert "could not read" in user_error(load_tasks, "math500", data_files=str(tmp_path / "broken.jsonl"))
    (tmp_path / "broken.parquet").write_bytes(b"not a parquet file at all")
    assert "could not read" in user_error(load_tasks, "math500", data_files=str(tmp_path / "broken.parquet"))
    (tmp_path / "data.csv").write_text("problem,answer\nx,1\n")
    assert ".jsonl" in user_error(load_tasks, "math500", data_files=str(tmp_path / "data.csv"))
    assert "directory" in user_error(load_tasks, "math500", data_files=str(tmp_path))
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [{"text": "x", "gold": "1"}])
    msg = user_error(load_tasks, "HuggingFaceH4/MATH-500", data_files=wrong)
    assert "no problem column" in msg and "text, gold" in msg
    # data_files only goes with a Hugging Face dataset
    assert "data_files" in user_error(load_tasks, "arithmetic", data_files=wrong)
    assert "data_files" in user_error(load_tasks, wrong, data_files=wrong)


# ---------------------------------------------------------------------------
# the hub path, with datasets.load_dataset replaced (no network in tests)
# ---------------------------------------------------------------------------


def test_hub_download_failure_is_a_user_error(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'HuggingFaceH4/MATH-500' on the Hub\n(LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    msg = user_error(load_tasks, "math500")
    assert "could not download HuggingFaceH4/MATH-500" in msg
    assert "local JSONL/Parquet file" in msg and "--tasks" in msg


def test_hub_loader_picks_config_and_split(monkeypatch):
    import datasets

    calls = []

    def fake(repo, config=None, **kwargs):
        calls.append((repo, config))
        if repo == "openai/gsm8k":
            return datasets.DatasetDict({
                "train": datasets.Dataset.from_list([{"question": "train q", "answer": "x\n#### 1"}]),
                "test": datasets.Dataset.from_list([{"question": "test q", "answer": "y\n#### 2"}]),
            })
        if repo == "opencompass/AIME2025":
            return datasets.DatasetDict({"test": datasets.Dataset.from_list(
                [{"question": f"{config} q{i}", "answer": str(i)} for i in range(2)])})
        raise AssertionError(repo)

    monkeypatch.setattr(datasets, "load_dataset", fake)
    assert load_tasks("gsm8k") == [Problem("gsm8k-0000", "test q", "2")]
    assert calls == [("openai/gsm8k", "main")]
    calls.clear()
    got = load_tasks("opencompass/AIME2025")
    assert calls == [("opencompass/AIME2025", "AIME2025-I"), ("opencompass/AIME2025", "AIME2025-II")]
    assert [p.prompt_id for p in got] == ["aime25-I-0000", "aime25-I-0001", "aime25-II-0000", "aime25-II-0001"]
    assert got[2].prompt == "AIME2025-II q0"
    calls.clear()
    assert len(load_tasks("opencompass/AIME2025:AIME2025-II")) == 2
    assert calls == [("opencompass/AIME2025", "AIME2025-II")]


def test_every_alias_names_a_supported_dataset():
    from entropy_lens.tasks.hub import HF_ALIASES

    for alias, repo in HF_ALIASES.items():
        assert alias in BUILTIN_TASKS
        assert repo.lower() in HF_DATASETS
    assert {"arithmetic", "champ"} <= set(BUILTIN_TASKS)
    assert all(isinstance(v, str) and "\n" not in v for v in BUILTIN_TASKS.values())


# ---------------------------------------------------------------------------
# local files
# ---------------------------------------------------------------------------


def test_local_jsonl_with_ids(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [
        {"prompt_id": "a", "prompt": "What is 2 + 2?", "answer": "4"},
        {"prompt_id": "b", "prompt": " What is 3 + 3? ", "answer": 6},
        {"prompt_id": 7, "prompt": "Name a prime.", "answer": None},
    ])
    assert load_tasks(path) == [Problem("a", "What is 2 + 2?", "4"), Problem("b", "What is 3 + 3?", "6"),
                                Problem("7", "Name a prime.", None)]
    assert load_tasks(path, limit=2) == load_tasks(path)[:2]


def test_local_alternative_columns_and_generated_ids(tmp_path):
    path = write_jsonl(tmp_path / "probs.jsonl", [{"problem": "P0", "answer": "1"}, {"problem": "P1"}])
    assert load_tasks(path) == [Problem("probs-0000", "P0", "1"), Problem("probs-0001", "P1", None)]
    path = write_jsonl(tmp_path / "qs.jsonl", [{"question": "Q0"}])
    assert load_tasks(path) == [Problem("qs-0000", "Q0", None)]


def test_local_parquet_and_json(tmp_path):
    rows = [{"prompt": "P0", "answer": "1"}, {"prompt": "P1", "answer": "2"}]
    assert load_tasks(write_parquet(tmp_path / "set.parquet", rows)) == \
        [Problem("set-0000", "P0", "1"), Problem("set-0001", "P1", "2")]
    (tmp_path / "set.json").write_text(json.dumps(rows))
    assert load_tasks(str(tmp_path / "set.json")) == [Problem("set-0000", "P0", "1"), Problem("set-0001", "P1", "2")]
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": rows}))
    assert [p.prompt for p in load_tasks(str(tmp_path / "wrapped.json"))] == ["P0", "P1"]
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [p.answer for p in load_tasks(str(tmp_path / "lines.json"))] == ["1", "2"]


def test_local_file_errors(tmp_path):
    msg = user_error(load_tasks, str(tmp_path / "nope.jsonl"))
    assert "not found" in msg and "nope.jsonl" in msg

    (tmp_path / "empty.jsonl").write_text("")
    assert "empty" in user_error(load_tasks, str(tmp_path / "empty.jsonl"))
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    assert "empty" in user_error(load_tasks, str(tmp_path / "blank.jsonl"))
    (tmp_path / "none.json").write_text("[]")
    assert "no rows" in user_error(load_tasks, str(tmp_path / "none.json"))
    write_parquet(tmp_path / "none.parquet", [], schema=__import__("pyarrow").schema([("prompt", "string")]))
    assert "no rows" in user_error(load_tasks, str(tmp_path / "none.parquet"))

    (tmp_path / "bad.jsonl").write_text('{"prompt": "ok"}\n{"prompt": oops}\n')
    msg = user_error(load_tasks, str(tmp_path / "bad.jsonl"))
    assert "line 2" in msg and "not valid JSON" in msg
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 garbage")
    assert "could not parse" in user_error(load_tasks, str(tmp_path / "bad.parquet"))
    (tmp_path / "scalar.json").write_text("42")
    assert "not a list" in user_error(load_tasks, str(tmp_path / "scalar.json"))
    (tmp_path / "strings.jsonl").write_text('"just a string"\n')
    assert "not an object" in user_error(load_tasks, str(tmp_path / "strings.jsonl"))

    path = write_jsonl(tmp_path / "cols.jsonl", [{"text": "x", "gold": "1"}])
    msg = user_error(load_tasks, path)
    assert "no prompt column" in msg and "columns found: text, gold" in msg

    path = write_jsonl(tmp_path / "dup.jsonl", [{"prompt_id": "a", "prompt": "x"}, {"prompt_id": "a", "prompt": "y"}])
    msg = user_error(load_tasks, path)
    assert "duplicate prompt_id 'a'" in msg

    path = write_jsonl(tmp_path / "hole.jsonl", [{"prompt": "x"}, {"prompt": ""}])
    assert "row 1" in user_error(load_tasks, path)
    assert "directory" in user_error(load_tasks, str(tmp_path) + "/")
    (tmp_path / "set.csv").write_text("prompt,answer\nx,1\n")
    assert ".jsonl" in user_error(load_tasks, str(tmp_path / "set.csv"))


def test_one_row_reader_for_task_files_and_score_inputs(tmp_path):
    """tasks.files.read_rows reads every JSON layout, and `score` reads its input with it."""
    import pandas as pd

    from entropy_lens.measure.score_inputs import read_score_items
    from entropy_lens.tasks.files import read_rows

    frame = pd.DataFrame({"prompt": ["P0", "P1"], "response": ["R0", "R1"], "answer": ["1", None]})
    frame.to_json(tmp_path / "pandas.json")  # pandas' default layout: {"prompt": {"0": "P0", ...}, ...}
    rows = read_rows(tmp_path / "pandas.json", "input")
    assert rows == [{"prompt": "P0", "response": "R0", "answer": "1"}, {"prompt": "P1", "response": "R1", "answer": None}]
    (tmp_path / "columns.json").write_text(json.dumps({"prompt": ["P0", "P1"], "response": ["R0", "R1"]}))
    assert [r["response"] for r in read_rows(tmp_path / "columns.json", "input")] == ["R0", "R1"]
    items = read_score_items(tmp_path / "pandas.json")
    assert [(i.prompt_id, i.sample_id, i.answer, i.finish_reason) for i in items] == \
        [("row-000000", 0, "1", "given"), ("row-000001", 0, None, "given")]
    write_jsonl(tmp_path / "pairs.jsonl", [{"prompt_id": "a", "prompt": "P", "response": "R"},
                                           {"prompt_id": "a", "prompt": "P", "response": "S", "finish_reason": "length"}])
    items = read_score_items(tmp_path / "pairs.jsonl")
    assert [(i.sample_id, i.response, i.finish_reason) for i in items] == [(0, "R", "given"), (1, "S", "length")]
    (tmp_path / "bad.jsonl").write_text('{"prompt": "P", "response": "R"}\n{oops\n')
    assert "could not parse input" in user_error(read_score_items, tmp_path / "bad.jsonl")
    (tmp_path / "shards").mkdir()
    assert "no rollout shards" in user_error(read_score_items, tmp_path / "shards")


def test_unknown_and_empty_specs():
    msg = user_error(load_tasks, "fibonacci")
    assert "unknown task 'fibonacci'" in msg
    for name in BUILTIN_TASKS:
        assert name in msg
    assert "local" in msg and "HuggingFaceH4/MATH-500" in msg
    assert "unknown task 'someone/some-dataset'" in user_error(load_tasks, "someone/some-dataset")
    assert "no task" in user_error(load_tasks, "  ")


def test_importing_is_light():
    code = ("import sys, entropy_lens.tasks, entropy_lens.tasks.answers; "
            "heavy = [m for m in ('datasets', 'math_verify', 'pandas', 'pyarrow', 'champ_dataset', 'torch') "
            "if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parents[1]))
