"""Sanctioned blends: what kind of unseen combination a creative answer made.

Two entities that never appear together are a blend. Its record says how far apart their fields are and what
connects them:

- ``distance``: ``1 - cosine`` of the two entities' context vectors. With an index that carries the blend arrays
  (``quco.index_builder.blend_build``, computed at build time) a context vector is the truncated SVD of the PPMI-weighted words
  of the passages that mention the entity (method ``context-svd``). An older index has no such arrays; then the
  distance is ``1 - cosine`` of the two entities' association rows over the pair table, computed at query time
  (method ``ppmi-cosine``: slower, and less accurate; see ``docs/creative.md`` for both measured on the dev set).
- ``distance_percentile``: the share of random entity pairs of this index that lie closer together (context-svd
  only), e.g. 80 = farther apart than 80% of random pairs.
- ``bridges``: entities associated with both sides (pair count >= 2 and PMI >= 1 with each), ranked by the
  smaller of the two associations, so a bridge is specific to both rather than merely frequent.
- ``kind``: ``unknown_entity`` when one side never occurs in the corpus (likely invented: flagged even in creative
  mode), ``cross_field`` when the distance is at least the method's threshold, ``near`` otherwise. The thresholds
  were chosen on ``blends_dev.jsonl`` with the full wiki2015 index (``docs/creative.md``).

The arrays are loaded lazily, once per open :class:`Index`; a judgement with them takes well under a millisecond.
"""
from __future__ import annotations

import json
import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from quco.cooccur.blendvec import (BRIDGE_MIN_COUNT, BRIDGE_MIN_PPMI, META_FILE, VEC_FILE, association,
                                smoothing_factor)
from quco.cooccur.index import Index
from quco.errors import IndexCorruptError

KINDS = ("cross_field", "near", "unknown_entity")
CROSS_FIELD_DISTANCE = {"context-svd": 0.50, "ppmi-cosine": 0.965}
N_BRIDGES = 5


@dataclass
class BlendArrays:
    """The precomputed blend arrays of one index (see ``quco.cooccur.blendvec``)."""

    vec: np.ndarray
    percentiles: np.ndarray
    meta: dict[str, Any]


_LOADED: "weakref.WeakKeyDictionary[Index, BlendArrays | None]" = weakref.WeakKeyDictionary()


def blend_arrays(ix: Index) -> BlendArrays | None:
    """The index's blend arrays, memory-mapped on first use; None for an index built without them."""
    if ix in _LOADED:
        return _LOADED[ix]
    d = ix.root / "arrays"
    if not (d / META_FILE).exists():
        _LOADED[ix] = None
        return None
    try:
        meta = json.loads((d / META_FILE).read_text("utf-8"))
        vec = np.load(d / VEC_FILE, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"{ix.path}/arrays: blend arrays cannot be read ({e}); run `quco verify --index "
                                f"{ix.path}` or rebuild the index") from None
    n = ix.entity_hash.shape[0]
    if vec.ndim != 2 or vec.shape[0] != n:
        raise IndexCorruptError(f"{ix.path}/arrays: blend arrays do not match the index's {n} entities; rebuild "
                                "the index")
    pct = np.asarray(meta.get("calibration", {}).get("distance_percentiles") or [], dtype=np.float64)
    _LOADED[ix] = BlendArrays(vec, pct, meta)
    return _LOADED[ix]


