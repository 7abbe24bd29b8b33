"""The ``entropy-lens`` command line: ``main`` holds the command table and the entry point,
``flags`` the one config-to-argparse builder, ``sources`` where an analysis gets its table,
and one module per command group (measure, analyses, pages, train) parses its commands and
calls the Python API. Heavy libraries are imported after parsing, so ``--help`` is instant."""
