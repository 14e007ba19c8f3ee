"""quco-gate: data-side hallucination-risk detection from corpus co-occurrence counts.

    from quco import Index, assess, wrap

The public names are imported lazily so that ``import quco`` (and the CLI's start-up) stays cheap.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Index": ("quco.cooccur.index", "Index"),
    "open_index": ("quco.api", "open_index"),
    "normalize": ("quco.cooccur.normalize", "normalize"),
    "build_index": ("quco.index_builder.build", "build_index"),
    "assess": ("quco.api", "assess"),
    "RiskReport": ("quco.gate.report", "RiskReport"),
    "wrap": ("quco.api", "wrap"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'quco' has no attribute {name!r}")
