"""BM25 over an index's passages, the write side: tokenize ``passages.parquet`` once and save each registered
retrieval backend's arrays (read back by ``quco.cooccur.bm25``).

    build_retrieval(index_dir)                  # at index-build time, once

Terms are those of ``quco.cooccur.bm25`` (its docstring). The build tokenizes ``READ_BATCH_ROWS`` passages per
numba call (joined by newlines, as ``TokenizedBatch`` does), dedupes each batch's hashes with ``_dedupe`` (a numba
hash table, beside its numpy reference) and maps them to term ids with numpy: no Python per token. The vocabulary
is the sorted array of the hashes seen (``vocab.npy``), and a term's id is its position in it, so a query finds its
ids with ``np.searchsorted``.

The ``bm25s`` backend stores bm25s's term-by-passage matrix with each posting's term frequency instead of its
float32 score: a posting costs 5 bytes instead of 8. The matrix is built by ``_postings`` (numba, two passes,
beside its numpy reference), not by ``bm25s.BM25.index``, whose per-passage Python is an order of magnitude slower
(``bench/README.md``); a test checks that postings and scores equal what ``bm25s.BM25.index`` computes,
bit for bit.

``passages.parquet`` is written by the index builder in row groups of 8,192 rows; ``build_retrieval`` rewrites it in
row groups of ``GROUP_ROWS`` (same schema, rows and order; zstd; no min/max statistics for ``text``) in the same
pass that tokenizes it, unless the directory already has a ``manifest.json`` (a finished index, whose checksums
cover the file: it is then read as it is, with slower fetches). Why ``GROUP_ROWS`` is 256, and what the build and
a query cost, is measured in ``bench/README.md`` (section "Retrieval").

A builder is registered in ``quco.registry.retriever_builders`` under its retriever's name: a function
``build(corpus: TokenizedPassages, out_dir, *, progress) -> dict`` (its parameters, kept in ``quco_retrieval.json``).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.bm25 import (B, COLUMNS, GROUP_ROWS, K1, META_FILE, PASSAGES_FILE, READ_BATCH_ROWS, RETRIEVAL_DIR,
                               SCHEMA_VERSION, TOKENIZER_ID, TokenizedPassages, _is_stopword, _tokens)
from quco.cooccur.store import MANIFEST
from quco.errors import BadInputError, IndexNotFoundError
from quco.registry import get, retriever_builders


def _joined_passages(titles: list[str | None], texts: list[str | None]) -> tuple[str, np.ndarray]:
    """``"\\n".join(map(passage_text, titles, texts))`` and where each passage ends, without a Python call per
    passage."""
    parts = [""] * (2 * len(titles))
    parts[0::2] = [t or "" for t in titles]
    parts[1::2] = [t or "" for t in texts]
    lengths = np.fromiter(map(len, parts), np.int64, len(parts)).reshape(-1, 2).sum(axis=1) + 2
    return "\n".join(parts), np.cumsum(lengths)



def _read_passages(index_dir: Path, progress: bool) -> tuple[TokenizedPassages, bool]:
    """One pass over ``passages.parquet``: tokenize every passage and, when needed, rewrite it in small row groups.

    Returns the tokenized passages and whether the file was rewritten.
    """
    source = index_dir / PASSAGES_FILE
    try:
        pf = pq.ParquetFile(source)
    except (OSError, pa.ArrowInvalid) as e:
        raise BadInputError(str(source), f"cannot read passages ({e})") from None
    missing = set(COLUMNS) - set(pf.schema_arrow.names)
    if missing:
        raise BadInputError(str(source), f"missing columns {sorted(missing)}")
    n = pf.metadata.num_rows
    if n == 0:
        raise BadInputError(str(source), "no passages to index")
    regroup = _largest_group(pf.metadata) > GROUP_ROWS and not (index_dir / MANIFEST).exists()
    batches = pf.iter_batches(batch_size=READ_BATCH_ROWS, columns=None if regroup else list(COLUMNS))
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=-(-n // READ_BATCH_ROWS), desc="retrieval: tokenize passages")
    tmp = source.with_name(f".{source.name}.tmp-{os.getpid()}")
    writer = None
    uniques, inverses, lengths = [], [], []
    done = 0
    try:
        if regroup:
            small = [c for c in pf.schema_arrow.names if c != "text"]  # min/max of whole texts bloat the footer
            writer = pq.ParquetWriter(str(tmp), pf.schema_arrow, compression="zstd", write_statistics=small,
                                      use_dictionary=small)
        for batch in batches:
            pids = batch.column("passage_id").to_numpy(zero_copy_only=False)
            if not np.array_equal(pids, np.arange(done, done + batch.num_rows)):
                raise BadInputError(str(source), "passage_id must be 0..n-1 in row order", record=done)
            titles, texts = (batch.column(c).cast(pa.string()).to_pylist() for c in ("title", "text"))
            hashes, counts = _tokens(*_joined_passages(titles, texts))
            unique, inverse = _dedupe(hashes)
            stop = _is_stopword(unique)
            keep = ~stop[inverse]
            uniques.append(unique[~stop])
            inverses.append((np.cumsum(~stop) - 1)[inverse[keep]].astype(np.int32))  # ids among the kept
            kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept terms before each token
            lengths.append(np.diff(kept_before[np.concatenate([[0], np.cumsum(counts)])]))
            if writer is not None:
                writer.write_batch(batch, row_group_size=GROUP_ROWS)
            done += batch.num_rows
        if done != n:
            raise BadInputError(str(source), f"read {done} passages, its metadata says {n}")
        if writer is not None:
            writer.close()
            writer = None
            os.replace(tmp, source)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    vocab = np.sort(np.concatenate(uniques))
    vocab = vocab[np.concatenate([vocab[:1] == vocab[:1], vocab[1:] != vocab[:-1]])]  # np.unique, minus its hashing
    ids = np.concatenate([np.searchsorted(vocab, u).astype(np.int32)[inv] for u, inv in zip(uniques, inverses)])
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.concatenate(lengths), out=offsets[1:])
    return TokenizedPassages(ids, offsets, vocab), regroup


def _largest_group(md: pq.FileMetaData) -> int:
    return max((md.row_group(g).num_rows for g in range(md.num_row_groups)), default=0)


def _dedupe_reference(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy: the distinct values in order of first occurrence, and each value's index among them."""
    unique, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return unique[order], rank[inverse.ravel()]


