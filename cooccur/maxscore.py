"""Exact pruning for passage support: score only the passages that can still be the best.

:mod:`quco.cooccur.passage_support` needs two maxima of the question's BM25 score ``S(p)`` (the float32 sum of
the question terms' posting scores, terms in ascending id order, exactly as
:func:`quco.cooccur.bm25.accumulate_scores` sums them): over all passages, and over the passages that hold every
term of a value. Scoring every posting of every question term reads ~10^5 postings per question; these kernels
find both maxima exactly while reading a fraction of them (MaxScore, Turtle & Flood 1995, term at a time):

* Each term's **bound** ``ub``: the largest of its posting scores, each computed with the passage's normalizer
  rounded down to one of 256 levels (``norm_codes``; so at least the largest exact score). Computed on a term's
  first use in one pass over its postings and cached by the reader (``bounds``).
* The **essential** terms, rarest first, are accumulated into the reader's per-thread buffer as bounds (posting
  scores with the levels: 1 byte a passage to read instead of an 8-byte normalizer), until the bounds of the
  other terms sum (``rest``) to no more than a score some passage reaches (the exact score of the passage with
  the largest partial bound after each term), and further while the next term has fewer postings than
  ``LOOKUP_COST`` times the lookups it would spare. A passage no essential term touched scores at most ``rest``;
  a touched one at most its partial bound plus ``rest``.
* A **candidate** whose bound beats the best so far is scored exactly by binary search in each term's postings
  (sorted by passage id, as the builder writes them), the non-essential terms first, largest bound first, giving
  up as soon as what it has found plus what is left cannot beat the best (``_score_above_kernel``). A score that
  survives is the float32 sum of its terms' exact posting scores in ascending term order: bit-identical to the
  slot of a full accumulation, so supports equal the full accumulation's exactly (tested).
* A **value**'s best walks its rarest term's postings: touched passages are bounded by the buffer, untouched ones
  by ``rest``; when untouched ones could still win, they are scored one by one or, if that costs more lookups
  than the next term has postings, that term is accumulated too (``_value_kernel``).

Bounds compare sums taken in different orders and roundings, so each carries a relative slack ``MARGIN`` far above
the rounding of a float32 sum of at most ``MAX_TERMS`` terms; a longer question takes the full accumulation. Every
kernel sits beside a plain-Python reference (or a property against one) tested on random postings.
"""
from __future__ import annotations

import numpy as np

from quco.cooccur.bm25 import K1, _posting_scores

MARGIN = 1e-4  # relative slack of every bound; a float32 sum of n terms in two orders differs by < 2 n 2^-24
MAX_TERMS = 256  # questions with more live terms than this are accumulated in full (MARGIN would not cover them)
LOOKUP_COST = 4  # a binary search costs about as much as accumulating this many postings (ratios flat from 1 to 16)


# -- references ---------------------------------------------------------------------------------------------------


def term_bound_reference(indptr, docs, tf, idf, codes, levels, t: int) -> np.float32:
    """Plain numpy: term ``t``'s bound, the largest of its posting scores each computed with its passage's
    normalizer level (``norm_codes``): at least its largest exact posting score; 0 for idf <= 0 or no postings."""
    a, b = int(indptr[t]), int(indptr[t + 1])
    if not idf[t] > 0 or a == b:
        return np.float32(0)
    f = np.asarray(tf[a:b]).astype(np.float64)
    return (float(idf[t]) * (f * (K1 + 1) / (f + levels[codes[np.asarray(docs[a:b])]]))).astype(np.float32).max()


def exact_score_reference(indptr, docs, tf, idf, norm, q, d: int) -> np.float32:
    """Plain Python: passage ``d``'s score for the terms ``q`` (ascending ids), summed as the full accumulation
    sums it: float32, terms in order, terms with idf <= 0 skipped."""
    acc = np.float32(0)
    for t in q:
        if not idf[t] > 0:
            continue
        row = docs[indptr[t]:indptr[t + 1]].tolist()
        if d in row:
            j = indptr[t] + row.index(d)
            acc = np.float32(acc + _posting_scores(tf[j:j + 1], idf[t:t + 1], norm[d:d + 1])[0])
    return acc


# -- kernels ------------------------------------------------------------------------------------------------------


def _posting_score_kernel(w, f, nd):
    """One posting's float32 score from its term's idf ``w`` (float64), its tf ``f`` and its passage's norm ``nd``:
    the arithmetic of ``bm25._accumulate_kernel``."""
    f32 = np.float32(f)
    return np.float32(w * (np.float64(f32 * np.float32(K1 + 1)) / (np.float64(f32) + nd)))


