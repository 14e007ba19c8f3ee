"""BM25 scoring and top-k over an index's postings: the kernels (numba) beside their plain numpy references.

:mod:`quco.cooccur.bm25` reads the postings (bm25s's term-by-passage matrix as term frequencies) and ranks with
these; it re-exports every name here that other modules import from it. Scores are bm25s's float32 arithmetic
(``_posting_scores``), each query term's posting scores summed in query order (``accumulate_scores``); a top k is
the ``k`` best positive scores, best first, ties broken by passage id.

Two ways to rank, same results bit for bit (tested on random postings: ties, repeated terms, empty queries, ``k``
beyond the hits, and on every realqa query of wiki2015 and wiki_extra by the bench below):

* ``_top_k`` (before; kept as the allocating kernel the buffered one is tested against) allocates a float32 score
  per passage (602 k on wiki2015, 976 k with wiki_extra), accumulates with each passage's float64 normalizer
  (``norm``, 8 bytes a passage read at random), keeps the best ``k`` of the touched passages in a heap.
* ``_top_k_buffered`` (the retriever's) scores into the caller's per-thread buffers and zeroes only the slots it
  touched (the whole buffer at once past 1/32 of the passages), as :mod:`quco.cooccur.passage_support` does;
  reads a passage's normalizer as ``table[codes[d]]`` (``_norm_table``: codes are the lengths, one byte on
  wiki2015, the table their normalizers, the same float64 values); and for a posting with tf < ``RATIO_TF``
  (99.9 % of them) reads the quotient ``tf (k1 + 1) / (tf + norm)`` from ``ratio[tf, code]`` (``_ratio_table``,
  computed by numpy with the kernel's float32/float64 operations) instead of dividing.

Cost, the ranking alone (``python bench/bench_retrieval.py --kernel [--index /tmp/wxdef.idx] [--evict-mb 48
--queries 1000 --repeat 1]``; 6,966 distinct realqa queries, each question and question + answer; k=5; old and new
alternated per query in one process, best of 3; 2026-12-02, load ~1 on 2 shared cores; ms per query, mean / p50):

=================================  ========================  ========================  =====================
index, caches                      old ``_top_k``            new                       new/old mean (p50)
=================================  ========================  ========================  =====================
wiki2015 602 k, hot loop           0.60-0.66 / 0.33-0.36     0.54-0.56 / 0.29-0.30     0.84-0.90 (0.83-0.89)
wiki2015, 48 MB evicted per call   1.79-2.05 / 1.41-1.65     1.18-1.37 / 0.97-1.10     0.66-0.67 (0.70-0.71)
+ wiki_extra 976 k, hot loop       1.15-1.35 / 0.70-0.84     0.86-0.92 / 0.47-0.51     0.68-0.75 (0.67-0.73)
+ wiki_extra, 48 MB evicted        3.14-3.20 / 2.56-2.60     2.03-2.10 / 1.73-1.81     0.65-0.66 (0.68-0.69)
=================================  ========================  ========================  =====================

The zeroing was not the main cost: ``np.zeros`` of 602 k floats takes ~23 us in a hot loop, and the buffer alone
(zeroing only the touched slots, one by one) measured new/old 1.03-1.07 in the mean on wiki2015 (faster on the
quarter of shortest queries, 0.87, slower on long ones, whose scattered zeroing costs more than a sequential
sweep; with the sweep past 1/32, ~0.98). The gain comes from the random reads: the accumulation reads a
passage's normalizer and score slot at random for every posting, and the one-byte codes (0.6 MB instead of
4.8 MB) fit in this machine's 1 MB L2 where the float64 ``norm`` did not, more so with cold caches
(``--evict-mb``, as in ``assess`` where spaCy's parse runs between two retrievals); the ratio table removes the
division (~0.9 of the time left, hot). What is left is proportional to the postings read (a query of ~10^5
postings takes ~0.5 ms): a top k that reads fewer postings (MaxScore, as :mod:`quco.cooccur.maxscore` does for
passage support) is the next step.
"""
from __future__ import annotations

import numpy as np

K1 = 1.5
B = 0.75
SWEEP_SHARE = 32  # a query touching more than 1/32 of the passages zeroes the whole buffer (sequential, faster)
RATIO_TF = 8  # term frequencies below this read their posting's ratio from a table (99.9 % of wiki2015's postings)


def _doc_norms(doc_len: np.ndarray) -> np.ndarray:
    """``k1 * (1 - b + b * len / avglen)`` per passage in float64, in bm25s's order of operations."""
    avg = float(doc_len.sum()) / len(doc_len) if len(doc_len) else 0.0
    return K1 * ((1 - B) + (B * doc_len.astype(np.float64)) / (avg or 1.0))


