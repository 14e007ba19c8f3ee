"""Registries for pluggable parts, built on ``catalogue`` (as spaCy's are).

Built-in parts register exactly like third-party ones, and third-party packages can register through the
entry-point groups ``quco_extractors``, ``quco_retrievers`` and ``quco_adapters``.
"""
from __future__ import annotations

from typing import Any

import catalogue

from quco.errors import UnknownComponentError

extractors = catalogue.create("quco", "extractors", entry_points=True)
retrievers = catalogue.create("quco", "retrievers", entry_points=True)
adapters = catalogue.create("quco", "adapters", entry_points=True)


_BUILTINS = {"extractors": "quco.cooccur.extract", "retrievers": "quco.gate.retrieval",
             "adapters": "quco.gate.adapters"}


def get(registry: catalogue.Registry, name: str) -> Any:
    """Look ``name`` up in ``registry``; an unknown name fails listing the available ones.

    The module holding the built-in parts of a registry is imported first, so they are always available.
    """
    import importlib

    builtin = _BUILTINS.get(registry.namespace[-1])
    if builtin:
        importlib.import_module(builtin)
    try:
        return registry.get(name)
    except catalogue.RegistryError:
        available = ", ".join(sorted(registry.get_all())) or "none"
        kind = registry.namespace[-1]
        raise UnknownComponentError(f"unknown {kind[:-1]} {name!r}; available: {available}") from None