def _find_kernel(indptr, docs, t, d):
    """Position of passage ``d`` in term ``t``'s postings (ascending ids), or -1."""
    lo, hi = indptr[t], indptr[t + 1]
    end = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if docs[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    if lo < end and docs[lo] == d:
        return lo
    return -1


def _term_bound_kernel(indptr, docs, tf, idf, codes, levels, t):
    """``term_bound_reference`` for numba: one pass over the postings reading 1-byte levels, not 8-byte norms."""
    top = np.float32(0)
    if not idf[t] > 0:
        return top
    w = np.float64(idf[t])
    for j in range(indptr[t], indptr[t + 1]):
        f = np.float64(tf[j])
        s = np.float32(w * (f * (K1 + 1) / (f + levels[codes[docs[j]]])))
        if s > top:
            top = s
    return top


def _exact_score_kernel(indptr, docs, tf, idf, norm, q, d):
    """``exact_score_reference`` for numba: one binary search per term."""
    acc = np.float32(0)
    for k in range(q.shape[0]):
        t = q[k]
        if not idf[t] > 0:
            continue
        j = _find(indptr, docs, t, d)
        if j >= 0:
            acc += _posting_score(np.float64(idf[t]), tf[j], norm[d])
    return acc


def _score_above_kernel(indptr, docs, tf, idf, norm, q, ub, ne, rest, d, p, best, contrib, seen):
    """Passage ``d``'s exact score (as ``_exact_score_kernel``) if it can beat ``best``, else -1.

    ``q`` are the live terms (ascending ids, idf > 0), ``ub`` their bounds, ``ne`` the positions in ``q`` of the
    non-essential terms (largest bound first) whose bounds sum to ``rest``; ``p`` is what the essential terms gave
    ``d`` in the buffer (a bound). ``contrib`` (float32) and ``seen`` (bool) are scratch arrays of ``q``'s size."""
    left = rest
    if (p + left) * (1 + MARGIN) <= best:
        return np.float32(-1)
    contrib[:] = 0
    seen[:] = False
    found = 0.0
    for i in range(ne.shape[0]):
        k = ne[i]
        seen[k] = True
        left -= ub[k]
        j = _find(indptr, docs, q[k], d)
        if j >= 0:
            contrib[k] = _posting_score(np.float64(idf[q[k]]), tf[j], norm[d])
            found += contrib[k]
        if (p + found + max(left, 0.0)) * (1 + MARGIN) <= best:
            return np.float32(-1)
    acc = np.float32(0)
    for k in range(q.shape[0]):
        if not seen[k]:
            j = _find(indptr, docs, q[k], d)
            if j >= 0:
                contrib[k] = _posting_score(np.float64(idf[q[k]]), tf[j], norm[d])
        acc += contrib[k]  # adding 0 for an absent term leaves a float32 sum unchanged
    return acc


def _count_above_kernel(scores, touched, rest, best):
    """How many ``touched`` passages have a bound (partial score + ``rest``) above ``best``."""
    m = 0
    for i in range(touched.shape[0]):
        if (scores[touched[i]] + rest) * (1 + MARGIN) > best:
            m += 1
    return m


def _best_touched_kernel(indptr, docs, tf, idf, norm, q, ub, ne, rest, scores, touched, best):
    """The best exact score among ``touched`` passages and ``best`` (a score already known to be reached): each
    passage whose bound beats the best so far goes through ``_score_above_kernel``."""
    contrib, seen = np.zeros(q.shape[0], dtype=np.float32), np.zeros(q.shape[0], dtype=np.bool_)
    for i in range(touched.shape[0]):
        d = touched[i]
        p = scores[d]
        if (p + rest) * (1 + MARGIN) > best:
            s = _score_above(indptr, docs, tf, idf, norm, q, ub, ne, rest, d, p, best, contrib, seen)
            if s > best:
                best = s
    return best


def _contains_all(indptr, docs, v, rare, d):
    """Whether passage ``d`` is in the postings of every term of ``v`` but ``rare`` (already known to hold it)."""
    for i in range(v.shape[0]):
        if v[i] != rare and _find(indptr, docs, v[i], d) < 0:
            return False
    return True


def _best_with_all_kernel(indptr, docs, tf, idf, norm, q, ub, ne, rest, scores, v, best, untouched):
    """The best exact score among passages holding every term of ``v`` (non-empty) and ``best``; and how many of
    the rarest term's passages were left out as untouched (buffer 0) though ``rest`` could beat ``best`` (0 when
    ``untouched`` is true: then they are scored too)."""
    rare = v[0]
    for i in range(1, v.shape[0]):
        if indptr[v[i] + 1] - indptr[v[i]] < indptr[rare + 1] - indptr[rare]:
            rare = v[i]
    pending = 0
    contrib, seen = np.zeros(q.shape[0], dtype=np.float32), np.zeros(q.shape[0], dtype=np.bool_)
    for j in range(indptr[rare], indptr[rare + 1]):
        d = np.int64(docs[j])
        p = scores[d]
        if (p + rest) * (1 + MARGIN) <= best:
            continue
        if p == 0 and not untouched:
            pending += 1
            continue
        if not _contains_all(indptr, docs, v, rare, d):
            continue
        s = _score_above(indptr, docs, tf, idf, norm, q, ub, ne, rest, d, p, best, contrib, seen)
        if s > best:
            best = s
    return best, pending


def norm_codes(norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's length normalizer rounded down to one of 256 levels (geometric from the smallest to the
    largest): ``(codes uint8, levels float64)`` with ``levels[codes] <= norm``. A posting score computed with the
    level is at least the exact one (it falls as the normalizer grows), and the levels (1 byte a passage instead of
    8) stay in the CPU's cache while the buffer is filled with bounds."""
    norm = np.asarray(norm, dtype=np.float64)
    if not len(norm):
        return np.zeros(0, np.uint8), np.zeros(256)
    lo, hi = float(norm.min()), float(norm.max())
    step = (hi / lo) ** (1 / 255) if lo > 0 and hi > lo else 1.0
    levels = lo * step ** np.arange(256) if step > 1 else np.full(256, lo)
    levels[0] = lo
    codes = np.clip(np.floor(np.log(norm / lo) / np.log(step)), 0, 255).astype(np.uint8) if step > 1 else \
        np.zeros(len(norm), np.uint8)
    while True:  # floating rounding may put a passage one level too high
        high = levels[codes] > norm
        if not high.any():
            return codes, levels
        codes[high] -= 1


def _accumulate_bound_kernel(indptr, docs, tf, idf, codes, levels, t, scores, touched, nt, top):
    """Add term ``t``'s posting scores, each computed with its passage's normalizer level (an upper bound of the
    exact score, ``norm_codes``), into ``scores``; passages scored for the first time go to ``touched[nt:]``.
    ``top`` is the passage with the largest sum so far (-1: none). Returns the new count of touched passages and
    the new ``top``."""
    if not idf[t] > 0:
        return nt, top
    w = np.float64(idf[t])
    for j in range(indptr[t], indptr[t + 1]):
        d = docs[j]
        f = np.float64(tf[j])
        s = np.float32(w * (f * (K1 + 1) / (f + levels[codes[d]])))
        if scores[d] == 0 and s > 0:
            touched[nt] = d
            nt += 1
        scores[d] += s
        if top < 0 or scores[d] > scores[top]:
            top = d
    return nt, top


def _bounds_kernel(indptr, docs, tf, idf, codes, levels, q, cache):
    """The bounds (float64) of the terms ``q`` from ``cache`` (one slot per term, negative until known), computing
    the missing ones (``_term_bound_kernel``: one pass over the term's postings, once)."""
    ub = np.empty(q.shape[0])
    for k in range(q.shape[0]):
        if cache[q[k]] < 0:
            cache[q[k]] = _term_bound(indptr, docs, tf, idf, codes, levels, q[k])
        ub[k] = cache[q[k]]
    return ub


def _plan_kernel(indptr, q, ub, m):
    """The positions of ``q`` rarest first (the order of accumulation), the non-essential ones after the first
    ``m`` sorted by bound (largest first), and the sum of their bounds."""
    n = q.shape[0]
    lens = np.empty(n, dtype=np.int64)
    for k in range(n):
        lens[k] = indptr[q[k] + 1] - indptr[q[k]]
    order = np.argsort(lens, kind="mergesort")
    ne = order[m:].copy()
    neg = np.empty(ne.shape[0])
    rest = 0.0
    for i in range(ne.shape[0]):
        neg[i] = -ub[ne[i]]
        rest += ub[ne[i]]
    return order, lens, ne[np.argsort(neg, kind="mergesort")], rest


def _search_kernel(indptr, docs, tf, idf, norm, codes, levels, q, ub, scores, cost):
    """Accumulate the rarest terms of ``q`` into ``scores`` until the others' bounds (``rest``) cannot lift an
    untouched passage above a score some passage reaches, and further while a term costs fewer postings than the
    lookups it spares (``cost`` postings a lookup); then the best exact score of all passages. Returns
    ``(top, m, touched, n_touched)``: ``m`` terms accumulated, touching ``touched[:n_touched]``."""
    order, lens, ne, rest = _plan(indptr, q, ub, 0)
    touched = np.empty(lens.sum(), dtype=np.int64)
    m, nt, d = 0, 0, -1
    best = np.float32(0)
    while m < q.shape[0]:
        if rest * (1 + MARGIN) <= best:
            waiting = _count_above(scores, touched[:nt], rest, best)
            if waiting * ne.shape[0] * cost <= lens[order[m]]:
                break
        nt, d = _accumulate_bound(indptr, docs, tf, idf, codes, levels, q[order[m]], scores, touched, nt, d)
        m += 1
        order, lens, ne, rest = _plan(indptr, q, ub, m)
        if d >= 0:  # the passage with the largest bound: its exact score is one some passage reaches
            s = _exact_score(indptr, docs, tf, idf, norm, q, d)
            if s > best:
                best = s
    top = _best_touched(indptr, docs, tf, idf, norm, q, ub, ne, rest, scores, touched[:nt], best)
    return top, m, touched, nt


def _value_kernel(indptr, docs, tf, idf, norm, codes, levels, q, ub, scores, touched, m, nt, v, cost):
    """The best exact score among passages holding every term of ``v`` (non-empty), 0 if none, after
    ``_search_kernel`` (which left ``m`` terms accumulated, ``touched[:nt]``): untouched passages that could win
    are scored one by one, or, when their lookups (``cost`` postings each) would cost more than the next term's
    postings, that term is accumulated and the walk repeated. Returns ``(best, m, nt)``."""
    order, lens, ne, rest = _plan(indptr, q, ub, m)
    best = np.float32(0)
    while True:
        best, pending = _best_with_all(indptr, docs, tf, idf, norm, q, ub, ne, rest, scores, v, best, False)
        if pending == 0 or rest * (1 + MARGIN) <= best:
            return best, m, nt
        if pending * ne.shape[0] * cost <= lens[order[m]]:
            best, pending = _best_with_all(indptr, docs, tf, idf, norm, q, ub, ne, rest, scores, v, best, True)
            return best, m, nt
        nt, _ = _accumulate_bound(indptr, docs, tf, idf, codes, levels, q[order[m]], scores, touched, nt, -1)
        m += 1
        order, lens, ne, rest = _plan(indptr, q, ub, m)


try:  # compiled once, then loaded from numba's on-disk cache by later processes
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; the reader falls back to full accumulation
    HAVE_NUMBA = False

    def _jit(f):
        return f
else:
    HAVE_NUMBA = True
    _jit = njit(cache=True, nogil=True)

_posting_score = _jit(_posting_score_kernel)
_find = _jit(_find_kernel)
_term_bound = _jit(_term_bound_kernel)
_exact_score = _jit(_exact_score_kernel)
_score_above = _jit(_score_above_kernel)
_count_above = _jit(_count_above_kernel)
_best_touched = _jit(_best_touched_kernel)
_contains_all = _jit(_contains_all)
_best_with_all = _jit(_best_with_all_kernel)
_plan = _jit(_plan_kernel)
_accumulate_bound = _jit(_accumulate_bound_kernel)
bounds = _jit(_bounds_kernel)
search = _jit(_search_kernel)
value_best = _jit(_value_kernel)


# -- the search ---------------------------------------------------------------------------------------------------

class MaxScoreSearch:
    """One question's pruned search over the postings ``arrays = (indptr, docs, tf, idf, norm)``.

    ``levels`` are the passages' ``norm_codes``, ``q`` the question's live terms (ascending ids, idf > 0, at most
    ``MAX_TERMS``), ``ub`` their ``bounds``, ``scores`` a zeroed passage-sized float32 buffer. On construction the
    rarest terms are accumulated into ``scores`` (``_search_kernel``) and :attr:`top` is the best exact score;
    :meth:`best_with_all` gives the best exact score among the passages that hold every term of a value,
    accumulating more terms when that is cheaper (``lookup_cost``: ``LOOKUP_COST``; any value gives the same
    results, 0 and a huge one force each way). The caller zeroes ``scores[touched]`` (:attr:`touched`) after.
    """

    def __init__(self, arrays: tuple[np.ndarray, ...], levels: tuple[np.ndarray, np.ndarray], q: np.ndarray,
                 ub: np.ndarray, scores: np.ndarray, lookup_cost: int = LOOKUP_COST):
        self._a, self._q, self._ub, self._scores = (*arrays, *levels), q, ub, scores
        self._cost = lookup_cost
        self.top, self._m, self._buf, self._n = search(*self._a, q, ub, scores, lookup_cost)

    @property
    def touched(self) -> np.ndarray:
        """The passages the accumulated terms touched (their ``scores`` slots are the only non-zero ones)."""
        return self._buf[:self._n]

    def best_with_all(self, v: np.ndarray) -> np.float32:
        """The best exact score among passages whose postings hold every term id of ``v`` (non-empty), 0 if none."""
        best, self._m, self._n = value_best(*self._a, self._q, self._ub, self._scores, self._buf, self._m, self._n,
                                            v, self._cost)
        return best
