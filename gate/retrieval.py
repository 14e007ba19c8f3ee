"""Passage retrieval over an index's passages: BM25 scored like bm25s (default) or by rank_bm25 (the reference).

    build_retrieval(index_dir)                  # at index-build time, once
    retriever = load_retriever(index_dir)       # memory-mapped, cheap
    retriever.search("Proudhon anarchism", k=5) # -> list[Passage]

Terms. A passage is indexed as its title, a newline, its text. Passages and queries go through the project's one
tokenizer, ``quco.cooccur.normalize.tokenize`` (runs of Unicode letters, marks and digits, NFKC+casefold per code
point, a 64-bit hash per token), and ``STOPWORDS`` are dropped by hash; no stemming. A term *is* its hash. The
build tokenizes ``READ_BATCH_ROWS`` passages per numba call (joined by newlines, as ``TokenizedBatch`` does),
dedupes each batch's hashes with ``_dedupe`` (a numba hash table, beside its numpy reference) and maps them to term
ids with numpy: no Python per token. The vocabulary is the sorted array of the hashes seen (``vocab.npy``), and a
term's id is its position in it, so a query finds its ids with ``np.searchsorted``.

Scoring. Both backends score with Okapi BM25, k1=1.5, b=0.75:
``idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))`` with
``idf(t) = ln((N - df + 0.5) / (df + 0.5))``, floored at 0. That is bm25s ``method="atire"`` with
``idf_method="robertson"``, and rank_bm25 ``BM25Okapi(epsilon=0)`` (its default ``epsilon=0.25`` would lift the
negative idf of a term in more than half the passages to a quarter of the mean idf; with 0 both floor it at 0 and
agree up to float32 rounding). Only passages with a positive score are returned, best first, ties broken by passage
id: a query with no indexed term returns ``[]``.

The ``bm25s`` backend keeps bm25s's index, a term-by-passage matrix (CSC: term t's postings are
``indptr[t]:indptr[t+1]``), but stores each posting's term frequency (``uint8`` when every tf fits) instead of its
float32 score, with the float32 idf per term and the length per passage; the ranking kernel ``_top_k`` (numba,
beside its numpy reference) recomputes each posting's score in bm25s's own arithmetic. A posting costs 5 bytes
instead of 8. The matrix is built by ``_postings`` (numba, two passes, beside its numpy reference), not by
``bm25s.BM25.index``, whose per-passage Python takes 38 s of CPU and 3.1 GB on the wiki2015 passages (plus 8 s to
make its lists of ids) against 3 s here; a test checks that postings and scores equal what ``bm25s.BM25.index``
computes, bit for bit (also checked once on all 32.6 M wiki2015 postings). bm25s's own numba retrieval is compiled
afresh in every process (about 19 s on a 2-core machine); ours loads from numba's cache.

The ``rank_bm25`` backend keeps the passages' term ids (``.npy``; no pickle: an index directory may come from
elsewhere) and builds ``BM25Okapi`` at load. It scores every passage in Python for every query term: use it for
small corpora and as the reference that bm25s is tested against.

Passage texts are read from ``passages.parquet`` itself, a row group at a time (``PassageStore``). The index
builder writes it in row groups of 8,192 rows; decoding one costs ~12 ms, so ``build_retrieval`` rewrites the file
in row groups of ``GROUP_ROWS`` (same schema, rows and order; zstd; no min/max statistics for ``text``) in the
same pass that tokenizes it, unless the directory already has a ``manifest.json`` (a finished index, whose checksums
cover the file: it is then read as it is, with slower fetches). Measured on the 602,111 wiki2015 passages: CPU
time of fetching 5 passages from 5 distinct row groups, and file size, by rows per group: 128: 2.9 ms, 177.6 MB;
256: 4.4 ms, 170.6 MB; 512: 5.0 ms, 172.5 MB; 2,048: 17.6 ms, 171.0 MB; the builder's 8,192: 60 ms, 170.9 MB.
Real top-5s touch 3.0 row groups on average, 2.6 to 3.5 ms of CPU at 256 rows; opening the file's footer costs
~60 ms once per process. The uncompressed Arrow copy this replaces answered in 0.5 ms but took 431 MB; duckdb over
the parquet file takes ~200 ms.

Cost on those passages (2 cores, load ~6.5, the previous version run alternately): the build takes 16 s of CPU
(14 s the shared pass: read, tokenize, regroup; 2 s the bm25s backend), 32 s wall and 1.1 GB peak RSS, against
79 s of CPU, 160-210 s wall and 1.9 GB with Python tokenization and ``bm25s.BM25.index``; the bm25s index holds
176.7 MB (275 MB before, plus the 431 MB passage copy). A query takes 2.3-2.8 ms of CPU (0.55-0.75 ms before,
with the Arrow copy), most of it reading passage texts; loading a retriever 0.07 s (1.1 s before).

Layout: ``<index_dir>/passages.parquet`` (the builder's, regrouped) and ``<index_dir>/retrieval/<backend>/`` with
``quco_retrieval.json`` (schema version, tokenizer, BM25 parameters, passage count, source fingerprint),
``vocab.npy`` and the backend's arrays. Backends are classes registered in ``quco.registry.retrievers``
("bm25s", "rank_bm25"); a plugin registers one with two classmethods, ``build(corpus: TokenizedPassages, out_dir,
*, progress) -> dict`` (its parameters, kept in ``quco_retrieval.json``) and
``load(backend_dir, store: PassageStore, vocab) -> Retriever``.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Protocol, Sequence, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.normalize import token_hash_py, tokenize
from quco.cooccur.store import MANIFEST
from quco.errors import BadInputError, ConfigError, IndexCorruptError, IndexNotFoundError
from quco.registry import get, retrievers

SCHEMA_VERSION = 2
K1 = 1.5
B = 0.75
GROUP_ROWS = 256  # row-group size of passages.parquet after build_retrieval; see the module docstring
READ_BATCH_ROWS = 8192
PASSAGES_FILE = "passages.parquet"
RETRIEVAL_DIR = "retrieval"
META_FILE = "quco_retrieval.json"
COLUMNS = ("passage_id", "doc_id", "title", "text")

# English function words. Written for this module; kept short so that content words, numbers and names survive.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
    now of off on once only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under until up upon very
    was we were what when where which while who whom whose why will with would you your yours yourself
    yourselves s t d ll m re ve
    """.split()
)
STOP_HASHES = np.array(sorted(token_hash_py(w) for w in STOPWORDS), dtype=np.uint64)
TOKENIZER_ID = f"quco-fnv64-stop{len(STOPWORDS)}-v2"
_REBUILD = "rebuild the index's retrieval (`quco build`, or quco.gate.retrieval.build_retrieval(INDEX_DIR))"


