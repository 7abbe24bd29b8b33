"""The one builder of command-line flags from a config dataclass, and its way back.

Every field of the dataclass becomes ``--field-name`` (underscores as hyphens) with the
field's ``help`` metadata, its ``choices`` and its default shown as ``(default: X)``:

- ``bool``: ``--flag`` / ``--no-flag`` (``argparse.BooleanOptionalAction``);
- ``int``, ``float``, ``str`` and each of them ``| None``: a value that argparse converts,
  so ``--steps abc`` is refused as ``argument --steps: invalid int value: 'abc'``. A field
  that may be None takes ``none`` for it (e.g. ``--limit none`` clears a limit set in YAML).

``only_typed=True`` leaves untyped flags out of the parsed namespace (``argparse.SUPPRESS``
defaults), so that the flags typed can override settings from elsewhere (a YAML file);
the help still shows the dataclass defaults. ``config_from_args`` builds the dataclass
from a namespace; ``typed_values`` gives only the fields present in it.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields
from typing import Any, Sequence

from entropy_lens.measure.config import field_types

_TYPES = (int, float, str)
# Python 3.10's BooleanOptionalAction appends "(default: ...)" to the help itself, 3.11+ does not
_BOOL_SHOWS_DEFAULT = "default" in (argparse.BooleanOptionalAction(["--x"], "x", default=True, help="").help or "")


def flag(name: str) -> str:
    """The flag of a field: ``max_new_tokens`` -> ``--max-new-tokens``."""
    return "--" + name.replace("_", "-")


def add_config_flags(parser, cls, *, required: Sequence[str] = (), skip: Sequence[str] = (),
                     only_typed: bool = False) -> None:
    """Add one flag per field of the dataclass ``cls`` to ``parser`` (a parser or an
    argument group); see the module docstring. ``required``: fields that must be given;
    ``skip``: fields left out."""
    types = field_types(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        default = None if f.default is MISSING else f.default
        kind, may_be_none = types[f.name]
        help_text = _escape(f.metadata.get("help", ""))
        shown = "" if default is None else _escape(f" (default: {default})")
        # SUPPRESS: a flag that is not typed leaves no attribute, so it overrides nothing
        value = argparse.SUPPRESS if only_typed else default
        if kind is bool:
            own = _BOOL_SHOWS_DEFAULT and value is not argparse.SUPPRESS
            parser.add_argument(flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=value,
                                required=f.name in required, help=help_text + ("" if own else shown))
            continue
        if kind not in _TYPES:
            raise TypeError(f"{cls.__name__}.{f.name}: no flag for a field of type {kind!r}")
        choices = f.metadata.get("choices")
        convert = _none_or(kind) if may_be_none else kind
        parser.add_argument(flag(f.name), dest=f.name, type=convert, default=value, required=f.name in required,
                            choices=choices, metavar=None if choices else f.name.upper(), help=help_text + shown)


def typed_values(cls, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` that ``args`` holds (with ``only_typed``: the flags typed)."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def config_from_args(cls, args: argparse.Namespace):
    """``cls`` built from the parsed flags (fields absent from ``args`` keep their defaults)."""
    return cls(**typed_values(cls, args))


def _none_or(kind):
    """``kind``, or None for the text ``none`` / ``null``; named like ``kind`` so that argparse
    still says "invalid int value"."""
    def convert(text: str):
        return None if text.strip().lower() in ("none", "null") else kind(text)
    convert.__name__ = kind.__name__
    return convert


def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help texts