def _dedupe_kernel(values):
    """``_dedupe_reference`` for numba, with a hash table (open addressing, linear probing): no sort."""
    n = values.shape[0]
    bits = 1
    while (1 << bits) < 2 * n:
        bits += 1
    mask = (1 << bits) - 1
    slots = np.full(1 << bits, -1, np.int64)
    unique = np.empty(n, values.dtype)
    inverse = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        v = values[i]
        s = np.int64(np.uint64(v) >> np.uint64(64 - bits))  # a token hash's top bits (FNV-1a mixes upward)
        while slots[s] >= 0 and unique[slots[s]] != v:
            s = (s + 1) & mask
        if slots[s] < 0:
            slots[s] = m
            unique[m] = v
            m += 1
        inverse[i] = slots[s]
    return unique[:m].copy(), inverse


# -- the passage store ------------------------------------------------------------------------------------------


# -- postings: the term-by-passage matrix with term frequencies, by term (CSC) ------------------------------------


def _postings_reference(ids: np.ndarray, offsets: np.ndarray, n_terms: int):
    """Plain numpy: ``(indptr int64, docs int32, tf int32)``, postings by term then passage."""
    n = len(offsets) - 1
    doc = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    key, tf = np.unique(ids.astype(np.int64) * n + doc, return_counts=True)
    indptr = np.searchsorted(key // n, np.arange(n_terms + 1)).astype(np.int64)
    return indptr, (key % n).astype(np.int32), tf.astype(np.int32)


def _postings_kernel(ids, offsets, n_terms):
    """``_postings_reference`` for numba: count each term's passages, then fill its postings passage by passage."""
    n_docs = offsets.shape[0] - 1
    last = np.full(n_terms, -1, np.int64)  # the last passage a term was seen in
    indptr = np.zeros(n_terms + 1, np.int64)
    for d in range(n_docs):
        for j in range(offsets[d], offsets[d + 1]):
            t = ids[j]
            if last[t] != d:
                last[t] = d
                indptr[t + 1] += 1
    for t in range(n_terms):
        indptr[t + 1] += indptr[t]
    fill = indptr[:n_terms].copy()
    docs = np.empty(indptr[n_terms], np.int32)
    tf = np.zeros(indptr[n_terms], np.int32)
    last[:] = -1
    for d in range(n_docs):
        for j in range(offsets[d], offsets[d + 1]):
            t = ids[j]
            if last[t] != d:
                last[t] = d
                docs[fill[t]] = d
                fill[t] += 1
            tf[fill[t] - 1] += 1  # passages arrive in order: d's posting is the term's latest
    return indptr, docs, tf


def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """bm25s ``idf_method="robertson"`` in float32: ``math.log`` of each distinct df, as bm25s computes it."""
    values, inverse = np.unique(df, return_inverse=True)
    table = [math.log(max((n_docs - d + 0.5) / (d + 0.5), 1.0)) for d in values.tolist()]
    return np.asarray(table, np.float32)[inverse]


try:  # compiled once, then loaded from numba's on-disk cache by later processes
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; the references keep the build working without it
    _postings, _dedupe = _postings_reference, _dedupe_reference
else:
    _postings = njit(cache=True, nogil=True)(_postings_kernel)
    _dedupe = njit(cache=True, nogil=True)(_dedupe_kernel)


# -- backends ---------------------------------------------------------------------------------------------------


def _smallest_uint(values: np.ndarray) -> np.ndarray:
    top = int(values.max(initial=0))
    return values.astype(next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max))



