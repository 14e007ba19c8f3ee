"""Compressed sparse rows for the index's two relations, with their numba kernels.

**Pairs** are stored once per direction: row ``i`` lists every entity seen with ``i`` (ids ascending) and the
pair's count. Storing both directions costs the same as one direction plus a reverse index, and makes a
neighbour query one slice. Ids and counts use the narrowest unsigned type that holds them (``uint16`` ids while an
index has at most 65,536 entities, ``uint16`` counts while no pair exceeds 65,535 documents): on wiki2015
(28,742 entities, 9.2 M pairs) the pair arrays take 74 MB against 148 MB for the sorted ``int64`` keys, ``int32``
counts and ``int32`` reverse order they replace, and a batched lookup stays a binary search inside one row.

**Postings** list, per entity, the documents that mention it (document numbers ascending). Two entities'
document-level co-occurrence is the size of the intersection of their lists, computed at query time; the
build never materializes document-level pairs (47 M distinct pairs on wiki2015 with 29 k entities, 239 M
with 247 k), and the postings take 4 bytes per (entity, document).

Every kernel has a plain-Python reference (``*_py``) that the tests compare it with on random inputs.
"""
from __future__ import annotations

import numba as nb
import numpy as np

_U32 = np.int64(0xFFFFFFFF)