@dataclass
class Passage:
    """One retrieved passage; ``score`` is its BM25 score for the query (higher is better)."""

    passage_id: int
    doc_id: str
    title: str
    text: str
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Retriever(Protocol):
    """What ``load_retriever`` returns; a registered backend's ``load`` must return one."""

    name: str

    def search(self, query: str, k: int = 5) -> list[Passage]: ...

    def search_many(self, queries: list[str], k: int = 5) -> list[list[Passage]]: ...


# -- terms ------------------------------------------------------------------------------------------------------


def passage_text(title: str | None, text: str | None) -> str:
    """What a passage is scored on: its document's title, then its text."""
    return f"{title or ''}\n{text or ''}"


def _tokens(joined: str, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token hashes of texts joined by newlines (text i ends at ``ends[i] - 1``) in one tokenizer call, and each
    text's token count. Newlines are not word characters, so no token spans two texts."""
    hashes, starts, _ = tokenize(joined)
    return hashes, np.diff(np.searchsorted(starts, ends), prepend=0)


def _is_stopword(hashes: np.ndarray) -> np.ndarray:
    pos = np.minimum(np.searchsorted(STOP_HASHES, hashes), len(STOP_HASHES) - 1)
    return STOP_HASHES[pos] == hashes


def tokenize_for_bm25(texts: Sequence[str]) -> list[np.ndarray]:
    """The one tokenization of passages and queries: each text's term hashes (uint64) in order, stopwords dropped."""
    texts = list(texts)
    if not texts:
        return []
    hashes, counts = _tokens("\n".join(texts), np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1))
    return [h[~_is_stopword(h)] for h in np.split(hashes, np.cumsum(counts)[:-1])]


def _joined_passages(titles: list[str | None], texts: list[str | None]) -> tuple[str, np.ndarray]:
    """``"\\n".join(map(passage_text, titles, texts))`` and where each passage ends, without a Python call per
    passage."""
    parts = [""] * (2 * len(titles))
    parts[0::2] = [t or "" for t in titles]
    parts[1::2] = [t or "" for t in texts]
    lengths = np.fromiter(map(len, parts), np.int64, len(parts)).reshape(-1, 2).sum(axis=1) + 2
    return "\n".join(parts), np.cumsum(lengths)