def _norm_table(doc_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's normalizer as ``table[codes[d]]``, equal bit for bit to ``_doc_norms(doc_len)[d]`` (checked):
    ``codes`` are the lengths themselves (uint8 or uint16 when they fit; wiki2015's are all below 256), ``table``
    the normalizer of every length up to the longest. A random access then reads 1-2 bytes per passage instead of 8.
    Lengths beyond uint16 get ``codes = arange(n)`` and ``table = _doc_norms(doc_len)``."""
    doc_len = np.asarray(doc_len)
    norm = _doc_norms(doc_len)
    if len(doc_len) and 0 <= doc_len.min() and doc_len.max() < 2**16:
        avg = float(doc_len.sum()) / len(doc_len)
        table = K1 * ((1 - B) + (B * np.arange(int(doc_len.max()) + 1, dtype=np.float64)) / (avg or 1.0))
        codes = doc_len.astype(np.uint8 if doc_len.max() < 2**8 else np.uint16)
        if np.array_equal(table[codes], norm):
            return codes, table
    return np.arange(len(norm), dtype=np.int64), norm


def _ratio_table(table: np.ndarray) -> np.ndarray:
    """``ratio[f, c] = float64(f * (k1 + 1)) / (f + table[c])`` for ``f < RATIO_TF`` (float32 product, float64 sum and
    quotient: the per-posting arithmetic of ``_accumulate_kernel`` before the idf), so that a posting's score is one
    product; no rows when ``table`` has more than 2**16 entries (``_norm_table``'s fallback)."""
    f = np.arange(RATIO_TF if len(table) <= 2**16 else 0, dtype=np.float32)
    num = (f * np.float32(K1 + 1)).astype(np.float64)
    return np.ascontiguousarray(num[:, None] / (f.astype(np.float64)[:, None] + table[None, :]))


def _posting_scores(tf: np.ndarray, idf: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Postings' float32 scores from their tf, their term's idf and their passage's norm: bm25s's arithmetic
    (float32 ``tf * (k1 + 1)``, float64 division and product, rounded to float32)."""
    tf32 = tf.astype(np.float32)
    num = (tf32 * np.float32(K1 + 1)).astype(np.float64)
    return (idf.astype(np.float64) * (num / (tf32.astype(np.float64) + norm))).astype(np.float32)


# -- references ---------------------------------------------------------------------------------------------------


def _scores_reference(indptr, docs, tf, idf, norm, query_ids: np.ndarray) -> np.ndarray:
    """Plain numpy: every passage's score (float32), each query term's posting scores summed in order; the
    reference of ``accumulate_scores``."""
    scores = np.zeros(len(norm), dtype=np.float32)
    for t in query_ids:
        if idf[t] > 0:
            d = docs[indptr[t]:indptr[t + 1]]
            np.add.at(scores, d, _posting_scores(tf[indptr[t]:indptr[t + 1]], np.full(len(d), idf[t]), norm[d]))
    return scores


def _top_k_reference(indptr, docs, tf, idf, norm, query_ids: np.ndarray, k: int):
    """Plain numpy: sum each query term's posting scores, keep the ``k`` best positive scores.

    Returns ``(passage_ids int64, scores float32)`` sorted by score descending, then passage id.
    """
    scores = _scores_reference(indptr, docs, tf, idf, norm, query_ids)
    hits = np.flatnonzero(scores > 0)
    best = hits[np.lexsort((hits, -scores[hits]))[:k]]
    return best.astype(np.int64), scores[best]


def _top_k_buffered_reference(indptr, docs, tf, idf, codes, table, ratio, query_ids, k, scores, touched):
    """``_top_k_reference`` with ``_top_k_buffered``'s signature (the buffers unused); without numba only."""
    return _top_k_reference(indptr, docs, tf, idf, table[codes], query_ids, k)


# -- kernels ------------------------------------------------------------------------------------------------------


def _worse(s1, d1, s2, d2) -> bool:
    """Hit (s1, d1) ranks below hit (s2, d2): lower score, or the same score and a higher id."""
    return s1 < s2 or (s1 == s2 and d1 > d2)


def _accumulate_kernel(indptr, docs, tf, idf, norm, query_ids, scores, touched):
    """Add the query terms' posting scores (bm25s's float32 arithmetic, terms in order) into ``scores`` (zero where
    untouched); the passages scored for the first time go to ``touched`` (room for every posting of the query, or
    for every passage: each is recorded once). Returns how many. Shared by the top k and
    :mod:`quco.cooccur.passage_support`."""
    n_touched = 0
    tf_num = np.float32(K1 + 1)
    for q in range(query_ids.shape[0]):
        t = query_ids[q]
        if not idf[t] > 0:
            continue
        w = np.float64(idf[t])
        for j in range(indptr[t], indptr[t + 1]):
            d = docs[j]
            f = np.float32(tf[j])
            s = np.float32(w * (np.float64(f * tf_num) / (np.float64(f) + norm[d])))
            if scores[d] == 0 and s > 0:
                touched[n_touched] = d
                n_touched += 1
            scores[d] += s
    return n_touched


def _accumulate_coded_kernel(indptr, docs, tf, idf, codes, table, ratio, query_ids, scores, touched):
    """``_accumulate_kernel`` with each passage's normalizer read as ``table[codes[d]]`` (``_norm_table``) and the
    quotient of a small tf from ``ratio`` (``_ratio_table``): the same float32 scores, a smaller array to read at
    random and no division for most postings."""
    n_touched = 0
    tf_num = np.float32(K1 + 1)
    n_ratio = ratio.shape[0]
    for q in range(query_ids.shape[0]):
        t = query_ids[q]
        if not idf[t] > 0:
            continue
        w = np.float64(idf[t])
        for j in range(indptr[t], indptr[t + 1]):
            d = docs[j]
            c = codes[d]
            if tf[j] < n_ratio:
                x = ratio[tf[j], c]
            else:
                f = np.float32(tf[j])
                x = np.float64(f * tf_num) / (np.float64(f) + table[c])
            s = np.float32(w * x)
            if scores[d] == 0 and s > 0:
                touched[n_touched] = d
                n_touched += 1
            scores[d] += s
    return n_touched


def _select_kernel(scores, touched, n_touched, k):
    """The ``k`` best of the passages ``touched[:n_touched]`` by ``scores`` (a size-k heap whose root is the worst
    hit kept, then an insertion sort): ``(passage ids int64, scores float32)``, best first, ties by id."""
    heap_d = np.empty(k, dtype=np.int64)
    heap_s = np.empty(k, dtype=np.float32)
    m = 0
    for i in range(n_touched):
        d = touched[i]
        s = scores[d]
        if m < k:
            pos = m
            m += 1
            while pos > 0 and _worse(s, d, heap_s[(pos - 1) // 2], heap_d[(pos - 1) // 2]):
                heap_s[pos], heap_d[pos] = heap_s[(pos - 1) // 2], heap_d[(pos - 1) // 2]
                pos = (pos - 1) // 2
        elif _worse(heap_s[0], heap_d[0], s, d):
            pos = 0
            while 2 * pos + 1 < m:
                child = 2 * pos + 1
                if child + 1 < m and _worse(heap_s[child + 1], heap_d[child + 1], heap_s[child], heap_d[child]):
                    child += 1
                if not _worse(heap_s[child], heap_d[child], s, d):
                    break
                heap_s[pos], heap_d[pos] = heap_s[child], heap_d[child]
                pos = child
        else:
            continue
        heap_s[pos], heap_d[pos] = s, d
    for i in range(1, m):  # best first: insertion sort of at most k hits
        s, d, pos = heap_s[i], heap_d[i], i
        while pos > 0 and _worse(heap_s[pos - 1], heap_d[pos - 1], s, d):
            heap_s[pos], heap_d[pos] = heap_s[pos - 1], heap_d[pos - 1]
            pos -= 1
        heap_s[pos], heap_d[pos] = s, d
    return heap_d[:m].copy(), heap_s[:m].copy()


def _top_k_kernel(indptr, docs, tf, idf, norm, query_ids, k):
    """``_top_k_reference`` for numba: the same float32 scores summed in the same order into a fresh passage-sized
    array, a size-k heap over the touched passages."""
    scores = np.zeros(norm.shape[0], dtype=np.float32)
    total = 0
    for q in range(query_ids.shape[0]):
        total += indptr[query_ids[q] + 1] - indptr[query_ids[q]]
    touched = np.empty(total, dtype=np.int64)
    n_touched = accumulate_scores(indptr, docs, tf, idf, norm, query_ids, scores, touched)
    return _select(scores, touched, n_touched, k)


def _top_k_buffered_kernel(indptr, docs, tf, idf, codes, table, ratio, query_ids, k, scores, touched):
    """``_top_k_kernel`` with the normalizers as ``table[codes]`` (``_norm_table``) and the small tfs' quotients in
    ``ratio`` (``_ratio_table``), into the caller's buffers:
    ``scores`` (float32, one slot per passage, all zero on entry and again on return) and ``touched`` (integers,
    room for one id per passage). The touched slots are zeroed one by one, or the whole array at once when a query
    touched more than ``1 / SWEEP_SHARE`` of the passages."""
    n_touched = _accumulate_coded(indptr, docs, tf, idf, codes, table, ratio, query_ids, scores, touched)
    out = _select(scores, touched, n_touched, k)
    if n_touched * SWEEP_SHARE > scores.shape[0]:
        scores[:] = 0
    else:
        for i in range(n_touched):
            scores[touched[i]] = 0
    return out


try:  # compiled once, then loaded from numba's on-disk cache by later processes
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; the references keep retrieval working without it
    HAVE_NUMBA = False
    accumulate_scores, _accumulate_coded, _select = _accumulate_kernel, _accumulate_coded_kernel, _select_kernel
    _top_k, _top_k_buffered = _top_k_reference, _top_k_buffered_reference
else:
    HAVE_NUMBA = True
    _worse = njit(cache=True, nogil=True)(_worse)
    accumulate_scores = njit(cache=True, nogil=True)(_accumulate_kernel)
    _accumulate_coded = njit(cache=True, nogil=True)(_accumulate_coded_kernel)
    _select = njit(cache=True, nogil=True)(_select_kernel)
    _top_k = njit(cache=True, nogil=True)(_top_k_kernel)
    _top_k_buffered = njit(cache=True, nogil=True)(_top_k_buffered_kernel)
