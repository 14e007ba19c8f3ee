"""A gazetteer: an entity dictionary matched by token-hash n-gram lookup in numba.

Each entry's identity is ``key_hash`` of its surface form (see ``normalize``). The matcher walks a document's
token hashes; at every token it combines up to ``max_n`` following hashes (within one segment: never across a
paragraph or title boundary), looks each prefix up in an open-addressing table and keeps the longest match, then
continues after it (leftmost-longest, non-overlapping). Because the hash combination is the same one
``key_hash`` uses, build and query see entities identically.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.normalize import (FNV_OFFSET, FNV_PRIME, combine, combine_hashes, key_hash_of_key, key_tokens,
                                    token_hash_py)

_EMPTY = np.uint64(0)


PREFIX = -2  # table value of a hash that is a proper prefix of some entry but no entry itself


@nb.njit(cache=True)
def _table_build(hashes, values, size):
    """Open addressing, linear probing; an entry's value overrides a prefix marker for the same hash."""
    keys = np.zeros(size, dtype=np.uint64)
    vals = np.full(size, -1, dtype=np.int32)
    mask = np.uint64(size - 1)
    for i in range(hashes.shape[0]):
        h = hashes[i]
        slot = h & mask
        while vals[slot] != -1 and keys[slot] != h:
            slot = (slot + np.uint64(1)) & mask
        if vals[slot] == -1 or vals[slot] == PREFIX:
            keys[slot] = h
            vals[slot] = values[i]
    return keys, vals


@nb.njit(cache=True, inline="always")
def _lookup(keys, vals, h):
    mask = np.uint64(keys.shape[0] - 1)
    slot = h & mask
    while vals[slot] != -1:
        if keys[slot] == h:
            return vals[slot]
        slot = (slot + np.uint64(1)) & mask
    return -1


@nb.njit(cache=True, nogil=True)
def match_kernel(tok_hashes, tok_seg, table_keys, table_vals, max_n):
    """Leftmost-longest matches: (first token index, number of tokens, entry index) arrays."""
    n = tok_hashes.shape[0]
    first = np.empty(n, dtype=np.int64)
    length = np.empty(n, dtype=np.int32)
    entry = np.empty(n, dtype=np.int32)
    m = 0
    i = 0
    while i < n:
        h = FNV_OFFSET
        best_len = 0
        best = -1
        for k in range(max_n):
            j = i + k
            if j >= n or tok_seg[j] != tok_seg[i]:
                break
            h = (h ^ tok_hashes[j]) * FNV_PRIME
            e = _lookup(table_keys, table_vals, h)
            if e == -1:
                break  # no entry starts with these tokens: stop extending (the table holds every entry prefix)
            if e >= 0:
                best_len = k + 1
                best = e
        if best >= 0:
            first[m] = i
            length[m] = best_len
            entry[m] = best
            m += 1
            i += best_len
        else:
            i += 1
    return first[:m], length[:m], entry[:m]


def match_py(tok_hashes, tok_seg, entries: dict[int, int], max_n: int) -> list[tuple[int, int, int]]:
    """Reference matcher over a plain dict {key hash: entry index}: tries every length, no prefix table."""
    out, i, n = [], 0, len(tok_hashes)
    while i < n:
        best = None
        for k in range(1, max_n + 1):
            if i + k > n or tok_seg[i + k - 1] != tok_seg[i]:
                break
            e = entries.get(combine(tok_hashes[i : i + k]))
            if e is not None:
                best = (i, k, e)
        if best:
            out.append(best)
            i += best[1]
        else:
            i += 1
    return out


class Gazetteer:
    """Entity dictionary: parallel arrays sorted by key hash, plus the lookup table."""

    def __init__(self, hashes: np.ndarray, keys: list[str], texts: list[str], labels: list[str]):
        order = np.argsort(hashes, kind="stable")
        self.hashes = np.ascontiguousarray(hashes[order], dtype=np.uint64)
        self.keys = [keys[i] for i in order]
        self.texts = [texts[i] for i in order]
        self.labels = [labels[i] for i in order]
        self.max_n = max((k.count(" ") + 1 for k in self.keys), default=1)
        prefixes = set()
        for key in self.keys:
            toks = key.split(" ")
            h = combine([])
            for t in toks[:-1]:
                h = combine_hashes(h, token_hash_py(t))
                prefixes.add(h)
        pre = np.fromiter(prefixes, dtype=np.uint64, count=len(prefixes))
        all_hashes = np.concatenate([self.hashes, pre])
        values = np.concatenate([np.arange(len(self.keys), dtype=np.int32), np.full(len(pre), PREFIX, np.int32)])
        size = 1 << max(4, int(all_hashes.shape[0] * 2 - 1).bit_length())
        self.table_keys, self.table_vals = _table_build(all_hashes, values, size)

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str]]) -> "Gazetteer":
        """From (surface text, label) pairs; the first entry of each key wins; empty keys are dropped."""
        seen: dict[int, int] = {}
        keys, texts, labels, hashes = [], [], [], []
        for text, label in entries:
            toks = key_tokens(text)
            if not toks:
                continue
            key = " ".join(toks)
            h = key_hash_of_key(key)
            if h in seen:
                continue
            seen[h] = len(keys)
            keys.append(key)
            texts.append(text.strip())
            labels.append(label)
            hashes.append(h)
        return cls(np.array(hashes, dtype=np.uint64), keys, texts, labels)

    def match(self, tok_hashes: np.ndarray, tok_seg: np.ndarray):
        return match_kernel(tok_hashes, tok_seg, self.table_keys, self.table_vals, self.max_n)

    def to_table(self) -> pa.Table:
        return pa.table(
            {
                "hash": pa.array(self.hashes, pa.uint64()),
                "key": self.keys,
                "text": self.texts,
                "label": self.labels,
            }
        )

    def save(self, path: str | Path) -> None:
        pq.write_table(self.to_table(), str(path), compression="zstd")

    @classmethod
    def load(cls, path: str | Path) -> "Gazetteer":
        t = pq.read_table(str(path))
        return cls(
            t.column("hash").to_numpy(),
            t.column("key").to_pylist(),
            t.column("text").to_pylist(),
            t.column("label").to_pylist(),
        )
