"""Passage support: does a passage that answers the question also contain the answer's value?

Document-level co-occurrence asks whether a topic and a value were ever mentioned in the same article. Long
articles mention many plausible values (every film of an actor, every country of a region), so a wrong value often
co-occurs as well as the right one. Passage support asks a narrower question of the index's BM25 postings: among
the passages that match the *question* best, is there one that contains every term of the *value*?

For a question q and a value v (both tokenized as for retrieval: :func:`quco.cooccur.bm25.tokenize_for_bm25`)::

    support(q, v) = max{ bm25(q, p) : p contains every term of v } / max{ bm25(q, p) : any passage p }

It is 1 when the best passage for the question contains the value, near 0 when only passages that barely match
the question do, and 0 when no passage contains all of the value's terms (a value the corpus never states). The
scores are those of the retriever (:mod:`quco.cooccur.bm25`: the same float32 arithmetic as bm25s), so
``support`` is 1 exactly when a top-1 retrieval would show a passage with the value. Terms are a bag: "Paris
Hilton" is supported by a passage with "Paris" and "Hilton" anywhere in it.

Measured on the realqa dev files (``python bench/ablate_claims.py``, docs/eval.md), ``support`` alone reaches
AUROC 0.69 on TriviaQA sentence answers where document-level NPMI reaches 0.64; their mix is what ``assess``
uses (``GateConfig.passage_weight``).

Cost. Both maxima are found exactly without scoring every posting (:mod:`quco.cooccur.maxscore`: MaxScore
pruning with per-term bounds cached by the reader; the rarest terms go into a per-thread buffer of which only the
touched slots are zeroed again, the best candidates are scored by binary search in the other terms' postings,
sorted by passage id as the builder writes them). A candidate's score is re-summed as the full accumulation
(:func:`quco.cooccur.bm25.accumulate_scores`) sums it, so supports are bit-identical to it; ``prune=False`` (and
a question of more than ``maxscore.MAX_TERMS`` terms) takes that full accumulation. Measured on wiki2015 +
wiki_extra (976 k passages) with the 808 calls ``assess`` makes on 300 rows of each realqa dev file
(``python bench/bench_passage_support.py``, 2026-12-02, load ~2.2 on 2 cores, caches evicted between calls as
spaCy's parse does in ``assess``): 0.71 ms per call at p50 against 1.85 ms for the full accumulation, pruned/full
0.38 at p50, 0.54 at p95, 0.46 in the mean (0.43 at p50 on the first pass, which computes the new terms'
bounds); outputs equal on every call. Inside ``assess`` (500 evouna_triviaqa_dev rows, ``retrieve=False``, runs
of the two versions alternated, load ~2.5) passage support's p50 went from 2.1-2.3 ms to 0.7-0.8 ms, and the
whole ``assess`` p50 from 4.3-4.6 ms to 2.8-3.2 ms.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from quco.cooccur import maxscore
from quco.cooccur.maxscore import _find
from quco.cooccur.bm25 import Bm25sRetriever, accumulate_scores, tokenize_for_bm25


# -- kernels -----------------------------------------------------------------------------------------------------


def _query_scores(indptr, docs, tf, idf, norm, query_ids, scores=None):
    """Every passage's score for ``query_ids`` (float32, one slot per passage; reference:
    ``quco.cooccur.bm25._scores_reference``), computed into ``scores`` when given (all zero on entry); returns the
    scores and the ids of the passages it touched."""
    if scores is None:
        scores = np.zeros(norm.shape[0], dtype=np.float32)
    total = int((np.asarray(indptr[query_ids + 1]) - np.asarray(indptr[query_ids])).sum())
    touched = np.empty(total, dtype=np.int64)
    n = accumulate_scores(indptr, docs, tf, idf, norm, query_ids, scores, touched)
    return scores, touched[:n]


def _top_kernel(scores, touched):
    """The largest of ``scores[touched]`` (0 when none): a loop, not a gathered copy of up to a million floats."""
    top = np.float32(0)
    for i in range(touched.shape[0]):
        if scores[touched[i]] > top:
            top = scores[touched[i]]
    return top


def _zero_kernel(scores, touched):
    """``scores[touched] = 0`` without numpy's fancy-index temporaries."""
    for i in range(touched.shape[0]):
        scores[touched[i]] = 0


def _best_with_all_reference(indptr, docs, scores, term_ids):
    """Plain Python: the best score among passages whose postings hold every one of ``term_ids`` (0 if none)."""
    sets = [set(docs[indptr[t]:indptr[t + 1]].tolist()) for t in term_ids]
    common = set.intersection(*sets) if sets else set()
    return max((float(scores[d]) for d in common), default=0.0)


