"""Registries for pluggable parts, built on ``catalogue`` (as spaCy's are).

Built-in parts register exactly like third-party ones: with the registry's ``register`` decorator, in the module
that defines them (``quco.cooccur.extract`` for extractors, ``quco.cooccur.bm25`` for retrievers,
``quco.index_builder.bm25_build`` for retriever builders, ``quco.index_builder.executors`` for executors,
``quco.gate.adapters`` for LLM adapters, ``quco.gate.router`` for routers). Code that looks a part up imports the
module of its layer's built-ins first, so this module never imports a layer above it.

Third-party packages register through the entry-point group ``quco_<registry>`` (``quco_extractors``,
``quco_retrievers``, ...), read when a name is looked up. A built-in wins over a plugin of the same name, with one
warning naming the plugin that was ignored.
"""
from __future__ import annotations

import importlib.metadata
import warnings
from functools import lru_cache
from typing import Any

import catalogue

from quco.errors import UnknownComponentError

extractors = catalogue.create("quco", "extractors", entry_points=True)
retrievers = catalogue.create("quco", "retrievers", entry_points=True)
retriever_builders = catalogue.create("quco", "retriever_builders", entry_points=True)
adapters = catalogue.create("quco", "adapters", entry_points=True)
routers = catalogue.create("quco", "routers", entry_points=True)
executors = catalogue.create("quco", "executors", entry_points=True)

REGISTRIES = {"extractors": extractors, "retrievers": retrievers, "retriever_builders": retriever_builders,
              "adapters": adapters, "routers": routers, "executors": executors}

_warned: set[tuple[str, str]] = set()


@lru_cache(maxsize=None)
def entry_points(group: str) -> tuple:
    """The installed entry points of ``group`` (read once per process; ``entry_points.cache_clear()`` re-reads)."""
    return tuple(importlib.metadata.entry_points(group=group))


def _entry_point(registry: catalogue.Registry, name: str):
    """The entry point named ``name`` in the registry's group, or None."""
    for ep in entry_points(registry.entry_point_namespace):
        if ep.name == name:
            return ep
    return None


def _kind(registry: catalogue.Registry) -> str:
    return registry.namespace[-1]


def get(registry: catalogue.Registry, name: str) -> Any:
    """Look ``name`` up in ``registry``; an unknown name fails listing the available ones.

    Parts registered in this process (the built-ins, and plugins already loaded) come first; an entry point of the
    same name is then ignored with a warning. Otherwise the entry point is loaded.
    """
    if catalogue.check_exists(*registry.namespace, name):
        ep = _entry_point(registry, name)
        if ep is not None and (_kind(registry), name) not in _warned:
            _warned.add((_kind(registry), name))
            warnings.warn(f"quco: the built-in {_kind(registry)[:-1]} {name!r} is used; the plugin entry point "
                          f"{ep.value!r} of the same name is ignored", stacklevel=2)
        return catalogue._get([*registry.namespace, name])
    ep = _entry_point(registry, name)
    if ep is not None:
        return ep.load()
    available = ", ".join(names(registry)) or "none"
    raise UnknownComponentError(f"unknown {_kind(registry)[:-1]} {name!r}; available: {available}")


def registered(registry: catalogue.Registry) -> dict[str, Any]:
    """The parts registered in this process, by name (``Registry.get_all`` would also load every entry point)."""
    n = len(registry.namespace)
    return {keys[-1]: v for keys, v in catalogue._get_all(registry.namespace).items() if len(keys) == n + 1}


def names(registry: catalogue.Registry) -> list[str]:
    """Every name the registry can resolve: registered parts and entry points, sorted."""
    eps = {ep.name for ep in entry_points(registry.entry_point_namespace)}
    return sorted(set(registered(registry)) | eps)


def describe(registry: catalogue.Registry) -> list[dict[str, str]]:
    """One row per resolvable name: ``{"name", "source", "module"}``; source is ``builtin`` for parts registered
    by quco itself, ``plugin`` for others, and a shadowed entry point is listed as ``ignored``."""
    rows = []
    parts = registered(registry)
    for name in names(registry):
        ep = _entry_point(registry, name)
        if name in parts:
            module = getattr(parts[name], "__module__", "") or ""
            rows.append({"name": name, "source": "builtin" if module.startswith("quco.") else "plugin",
                         "module": module})
            if ep is not None:
                rows.append({"name": name, "source": "ignored", "module": ep.value})
        elif ep is not None:
            rows.append({"name": name, "source": "plugin", "module": ep.value})
    return rows
