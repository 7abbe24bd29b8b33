"""entropy-lens: exact token entropy for RLVR-trained language models.

The public API is imported lazily, so ``import entropy_lens`` (and ``entropy-lens --help``)
does not import torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"
_API = {
    "token_entropy": "entropy:token_entropy",
    "entropy_and_logprob": "entropy:entropy_and_logprob",
    "generate": "generate:generate",
    "score": "score:score",
    "load_model": "models:load_model",
    "load_tasks": "tasks:load_tasks",
    "read_rollouts": "rollouts:read_rollouts",
    "extract_answer": "answers:extract_answer",
    "is_correct": "answers:is_correct",
    "shape_advantages": "shaping:shape_advantages",
    "UserError": "errors:UserError",
    "pivotal": "pivotal:pivotal",
    "reflect": "reflect:reflect",
    "sentence_table": "sentences:sentence_table",
    "rare": "rare:rare",
    "heatmap_html": "heatmap:heatmap_html",
    "write_heatmap": "heatmap:write_heatmap",
    "report_html": "report:report_html",
    "write_report": "report:write_report",
    "summarize": "summary:summarize",
    "pass_at_k": "passk:pass_at_k",
    "passk_table": "passk:passk_table",
    "write_passk": "passk:write_passk",
    "dynamics": "dynamics:dynamics",
    "write_dynamics": "dynamics:write_dynamics",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'entropy_lens' has no attribute {name!r}")
    module, attribute = _API[name].split(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _Package(types.ModuleType):
    """The import system binds every imported submodule as an attribute of its package, so
    importing ``entropy_lens.pivotal`` anywhere would turn ``entropy_lens.pivotal`` (the
    public function) into the module. Public functions keep their names here; the modules
    stay reachable through ``from entropy_lens.pivotal import ...`` and ``sys.modules``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

