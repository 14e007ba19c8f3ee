"""Counting kernels (numba) and their plain-Python references.

Every kernel here is small, typed by its inputs, and has a ``*_py`` twin that tests compare it with on random
inputs (``tests/test_kernels.py``). Mentions arrive flattened: ``doc_offsets[d]:doc_offsets[d+1]`` slices the
entity ids ``ent`` (int32, dense local ids) and token positions ``pos`` (int64, non-decreasing within a document).

A pair is one int64 key ``a << 32 | b`` with ``a < b``; ``cooc(a, b)`` counts documents in which a and b are
mentioned within ``window`` tokens of each other, once per document.
"""
from __future__ import annotations

from collections import Counter

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def pair_key(a, b):
    if a < b:
        return (np.int64(a) << 32) | np.int64(b)
    return (np.int64(b) << 32) | np.int64(a)


@nb.njit(cache=True, nogil=True)
def _window_scan(ent, pos, lo, hi, window, d, last_doc, last_i, mark, out, k, store):
    """Emit (or count, when not ``store``) candidate pairs of one long document.

    For mention i of entity e, only mentions after e's previous mention i' need pairing: anything before i' within
    the window of i is within the window of i' too and was paired then. Each distinct entity is paired once per i
    (``mark``). What remains duplicated is removed by the per-document sort in ``_doc_pairs``.
    """
    for i in range(lo, hi):
        e = ent[i]
        start = lo
        if last_doc[e] == d:
            start = last_i[e] + 1
        j = i - 1
        while j >= start and pos[i] - pos[j] <= window:
            f = ent[j]
            if f != e and mark[f] != i:
                mark[f] = i
                if store:
                    out[k] = pair_key(e, f)
                k += 1
            j -= 1
        last_doc[e] = d
        last_i[e] = i
    return k


@nb.njit(cache=True, nogil=True)
def _doc_pairs(ent, pos, lo, hi, window, d, last_doc, last_i, mark, out, k):
    """Emit the distinct pair keys of one document into ``out[k:]``; return the new end."""
    if hi - lo < 2:
        return k
    start = k
    if pos[hi - 1] - pos[lo] <= window:
        # every mention is within the window of every other: pair the distinct entities once
        u = np.unique(ent[lo:hi])
        for i in range(u.shape[0]):
            for j in range(i + 1, u.shape[0]):
                out[k] = pair_key(u[i], u[j])
                k += 1
        return k
    k = _window_scan(ent, pos, lo, hi, window, d, last_doc, last_i, mark, out, k, True)
    if k - start > 1:
        s = out[start:k].copy()  # not np.sort(slice): numba 0.68.1 can return it unsorted once another module's
        s.sort()  # kernels compiled np.sort first (the phrase build's did: duplicate pair keys, counts doubled)
        m = start
        out[m] = s[0]
        m += 1
        for i in range(1, s.shape[0]):
            if s[i] != s[i - 1]:
                out[m] = s[i]
                m += 1
        k = m
    return k


@nb.njit(cache=True, nogil=True)
def _pair_bound(doc_offsets, ent, pos, window, last_doc, last_i, mark):
    total = 0
    dummy = np.empty(0, dtype=np.int64)
    for d in range(doc_offsets.shape[0] - 1):
        lo, hi = doc_offsets[d], doc_offsets[d + 1]
        if hi - lo < 2:
            continue
        if pos[hi - 1] - pos[lo] <= window:
            u = np.unique(ent[lo:hi]).shape[0]
            total += u * (u - 1) // 2
        else:
            total += _window_scan(ent, pos, lo, hi, window, d, last_doc, last_i, mark, dummy, 0, False)
    return total


@nb.njit(cache=True, nogil=True)
def emit_pairs(doc_offsets, ent, pos, window):
    """Distinct pair keys of each document, concatenated (a key appears at most once per document)."""
    n_ent = (ent.max() + 1) if ent.shape[0] else 0
    last_doc = np.full(n_ent, -1, dtype=np.int64)
    last_i = np.zeros(n_ent, dtype=np.int64)
    mark = np.full(n_ent, -1, dtype=np.int64)
    out = np.empty(_pair_bound(doc_offsets, ent, pos, window, last_doc, last_i, mark), dtype=np.int64)
    last_doc[:] = -1
    mark[:] = -1
    k = 0
    for d in range(doc_offsets.shape[0] - 1):
        k = _doc_pairs(ent, pos, doc_offsets[d], doc_offsets[d + 1], window, d, last_doc, last_i, mark, out, k)
    return out[:k]


