"""BM25 top-k kernels (quco.cooccur.bm25_kernels): the numba kernels against the plain numpy reference, the
buffered top k against the allocating one (bit-identical, buffer clean after each query), and the retriever's
per-thread buffers under concurrent queries."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quco.cooccur.bm25 as bm25
import quco.cooccur.bm25_kernels as kernels
from quco.cooccur.bm25 import Bm25sRetriever


def _random_postings(rng: np.random.Generator, n_docs: int, n_terms: int, tf_dtype=np.uint8, density: float = 1.0):
    """Postings by term (CSC, passage ids ascending) with term frequencies, idf (zeros included: a floored idf)
    and passage lengths on a coarse grid so that scores tie."""
    docs, indptr = [], [0]
    for _ in range(n_terms):
        size = rng.integers(0, int(n_docs * density) + 1)
        docs.extend(np.sort(rng.choice(n_docs, size=size, replace=False)))
        indptr.append(len(docs))
    tf = rng.integers(1, 4 if rng.random() < 0.5 else np.iinfo(tf_dtype).max, size=len(docs)).astype(tf_dtype)
    idf = (rng.integers(0, 4, size=n_terms) * 0.75).astype(np.float32)
    doc_len = rng.integers(0, 3, size=n_docs) * (10 if rng.random() < 0.8 else 40_000)  # uint8, uint16, wider
    return np.array(indptr, np.int64), np.array(docs, np.int32), tf, idf, kernels._doc_norms(doc_len), doc_len


@st.composite
def _postings_case(draw):
    """Random postings, a query with repeats (or none) and a k up to beyond the passages."""
    n_docs = draw(st.integers(1, 40))
    n_terms = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    *arrays, doc_len = _random_postings(rng, n_docs, n_terms, draw(st.sampled_from([np.uint8, np.uint16])))
    query = rng.integers(0, n_terms, size=draw(st.integers(0, 5))).astype(np.int64)
    k = draw(st.integers(1, n_docs + 2))
    return (*arrays, query, k), doc_len


def _buffers(n: int, id_dtype=np.int32) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n, np.float32), np.empty(n, id_dtype)


def _assert_same(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def _coded(case, doc_len):
    """``case`` with the normalizers as ``codes, table`` (``_norm_table``), as the buffered kernels take them."""
    indptr, docs, tf, idf, norm, query, k = case
    codes, table = kernels._norm_table(doc_len)
    np.testing.assert_array_equal(table[codes], norm)
    return indptr, docs, tf, idf, codes, table, kernels._ratio_table(table), query, k


@settings(max_examples=200, deadline=None)
@given(_postings_case())
def test_top_k_kernels_match_reference(case_and_lengths):
    case, doc_len = case_and_lengths
    want = kernels._top_k_reference(*case)
    assert np.all(want[1] > 0) and len(want[0]) <= case[-1]
    for kernel in (kernels._top_k, kernels._top_k_kernel):  # compiled (numba) and as plain Python
        _assert_same(kernel(*case), want)
    scores, touched = _buffers(len(case[4]), np.int64 if len(case[5]) % 2 else np.int32)
    for kernel in (kernels._top_k_buffered, kernels._top_k_buffered_kernel, kernels._top_k_buffered,
                   kernels._top_k_buffered_reference):
        _assert_same(kernel(*_coded(case, doc_len), scores, touched), want)  # one buffer, reused
        assert not scores.any()  # zero again on return
    indptr, docs, tf, idf, norm, query, _ = case
    for kernel in (kernels._accumulate_coded, kernels._accumulate_coded_kernel):
        got, touched = _buffers(len(norm))
        n = kernel(*_coded(case, doc_len)[:7], query, got, touched)
        np.testing.assert_array_equal(got, kernels._scores_reference(indptr, docs, tf, idf, norm, query))
        assert sorted(touched[:n].tolist()) == np.flatnonzero(got).tolist()


@pytest.mark.parametrize("lengths, code_dtype", [([0, 5, 255, 17], np.uint8), ([3, 256, 65535], np.uint16),
                                                 ([1, 70_000, 2], np.int64), ([], np.int64)])
def test_norm_table_gives_each_passage_its_normalizer_exactly(lengths, code_dtype):
    doc_len = np.array(lengths, np.int32)
    codes, table = kernels._norm_table(doc_len)
    assert codes.dtype == code_dtype and len(codes) == len(doc_len)
    np.testing.assert_array_equal(table[codes], kernels._doc_norms(doc_len))
    ratio = kernels._ratio_table(table)
    assert ratio.shape == (kernels.RATIO_TF if len(table) <= 2**16 else 0, len(table))
    for f in range(ratio.shape[0]):  # the posting arithmetic of the reference, before the idf (idf 1)
        want = kernels._posting_scores(np.full(len(table), f), np.ones(len(table), np.float32), table)
        np.testing.assert_array_equal(ratio[f].astype(np.float32), want)


def test_the_re_exported_names_are_the_kernels_module_s():
    for name in ("K1", "B", "accumulate_scores", "_top_k", "_top_k_kernel", "_top_k_reference", "_doc_norms",
                 "_posting_scores", "_scores_reference", "_accumulate_kernel", "_top_k_buffered"):
        assert getattr(bm25, name) is getattr(kernels, name)


@pytest.mark.parametrize("seed", range(4))
def test_buffered_top_k_equals_the_allocating_one_query_after_query(seed):
    """Many queries through one buffer, each against the allocating kernel: a slot left dirty by one query would
    change a later one's scores or order. Ties (coarse norms and idfs), repeated terms, empty queries, k of 1 to
    more than the passages a query touches."""
    rng = np.random.default_rng(seed)
    n_docs, n_terms = 3000, 60
    *arrays, doc_len = _random_postings(rng, n_docs, n_terms, density=rng.choice([0.01, 0.1, 0.6]))
    codes, table = kernels._norm_table(doc_len)
    ratio = kernels._ratio_table(table)
    scores, touched = _buffers(n_docs)
    ties = beyond = 0
    for _ in range(300):
        query = rng.integers(0, n_terms, size=rng.integers(0, 6)).astype(np.int64)
        k = int(rng.choice([1, 5, 50, n_docs + 1]))
        want = kernels._top_k(*arrays, query, k)
        _assert_same(kernels._top_k_buffered(*arrays[:4], codes, table, ratio, query, k, scores, touched), want)
        ties += int(len(want[1]) > 1 and (want[1][1:] == want[1][:-1]).any())
        beyond += int(0 < len(want[0]) < k)
    assert not scores.any()
    assert ties > 10 and beyond > 10  # the comparison covers ties and k beyond the touched passages


def test_concurrent_queries_through_one_retriever_equal_single_threaded():
    """A server shares one retriever between request threads: each thread gets its own score buffer, the kernels
    release the GIL, and every thread's results equal the single-threaded ones (a shared buffer would mix scores)."""
    rng = np.random.default_rng(11)
    n_docs, n_terms = 200_000, 40
    indptr, docs, tf, idf, _, doc_len = _random_postings(rng, n_docs, n_terms, density=0.05)
    idf[idf == 0] = 0.75  # every term scores: longer queries, more overlap between threads
    vocab = np.arange(n_terms, dtype=np.uint64)
    r = Bm25sRetriever(None, vocab, {"indptr": indptr, "docs": docs, "tf": tf, "idf": idf, "doc_len": doc_len})
    queries = [rng.integers(0, n_terms, size=rng.integers(1, 8)).astype(np.int64) for _ in range(150)]
    want = [r._top_k(q, 10) for q in queries]
    assert want == [r._top_k(q, 10) for q in queries] and all(want)

    def run(offset: int) -> tuple[list, bool]:
        order = queries[offset:] + queries[:offset]
        got = [r._top_k(q, 10) for q in order]
        return got[len(queries) - offset:] + got[:len(queries) - offset], not r._buffers()[0].any()

    with ThreadPoolExecutor(6) as pool:
        for got, clean in pool.map(run, [7 * i for i in range(12)]):
            assert clean and got == want
