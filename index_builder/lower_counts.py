"""The phrase harvest's tables over characters and lower-case words (see :mod:`quco.index_builder.phrases`).

``char_tables``: which code points may be in a token, and which are upper or lower case. ``LowerCounts``: how
often each lower-case word occurs, in a numba open-addressing table of 64-bit token hashes (the harvest drops a
one-word candidate that is more often written in lower case: a common word, not a name).
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numba as nb
import numpy as np

from quco.cooccur.normalize import FNV_OFFSET, FNV_PRIME, codepoints, token_hash_py

TOKEN_PUNCT = "'\u2019-"  # besides letters, marks and digits, a token may hold these
_BMP = 0x10000


@lru_cache(maxsize=1)
def char_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(is_token_char, is_upper, is_lower) uint8 tables over the BMP; code points above it are never in a token
    (as in :mod:`quco.cooccur.normalize`)."""
    tok = np.zeros(_BMP, dtype=np.uint8)
    up = np.zeros(_BMP, dtype=np.uint8)
    low = np.zeros(_BMP, dtype=np.uint8)
    for cp in range(_BMP):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        cat = unicodedata.category(chr(cp))
        if cat[0] in "LMN":
            tok[cp] = 1
        if cat in ("Lu", "Lt"):
            up[cp] = 1
        elif cat == "Ll":
            low[cp] = 1
    for ch in TOKEN_PUNCT:
        tok[ord(ch)] = 1
    return tok, up, low


# ------------------------------------------------------------------------------------- lower-case word counts


@nb.njit(cache=True, nogil=True, inline="always")
def _slot(keys, h, mask):
    """The slot of hash ``h`` in the open-addressing table ``keys`` (linear probing): its own, or the empty one
    where it goes."""
    slot = h & mask
    while keys[slot] != 0 and keys[slot] != h:
        slot = (slot + np.uint64(1)) & mask
    return slot


@nb.njit(cache=True, nogil=True)
def _count_lower(cps, pos, is_tok, is_low, keys, vals, n_used, limit):
    """Add the FNV-1a hashes of the lower-case tokens of ``cps[pos:]`` to the table; stops (returning the
    position of the next token) when ``limit`` slots are used, so the caller can grow the table."""
    n = cps.shape[0]
    mask = np.uint64(keys.shape[0] - 1)
    i = pos
    while i < n:
        c = cps[i]
        if c >= 0x10000 or is_tok[c] == 0:
            i += 1
            continue
        if is_low[c] == 0:  # a token that does not start lower-case: skip it whole
            while i < n and cps[i] < 0x10000 and is_tok[cps[i]] != 0:
                i += 1
            continue
        if n_used >= limit:
            return i, n_used
        h = FNV_OFFSET
        while i < n:
            c = cps[i]
            if c >= 0x10000 or is_tok[c] == 0:
                break
            h = (h ^ np.uint64(c)) * FNV_PRIME
            i += 1
        if h == 0:
            h = np.uint64(1)
        slot = _slot(keys, h, mask)
        if keys[slot] == 0:
            keys[slot] = h
            n_used += 1
        vals[slot] += 1
    return n, n_used


@nb.njit(cache=True, nogil=True)
def _add_pairs(hashes, counts, keys, vals, n_used):
    """Add (hash, count) pairs to the table (which must have room for them)."""
    mask = np.uint64(keys.shape[0] - 1)
    for j in range(hashes.shape[0]):
        h = hashes[j]
        slot = _slot(keys, h, mask)
        if keys[slot] == 0:
            keys[slot] = h
            n_used += 1
        vals[slot] += counts[j]
    return n_used


@nb.njit(cache=True, nogil=True)
def _lookup(hashes, keys, vals):
    mask = np.uint64(keys.shape[0] - 1)
    out = np.zeros(hashes.shape[0], dtype=np.int64)
    for j in range(hashes.shape[0]):
        slot = _slot(keys, hashes[j], mask)
        if keys[slot] != 0:
            out[j] = vals[slot]
    return out


def _word_hash(word: str) -> int:
    return token_hash_py(word) or 1


class LowerCounts:
    """Occurrences of lower-case words (tokens starting with a lower-case letter), by 64-bit hash."""

    def __init__(self, capacity: int = 1 << 16):
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.vals = np.zeros(capacity, dtype=np.int64)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def _grow(self, need: int) -> None:
        size = self.keys.shape[0]
        if need * 2 <= size:
            return
        while need * 2 > size:
            size *= 2
        used = self.keys != 0
        h, v = self.keys[used], self.vals[used]
        self.keys = np.zeros(size, dtype=np.uint64)
        self.vals = np.zeros(size, dtype=np.int64)
        self.n = _add_pairs(h, v, self.keys, self.vals, 0)

    def add_text(self, text: str) -> None:
        tok, _, low = char_tables()
        cps = codepoints(text)
        pos = 0
        while pos < cps.shape[0]:
            pos, self.n = _count_lower(cps, pos, tok, low, self.keys, self.vals, self.n, self.keys.shape[0] // 2)
            if pos < cps.shape[0]:
                self._grow(self.n + 1)

    def add_pairs(self, hashes: np.ndarray, counts: np.ndarray) -> None:
        self._grow(self.n + hashes.shape[0])
        self.n = _add_pairs(hashes.astype(np.uint64), counts.astype(np.int64), self.keys, self.vals, self.n)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(hashes, counts) of the words seen, sorted by hash."""
        used = self.keys != 0
        h, v = self.keys[used], self.vals[used]
        order = np.argsort(h)
        return h[order], v[order]

    def count(self, words: Sequence[str]) -> np.ndarray:
        """Occurrences of each word (as a whole lower-case token)."""
        hashes = np.fromiter((_word_hash(w) for w in words), dtype=np.uint64, count=len(words))
        return _lookup(hashes, self.keys, self.vals)

    def __getstate__(self):
        return self.pairs()

    def __setstate__(self, state):
        h, v = state
        self.__init__(1 << max(4, int(2 * len(h)).bit_length()))
        self.add_pairs(h, v)
