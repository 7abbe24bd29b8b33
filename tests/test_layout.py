"""The package's layout keeps its one-way data flow: every import (including the lazy ones
inside functions) points down the stages below, and no two modules import each other in a loop.

    errors, folders, progress, quantiles, shaping, stats   the base every stage may use
    tasks/       problems and the answer checker
    rollouts/    the table (written by measure/, read by analyses/)
    measure/     models -> sampled or scored responses with their exact entropies
    analyses/    compute-only results from tables and training logs
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
STAGES = ["base", "tasks", "rollouts", "measure", "analyses", "plots", "pages", "outputs", "cli", "api"]
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


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports (``from pkg import mod`` counts as mod)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path.name}: relative import; use entropy_lens.<stage>.<module>"
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


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    lines = path.read_text().count("\n")
    if lines > MAX_LINES:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "long because" in doc, f"{path.name} has {lines} lines: split it, or say at its top why it is long because ..."
