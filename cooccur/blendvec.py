"""The blend vectors' format and the association measure shared by the build and the gate.

``<root>/arrays/entity_vec.npy`` (float32, entities x ``DIM``, unit rows; all-zero for an entity with no context)
and ``<root>/arrays/blend.json`` (parameters, calibration percentiles, stats) are written by
``quco.index_builder.blend_build.compute_embeddings`` and read by ``quco.gate.blend``; that builder's docstring
says how the vectors are made.

**Associations.** Bridges explain a blend with entities associated with both sides: the entities an entity
co-occurs with in at least ``BRIDGE_MIN_COUNT`` documents, weighted by :func:`association` (PMI with the context
distribution smoothed by ``ALPHA``), kept where the association is at least ``BRIDGE_MIN_PPMI``. They are computed
at query time from the entity's neighbour row (one slice of the index's pair rows).
"""
from __future__ import annotations

import numpy as np

EMBED_VERSION = 1
DIM = 32
ALPHA = 0.75
BRIDGE_MIN_COUNT = 2
BRIDGE_MIN_PPMI = 1.0
VEC_FILE, META_FILE = "entity_vec.npy", "blend.json"


def smoothing_factor(entity_freq: np.ndarray, alpha: float = ALPHA) -> float:
    """``Z`` of the smoothed context frequency ``f**alpha * Z``, which keeps the total frequency unchanged."""
    f = np.asarray(entity_freq, dtype=np.float64)
    f = f[f > 0]
    return float(f.sum() / np.power(f, alpha).sum()) if f.size else 1.0


def association(counts: np.ndarray, freq_a: np.ndarray | float, freq_x: np.ndarray, n_documents: int, z: float,
                alpha: float = ALPHA) -> np.ndarray:
    """PMI of ``a`` with context entities ``x``: ``log(count * N / (f_a * f_x**alpha * z))``.

    The smoothed context frequency lowers the PMI of rare contexts, so that an entity seen once next to both sides
    of a blend does not outrank a well attested one.
    """
    counts = np.asarray(counts, dtype=np.float64)
    fx = np.power(np.asarray(freq_x, dtype=np.float64), alpha) * z
    return np.log(counts * max(n_documents, 1) / (np.asarray(freq_a, dtype=np.float64) * fx))
