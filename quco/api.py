"""The Python face: ``quco.assess``, ``quco.wrap`` and ``quco.open_index`` with the default index resolved.

The gate (``quco.gate``) is handed an index; these wrappers hand it ``index`` when given, else ``$QUCO_INDEX``,
else the bundled sample index (``quco.data.default.open_index``, the one resolver the CLI and the server use too).
"""
from __future__ import annotations

import functools
from typing import Any

from quco.data.default import open_index
from quco.gate.assess import assess as _assess
from quco.gate.report import RiskReport
from quco.gate.wrap import GatedLLM
from quco.gate.wrap import wrap as _wrap

__all__ = ["assess", "open_index", "wrap"]


@functools.wraps(_assess)
def assess(question: str, answer: str | None = None, *, index: Any = None, **kwargs: Any) -> RiskReport:
    return _assess(question, answer, index=open_index() if index is None else index, **kwargs)


@functools.wraps(_wrap)
def wrap(llm: Any, *, index: Any = None, **kwargs: Any) -> GatedLLM:
    # resolved at each call, not now: a broken default index then fails (or fails open) like any other index
    return _wrap(llm, index=open_index if index is None else index, **kwargs)
