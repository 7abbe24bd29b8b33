"""The package's layout keeps its one-way data flow: every import (including the lazy ones
inside functions) points down the stages below, and no two modules import each other in a loop.

    errors, folders, progress, quantiles, shaping, stats   the base every stage may use
    tasks/       problems and the answer checker
    rollouts/    the table (written by measure/, read by analyses/)
    measure/     models -> sampled or scored responses with their exact entropies
    analyses/    compute-only results from tables and training logs
    integrations/  other frameworks' trainers (TRL) with the shaping, metrics and tables above
    plots/       one figure module per analysis
    pages/       self-contained HTML
    outputs      staged output folders and every write_* function
    cli/         parsing; calls the API above
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "entropy_lens"
TRAINER = PACKAGE.parent / "trainer"
# the trainer samples with measure/ and logs with analyses/; it never needs what draws or parses
TRAINER_MAY_NOT_USE = ("cli", "outputs", "pages", "plots")
STAGES = ["base", "tasks", "rollouts", "measure", "analyses", "integrations", "plots", "pages", "outputs", "cli", "api"]
BASE_MODULES = {"errors", "folders", "progress", "quantiles", "shaping", "stats"}
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "api"  # entropy_lens itself: the lazy public API and `python -m entropy_lens`
    if parts[1] in BASE_MODULES:
        return "base"
    return parts[1]


def imports_of(path: Path, modules: set[str], *, relative_ok: bool = False) -> set[str]:
    """The package modules ``path`` imports (``from pkg import mod`` counts as mod)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                assert relative_ok, f"{path.name}: relative import; use entropy_lens.<stage>.<module>"
                continue
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= subs or ({node.module} & modules)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & modules
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items()}


def test_every_module_has_a_known_stage():
    unknown = sorted(m for m in graph() if stage_of(m) not in STAGES)
    assert not unknown, f"modules outside the known stages: {unknown}"


def test_imports_point_down_the_stages():
    upward = []
    for module, targets in graph().items():
        rank = STAGES.index(stage_of(module))
        for target in targets:
            if target == "entropy_lens":
                continue  # `from entropy_lens import __version__`
            if STAGES.index(stage_of(target)) > rank:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the flow:\n" + "\n".join(sorted(upward))


def test_no_import_loops():
    edges = graph()
    # a package __init__ that only hands names on is no room of its own
    faces = {m for m in edges if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").is_file()}
    loops, state = set(), {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt in faces:
                continue
            if state.get(nxt) == "open":
                loops.add(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert not loops, "import loops:\n" + "\n".join(sorted(loops))


def test_the_trainer_uses_only_the_lower_stages():
    modules = set(graph())
    found = []
    for path in sorted(TRAINER.glob("*.py")):
        for target in imports_of(path, modules, relative_ok=True):  # its own modules: relative
            if stage_of(target) in TRAINER_MAY_NOT_USE:
                found.append(f"trainer/{path.name} -> {target}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")) + sorted(TRAINER.glob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_modules_stay_small(path):
    lines = path.read_text().count("\n")
    if lines > MAX_LINES:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "long because" in doc, f"{path.name} has {lines} lines: split it, or say at its top why it is long because ..."


def test_every_subpackage_is_installed():
    """pyproject.toml lists the packages by hand (the trainer folder installs under another
    name), so a new subpackage must be added there or a non-editable install lacks it."""
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p) for p in PACKAGE.rglob("__init__.py")} | {"entropy_lens_trainer"}
    assert found == listed
