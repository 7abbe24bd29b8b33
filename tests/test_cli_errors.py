"""Bad input: exit code 2, one line naming the problem and the fix, no traceback, nothing left behind."""

import importlib.util
import json
import subprocess
import sys

import pytest

from entropy_lens.cli.main import main


@pytest.fixture
def files(tmp_path):
    (tmp_path / "fake.gguf").write_text("not a gguf file")
    (tmp_path / "no-config").mkdir()
    (tmp_path / "broken-model").mkdir()
    (tmp_path / "broken-model" / "config.json").write_text("{broken")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "garbage.jsonl").write_text('{"prompt": \n')
    (tmp_path / "no-response.jsonl").write_text(json.dumps({"prompt": "What is 1 + 1?"}) + "\n")
    (tmp_path / "mine.txt").write_text("a file the user made")
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.md").write_text("the user's notes")
    return tmp_path


CASES = {
    "missing model path": (["generate", "--model", "{d}/absent-model"], "does not exist"),
    "folder without config": (["generate", "--model", "{d}/no-config"], "no config.json"),
    "broken model folder": (["generate", "--model", "{d}/broken-model"], "could not load model"),
    "not a gguf": (["generate", "--model", "{d}/fake.gguf"], "not a GGUF file"),
    "unknown task": (["generate", "--tasks", "no-such-task"], "unknown task"),
    "missing task file": (["generate", "--tasks", "{d}/absent.jsonl"], "not found"),
    "n <= 0": (["generate", "--n", "0"], "--n must be >= 1"),
    "max-new-tokens <= 0": (["generate", "--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    "negative temperature": (["generate", "--temperature", "-0.5"], "--temperature must be >= 0"),
    "top-p out of range": (["generate", "--top-p", "1.5"], "--top-p"),
    "missing input": (["score", "--input", "{d}/absent.jsonl"], "does not exist"),
    "empty input": (["score", "--input", "{d}/empty.jsonl"], "is empty"),
    "unparsable input": (["score", "--input", "{d}/garbage.jsonl"], "could not parse"),
    "input without columns": (["score", "--input", "{d}/no-response.jsonl"], "lacks column"),
    "vllm flag without vllm": (["generate", "--tensor-parallel-size", "2"], "applies to --backend vllm only"),
    "tensor-parallel-size 0": (["generate", "--backend", "vllm", "--tensor-parallel-size", "0"], "--tensor-parallel-size must be >= 1"),
    "memory share > 1": (["generate", "--backend", "vllm", "--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization must be in (0, 1]"),
    "max-model-len 0": (["generate", "--backend", "vllm", "--max-model-len", "0"], "--max-model-len must be >= 1"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_one_line(name, files, capsys):
    args, expected = CASES[name]
    out = files / "out"
    argv = [a.replace("{d}", str(files)) for a in args] + ["--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and expected in err and "; " in err, err
    assert len(err.splitlines()) == 1, err
    assert not out.exists(), "no partial output may be left behind"


@pytest.mark.parametrize("target, message", [("mine.txt", "existing file"), ("occupied", "other files")])
def test_out_that_the_user_made_is_never_touched(target, message, files, capsys):
    before = {p: p.read_bytes() for p in files.rglob("*") if p.is_file()}
    assert main(["generate", "--out", str(files / target)]) == 2
    assert message in capsys.readouterr().err
    assert {p: p.read_bytes() for p in files.rglob("*") if p.is_file()} == before


def test_other_settings_into_the_same_out_are_refused(tiny_model_dir, tasks_file, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["generate", "--model", str(tiny_model_dir), "--tasks", str(tasks_file), "--max-new-tokens", "4",
              "--n", "1", "--out", str(out)]
    assert main(common) == 0
    assert main(common + ["--seed", "9"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(common) == 0  # the same settings resume (nothing left to do)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here: its own tests run it")
def test_backend_vllm_without_vllm_names_the_install_before_importing_torch(files):
    code = ("import sys; from entropy_lens.cli.main import main; "
            f"rc = main(['generate', '--backend', 'vllm', '--out', {str(files / 'out')!r}]); "
            "assert 'torch' not in sys.modules and 'vllm' not in sys.modules, 'heavy import'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "needs vLLM" in err and "make vllm" in err and "[vllm]" in err, err
    assert not (files / "out").exists()


def test_real_process_prints_no_traceback(files):
    proc = subprocess.run([sys.executable, "-m", "entropy_lens", "generate", "--model", str(files / "fake.gguf"),
                           "--out", str(files / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_help_is_complete_and_does_not_import_torch():
    code = ("import sys; from entropy_lens.cli.main import build_parser; build_parser().format_help(); "
            "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False"
    for command in ("generate", "score"):
        text = subprocess.run([sys.executable, "-m", "entropy_lens", command, "--help"], capture_output=True,
                              text=True, timeout=60).stdout
        for flag in ("--model", "--out", "--device", "--dtype", "--batch-size", "--trust-remote-code"):
            assert flag in text
    gen_help = subprocess.run([sys.executable, "-m", "entropy_lens", "generate", "--help"], capture_output=True,
                              text=True, timeout=60).stdout
    for flag in ("--tasks", "--n", "--limit", "--max-new-tokens", "--temperature", "--top-p", "--seed"):
        assert flag in gen_help


@pytest.mark.parametrize("argv", [["train", "--algorithm", "dpo", "--out", "x"], ["bogus"], ["passk", "--k", "1"]])
def test_argument_errors_are_one_line_too(argv, capsys):
    """argparse's own errors (an unknown choice, command or a missing flag) also fit on one line."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error: " in err and "--help" in err, err


def test_every_help_page_renders_its_percent_signs(capsys):
    """argparse %-formats help strings but not descriptions: a doubled %% must not show."""
    from entropy_lens.cli.main import GROUPS, main

    for command in [c for group in GROUPS for c in group.COMMANDS]:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "%%" not in text and command in text, command


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`entropy-lens summary DIR | head -1`: the closed pipe ends the command quietly."""
    from rollout_factory import make_row, make_table

    rows = [make_row([(f" w{i}", 0.1 * (i % 7)) for i in range(40)], prompt_id=f"p{k}") for k in range(30)]
    table = tmp_path / "table"
    table.mkdir()
    make_table(rows).to_parquet(table / "part-00000.parquet")
    proc = subprocess.Popen([sys.executable, "-m", "entropy_lens", "summary", str(table)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the command writes (it imports and reads first): its write finds no reader
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err, err