def emit_pairs_py(doc_offsets, ent, pos, window) -> list[int]:
    """Reference: the brute-force definition, O(m^2) per document."""
    out: list[int] = []
    for d in range(len(doc_offsets) - 1):
        lo, hi = int(doc_offsets[d]), int(doc_offsets[d + 1])
        seen = set()
        for i in range(lo, hi):
            for j in range(lo, hi):
                a, b = int(ent[i]), int(ent[j])
                if a < b and abs(int(pos[i]) - int(pos[j])) <= window:
                    seen.add((a << 32) | b)
        out.extend(sorted(seen))
    return out


@nb.njit(cache=True, nogil=True)
def reduce_sorted(keys):
    """Run-length reduce of a sorted key array: (distinct keys, counts)."""
    n = keys.shape[0]
    uk = np.empty(n, dtype=keys.dtype)
    cnt = np.empty(n, dtype=np.int64)
    m = -1
    for i in range(n):
        if m >= 0 and keys[i] == uk[m]:
            cnt[m] += 1
        else:
            m += 1
            uk[m] = keys[i]
            cnt[m] = 1
    return uk[: m + 1], cnt[: m + 1]


def count_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort and run-length reduce: the fast path for counting pair instances."""
    return reduce_sorted(np.sort(keys, kind="quicksort"))


def count_keys_py(keys) -> dict[int, int]:
    """Reference: a Counter."""
    return dict(Counter(int(k) for k in keys))


@nb.njit(cache=True, nogil=True)
def merge_sum(k1, c1, k2, c2):
    """Merge two sorted (key, count) runs with distinct keys each, summing the counts of equal keys."""
    n1, n2 = k1.shape[0], k2.shape[0]
    ko = np.empty(n1 + n2, dtype=k1.dtype)
    co = np.empty(n1 + n2, dtype=np.int64)
    i = j = m = 0
    while i < n1 and j < n2:
        if k1[i] < k2[j]:
            ko[m] = k1[i]
            co[m] = c1[i]
            i += 1
        elif k2[j] < k1[i]:
            ko[m] = k2[j]
            co[m] = c2[j]
            j += 1
        else:
            ko[m] = k1[i]
            co[m] = c1[i] + c2[j]
            i += 1
            j += 1
        m += 1
    while i < n1:
        ko[m] = k1[i]
        co[m] = c1[i]
        i += 1
        m += 1
    while j < n2:
        ko[m] = k2[j]
        co[m] = c2[j]
        j += 1
        m += 1
    return ko[:m], co[:m]


def merge_sum_py(k1, c1, k2, c2) -> dict[int, int]:
    out: dict[int, int] = {}
    for k, c in list(zip(k1, c1)) + list(zip(k2, c2)):
        out[int(k)] = out.get(int(k), 0) + int(c)
    return out


@nb.njit(cache=True, nogil=True)
def doc_entities(doc_offsets, ent, n_entities):
    """Document frequency of each entity id: in how many documents it is mentioned at least once."""
    freq = np.zeros(n_entities, dtype=np.int64)
    last = np.full(n_entities, -1, dtype=np.int64)
    for d in range(doc_offsets.shape[0] - 1):
        for i in range(doc_offsets[d], doc_offsets[d + 1]):
            e = ent[i]
            if last[e] != d:
                last[e] = d
                freq[e] += 1
    return freq


def doc_entities_py(doc_offsets, ent, n_entities) -> list[int]:
    freq = [0] * n_entities
    for d in range(len(doc_offsets) - 1):
        for e in set(int(x) for x in ent[doc_offsets[d] : doc_offsets[d + 1]]):
            freq[e] += 1
    return freq


class PairAccumulator:
    """Sum of many (key, count) runs in bounded work: runs are merged like a binary counter (LSM style),
    so each pair instance is merged O(log n) times instead of re-sorting everything per batch."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add_keys(self, keys: np.ndarray) -> None:
        if keys.shape[0]:
            self.add_run(*count_keys(keys))

    def add_run(self, keys: np.ndarray, counts: np.ndarray) -> None:
        run = (keys, counts)
        while self._runs and self._runs[-1][0].shape[0] <= run[0].shape[0] * 2:
            k, c = self._runs.pop()
            run = merge_sum(k, c, run[0], run[1])
        self._runs.append(run)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._runs:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        run = self._runs.pop()
        while self._runs:
            k, c = self._runs.pop()
            run = merge_sum(k, c, run[0], run[1])
        self._runs = [run]
        return run

    @property
    def size(self) -> int:
        return sum(r[0].shape[0] for r in self._runs)
