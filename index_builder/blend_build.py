"""Build-time precompute for the blend judgement (``quco.gate.blend``): entity context vectors (read back through
``quco.cooccur.blendvec``).

**Context vectors.** An entity is described by the words of the passages that mention it: distributional
semantics over the corpus itself, no model. Every passage of ``passages.parquet`` is tokenized with our tokenizer
and matched against the entity table; the count matrix ``M[e, w]`` adds, for every passage that mentions entity
``e``, the occurrences of word ``w`` in it. Words are hashed into ``BUCKETS`` columns (the hashing trick, so no
vocabulary pass), English stop words are dropped, and so are words found in fewer than ``min_df`` passages. ``M``
is PPMI-weighted (with the context distribution smoothed by ``ALPHA``), reduced to ``dim`` dimensions by a seeded
randomized truncated SVD, and each entity's row ``U·S`` is scaled to unit length. The field distance of two
entities is then ``1 - dot`` of their rows. Words carry the field far better than entity neighbours do (an entity
with ten mentions has a few hundred context words but a few dozen neighbours): see ``docs/creative.md``.

**Associations** are computed at query time (``quco.cooccur.blendvec.association``).

**Calibration.** Percentiles of the distance between random pairs of placed entities, so that a distance can be
read as "farther apart than p% of random entity pairs".

Outputs, in ``<root>/arrays/`` (each written to a temporary name and renamed): ``entity_vec.npy`` (float32,
entities x dim; all-zero for an entity with no context) and ``blend.json`` (parameters, calibration percentiles,
stats).
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from quco.cooccur.blendvec import (ALPHA, BRIDGE_MIN_COUNT, BRIDGE_MIN_PPMI, DIM, EMBED_VERSION, META_FILE, VEC_FILE,
                                   smoothing_factor)
from quco.cooccur.gazetteer import Gazetteer
from quco.cooccur.normalize import token_hash_py
from quco.errors import IndexCorruptError
from quco.index_builder.memory import trim_heap

BUCKETS = 1 << 20
MAX_MIN_DF = 20  # words in fewer passages than min(MAX_MIN_DF, passages / 10,000), at least 2, are dropped
N_ITER = 4
OVERSAMPLE = 10
CALIBRATION_PAIRS = 100_000
CALIBRATION_MIN_FREQ = 5
PASSAGE_CHUNK = 16_000  # passages tokenized and matched at a time (the flush working set is ~7 KB a passage)
FIT_CELLS = 40_000_000  # entity-word cells the SVD is fitted on at most (see context_vectors)
FOLD_BLOCK = 8_192  # entities per block of context rows


# ---- context vectors ---------------------------------------------------------------------------------------------
def stop_buckets(buckets: int = BUCKETS) -> np.ndarray:
    """Buckets of spaCy's English stop words, hashed the way our tokenizer hashes a lower-case token."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return np.unique(np.array([token_hash_py(w) for w in STOP_WORDS], dtype=np.uint64) & np.uint64(buckets - 1))


def _gazetteer_of(root: Path):
    """The entity table as a gazetteer (entry i = entity id i: the table is sorted by hash, like the arrays)."""
    import pyarrow.parquet as pq

    t = pq.read_table(str(root / "entities.parquet"), columns=["hash", "key", "text", "label"])
    return Gazetteer(t.column("hash").to_numpy(), t.column("key").to_pylist(), t.column("text").to_pylist(),
                     t.column("label").to_pylist())