@retriever_builders.register("bm25s")
def build_bm25s(corpus: TokenizedPassages, out_dir: Path, *, progress: bool = False) -> dict:
    """bm25s's BM25 matrix as term-frequency postings, idf per term and length per passage."""
    indptr, docs, tf = _postings(corpus.ids, corpus.offsets, len(corpus.vocab))
    arrays = {"indptr": indptr, "docs": docs, "tf": _smallest_uint(tf), "idf": _idf(np.diff(indptr), corpus.n),
              "doc_len": corpus.lengths().astype(np.int32)}
    del tf
    for name, a in arrays.items():
        np.save(out_dir / f"{name}.npy", a)
    return {"scoring": "bm25s method=atire idf_method=robertson", "terms": len(corpus.vocab),
            "postings": int(indptr[-1]), "tf_dtype": str(arrays["tf"].dtype)}


@retriever_builders.register("rank_bm25")
def build_rank_bm25(corpus: TokenizedPassages, out_dir: Path, *, progress: bool = False) -> dict:
    """The passages' term ids, from which ``RankBm25Retriever`` builds ``BM25Okapi`` at load."""
    import rank_bm25

    np.save(out_dir / "ids.npy", corpus.ids)
    np.save(out_dir / "offsets.npy", corpus.offsets)
    return {"rank_bm25_version": getattr(rank_bm25, "__version__", "unknown"), "epsilon": 0.0}


# -- building ---------------------------------------------------------------------------------------------------


def _dir_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_retrieval(
    index_dir: str | Path, backends: Sequence[str] = ("bm25s",), *, progress: bool = False
) -> dict:
    """Build and save each backend under ``<index_dir>/retrieval/<backend>/``, replacing what was there.

    Reads ``passages.parquet`` once in batches, tokenizing each passage and, before the index has a manifest,
    rewriting the file in ``GROUP_ROWS``-row groups (same schema, rows and order). Returns
    ``{"passages": {...}, backend: {...}, ...}`` for the manifest, each with ``seconds`` (wall), ``cpu_seconds``
    and ``bytes``: ``passages`` is that shared pass (``bytes`` of ``passages.parquet`` after it, ``regrouped``
    whether it was rewritten), each backend its own build and save.
    """
    index_dir = Path(index_dir)
    if isinstance(backends, str):
        backends = (backends,)
    classes = {name: get(retriever_builders, name) for name in backends}  # unknown names fail before any work
    if not (index_dir / PASSAGES_FILE).is_file():
        raise IndexNotFoundError(str(index_dir))
    root = index_dir / RETRIEVAL_DIR
    root.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    corpus, regrouped = _read_passages(index_dir, progress)
    (root / "passages.arrow").unlink(missing_ok=True)  # the passage copy of schema 1
    source = index_dir / PASSAGES_FILE
    stats: dict = {"passages": {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                                "bytes": source.stat().st_size, "regrouped": regrouped}}
    fingerprint = {"rows": corpus.n, "bytes": source.stat().st_size}
    for name, cls in classes.items():
        t0, c0 = time.perf_counter(), time.process_time()
        final = root / name
        tmp = root / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            np.save(tmp / "vocab.npy", corpus.vocab)
            params = cls(corpus, tmp, progress=progress)
            meta = {"schema_version": SCHEMA_VERSION, "backend": name, "tokenizer": TOKENIZER_ID, "k1": K1, "b": B,
                    "n_passages": corpus.n, "source": fingerprint, "params": params}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = root / f".{name}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        stats[name] = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                       "bytes": _dir_bytes(final)}
    return stats
