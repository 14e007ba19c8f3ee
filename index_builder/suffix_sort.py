"""Suffix-array construction over token ids, and the token-hash table that assigns the ids.

Two constructions give the same order of suffixes that differ before a separator (tests check both against
:func:`suffix_array_py`, a sort of the suffixes as tuples):

- ``numba`` (default): prefix doubling with group refinement (Larsson-Sadakane style): a counting sort on the
  first token, then each round sorts only the groups still tied, by the rank of the suffix ``h`` tokens further,
  ``h`` doubling (key and position packed in one int64 and sorted in place). Each separator gets its own
  (negative) rank, so ties end at a segment's end and repeated text costs rounds only as long as its repeats.
- ``divsufsort``: libdivsufsort (pydivsufsort) over the token ids written big-endian in 3 (or 4) bytes, keeping
  the suffixes at token boundaries; byte order of fixed-width big-endian codes is token order.

Measured on wiki2015 (bench/README.md, "Phrase counts"): numba 30.5 CPU s for the whole phrase build against
45.0 for divsufsort, and 1.5 GiB peak against 2.3 GiB.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from quco.cooccur.phrase_index import SEP


class TokenIds:
    """Token hash -> provisional id (first-seen order) in a numba open-addressing table that grows."""

    def __init__(self, capacity: int = 1 << 20):
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.vals = np.full(capacity, -1, dtype=np.int64)
        self.hashes = np.empty(capacity // 2, dtype=np.uint64)  # provisional id -> hash
        self.n = 0

    def assign(self, hashes: np.ndarray) -> np.ndarray:
        """Provisional ids (int64) of ``hashes``, new hashes added."""
        while True:
            ids, n = _assign_ids(hashes, self.keys, self.vals, self.hashes, self.n)
            if n >= 0:
                self.n = n
                return ids
            cap = self.keys.shape[0] * 2
            keys, vals = np.zeros(cap, dtype=np.uint64), np.full(cap, -1, dtype=np.int64)
            _rehash(self.keys, self.vals, keys, vals)
            hashes_by_id = np.empty(cap // 2, dtype=np.uint64)
            hashes_by_id[:self.n] = self.hashes[:self.n]
            self.keys, self.vals, self.hashes = keys, vals, hashes_by_id


@nb.njit(cache=True, nogil=True)
def _assign_ids(hashes, keys, vals, by_id, n):
    """Look up or insert each hash; returns (ids, new count), or (ids, -1) when the table needs to grow first
    (nothing of this call is kept then: the caller grows the table and calls again)."""
    mask = keys.shape[0] - 1
    limit = keys.shape[0] // 2
    ids = np.empty(hashes.shape[0], dtype=np.int64)
    n0 = n
    for i in range(hashes.shape[0]):
        h = hashes[i]
        j = np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))
        while vals[j] >= 0 and keys[j] != h:
            j = (j + 1) & mask
        if vals[j] < 0:
            if n >= limit:
                for q in range(keys.shape[0]):  # undo this call's inserts
                    if vals[q] >= n0:
                        vals[q] = -1
                        keys[q] = 0
                return ids, -1
            keys[j] = h
            vals[j] = n
            by_id[n] = h
            n += 1
        ids[i] = vals[j]
    return ids, n


@nb.njit(cache=True, nogil=True)
def _rehash(keys, vals, new_keys, new_vals):
    mask = new_keys.shape[0] - 1
    for q in range(keys.shape[0]):
        if vals[q] >= 0:
            h = keys[q]
            j = np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))
            while new_vals[j] >= 0:
                j = (j + 1) & mask
            new_keys[j] = h
            new_vals[j] = vals[q]


# ---- prefix doubling -------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True)
def _first_token_sort(tokens, n_vocab, sa, rank):
    """Counting sort of the non-separator positions by their token; ``rank`` = start of the token's group
    (separators: ``p - n``, negative and distinct). Returns (group starts, group ends) of groups of 2 or more."""
    n = tokens.shape[0]
    cnt = np.zeros(n_vocab + 1, dtype=np.int64)
    for p in range(n):
        cnt[tokens[p]] += 1
    start = np.zeros(n_vocab + 1, dtype=np.int64)
    acc = 0
    for t in range(1, n_vocab + 1):
        start[t] = acc
        acc += cnt[t]
    fill = start.copy()
    for p in range(n):
        t = tokens[p]
        if t == 0:
            rank[p] = p - n
        else:
            sa[fill[t]] = p
            fill[t] += 1
            rank[p] = start[t]
    k = 0
    for t in range(1, n_vocab + 1):
        if cnt[t] > 1:
            k += 1
    gs = np.empty(k, dtype=np.int64)
    ge = np.empty(k, dtype=np.int64)
    k = 0
    for t in range(1, n_vocab + 1):
        if cnt[t] > 1:
            gs[k] = start[t]
            ge[k] = start[t] + cnt[t]
            k += 1
    return gs, ge


@nb.njit(cache=True, nogil=True)
def _refine(sa, rank, h, gs, ge, n, packed):
    """One doubling round: sort each tied group ``sa[gs[g]:ge[g]]`` by ``rank[p + h]``, split it where the key
    changes, give each new group its start as rank; returns the groups still tied. ``packed``: sort keys and
    positions packed in one int64 (needs ``n`` = token count < 2**31)."""
    ns = np.empty(max(gs.shape[0], 16), dtype=np.int64)  # grown by doubling: the bound (half the tied
    ne = np.empty(max(gs.shape[0], 16), dtype=np.int64)  # suffixes) would cost 8 bytes a token up front
    k = 0
    for g in range(gs.shape[0]):
        s, e = gs[g], ge[g]
        m = e - s
        keys = np.empty(m, dtype=np.int64)
        for i in range(m):
            keys[i] = rank[sa[s + i] + h]
        if m <= 16:  # insertion sort, no allocation
            for i in range(1, m):
                kv, pv = keys[i], sa[s + i]
                j = i - 1
                while j >= 0 and keys[j] > kv:
                    keys[j + 1] = keys[j]
                    sa[s + j + 1] = sa[s + j]
                    j -= 1
                keys[j + 1] = kv
                sa[s + j + 1] = pv
        elif packed:  # (key + n) << 32 | position in one int64: one sort, no permutation
            buf = np.empty(m, dtype=np.int64)
            for i in range(m):
                buf[i] = ((keys[i] + n) << 32) | np.int64(sa[s + i])
            buf.sort()
            for i in range(m):
                sa[s + i] = buf[i] & 0xFFFFFFFF
                keys[i] = (buf[i] >> 32) - n
        else:
            order = np.argsort(keys)
            seg = sa[s:e].copy()
            for i in range(m):
                sa[s + i] = seg[order[i]]
            keys = keys[order]
        i = 0
        while i < m:
            j = i + 1
            while j < m and keys[j] == keys[i]:
                j += 1
            for t in range(i, j):
                rank[sa[s + t]] = s + i
            if j - i > 1:
                if k == ns.shape[0]:
                    ns, ne = _grow(ns), _grow(ne)
                ns[k] = s + i
                ne[k] = s + j
                k += 1
            i = j
    return ns[:k], ne[:k]


@nb.njit(cache=True, nogil=True)
def _grow(a):
    b = np.empty(a.shape[0] * 2, dtype=a.dtype)
    b[:a.shape[0]] = a
    return b


def suffix_array_numba(tokens: np.ndarray, n_vocab: int) -> np.ndarray:
    """Positions of the non-separator tokens, ordered by suffix (prefix doubling; see the module docstring)."""
    if tokens.shape[0] and tokens[-1] != SEP:
        raise ValueError("the token array must end with a separator")
    dt = np.int32 if tokens.shape[0] < 2**31 else np.int64
    m = int(np.count_nonzero(tokens))
    sa = np.empty(m, dtype=dt)
    rank = np.empty(tokens.shape[0], dtype=dt)
    gs, ge = _first_token_sort(tokens, n_vocab, sa, rank)
    h = 1
    while gs.shape[0]:
        gs, ge = _refine(sa, rank, h, gs, ge, tokens.shape[0], dt == np.int32)
        h *= 2
    return sa


def suffix_array_divsufsort(tokens: np.ndarray, n_vocab: int) -> np.ndarray:
    """The same order through libdivsufsort over big-endian 3- or 4-byte token codes (ties between suffixes
    that differ only after a separator may be ordered differently, which no query can see)."""
    from pydivsufsort import divsufsort

    w = 3 if n_vocab < 2**24 else 4
    be = tokens.astype(">u4").view(np.uint8).reshape(-1, 4)[:, 4 - w:]
    raw = np.ascontiguousarray(be).reshape(-1)
    del be
    full = divsufsort(raw)
    del raw
    pos = full[full % w == 0] // w
    del full
    pos = pos[tokens[pos] != SEP]
    return pos.astype(np.int32 if tokens.shape[0] < 2**31 else np.int64)


def suffix_array_py(tokens: np.ndarray) -> np.ndarray:
    """Reference: sort the suffixes as tuples, each separator a distinct value below every token."""
    n = len(tokens)
    key = [(0, p) if int(tokens[p]) == SEP else (int(tokens[p]), 0) for p in range(n)]

    def suffix(p: int) -> list:
        out = []
        for q in range(p, n):
            out.append(key[q])
            if key[q][0] == 0:
                break
        return out

    return np.array(sorted((p for p in range(n) if int(tokens[p]) != SEP), key=suffix), dtype=np.int64)


SUFFIX_METHODS = {"numba": suffix_array_numba, "divsufsort": suffix_array_divsufsort}
