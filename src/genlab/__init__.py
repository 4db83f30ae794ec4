"""genlab: train, evaluate, compare and sample the classic generative models side by side.

The public API is imported lazily so that ``import genlab`` (and ``genlab --help``) stays fast:
``torch`` is loaded only when a function that needs it is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "train": ("genlab.api", "train"),
    "load": ("genlab.runs", "load"),
    "Run": ("genlab.runs", "Run"),
    "evaluate": ("genlab.evaluation", "evaluate"),
    "compare": ("genlab.comparison", "compare"),
    "METRICS": ("genlab.metrics", "METRICS"),
    "MODELS": ("genlab.models", "MODELS"),
    "DATASETS": ("genlab.data", "DATASETS"),
    "load_data": ("genlab.data", "load_data"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genlab' has no attribute {name!r}")