@dataclass
class TokenizedPassages:
    """All passages as term ids: passage i's terms are ``ids[offsets[i]:offsets[i + 1]]``; id t is ``vocab[t]``."""

    ids: np.ndarray  # int32
    offsets: np.ndarray  # int64, n + 1
    vocab: np.ndarray  # uint64, sorted term hashes

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


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


class PassageStore:
    """Passages by row id from ``passages.parquet`` (memory-mapped); a lookup decodes only its row groups."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._pf = pq.ParquetFile(path, memory_map=True)
        except (OSError, pa.ArrowInvalid) as e:
            raise IndexCorruptError(f"unreadable passages {path} ({e}): {_REBUILD}") from None
        md = self._pf.metadata
        sizes = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        self.n = md.num_rows
        self.group_starts = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=self.group_starts[1:])
        self.group_rows = max(sizes, default=0)
        self.fingerprint = {"rows": self.n, "bytes": path.stat().st_size}

    def passages(self, hits: Sequence[tuple[int, float]]) -> list[Passage]:
        """``Passage`` objects for ``(passage_id, score)`` hits, in the order given."""
        if not hits:
            return []
        ids = np.array([pid for pid, _ in hits], np.int64)
        groups = np.searchsorted(self.group_starts, ids, side="right") - 1
        rows: dict[int, tuple] = {}
        for g in np.unique(groups).tolist():
            table = self._pf.read_row_group(g, columns=list(COLUMNS), use_threads=False)
            cols = [table.column(c) for c in COLUMNS]
            start = int(self.group_starts[g])
            for pid in ids[groups == g].tolist():
                row = tuple(col[pid - start].as_py() for col in cols)
                if row[0] != pid:
                    raise IndexCorruptError(f"{self.path} is out of order in row group {g}: {_REBUILD}")
                rows[pid] = tuple(v if v is None or isinstance(v, str) else str(v) for v in row[1:])
        return [Passage(pid, *rows[pid], float(s)) for pid, s in hits]


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


def _doc_norms(doc_len: np.ndarray) -> np.ndarray:
    """``k1 * (1 - b + b * len / avglen)`` per passage in float64, in bm25s's order of operations."""
    avg = float(doc_len.sum()) / len(doc_len) if len(doc_len) else 0.0
    return K1 * ((1 - B) + (B * doc_len.astype(np.float64)) / (avg or 1.0))


