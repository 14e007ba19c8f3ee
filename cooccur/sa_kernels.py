"""Query kernels over the phrase arrays (suffix array of token ids), each with a plain-Python reference.

``tokens`` holds token ids (``SEP`` = 0 ends every segment), ``sa`` the positions of the real tokens ordered by
suffix. A phrase (token ids, all >= 1) occurs at exactly the positions ``sa[lo:hi]`` of :func:`sa_range`. The
document of a position ``p`` is found from ``block[p >> shift]`` by a short forward scan of ``doc_start``.
Distinct documents are counted with a *mark* array (one ``uint32`` per document, owned by the caller): a document
is counted the first time it gets the current stamp, so no array is cleared between queries.
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always")
def _cmp(tokens, p, q):
    """Compare the suffix at ``p`` with the phrase ``q`` over ``len(q)`` tokens: -1, 0 (``q`` is a prefix), 1."""
    n = tokens.shape[0]
    for k in range(q.shape[0]):
        if p + k >= n:
            return -1
        t = np.int64(tokens[p + k])
        v = np.int64(q[k])
        if t < v:
            return -1
        if t > v:
            return 1
    return 0


@nb.njit(cache=True, nogil=True)
def sa_range(tokens, sa, q):
    """``(lo, hi)``: the suffixes ``sa[lo:hi]`` are those that start with the phrase ``q`` (empty: ``lo == hi``)."""
    lo, hi = 0, sa.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if _cmp(tokens, sa[mid], q) < 0:
            lo = mid + 1
        else:
            hi = mid
    start = lo
    hi = sa.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if _cmp(tokens, sa[mid], q) <= 0:
            lo = mid + 1
        else:
            hi = mid
    return start, lo


def occurrences_py(tokens, q) -> list[int]:
    """Reference: every position where the phrase ``q`` starts, by scanning ``tokens``."""
    m = len(q)
    q = [int(x) for x in q]
    return [p for p in range(len(tokens) - m + 1) if [int(x) for x in tokens[p:p + m]] == q] if m else []


@nb.njit(cache=True, nogil=True, inline="always")
def _doc_of(doc_start, block, shift, p):
    d = block[p >> shift]
    while doc_start[d + 1] <= p:
        d += 1
    return d


def doc_of_py(doc_start, p: int) -> int:
    """Reference: the document holding position ``p`` (the last start at or before it)."""
    d = 0
    while d + 1 < len(doc_start) and doc_start[d + 1] <= p:
        d += 1
    return d


@nb.njit(cache=True, nogil=True)
def mark_range(sa, lo, hi, doc_start, block, shift, mark, stamp):
    """Give every document of the positions ``sa[lo:hi]`` the stamp; returns how many had not had it yet."""
    c = 0
    for i in range(lo, hi):
        d = _doc_of(doc_start, block, shift, sa[i])
        if mark[d] != stamp:
            mark[d] = stamp
            c += 1
    return c


@nb.njit(cache=True, nogil=True)
def mark_bits(bits, mark, stamp):
    """Give every document set in the bitmap ``bits`` (uint64 words) the stamp; returns how many had not had it."""
    c = 0
    for w in range(bits.shape[0]):
        x = bits[w]
        if x == 0:
            continue
        for b in range(64):
            if (x >> np.uint64(b)) & np.uint64(1):
                d = w * 64 + b
                if mark[d] != stamp:
                    mark[d] = stamp
                    c += 1
    return c


@nb.njit(cache=True, nogil=True)
def take_range(sa, lo, hi, doc_start, block, shift, mark, stamp, new_stamp):
    """Count the documents of ``sa[lo:hi]`` that carry ``stamp`` (each once: they get ``new_stamp``)."""
    c = 0
    for i in range(lo, hi):
        d = _doc_of(doc_start, block, shift, sa[i])
        if mark[d] == stamp:
            mark[d] = new_stamp
            c += 1
    return c


@nb.njit(cache=True, nogil=True)
def take_docs(docs, mark, stamp, new_stamp):
    """Count the documents of the list ``docs`` (ids) that carry ``stamp`` (each once: they get ``new_stamp``)."""
    c = 0
    for i in range(docs.shape[0]):
        d = docs[i]
        if mark[d] == stamp:
            mark[d] = new_stamp
            c += 1
    return c


@nb.njit(cache=True, nogil=True)
def take_bits(bits, mark, stamp, new_stamp):
    """Count the documents set in ``bits`` that carry ``stamp`` (each once: they get ``new_stamp``)."""
    c = 0
    for w in range(bits.shape[0]):
        x = bits[w]
        if x == 0:
            continue
        for b in range(64):
            if (x >> np.uint64(b)) & np.uint64(1):
                d = w * 64 + b
                if mark[d] == stamp:
                    mark[d] = new_stamp
                    c += 1
    return c


@nb.njit(cache=True, nogil=True)
def and_count(a, b):
    """Number of bits set in both bitmaps."""
    c = 0
    for w in range(a.shape[0]):
        x = a[w] & b[w]
        while x:
            x &= x - np.uint64(1)
            c += 1
    return c


@nb.njit(cache=True, nogil=True)
def docs_of_range(sa, lo, hi, doc_start, block, shift, mark, stamp):
    """The distinct documents of ``sa[lo:hi]``, ascending (the mark array gets the stamp)."""
    out = np.empty(hi - lo, dtype=np.int64)
    k = 0
    for i in range(lo, hi):
        d = _doc_of(doc_start, block, shift, sa[i])
        if mark[d] != stamp:
            mark[d] = stamp
            out[k] = d
            k += 1
    res = out[:k].copy()  # (np.sort of the slice returned it unsorted here, numba 0.68.1)
    res.sort()
    return res


@nb.njit(cache=True, nogil=True)
def find_interval(hlo, hhi, lo, hi):
    """Row of ``(lo, hi)`` in the table sorted by ``(hlo, hhi)``, or -1."""
    a, b = 0, hlo.shape[0]
    while a < b:
        mid = (a + b) >> 1
        if hlo[mid] < lo or (hlo[mid] == lo and hhi[mid] < hi):
            a = mid + 1
        else:
            b = mid
    if a < hlo.shape[0] and hlo[a] == lo and hhi[a] == hi:
        return a
    return -1


def docs_of_positions_py(doc_start, positions) -> set[int]:
    """Reference: the set of documents of some positions."""
    return {doc_of_py(doc_start, int(p)) for p in positions}


def bits_docs_py(bits) -> set[int]:
    """Reference: the documents set in a bitmap of uint64 words."""
    return {w * 64 + b for w in range(len(bits)) for b in range(64) if (int(bits[w]) >> b) & 1}


@nb.njit(cache=True, nogil=True)
def range_in_bits(sa, lo, hi, doc_start, block, shift, bits, mark, stamp):
    """Distinct documents of ``sa[lo:hi]`` that are set in the bitmap ``bits`` (the mark array gets the stamp)."""
    c = 0
    for i in range(lo, hi):
        d = _doc_of(doc_start, block, shift, sa[i])
        if mark[d] != stamp:
            mark[d] = stamp
            if (bits[d >> 6] >> np.uint64(d & 63)) & np.uint64(1):
                c += 1
    return c


@nb.njit(cache=True, nogil=True)
def docs_in_bits(docs, bits):
    """How many of the distinct document ids ``docs`` are set in the bitmap ``bits``."""
    c = 0
    for i in range(docs.shape[0]):
        d = docs[i]
        if (bits[d >> 6] >> np.uint64(d & 63)) & np.uint64(1):
            c += 1
    return c


@nb.njit(cache=True, nogil=True)
def _find_in(tokens, lo, hi, q):
    """Whether the phrase ``q`` starts at some position of ``tokens[lo:hi]`` and ends inside it."""
    for p in range(lo, hi - q.shape[0] + 1):
        if _cmp(tokens, p, q) == 0:
            return True
    return False


@nb.njit(cache=True, nogil=True)
def paragraph_with(tokens, sa, lo, hi, q):
    """Whether some occurrence ``sa[lo:hi]`` shares its segment (the tokens between two ``SEP``) with an
    occurrence of the phrase ``q``. Each segment is scanned once: the occurrences are visited in position order
    (``sa[lo:hi]`` is in suffix order, so it is copied and sorted first)."""
    pos = np.sort(sa[lo:hi].astype(np.int64))
    n = tokens.shape[0]
    done = np.int64(-1)  # the end of the last segment scanned
    for i in range(pos.shape[0]):
        p = pos[i]
        if p < done:
            continue
        a = p
        while a > 0 and tokens[a - 1] != 0:
            a -= 1
        b = p
        while b < n and tokens[b] != 0:
            b += 1
        if _find_in(tokens, a, b, q):
            return True
        done = b
    return False


def paragraph_with_py(tokens, positions, q) -> bool:
    """Reference: whether a segment holding one of ``positions`` also holds the phrase ``q``."""
    toks = [int(t) for t in tokens]
    seg, k = [], 0
    for t in toks:  # the segment number of every position
        seg.append(k)
        k += t == 0
    q = [int(x) for x in q]
    mine = {seg[p] for p in positions}
    return any(seg[p] in mine and seg[p + len(q) - 1] == seg[p] for p in occurrences_py(toks, q))