def context_matrices(root: Path, entity_hash: np.ndarray, buckets: int = BUCKETS, chunk: int = PASSAGE_CHUNK):
    """(E: passages x entities CSC, 1 where the passage mentions the entity; W: passages x buckets CSR of word
    counts, stop words left out; passage df per bucket; number of passages; distinct doc ids).

    An entity's context counts are then ``E[:, e].T @ W``, computed block by block (:func:`context_vectors`), so
    the entities x words matrix is never held whole for a large gazetteer."""
    import pyarrow.parquet as pq
    import scipy.sparse as sp

    from quco.cooccur.extract import TokenizedBatch

    g = _gazetteer_of(root)
    ent_of_entry = np.searchsorted(entity_hash, g.hashes)
    ent_of_entry = np.where(ent_of_entry < entity_hash.shape[0], ent_of_entry, 0)
    ent_of_entry = np.where(entity_hash[ent_of_entry] == g.hashes, ent_of_entry, -1)
    n = int(entity_hash.shape[0])
    mask = np.uint64(buckets - 1)
    stop = np.zeros(buckets, dtype=bool)
    stop[stop_buckets(buckets)] = True
    e_parts, w_parts = [], []
    df = np.zeros(buckets, dtype=np.int64)
    docs: set[str] = set()
    n_pass = 0
    pf = pq.ParquetFile(str(root / "passages.parquet"))

    def flush(texts: list[str]) -> None:
        if not texts:
            return
        batch = TokenizedBatch([[t] for t in texts])
        m = len(texts)
        first, _length, entry = g.match(batch.hashes, batch.tok_seg)
        ent = ent_of_entry[entry]
        ok = ent >= 0
        e_mat = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (batch.tok_doc[first][ok], ent[ok])), shape=(m, n))
        e_mat.data[:] = 1.0  # a passage mentions an entity or not (duplicates were summed)
        bucket = (batch.hashes & mask).astype(np.int64)
        word = ~stop[bucket]
        w_mat = sp.csr_matrix((np.ones(int(word.sum()), np.float32), (batch.tok_doc[word], bucket[word])),
                              shape=(m, buckets))
        w_mat.sum_duplicates()
        df[:] += np.bincount(w_mat.indices, minlength=buckets)
        e_parts.append(e_mat)
        w_parts.append(w_mat)

    texts: list[str] = []
    for rg in range(pf.metadata.num_row_groups):
        t = pf.read_row_group(rg, columns=["doc_id", "text"])
        docs.update(t.column("doc_id").to_pylist())
        texts.extend(t.column("text").to_pylist())
        n_pass += t.num_rows
        if len(texts) >= chunk:
            flush(texts)
            texts = []
    flush(texts)
    if not e_parts:
        return sp.csc_matrix((0, n), dtype=np.float32), sp.csr_matrix((0, buckets), dtype=np.float32), df, 0, 0
    e = sp.vstack(e_parts, format="csc")
    del e_parts
    w = sp.vstack(w_parts, format="csr")
    return e, w, df, n_pass, len(docs)


def ppmi_matrix(m, alpha: float = ALPHA, columns: tuple[np.ndarray, float] | None = None):
    """Positive PMI of a non-negative sparse count matrix, context (column) distribution smoothed by ``alpha``.

    ``columns``: ``(log of the smoothed column totals, log of their sum)`` of another matrix, to weigh rows
    folded into that matrix's space (cells of columns it never saw are dropped); by default those of ``m``.
    Returns the float32 CSR matrix and the column statistics used. Computed on the CSR arrays in place of a COO
    copy: about 25 bytes per cell at peak."""
    import scipy.sparse as sp

    m = sp.csr_matrix(m, dtype=np.float32)
    m.sum_duplicates()
    if columns is None:
        cs = np.power(np.asarray(m.sum(axis=0), dtype=np.float64).ravel(), alpha)
        with np.errstate(divide="ignore"):
            log_cs = np.log(cs)
        columns = (log_cs, math.log(cs.sum()) if cs.sum() > 0 else 0.0)
    log_cs, log_ctotal = columns
    if m.nnz == 0:
        return sp.csr_matrix(m.shape, dtype=np.float32), columns
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int32), np.diff(m.indptr))
    with np.errstate(divide="ignore"):  # an empty row has no cell to weigh
        log_rs = np.log(np.asarray(m.sum(axis=1), dtype=np.float64).ravel()).astype(np.float32)
    pmi = np.log(m.data)
    pmi -= log_rs[rows]
    col_term = log_cs[m.indices]
    pmi -= col_term.astype(np.float32)
    pmi += np.float32(log_ctotal)
    pos = (pmi > 0) & np.isfinite(col_term)
    del col_term
    indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[pos], minlength=m.shape[0]), out=indptr[1:])
    return sp.csr_matrix((pmi[pos], m.indices[pos], indptr), shape=m.shape), columns