def narrowest_uint(max_value: int) -> np.dtype:
    """``uint16`` or ``uint32`` (``uint64`` beyond): the narrowest unsigned type that holds ``max_value``."""
    for dt in (np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


# ---- building ----------------------------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True)
def scatter_rows(rows, vals, weights, pos, out_vals, out_weights):
    """Place entry ``j`` at ``pos[rows[j]]`` (then advance it): ``out_vals`` gets ``vals[j]``, and
    ``out_weights`` ``weights[j]`` when it is not empty. Entries of one row keep their input order."""
    with_w = out_weights.shape[0] > 0
    for j in range(rows.shape[0]):
        r = rows[j]
        p = pos[r]
        out_vals[p] = vals[j]
        if with_w:
            out_weights[p] = weights[j]
        pos[r] = p + 1


def scatter_rows_py(rows, vals, weights, pos, out_vals, out_weights) -> None:
    for j in range(len(rows)):
        p = pos[rows[j]]
        out_vals[p] = vals[j]
        if len(out_weights):
            out_weights[p] = weights[j]
        pos[rows[j]] = p + 1


def indptr_of(degrees: np.ndarray) -> np.ndarray:
    indptr = np.zeros(degrees.shape[0] + 1, dtype=np.int64)
    np.cumsum(degrees, out=indptr[1:])
    return indptr


# ---- lookups -----------------------------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True, inline="always")
def _find(ids, lo, hi, x):
    """Position of ``x`` in the sorted ``ids[lo:hi]``, or -1."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = np.int64(ids[mid])
        if v < x:
            lo = mid + 1
        elif v > x:
            hi = mid
        else:
            return mid
    return -1


@nb.njit(cache=True, nogil=True, inline="always")
def _shorter_first(indptr, x, y):
    """``(x, y)`` ordered so that ``x`` has the shorter row (both relations are symmetric), or ``(-1, -1)`` when
    an id is negative or out of range."""
    n = indptr.shape[0] - 1
    if x < 0 or y < 0 or x >= n or y >= n:
        return np.int64(-1), np.int64(-1)
    if indptr[x + 1] - indptr[x] > indptr[y + 1] - indptr[y]:
        return np.int64(y), np.int64(x)
    return np.int64(x), np.int64(y)


@nb.njit(cache=True, nogil=True)
def row_lookup(indptr, ids, weights, a, b):
    """``weights`` of the entries ``(a[k], b[k])`` (0 where absent or an id is negative or out of range)."""
    out = np.zeros(a.shape[0], dtype=np.int64)
    for k in range(a.shape[0]):
        x, y = _shorter_first(indptr, a[k], b[k])
        if x < 0:
            continue
        p = _find(ids, indptr[x], indptr[x + 1], y)
        if p >= 0:
            out[k] = weights[p]
    return out


def row_lookup_py(indptr, ids, weights, a, b) -> list[int]:
    n = len(indptr) - 1
    out = []
    for x, y in zip(a, b):
        c = 0
        if 0 <= x < n and 0 <= y < n:
            row = list(ids[indptr[x]:indptr[x + 1]])
            if y in row:
                c = int(weights[indptr[x] + row.index(y)])
        out.append(c)
    return out


@nb.njit(cache=True, nogil=True)
def intersect_counts(indptr, docs, a, b):
    """``|docs of a[k]| ∩ |docs of b[k]|`` for sorted posting lists (0 where an id is negative or out of range).

    A merge walk when the lists are of similar length; a binary search of the shorter list's items in the longer
    one when the longer is more than 16 times longer (a rare entity against "United States")."""
    out = np.zeros(a.shape[0], dtype=np.int64)
    for k in range(a.shape[0]):
        x, y = _shorter_first(indptr, a[k], b[k])
        if x < 0:
            continue
        i, ie, j, je = indptr[x], indptr[x + 1], indptr[y], indptr[y + 1]
        c = 0
        if (je - j) > 16 * (ie - i):
            lo = j
            for t in range(i, ie):
                v = docs[t]
                hi = je
                while lo < hi:  # first position >= v; the shorter list is sorted, so lo only moves right
                    mid = (lo + hi) >> 1
                    if docs[mid] < v:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo < je and docs[lo] == v:
                    c += 1
        else:
            while i < ie and j < je:
                u, v = docs[i], docs[j]
                if u < v:
                    i += 1
                elif u > v:
                    j += 1
                else:
                    c += 1
                    i += 1
                    j += 1
        out[k] = c
    return out


def intersect_counts_py(indptr, docs, a, b) -> list[int]:
    n = len(indptr) - 1
    return [len(set(docs[indptr[x]:indptr[x + 1]]) & set(docs[indptr[y]:indptr[y + 1]]))
            if 0 <= x < n and 0 <= y < n else 0 for x, y in zip(a, b)]


# ---- the pair relation from sorted (a < b) keys ------------------------------------------------------------------
@nb.njit(cache=True, nogil=True)
def scatter_pairs(keys, counts, r0, r1, pos_rev, pos_fwd, base, out_ids, out_counts):
    """Place the pairs ``keys`` (``a << 32 | b``) that touch rows ``r0 <= row < r1``: ``a`` into row ``b`` at
    ``pos_rev[b]``, ``b`` into row ``a`` at ``pos_fwd[a]`` (each then advanced); positions are shifted down by
    ``base`` (the outputs hold rows ``r0..r1`` only)."""
    for j in range(keys.shape[0]):
        a = keys[j] >> 32
        b = keys[j] & 0xFFFFFFFF
        if r0 <= b < r1:
            p = pos_rev[b]
            out_ids[p - base] = a
            out_counts[p - base] = counts[j]
            pos_rev[b] = p + 1
        if r0 <= a < r1:
            p = pos_fwd[a]
            out_ids[p - base] = b
            out_counts[p - base] = counts[j]
            pos_fwd[a] = p + 1


def scatter_pairs_py(keys, counts, r0, r1, pos_rev, pos_fwd, base, out_ids, out_counts) -> None:
    for k, c in zip(keys, counts):
        a, b = int(k) >> 32, int(k) & 0xFFFFFFFF
        for row, other, pos in ((b, a, pos_rev), (a, b, pos_fwd)):
            if r0 <= row < r1:
                out_ids[pos[row] - base] = other
                out_counts[pos[row] - base] = c
                pos[row] += 1


def pair_degrees(key_chunks, n_entities: int) -> tuple[np.ndarray, np.ndarray]:
    """(row sizes, reverse parts) of the symmetric rows of the sorted pairs given as chunks of keys."""
    fwd = np.zeros(n_entities, dtype=np.int64)
    rev = np.zeros(n_entities, dtype=np.int64)
    for k in key_chunks:
        fwd += np.bincount(k >> 32, minlength=n_entities)
        rev += np.bincount(k & _U32, minlength=n_entities)
    return fwd + rev, rev


def row_ranges(indptr: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive row ranges of at most ``budget`` entries each (a longer single row is a range of its own)."""
    out, r0, n = [], 0, indptr.shape[0] - 1
    while r0 < n:
        r1 = int(np.searchsorted(indptr, indptr[r0] + budget, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        out.append((r0, r1))
        r0 = r1
    return out


def pair_row_ranges(key_chunks, pair_chunks, n_entities: int, budget: int, id_dtype, count_dtype):
    """The symmetric rows of sorted pairs (``a << 32 | b``, ``a < b``): ``(indptr, ranges)``, where ``ranges``
    yields ``(base, ids, counts)`` for consecutive row ranges of at most ``budget`` entries, ``base`` being the
    position of the range's first entry. Row ``i`` is its smaller partners (the pairs where ``i`` is ``b``) then its
    larger ones (``i`` is ``a``), both ascending because the keys are sorted.

    ``key_chunks()`` and ``pair_chunks()`` return fresh iterators over the keys (chunks of them) and over
    ``(keys, counts)`` chunks: one pass over the keys for the row sizes, then one pass per range, so memory is
    bounded by the budget and a chunk, whatever the number of pairs."""
    deg, rev = pair_degrees(key_chunks(), n_entities)
    indptr = indptr_of(deg)

    def ranges():
        for r0, r1 in row_ranges(indptr, budget):
            base, end = int(indptr[r0]), int(indptr[r1])
            ids, cnt = np.zeros(end - base, id_dtype), np.zeros(end - base, count_dtype)
            pos_rev, pos_fwd = indptr[:-1].copy(), indptr[:-1] + rev
            for k, c in pair_chunks():
                scatter_pairs(k, c, r0, r1, pos_rev, pos_fwd, base, ids, cnt)
            yield base, ids, cnt

    return indptr, ranges()