def _best_with_all_kernel(indptr, docs, scores, term_ids):
    """``_best_with_all_reference`` for numba: walk the rarest term's postings, binary-search the others'."""
    n = term_ids.shape[0]
    if n == 0:
        return 0.0
    rare = term_ids[0]
    for i in range(1, n):
        t = term_ids[i]
        if indptr[t + 1] - indptr[t] < indptr[rare + 1] - indptr[rare]:
            rare = t
    best = 0.0
    for j in range(indptr[rare], indptr[rare + 1]):
        d = docs[j]
        s = scores[d]
        if s <= best:
            continue
        ok = True
        for i in range(n):
            t = term_ids[i]
            if t != rare and _find(indptr, docs, t, d) < 0:
                ok = False
                break
        if ok:
            best = float(s)
    return best


try:  # compiled once, then loaded from numba's on-disk cache by later processes
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency
    _best_with_all, _top, _zero = _best_with_all_reference, _top_kernel, _zero_kernel
else:
    _top = njit(cache=True, nogil=True)(_top_kernel)
    _zero = njit(cache=True, nogil=True)(_zero_kernel)
    _best_with_all = njit(cache=True, nogil=True)(_best_with_all_kernel)


# -- the reader --------------------------------------------------------------------------------------------------


class PassageSupport:
    """Passage support of values for a question, over a :class:`~quco.cooccur.bm25.Bm25sRetriever`'s postings."""

    def __init__(self, retriever: Bm25sRetriever, prune: bool = True):
        self._r = retriever
        self._arrays = tuple(np.asarray(a) for a in retriever.postings())  # plain views: a memmap argument costs
        # numba's dispatcher ~3 us more per call
        self._local = threading.local()  # one passage-sized score buffer per thread, zeroed after each use
        self._prune = prune and maxscore.HAVE_NUMBA  # False: score every posting (the reference of the pruning)
        self._levels = maxscore.norm_codes(self._arrays[4])  # the pruned search's compact normalizers
        self._bounds = np.full(len(self._arrays[3]), -1.0)  # per term: its largest posting score, once known

    def _buffer(self) -> np.ndarray:
        buf = getattr(self._local, "scores", None)
        if buf is None:
            buf = self._local.scores = np.zeros(self._arrays[4].shape[0], dtype=np.float32)
        return buf

    def support(self, question: str, values: Sequence[str]) -> list[float] | None:
        """Each value's support in [0, 1] (see the module docstring); ``None`` when no term of the question is in
        the passages' vocabulary (nothing to rank by). A value with a term no passage contains gets 0; a value with
        no term at all (only stopwords or punctuation) gets ``None`` in its place."""
        if not self._prune:
            return self._support_full(question, values)
        terms = tokenize_for_bm25([question, *values])  # one call: it costs ~0.1 ms with cold caches
        q_ids = np.unique(self._r.term_ids(terms[0]))
        if not len(q_ids):
            return None
        live = q_ids[self._arrays[3][q_ids] > 0]
        if not 0 < len(live) <= maxscore.MAX_TERMS:
            return self._support_full(question, values)
        scores = self._buffer()
        ub = maxscore.bounds(*self._arrays[:4], *self._levels, live, self._bounds)
        search = maxscore.MaxScoreSearch(self._arrays, self._levels, live, ub, scores)
        try:
            return self._values(float(search.top), search.best_with_all, terms[1:])
        finally:
            _zero(scores, search.touched)

    def _support_full(self, question: str, values: Sequence[str]) -> list[float] | None:
        """``support`` by accumulating every posting of every question term: the reference of the pruning."""
        indptr, docs, tf, idf, norm = self._arrays
        q_ids = np.unique(self._r.term_ids(tokenize_for_bm25([question])[0]))
        if not len(q_ids):
            return None
        scores, touched = _query_scores(indptr, docs, tf, idf, norm, q_ids, self._buffer())
        try:
            return self._values(float(_top(scores, touched)), lambda ids: _best_with_all(indptr, docs, scores, ids),
                                tokenize_for_bm25(list(values)) if values else [])
        finally:
            _zero(scores, touched)

    def _values(self, top: float, best_with_all: Callable[[np.ndarray], float],
                tokenized: Sequence[np.ndarray]) -> list[float] | None:
        """Each value's best score among passages holding all its terms (``best_with_all`` of their ids) over
        ``top``."""
        if top <= 0:
            return None
        out: list[float] = []
        for terms in tokenized:
            distinct = np.unique(terms)
            if not len(distinct):
                out.append(None)  # type: ignore[arg-type]
                continue
            ids = np.unique(self._r.term_ids(distinct))
            if len(ids) < len(distinct):  # a term no passage has: the corpus never states this value
                out.append(0.0)
                continue
            out.append(min(1.0, float(best_with_all(ids)) / top))
        return out