def randomized_svd(a, k: int, n_iter: int = N_ITER, oversample: int = OVERSAMPLE, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truncated SVD ``(U, S, Vt)`` of the sparse or dense ``a`` (Halko, Martinsson & Tropp 2011, with power
    iterations re-orthonormalized by QR); signs fixed so that each column of ``U`` has its largest entry positive."""
    r, c = a.shape
    k = max(0, min(k, r, c))
    l = min(k + oversample, r, c)
    if k == 0:
        return np.zeros((r, 0)), np.zeros(0), np.zeros((0, c))
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(a @ rng.standard_normal((c, l)))
    for _ in range(n_iter):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    b = np.asarray((a.T @ q).T)
    ub, s, vt = np.linalg.svd(b, full_matrices=False)
    u = q @ ub
    sign = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    sign[sign == 0] = 1
    return u[:, :k] * sign[:k], s[:k], vt[:k] * sign[:k, None]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 0, x / np.where(norms > 0, norms, 1.0), 0.0).astype(np.float32)


def context_vectors(e, w, df: np.ndarray, n_passages: int, entity_freq: np.ndarray, dim: int = DIM,
                    alpha: float = ALPHA, seed: int = 0, buckets: int = BUCKETS, fit_cells: int = FIT_CELLS,
                    block: int = FOLD_BLOCK) -> tuple[np.ndarray, dict[str, Any]]:
    """Unit-length float32 rows (entities x dim; zeros where an entity has no context) and the parameters used.

    The SVD is fitted on the context rows of the most frequent entities, as many as fit in ``fit_cells``
    non-zero cells (all of them on an index the size of wiki2015 with its titles gazetteer: 32 M cells); the
    rows of the other entities are PPMI-weighted with the fitted columns' statistics and projected onto the fitted
    word space ("folded in"), ``block`` entities at a time. Peak memory is thus bounded by ``fit_cells`` (about
    65 bytes a cell through PPMI and SVD) rather than by the size of the gazetteer: a 249 k-entity phrase
    gazetteer has 122 M cells, 8 GB when fitted whole. The budget holds inside a block too (the first ``block``
    entities of wiki2015 + wiki_extra alone hold 52.9 M cells; cut at 40 M, that build's whole-tree peak went
    from 3,509 to 3,326 MiB, and the blend figures on blends_dev from distance AUROC 0.962 / kind accuracy 0.863
    to 0.964 / 0.880)."""
    import scipy.sparse as sp

    n = e.shape[1]
    min_df = max(2, min(MAX_MIN_DF, n_passages // 10_000))
    cols = np.flatnonzero(df >= min_df)  # stop words were left out of w
    wk = w[:, cols].tocsr()
    order = np.argsort(-np.asarray(entity_freq), kind="stable")
    fit_rows, fit_blocks, cells = [], [], 0
    start = 0
    while start < n:  # rows of the most frequent entities, until the budget is spent
        ids = order[start:start + block]
        m = (e[:, ids].T @ wk).tocsr()
        if cells + m.nnz > fit_cells:  # the budget ends inside this block: the rows before that (one at least)
            k = int(np.searchsorted(m.indptr, fit_cells - cells, side="right")) - 1
            k = max(k, 0 if fit_blocks else 1)
            if k:
                fit_rows.append(ids[:k])
                fit_blocks.append(m[:k])
                cells += int(m.indptr[k])
            start += k
            break
        fit_rows.append(ids)
        fit_blocks.append(m)
        cells += m.nnz
        start += block
    fit_ids = np.concatenate(fit_rows) if fit_rows else np.empty(0, np.int64)
    keep_order = np.argsort(fit_ids, kind="stable")  # fit in id order (as a single pass over all entities would)
    fit_ids = fit_ids[keep_order]
    pm, columns = ppmi_matrix(sp.vstack(fit_blocks, format="csr")[keep_order] if fit_blocks
                              else sp.csr_matrix((0, cols.size), dtype=np.float32), alpha)
    del fit_blocks
    vec = np.zeros((n, 0), dtype=np.float32)
    s = np.zeros(0)
    live = np.flatnonzero(np.diff(pm.indptr) > 0)
    ppmi_nnz = int(pm.nnz)
    folded = 0
    if live.size:
        u, s, vt = randomized_svd(pm[live], dim, seed=seed)
        vec = np.zeros((n, u.shape[1]), dtype=np.float32)
        vec[fit_ids[live]] = _unit_rows(u * s)
        del pm, u
        proj = vt.T.astype(np.float32)
        while start < n:
            ids = order[start:start + block]
            rows, _ = ppmi_matrix(e[:, ids].T @ wk, alpha, columns)
            vec[ids] = _unit_rows(np.asarray(rows @ proj))
            folded += ids.size
            start += block
    params = {"dim": int(vec.shape[1]), "alpha": alpha, "buckets": buckets, "min_df": int(min_df),
              "words_kept": int(cols.size), "ppmi_nnz": ppmi_nnz, "fit_entities": int(fit_ids.size),
              "folded_entities": int(folded), "fit_cells": int(cells), "fit_cells_budget": int(fit_cells), "seed": seed, "n_iter": N_ITER,
              "oversample": OVERSAMPLE, "singular_values": [round(float(v), 4) for v in s[:8]]}
    return vec, params


def distance_percentiles(vec: np.ndarray, entity_freq: np.ndarray, pairs: int = CALIBRATION_PAIRS,
                         seed: int = 0) -> tuple[list[float], int]:
    """Percentiles 0..100 of ``1 - dot`` over random pairs of placed entities (frequent enough, if there are
    enough of those), and the number of pairs they came from."""
    placed = np.flatnonzero(np.abs(vec).sum(axis=1) > 0)
    frequent = placed[np.asarray(entity_freq)[placed] >= CALIBRATION_MIN_FREQ]
    pool = frequent if frequent.size >= 50 else placed
    if pool.size < 2:
        return [], 0
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, pool.size, pairs), rng.integers(0, pool.size, pairs)
    a, b = pool[a[a != b]], pool[b[a != b]]
    d = 1.0 - np.einsum("ij,ij->i", vec[a].astype(np.float64), vec[b].astype(np.float64))
    return [round(float(v), 5) for v in np.percentile(d, np.arange(101))], int(d.size)


# ---- driver ------------------------------------------------------------------------------------------------------
def _save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
    os.replace(tmp, path)


def _n_documents(root: Path, fallback: int) -> int:
    try:
        return int(json.loads((root / "manifest.json").read_text("utf-8"))["stats"]["documents"])
    except (OSError, ValueError, KeyError, TypeError):
        return fallback


def compute_embeddings(index_root: Path | str, dim: int = DIM, n_documents: int | None = None,
                       seed: int = 0) -> dict[str, Any]:
    """Read a finished index directory's arrays, entity table and passages; write the blend arrays and
    ``blend.json`` into ``<index_root>/arrays/``; return a summary for the build's stats (``blend.json`` has all).

    ``n_documents`` is the corpus's document count (the build's ``stats["documents"]``); when omitted it is read
    from the manifest, or else counted as the distinct ``doc_id`` of the passages.
    """
    root = Path(index_root)
    arrays = root / "arrays"
    t0 = time.perf_counter()
    try:
        entity_hash = np.load(arrays / "entity_hash.npy", mmap_mode="r")
        entity_freq = np.load(arrays / "entity_freq.npy", mmap_mode="r")
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"{root}: cannot read the index arrays ({e}); rebuild the index") from None
    timing: dict[str, float] = {}

    t = time.perf_counter()
    trim_heap()  # what the build's earlier steps freed
    e, w, df, n_pass, n_docs_seen = context_matrices(root, np.asarray(entity_hash))
    trim_heap()  # the passages' texts and token batches, before the fit's large arrays
    timing["contexts"] = time.perf_counter() - t
    n_docs = n_documents if n_documents is not None else _n_documents(root, n_docs_seen)

    t = time.perf_counter()
    vec, vparams = context_vectors(e, w, df, n_pass, np.asarray(entity_freq), dim=dim, seed=seed)
    del e, w
    timing["svd"] = time.perf_counter() - t

    pct, n_pairs = distance_percentiles(vec, entity_freq, seed=seed)
    _save(arrays / VEC_FILE, vec)
    timing["total"] = time.perf_counter() - t0
    meta = {
        "version": EMBED_VERSION, "method": "context-svd",
        "entities": int(entity_hash.shape[0]), "placed": int((np.abs(vec).sum(axis=1) > 0).sum()),
        "passages": int(n_pass), "vectors": vparams,
        "associations": {"min_count": BRIDGE_MIN_COUNT, "min_ppmi": BRIDGE_MIN_PPMI, "alpha": ALPHA,
                         "n_documents": int(n_docs), "z": smoothing_factor(np.asarray(entity_freq))},
        "calibration": {"pairs": n_pairs, "min_freq": CALIBRATION_MIN_FREQ, "distance_percentiles": pct},
        "seconds": {k: round(v, 3) for k, v in timing.items()},
    }
    tmp = arrays / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(tmp, arrays / META_FILE)
    return {"method": meta["method"], "dim": vparams["dim"], "entities": meta["entities"], "placed": meta["placed"],
            "passages": meta["passages"], "words_kept": vparams["words_kept"], "seconds": meta["seconds"]}