# ---- associations, computed at query time from the entity's neighbour row ------------------------------------------
def association_row(ix: Index, i: int, min_count: int = 1, min_assoc: float = BRIDGE_MIN_PPMI
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(neighbour ids sorted, associations) of entity id ``i``: pairs seen in >= ``min_count`` documents whose
    association (``quco.cooccur.blendvec.association``) is at least ``min_assoc``."""
    ids, counts = ix.neighbor_ids(i)
    keep = counts >= min_count
    ids, counts = ids[keep], counts[keep]
    if ids.shape[0] == 0:
        return ids, np.empty(0, np.float64)
    w = association(counts, float(ix.entity_freq[i]), np.asarray(ix.entity_freq[ids]), ix.n_documents,
                    _smoothing(ix))
    pos = w >= min_assoc
    order = np.argsort(ids[pos])
    return ids[pos][order], w[pos][order]


_Z: "weakref.WeakKeyDictionary[Index, float]" = weakref.WeakKeyDictionary()


def _smoothing(ix: Index) -> float:
    if ix not in _Z:
        _Z[ix] = smoothing_factor(np.asarray(ix.entity_freq))
    return _Z[ix]


def bridges(ix: Index, a: int, b: int, k: int = N_BRIDGES) -> list[tuple[int, float, float, float]]:
    """Up to ``k`` (id, score, association with a, association with b), best first; score = the smaller one."""
    ia, wa = association_row(ix, a, min_count=BRIDGE_MIN_COUNT)
    ib, wb = association_row(ix, b, min_count=BRIDGE_MIN_COUNT)
    common, xa, xb = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
    if common.shape[0] == 0:
        return []
    score = np.minimum(wa[xa], wb[xb])
    order = np.lexsort((common, -score))[:k]
    return [(int(common[j]), float(score[j]), float(wa[xa[j]]), float(wb[xb[j]])) for j in order]


# ---- field distance ------------------------------------------------------------------------------------------------
def ppmi_distance(ix: Index, a: int, b: int) -> float | None:
    """``1 - cosine`` of the entities' association rows (weights: association minus ``BRIDGE_MIN_PPMI``, i.e.
    shifted PPMI); None when a row is empty. Query-time: reads both entities' whole neighbour lists."""
    ia, wa = association_row(ix, a)
    ib, wb = association_row(ix, b)
    if ia.shape[0] == 0 or ib.shape[0] == 0:
        return None
    wa, wb = wa - BRIDGE_MIN_PPMI, wb - BRIDGE_MIN_PPMI
    na, nb = math.sqrt(float(np.dot(wa, wa))), math.sqrt(float(np.dot(wb, wb)))
    if na == 0 or nb == 0:
        return None
    _, xa, xb = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
    return max(0.0, 1.0 - float(np.dot(wa[xa], wb[xb])) / (na * nb))


def field_distance(ix: Index, a: int, b: int) -> tuple[float | None, str, float | None]:
    """(distance, method, percentile among random entity pairs or None) of entity ids ``a`` and ``b``."""
    arrays = blend_arrays(ix)
    if arrays is None:
        return ppmi_distance(ix, a, b), "ppmi-cosine", None
    va = np.asarray(arrays.vec[a], np.float64)
    vb = np.asarray(arrays.vec[b], np.float64)
    if not va.any() or not vb.any():
        return None, "context-svd", None
    d = max(0.0, 1.0 - float(np.dot(va, vb)))
    return d, "context-svd", percentile(arrays.percentiles, d)


def percentile(grid: np.ndarray, d: float) -> float | None:
    """The share (in %) of random entity pairs closer than ``d``, from the grid of percentiles 0..100."""
    n = grid.shape[0]
    if n != 101:
        return None
    i = int(np.searchsorted(grid, d, side="left"))
    if i == 0:
        return 0.0
    if i == n:
        return 100.0
    if grid[i] == d or grid[i] == grid[i - 1]:
        return float(i)
    return i - 1 + (d - float(grid[i - 1])) / (float(grid[i]) - float(grid[i - 1]))


def judge_blend(ix: Index, a_text: str, b_text: str) -> dict[str, Any]:
    """The blend record of a pair: frequencies, kind, field distance (and its percentile), bridges, note."""
    a, b = ix.entity_id(a_text), ix.entity_id(b_text)
    fa, fb = ix.freq_of_id(a), ix.freq_of_id(b)
    rec: dict[str, Any] = {"a": a_text, "b": b_text, "freq_a": fa, "freq_b": fb, "kind": None, "distance": None,
                           "distance_percentile": None, "threshold": None, "method": None, "bridges": [],
                           "flagged": False, "note": ""}
    if fa == 0 or fb == 0:
        missing = a_text if fa == 0 else b_text
        rec.update(kind="unknown_entity", flagged=True, note=f"{missing!r} never occurs in the corpus: likely invented")
        return rec
    dist, method, pct = field_distance(ix, a, b)
    threshold = CROSS_FIELD_DISTANCE[method]
    found = bridges(ix, a, b)
    info = {d["id"]: d for d in ix.entity_info([i for i, *_ in found])}
    rec.update(method=method, threshold=threshold,
               distance=None if dist is None else round(dist, 4),
               distance_percentile=None if pct is None else round(pct, 1),
               bridges=[{"text": info[i]["text"], "freq": info[i]["freq"], "score": round(s, 3),
                         "assoc_a": round(x, 3), "assoc_b": round(y, 3)} for i, s, x, y in found])
    closer = f"; {pct:.0f}% of random entity pairs are closer" if pct is not None else ""
    if dist is None:
        rec.update(kind="near", note="too little context to place one side in a field; treated as near")
    elif dist >= threshold:
        rec.update(kind="cross_field", note=f"different fields (distance {dist:.2f} >= {threshold}{closer}); "
                   + ("a few entities connect them" if found else "nothing in the corpus connects them"))
    else:
        rec.update(kind="near", note=f"the same or a neighbouring field (distance {dist:.2f} < {threshold}{closer})")
    return rec
