"""Sanctioned blends: what kind of unseen combination a creative answer made.

The field distance of two entities is ``1 - cosine`` of their PPMI-weighted co-occurrence vectors (their rows of
the pair table, cells with at least ``MIN_CELL`` documents): entities of one field share neighbours, entities of
distant fields do not. Bridges are entities associated with both (PPMI > 0 with each), ranked by the smaller of
the two associations, so a bridge is specific to both rather than merely popular.

Kinds: ``unknown_entity`` (one side never occurs in the corpus: likely invented, flagged even in creative mode),
``cross_field`` (both attested, distance at least ``CROSS_FIELD_DISTANCE``), ``near`` (closer fields).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from quco.cooccur.index import Index

MIN_CELL = 2
CROSS_FIELD_DISTANCE = 0.9
N_BRIDGES = 5


def ppmi_row(ix: Index, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(neighbour ids, PPMI weights) of entity id ``i``, cells below ``MIN_CELL`` dropped."""
    ids, counts = ix.neighbor_ids(i)
    keep = counts >= MIN_CELL
    ids, counts = ids[keep], counts[keep]
    if ids.shape[0] == 0:
        return ids, counts.astype(np.float64)
    n = max(ix.n_documents, 1)
    fi = float(ix.entity_freq[i])
    fj = np.asarray(ix.entity_freq[ids], dtype=np.float64)
    pmi = np.log(counts * n / (fi * fj))
    pos = pmi > 0
    order = np.argsort(ids[pos])
    return ids[pos][order], pmi[pos][order]


def field_distance(ix: Index, a: int, b: int) -> tuple[float | None, list[tuple[int, float]]]:
    """(1 - cosine of PPMI rows, bridges as (id, score) best first); distance None when a row is empty."""
    ia, wa = ppmi_row(ix, a)
    ib, wb = ppmi_row(ix, b)
    if ia.shape[0] == 0 or ib.shape[0] == 0:
        return None, []
    common, xa, xb = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
    dot = float(np.dot(wa[xa], wb[xb]))
    cos = dot / (math.sqrt(float(np.dot(wa, wa))) * math.sqrt(float(np.dot(wb, wb))))
    score = np.minimum(wa[xa], wb[xb])
    order = np.argsort(-score, kind="stable")[:N_BRIDGES]
    return 1.0 - cos, [(int(common[k]), float(score[k])) for k in order]


def judge_blend(ix: Index, a_text: str, b_text: str) -> dict[str, Any]:
    """The blend record for an unseen pair: frequencies, field distance, bridges, kind."""
    a, b = ix.entity_id(a_text), ix.entity_id(b_text)
    fa, fb = ix.freq_of_id(a), ix.freq_of_id(b)
    rec: dict[str, Any] = {"a": a_text, "b": b_text, "freq_a": fa, "freq_b": fb, "distance": None, "bridges": [],
                           "flagged": False}
    if fa == 0 or fb == 0:
        rec.update(kind="unknown_entity", flagged=True,
                   note=f"{a_text if fa == 0 else b_text!r} never occurs in the corpus: likely invented")
        return rec
    dist, bridges = field_distance(ix, a, b)
    info = {d["id"]: d for d in ix.entity_info([i for i, _ in bridges])}
    rec["bridges"] = [{"text": info[i]["text"], "freq": info[i]["freq"], "score": round(s, 3)} for i, s in bridges]
    rec["distance"] = None if dist is None else round(dist, 4)
    if dist is None:
        rec.update(kind="near", note="too few co-occurrences to place the fields; treated as near")
    elif dist >= CROSS_FIELD_DISTANCE and not bridges:
        rec.update(kind="cross_field", note="well attested entities from distant fields")
    elif dist >= CROSS_FIELD_DISTANCE:
        rec.update(kind="cross_field", note="distant fields, with a few shared neighbours")
    else:
        rec.update(kind="near", note="close fields: they share many neighbours")
    return rec
