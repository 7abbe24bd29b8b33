"""entropy-lens: exact token entropy for RLVR-trained language models.

The public API is imported lazily, so ``import entropy_lens`` (and ``entropy-lens --help``)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"
_API = {
    "token_entropy": "measure.entropy:token_entropy",
    "entropy_and_logprob": "measure.entropy:entropy_and_logprob",
    "generate": "measure.generate:generate",
    "score": "measure.score:score",
    "load_model": "measure.models:load_model",
    "load_tasks": "tasks:load_tasks",
    "read_rollouts": "rollouts.load:read_rollouts",
    "extract_answer": "tasks.answers:extract_answer",
    "is_correct": "tasks.answers:is_correct",
    "shape_advantages": "shaping:shape_advantages",
    "UserError": "errors:UserError",
    "pivotal": "analyses.pivotal:pivotal",
    "reflect": "analyses.reflect:reflect",
    "sentence_table": "analyses.sentences:sentence_table",
    "rare": "analyses.rare:rare",
    "heatmap_html": "pages.heatmap:heatmap_html",
    "write_heatmap": "outputs:write_heatmap",
    "report_html": "pages.report:report_html",
    "write_report": "outputs:write_report",
    "summarize": "analyses.summary:summarize",
    "pass_at_k": "analyses.passk:pass_at_k",
    "passk_table": "analyses.passk:passk_table",
    "write_passk": "outputs:write_passk",
    "dynamics": "analyses.dynamics:dynamics",
    "fork": "analyses.fork:fork",
    "write_fork": "outputs:write_fork",
    "write_dynamics": "outputs:write_dynamics",
    "write_pivotal": "outputs:write_pivotal",
    "write_reflect": "outputs:write_reflect",
    "write_rare": "outputs:write_rare",
    "load_rollouts": "rollouts.load:load_rollouts",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'entropy_lens' has no attribute {name!r}")
    module, attribute = _API[name].split(":")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
