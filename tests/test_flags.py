"""The one dataclass-to-flags builder (entropy_lens.cli.flags): types, choices, defaults in
the help, %-escaping, required and skipped fields, only-typed flags, and the way back."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from entropy_lens.cli.flags import add_config_flags, config_from_args, flag, typed_values
from entropy_lens.measure.config import option


@dataclass
class Settings:
    name: str = option("demo", "a name")
    steps: int = option(3, "how many steps")
    rate: float = option(0.5, "a rate of 50% at most")
    limit: int | None = option(None, "use only the first N")
    scale: float | None = option(None, "a scale (default: per mode)")
    fast: bool = option(True, "go fast")
    mode: str = option("a", "the mode", choices=["a", "b"])
    path: str = option(None, "a file")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # raise instead of exiting, with argparse's message
        raise ValueError(message)


def _parser(**kwargs) -> argparse.ArgumentParser:
    parser = _Parser(prog="x")
    add_config_flags(parser, Settings, **kwargs)
    return parser


def _help(parser) -> str:
    return " ".join(parser.format_help().split())  # one line: no wrapping to match around


def test_flag_names():
    assert flag("max_new_tokens") == "--max-new-tokens" and flag("n") == "--n"


def test_values_are_converted_to_the_field_types():
    args = _parser().parse_args(["--steps", "7", "--rate", "1e-3", "--limit", "2", "--scale", "2", "--no-fast",
                                 "--mode", "b", "--name", "z", "--path", "f.txt"])
    assert config_from_args(Settings, args) == Settings(name="z", steps=7, rate=1e-3, limit=2, scale=2.0, fast=False,
                                                        mode="b", path="f.txt")
    assert config_from_args(Settings, _parser().parse_args([])) == Settings()


@pytest.mark.parametrize("argv, message", [
    (["--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
    (["--limit", "1.5"], "argument --limit: invalid int value: '1.5'"),
    (["--rate", "fast"], "argument --rate: invalid float value: 'fast'"),
    (["--scale", "x"], "argument --scale: invalid float value: 'x'"),
    (["--mode", "c"], "argument --mode: invalid choice: 'c'"),
])
def test_bad_values_are_refused_by_argparse_naming_the_flag(argv, message):
    for only_typed in (False, True):
        with pytest.raises(ValueError, match=message):
            _parser(only_typed=only_typed).parse_args(argv)


def test_help_shows_defaults_choices_and_percent_signs():
    text = _help(_parser())
    assert "--steps STEPS how many steps (default: 3)" in text
    assert "--rate RATE a rate of 50% at most (default: 0.5)" in text  # % escaped for argparse, shown once
    assert "--limit LIMIT use only the first N --scale" in text  # a None default is not shown
    assert "--fast, --no-fast go fast (default: True)" in text
    assert "--mode {a,b} the mode (default: a)" in text


def test_only_typed_flags_reach_the_namespace_and_the_help_is_the_same():
    parser = _parser(only_typed=True)
    assert vars(parser.parse_args([])) == {}
    args = parser.parse_args(["--steps", "4", "--no-fast"])
    assert typed_values(Settings, args) == {"steps": 4, "fast": False}
    assert config_from_args(Settings, args) == Settings(steps=4, fast=False)
    assert _help(parser) == _help(_parser())  # the defaults are shown, bools' included


def test_required_and_skipped_fields():
    parser = _parser(required=("path",), skip=("mode", "scale"))
    with pytest.raises(ValueError, match="the following arguments are required: --path"):
        parser.parse_args([])
    args = parser.parse_args(["--path", "f"])
    assert not hasattr(args, "mode") and not hasattr(args, "scale")
    assert config_from_args(Settings, args) == Settings(path="f")


def test_an_argument_group_takes_the_flags_too():
    parser = _Parser(prog="x")
    add_config_flags(parser.add_argument_group("settings"), Settings)
    assert "settings:" in parser.format_help() and parser.parse_args(["--steps", "2"]).steps == 2


def test_a_field_type_without_a_flag_is_a_programming_error():
    @dataclass
    class Odd:
        items: list = option(None, "a list")

    with pytest.raises(TypeError, match="Odd.items"):
        add_config_flags(argparse.ArgumentParser(), Odd)


def test_generate_and_train_flags():
    """The real commands: generate's defaults, train's only-typed flags, and `train --steps abc`."""
    from entropy_lens.cli.main import build_parser

    parser = build_parser()
    gen = parser.parse_args(["generate", "--out", "o", "--limit", "3"])
    assert (gen.limit, gen.n, gen.temperature, gen.chat_template) == (3, 4, 0.6, True)
    train = parser.parse_args(["train", "--out", "o", "--steps", "5", "--alpha", "0.2"])
    assert (train.steps, train.alpha) == (5, 0.2) and not hasattr(train, "kappa")


def test_train_steps_abc_names_the_flag(capsys):
    from entropy_lens.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["train", "--steps", "abc", "--out", "o"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "argument --steps: invalid int value: 'abc'" in err and len(err.splitlines()) == 1, err


def test_an_optional_field_takes_none_and_still_refuses_garbage():
    from entropy_lens.cli.flags import add_config_flags
    from entropy_lens.measure.config import GenerateConfig

    parser = argparse.ArgumentParser(exit_on_error=False)
    add_config_flags(parser, GenerateConfig)
    assert parser.parse_args(["--limit", "none"]).limit is None
    assert parser.parse_args(["--limit", "3"]).limit == 3
    with pytest.raises(argparse.ArgumentError, match="invalid int value"):
        parser.parse_args(["--limit", "abc"])
