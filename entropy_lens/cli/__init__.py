"""The ``entropy-lens`` command line: ``main`` holds the command table, ``flags`` the one
config-to-argparse builder, and one module per command group does the parsing and calls the
Python API. Heavy libraries are imported after parsing, so ``--help`` is instant."""

from entropy_lens.cli.main import main

__all__ = ["main"]