def _posting_scores(tf: np.ndarray, idf: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Postings' float32 scores from their tf, their term's idf and their passage's norm: bm25s's arithmetic
    (float32 ``tf * (k1 + 1)``, float64 division and product, rounded to float32)."""
    tf32 = tf.astype(np.float32)
    num = (tf32 * np.float32(K1 + 1)).astype(np.float64)
    return (idf.astype(np.float64) * (num / (tf32.astype(np.float64) + norm))).astype(np.float32)


# -- top-k over the postings ------------------------------------------------------------------------------------


def _top_k_reference(indptr, docs, tf, idf, norm, query_ids: np.ndarray, k: int):
    """Plain numpy: sum each query term's posting scores, keep the ``k`` best positive scores.

    Returns ``(passage_ids int64, scores float32)`` sorted by score descending, then passage id.
    """
    scores = np.zeros(len(norm), dtype=np.float32)
    for t in query_ids:
        if idf[t] > 0:
            d = docs[indptr[t]:indptr[t + 1]]
            np.add.at(scores, d, _posting_scores(tf[indptr[t]:indptr[t + 1]], np.full(len(d), idf[t]), norm[d]))
    hits = np.flatnonzero(scores > 0)
    best = hits[np.lexsort((hits, -scores[hits]))[:k]]
    return best.astype(np.int64), scores[best]


def _worse(s1, d1, s2, d2) -> bool:
    """Hit (s1, d1) ranks below hit (s2, d2): lower score, or the same score and a higher id."""
    return s1 < s2 or (s1 == s2 and d1 > d2)


def _top_k_kernel(indptr, docs, tf, idf, norm, query_ids, k):
    """``_top_k_reference`` for numba: the same float32 scores summed in the same order, a size-k heap over touched
    rows."""
    scores = np.zeros(norm.shape[0], dtype=np.float32)
    total = 0
    for q in range(query_ids.shape[0]):
        total += indptr[query_ids[q] + 1] - indptr[query_ids[q]]
    touched = np.empty(total, dtype=np.int64)
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
    heap_d = np.empty(k, dtype=np.int64)  # a heap whose root is the worst hit kept
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


try:  # compiled once, then loaded from numba's on-disk cache by later processes
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; the references keep retrieval working without it
    _top_k, _postings, _dedupe = _top_k_reference, _postings_reference, _dedupe_reference
else:
    _worse = njit(cache=True, nogil=True)(_worse)
    _top_k = njit(cache=True, nogil=True)(_top_k_kernel)
    _postings = njit(cache=True, nogil=True)(_postings_kernel)
    _dedupe = njit(cache=True, nogil=True)(_dedupe_kernel)


# -- backends ---------------------------------------------------------------------------------------------------


class _BM25Retriever:
    """Shared query path: tokenize, map term hashes to ids, score (``_top_k``), fetch the top passages."""

    name = ""

    def __init__(self, store: PassageStore, vocab: np.ndarray):
        self._store = store
        self._vocab = vocab

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The ``k`` best passages for ``query`` with a positive score, best first (ties by passage id)."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 5) -> list[list[Passage]]:
        """``search`` for each query."""
        if isinstance(queries, str):
            raise ConfigError("search_many takes a list of queries; use search() for one query")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        k = min(int(k), self._store.n)
        out = []
        for hashes in tokenize_for_bm25(list(queries)):
            ids = self.term_ids(hashes)
            out.append(self._store.passages(self._top_k(ids, k) if len(ids) else []))
        return out

    def term_ids(self, hashes: np.ndarray) -> np.ndarray:
        """Ids (int64) of the term hashes that are in the vocabulary, in order, repeats kept."""
        if not len(self._vocab):
            return np.empty(0, np.int64)
        pos = np.minimum(np.searchsorted(self._vocab, hashes), len(self._vocab) - 1)
        return pos[self._vocab[pos] == hashes].astype(np.int64)

    def _top_k(self, query_ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        raise NotImplementedError


def _ranked(ids: Iterable, scores: Iterable) -> list[tuple[int, float]]:
    """Positive-score hits sorted by score (descending), then passage id."""
    hits = [(int(i), float(s)) for i, s in zip(ids, scores) if s > 0]
    hits.sort(key=lambda h: (-h[1], h[0]))
    return hits


def _smallest_uint(values: np.ndarray) -> np.ndarray:
    top = int(values.max(initial=0))
    return values.astype(next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max))


def _load_arrays(backend_dir: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        return {name: np.load(backend_dir / f"{name}.npy", mmap_mode="r") for name in names}
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"unreadable retrieval index {backend_dir} ({e}): {_REBUILD}") from None


@retrievers.register("bm25s")
class Bm25sRetriever(_BM25Retriever):
    """bm25s's BM25 matrix as term-frequency postings (memory-mapped), ranked by ``_top_k`` (numba)."""

    name = "bm25s"
    ARRAYS = ("indptr", "docs", "tf", "idf", "doc_len")

    def __init__(self, store: PassageStore, vocab: np.ndarray, arrays: dict[str, np.ndarray]):
        super().__init__(store, vocab)
        self._indptr, self._docs, self._tf, self._idf = (arrays[a] for a in self.ARRAYS[:4])
        self._norm = _doc_norms(np.asarray(arrays["doc_len"]))

    @classmethod
    def build(cls, corpus: TokenizedPassages, out_dir: Path, *, progress: bool = False) -> dict:
        indptr, docs, tf = _postings(corpus.ids, corpus.offsets, len(corpus.vocab))
        arrays = {"indptr": indptr, "docs": docs, "tf": _smallest_uint(tf), "idf": _idf(np.diff(indptr), corpus.n),
                  "doc_len": corpus.lengths().astype(np.int32)}
        del tf
        for name, a in arrays.items():
            np.save(out_dir / f"{name}.npy", a)
        return {"scoring": "bm25s method=atire idf_method=robertson", "terms": len(corpus.vocab),
                "postings": int(indptr[-1]), "tf_dtype": str(arrays["tf"].dtype)}

    @classmethod
    def load(cls, backend_dir: Path, store: PassageStore, vocab: np.ndarray) -> "Bm25sRetriever":
        a = _load_arrays(backend_dir, cls.ARRAYS)
        n_post = a["indptr"][-1] if len(a["indptr"]) else -1
        if (len(a["indptr"]) != len(vocab) + 1 or len(a["idf"]) != len(vocab) or len(a["doc_len"]) != store.n
                or len(a["docs"]) != n_post or len(a["tf"]) != n_post):
            raise IndexCorruptError(f"{backend_dir} has arrays of inconsistent sizes: {_REBUILD}")
        return cls(store, vocab, a)

    def _top_k(self, query_ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        docs, scores = _top_k(self._indptr, self._docs, self._tf, self._idf, self._norm, query_ids, k)
        return [(int(d), float(s)) for d, s in zip(docs, scores)]


@retrievers.register("rank_bm25")
class RankBm25Retriever(_BM25Retriever):
    """rank_bm25 ``BM25Okapi(epsilon=0)`` over the passages' term ids; small corpora only."""

    name = "rank_bm25"
    ARRAYS = ("ids", "offsets")

    def __init__(self, store: PassageStore, vocab: np.ndarray, model):
        super().__init__(store, vocab)
        self._model = model

    @classmethod
    def build(cls, corpus: TokenizedPassages, out_dir: Path, *, progress: bool = False) -> dict:
        import rank_bm25

        np.save(out_dir / "ids.npy", corpus.ids)
        np.save(out_dir / "offsets.npy", corpus.offsets)
        return {"rank_bm25_version": getattr(rank_bm25, "__version__", "unknown"), "epsilon": 0.0}

    @classmethod
    def load(cls, backend_dir: Path, store: PassageStore, vocab: np.ndarray) -> "RankBm25Retriever":
        from rank_bm25 import BM25Okapi

        a = _load_arrays(backend_dir, cls.ARRAYS)
        ids, offsets = np.asarray(a["ids"]), np.asarray(a["offsets"])
        if len(offsets) != store.n + 1 or offsets[-1] != len(ids):
            raise IndexCorruptError(f"{backend_dir} holds {len(offsets) - 1} passages, the store {store.n}: "
                                    f"{_REBUILD}")
        docs = [p.tolist() for p in np.split(ids, offsets[1:-1])]
        # no term at all: BM25Okapi divides by zero, and no query can reach _top_k
        return cls(store, vocab, BM25Okapi(docs, k1=K1, b=B, epsilon=0.0) if len(vocab) else None)

    def _top_k(self, query_ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        scores = self._model.get_scores(query_ids.tolist())
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        top = np.flatnonzero((scores >= kth) & (scores > 0))  # every passage tied with the k-th too
        return _ranked(top, scores[top])[:k]


# -- building and loading ---------------------------------------------------------------------------------------


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
    classes = {name: get(retrievers, name) for name in backends}  # unknown names fail before any work
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
            params = cls.build(corpus, tmp, progress=progress)
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


def load_retriever(index_dir: str | Path, backend: str = "bm25s") -> Retriever:
    """Open the saved ``backend`` of ``index_dir`` (memory-mapped where the backend allows)."""
    cls = get(retrievers, backend)
    index_dir = Path(index_dir)
    if not (index_dir / PASSAGES_FILE).is_file():
        raise IndexNotFoundError(str(index_dir))
    backend_dir = index_dir / RETRIEVAL_DIR / backend
    meta_path = backend_dir / META_FILE
    if not meta_path.is_file():
        raise IndexCorruptError(f"no {backend} retrieval index in {index_dir}: {_REBUILD}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"unreadable {meta_path} ({e}): {_REBUILD}") from None
    if meta.get("schema_version") != SCHEMA_VERSION or meta.get("tokenizer") != TOKENIZER_ID:
        raise IndexCorruptError(
            f"{backend_dir} was built with schema {meta.get('schema_version')}, tokenizer {meta.get('tokenizer')}; "
            f"this version reads schema {SCHEMA_VERSION}, tokenizer {TOKENIZER_ID}: {_REBUILD}"
        )
    store = PassageStore(index_dir / PASSAGES_FILE)
    if meta.get("source") != store.fingerprint or meta.get("n_passages") != store.n:
        raise IndexCorruptError(f"{backend_dir} was built from another {PASSAGES_FILE}: {_REBUILD}")
    vocab = _load_arrays(backend_dir, ["vocab"])["vocab"]
    if vocab.dtype != np.uint64 or vocab.ndim != 1:
        raise IndexCorruptError(f"{backend_dir / 'vocab.npy'} is not a uint64 vocabulary: {_REBUILD}")
    return cls.load(backend_dir, store, vocab)
