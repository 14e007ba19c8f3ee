"""The CSR kernels against their plain-Python references on random inputs, and the row layouts they build."""
from __future__ import annotations

import numpy as np
import pytest

from quco.cooccur.csr import (indptr_of, intersect_counts, intersect_counts_py, narrowest_uint, pair_degrees,
                              pair_row_ranges, row_lookup, row_lookup_py, row_ranges, scatter_pairs, scatter_pairs_py,
                              scatter_rows, scatter_rows_py)


def _random_pairs(rng, n_ent: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, n_ent, size=n)
    b = rng.integers(0, n_ent, size=n)
    ok = a != b
    lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
    keys = np.unique((lo.astype(np.int64) << 32) | hi)
    counts = rng.integers(1, 70_000, size=keys.shape[0])
    return keys, counts


def _rows(keys: np.ndarray, counts: np.ndarray, n_ent: int, chunk: int = 8_000_000, budget: int | None = None):
    ids = np.zeros(2 * keys.shape[0], dtype=narrowest_uint(n_ent - 1))
    cnt = np.zeros(2 * keys.shape[0], dtype=narrowest_uint(int(counts.max()) if counts.shape[0] else 0))
    spans = range(0, keys.shape[0], chunk)
    indptr, ranges = pair_row_ranges(lambda: (keys[s:s + chunk] for s in spans),
                                     lambda: ((keys[s:s + chunk], counts[s:s + chunk]) for s in spans),
                                     n_ent, budget or max(1, ids.shape[0]), ids.dtype, cnt.dtype)
    for base, part_ids, part_cnt in ranges:
        ids[base:base + part_ids.shape[0]] = part_ids
        cnt[base:base + part_cnt.shape[0]] = part_cnt
    return indptr, ids, cnt


@pytest.mark.parametrize("seed", range(5))
def test_scatter_rows_matches_reference(seed):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 30, size=500)
    vals = rng.integers(0, 1000, size=500).astype(np.int32)
    w = rng.integers(0, 9, size=500).astype(np.uint16)
    indptr = indptr_of(np.bincount(rows, minlength=30))
    got_v, got_w = np.zeros(500, np.int32), np.zeros(500, np.uint16)
    want_v, want_w = np.zeros(500, np.int32), np.zeros(500, np.uint16)
    scatter_rows(rows, vals, w, indptr[:-1].copy(), got_v, got_w)
    scatter_rows_py(rows, vals, w, indptr[:-1].copy(), want_v, want_w)
    assert np.array_equal(got_v, want_v) and np.array_equal(got_w, want_w)
    # without weights: the values alone
    got_only = np.zeros(500, np.int32)
    scatter_rows(rows, vals, w, indptr[:-1].copy(), got_only, got_only[:0])
    assert np.array_equal(got_only, want_v)


@pytest.mark.parametrize("seed", range(4))
def test_scatter_pairs_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n_ent = 50
    keys, counts = _random_pairs(rng, n_ent, 300)
    deg, rev = pair_degrees([keys], n_ent)
    indptr = indptr_of(deg)
    r0, r1 = sorted(rng.choice(n_ent + 1, size=2, replace=False).tolist())
    base, end = int(indptr[r0]), int(indptr[r1])
    got = [np.zeros(end - base, np.int64), np.zeros(end - base, np.int64)]
    want = [np.zeros(end - base, np.int64), np.zeros(end - base, np.int64)]
    scatter_pairs(keys, counts, r0, r1, indptr[:-1].copy(), indptr[:-1] + rev, base, *got)
    scatter_pairs_py(keys, counts, r0, r1, indptr[:-1].copy(), indptr[:-1] + rev, base, *want)
    assert all(np.array_equal(g, w) for g, w in zip(got, want)) and (end == base or got[1].min() > 0)


def test_row_ranges_cover_every_row_within_the_budget():
    indptr = indptr_of(np.array([3, 0, 5, 1, 9, 2, 0, 0, 4]))
    for budget in (1, 3, 5, 9, 10, 100):
        ranges = row_ranges(indptr, budget)
        assert ranges[0][0] == 0 and ranges[-1][1] == 9 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert all(r1 - r0 == 1 or indptr[r1] - indptr[r0] <= budget for r0, r1 in ranges)


@pytest.mark.parametrize("seed,chunk,budget", [(0, 8_000_000, None), (1, 7, 50), (2, 1, 1), (3, 64, 333)])
def test_pair_rows_are_symmetric_sorted_and_complete(seed, chunk, budget):
    rng = np.random.default_rng(seed)
    n_ent = 60
    keys, counts = _random_pairs(rng, n_ent, 400)
    indptr, ids, cnt = _rows(keys, counts, n_ent, chunk=chunk, budget=budget)
    want = {}
    for k, c in zip(keys.tolist(), counts.tolist()):
        a, b = k >> 32, k & 0xFFFFFFFF
        want.setdefault(a, {})[b] = c
        want.setdefault(b, {})[a] = c
    for i in range(n_ent):
        row = ids[indptr[i]:indptr[i + 1]].astype(np.int64)
        assert (np.diff(row) > 0).all() and i not in row
        assert dict(zip(row.tolist(), cnt[indptr[i]:indptr[i + 1]].tolist())) == want.get(i, {})


@pytest.mark.parametrize("seed", range(5))
def test_row_lookup_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n_ent = 80
    keys, counts = _random_pairs(rng, n_ent, 600)
    indptr, ids, cnt = _rows(keys, counts, n_ent)
    k = keys[rng.integers(0, keys.shape[0], size=200)]
    a = np.concatenate([k >> 32, rng.integers(-3, n_ent + 3, size=300)])
    b = np.concatenate([k & 0xFFFFFFFF, rng.integers(-3, n_ent + 3, size=300)])
    flip = rng.random(a.shape[0]) < 0.5
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    got = row_lookup(indptr, ids, cnt, a, b)
    assert got.tolist() == row_lookup_py(indptr, ids, cnt, a, b)
    assert (got[:200] > 0).all()  # every indexed pair is found, in either order


@pytest.mark.parametrize("seed", range(5))
def test_intersect_counts_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n_ent, n_docs = 40, 3000
    # skewed list lengths, so both the merge walk and the binary-search branch run
    sizes = np.concatenate([rng.integers(0, 10, size=30), rng.integers(500, 3000, size=10)])
    lists = [np.sort(rng.choice(n_docs, size=s, replace=False)) for s in sizes]
    docs = np.concatenate(lists).astype(np.int32)
    indptr = indptr_of(np.array(sizes))
    a = rng.integers(-2, n_ent + 2, size=500)
    b = rng.integers(-2, n_ent + 2, size=500)
    got = intersect_counts(indptr, docs, a, b)
    assert got.tolist() == intersect_counts_py(indptr, docs, a, b)
    assert got.max() > 0


def test_narrowest_uint():
    assert narrowest_uint(0) == np.uint16 and narrowest_uint(65_535) == np.uint16
    assert narrowest_uint(65_536) == np.uint32 and narrowest_uint(2**32) == np.uint64
