"""BM25 over an index's passages, the read side: the format, the one passage tokenizer, the passage store and the
registered retrievers; the scoring and top-k kernels (numba, beside their numpy references) are in
:mod:`quco.cooccur.bm25_kernels`, re-exported here.

    retriever = load_retriever(index_dir)       # memory-mapped, cheap
    retriever.search("Proudhon anarchism", k=5) # -> list[Passage]

The arrays are written at build time by ``quco.index_builder.bm25_build.build_retrieval``, whose docstring gives
how they are built and what that costs.

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

The ``bm25s`` retriever (the default) reads bm25s's index, a term-by-passage matrix (CSC: term t's postings are
``indptr[t]:indptr[t+1]``) holding each posting's term frequency (``uint8`` when every tf fits) instead of its
float32 score, with the float32 idf per term and the length per passage; the ranking kernel ``_top_k_buffered``
recomputes each posting's score in bm25s's own arithmetic (each passage's normalizer looked up by its length, one
byte), in a per-thread buffer of which it zeroes only the slots a query touched. bm25s's own numba retrieval is
compiled afresh in every process; ours loads from numba's cache (``bench/README.md``, section "Retrieval").

The ``rank_bm25`` retriever reads the passages' term ids (``.npy``; no pickle: an index directory may come from
elsewhere) and builds ``BM25Okapi`` at load. It scores every passage in Python for every query term: use it for
small corpora and as the reference that bm25s is tested against.

Passage texts are read from ``passages.parquet`` itself, a row group at a time, and the last few thousand fetched
are kept (``PassageStore``, whose docstring gives what a fetch costs); the build rewrites the file in row groups
of ``GROUP_ROWS`` rows so that a fetch decodes little.

Layout: ``<index_dir>/passages.parquet`` and ``<index_dir>/retrieval/<backend>/`` with ``quco_retrieval.json``
(schema version, tokenizer, BM25 parameters, passage count, source fingerprint), ``vocab.npy`` and the backend's
arrays. Retrievers are classes registered in ``quco.registry.retrievers`` ("bm25s", "rank_bm25") with a classmethod
``load(backend_dir, store: PassageStore, vocab) -> Retriever``; the builder of the same name is registered in
``quco.registry.retriever_builders``.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Protocol, Sequence, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.bm25_kernels import (  # noqa: F401  (re-exported: the scoring and top-k live there)
    B, K1, _accumulate_kernel, _doc_norms, _norm_table, _posting_scores, _ratio_table, _scores_reference, _top_k,
    _top_k_buffered, _top_k_kernel, _top_k_reference, accumulate_scores)
from quco.cooccur.normalize import token_hash_py, tokenize
from quco.errors import ConfigError, IndexCorruptError, IndexNotFoundError
from quco.registry import get, retrievers

SCHEMA_VERSION = 2
GROUP_ROWS = 256  # row-group size of passages.parquet after build_retrieval; see the module docstring
READ_BATCH_ROWS = 8192
PASSAGES_FILE = "passages.parquet"
RETRIEVAL_DIR = "retrieval"
META_FILE = "quco_retrieval.json"
COLUMNS = ("passage_id", "doc_id", "title", "text")
CACHE_PASSAGES = 4096  # passages a PassageStore keeps (~3 MB on wiki2015); see its docstring

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
REBUILD = "rebuild the index's retrieval (`quco build`, or quco.index_builder.bm25_build.build_retrieval(INDEX_DIR))"


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


# -- the passage store ------------------------------------------------------------------------------------------


class PassageStore:
    """Passages by row id from ``passages.parquet`` (memory-mapped); a lookup decodes only the row groups of the
    passages it does not already hold: the last ``cache_passages`` passages fetched are kept. Safe to share
    between threads: reads and the cache take one lock (one ``ParquetFile`` reader segfaults if read concurrently).

    Cost (``python bench/bench_passage_fetch.py [--distinct]``: the evidence fetches of ``bench/bench_serve.py``'s
    2,000 requests in the server's order, on wiki2015's 602,111 passages in 256-row groups; CPU ms per fetch of a
    top 5 / top 3 (``evidence_k``), median of 3 alternating runs at load average 2-4, +-30 %). Before (Arrow's
    pre-buffered reads, no cache): 1.91 / 1.25 (4.0 / 2.6 groups read). ``pre_buffer=False`` (pre-buffering goes
    through Arrow's I/O threads, which a mapped file does not need): 1.56 / 1.06. Plus this cache of 4,096
    passages: **1.00 / 0.68**, 48 % of the passages found in it, 2.1 / 1.35 groups read, 3-4 MB held. Most of those
    hits are the mix's own repeats (each question comes twice, right and swapped answer); with the first request
    of each question only (``--distinct``): 1.30 / 0.89 before, 0.99 / 0.67 now, 14-16 % hits (passages that
    recur in many top k's). 256 passages do about as well; a cache of decoded row groups instead (16 MB) no
    better. Over copies of the file in smaller groups, this store takes 0.62 / 0.36 at 128 rows (178 MB instead
    of 170, footer 16 ms instead of 13) and 0.46 / 0.32 at 64 (185 MB, 52 ms): a group read is mostly fixed cost
    (of ~0.35 ms, ~0.14 ms is zstd on the text's 72 KB, ~0.04 ms each of the three small columns).
    """

    def __init__(self, path: Path, cache_passages: int = CACHE_PASSAGES):
        self.path = path
        try:
            self._pf = pq.ParquetFile(path, memory_map=True, pre_buffer=False)
        except (OSError, pa.ArrowInvalid) as e:
            raise IndexCorruptError(f"unreadable passages {path} ({e}): {REBUILD}") from None
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, tuple] = OrderedDict()  # id -> (doc_id, title, text), least recent first
        self.cache_passages = max(0, int(cache_passages))
        self.lookups = self.cache_hits = self.group_reads = 0  # passages asked for, found in the cache; groups read
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
        with self._lock:
            rows = self._cached([int(pid) for pid, _ in hits])
            missing = np.array(sorted({int(pid) for pid, _ in hits} - rows.keys()), np.int64)
            groups = np.searchsorted(self.group_starts, missing, side="right") - 1
            for g in np.unique(groups).tolist():
                self.group_reads += 1
                table = self._pf.read_row_group(g, columns=list(COLUMNS), use_threads=False)
                cols = [table.column(c) for c in COLUMNS]
                start = int(self.group_starts[g])
                for pid in missing[groups == g].tolist():
                    row = tuple(col[pid - start].as_py() for col in cols)
                    if row[0] != pid:
                        raise IndexCorruptError(f"{self.path} is out of order in row group {g}: {REBUILD}")
                    rows[pid] = self._cache[pid] = tuple(v if v is None or isinstance(v, str) else str(v)
                                                         for v in row[1:])
            while len(self._cache) > self.cache_passages:
                self._cache.popitem(last=False)
        return [Passage(pid, *rows[pid], float(s)) for pid, s in hits]

    def _cached(self, ids: list[int]) -> dict[int, tuple]:
        """The rows of ``ids`` that the cache holds (each marked as just used)."""
        found = {}
        for pid in ids:
            row = self._cache.get(pid)
            if row is not None:
                self._cache.move_to_end(pid)
                found[pid] = row
        self.lookups += len(ids)
        self.cache_hits += sum(pid in found for pid in ids)
        return found


# -- retrievers -------------------------------------------------------------------------------------------------


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


def _load_arrays(backend_dir: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        return {name: np.load(backend_dir / f"{name}.npy", mmap_mode="r") for name in names}
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"unreadable retrieval index {backend_dir} ({e}): {REBUILD}") from None


@retrievers.register("bm25s")
class Bm25sRetriever(_BM25Retriever):
    """bm25s's BM25 matrix as term-frequency postings (memory-mapped), ranked by ``_top_k_buffered`` (numba) in a
    per-thread score buffer: safe to share between threads."""

    name = "bm25s"
    ARRAYS = ("indptr", "docs", "tf", "idf", "doc_len")

    def __init__(self, store: PassageStore, vocab: np.ndarray, arrays: dict[str, np.ndarray]):
        super().__init__(store, vocab)
        # plain views of the memory maps: a memmap argument costs numba's dispatcher ~3 us more per call
        self._indptr, self._docs, self._tf, self._idf = (np.asarray(arrays[a]) for a in self.ARRAYS[:4])
        self._norm = _doc_norms(np.asarray(arrays["doc_len"]))
        self._codes, self._table = _norm_table(arrays["doc_len"])  # the same normalizers, 1 byte a passage
        self._ratio = _ratio_table(self._table)  # and the quotient of a small tf by length: no division
        self._local = threading.local()  # per thread: a score per passage (zero between queries), touched ids

    def _buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """This thread's ``(scores, touched)`` for ``_top_k_buffered``: float32 zeros and room for an id per passage
        (int32, as the postings store them), allocated on the thread's first query; pages are only committed where
        a query writes (a server's idle threads cost little)."""
        buf = getattr(self._local, "buffers", None)
        if buf is None:
            n = self._norm.shape[0]
            buf = self._local.buffers = (np.zeros(n, dtype=np.float32), np.empty(n, dtype=self._docs.dtype))
        return buf

    @classmethod
    def load(cls, backend_dir: Path, store: PassageStore, vocab: np.ndarray) -> "Bm25sRetriever":
        a = _load_arrays(backend_dir, cls.ARRAYS)
        n_post = a["indptr"][-1] if len(a["indptr"]) else -1
        if (len(a["indptr"]) != len(vocab) + 1 or len(a["idf"]) != len(vocab) or len(a["doc_len"]) != store.n
                or len(a["docs"]) != n_post or len(a["tf"]) != n_post):
            raise IndexCorruptError(f"{backend_dir} has arrays of inconsistent sizes: {REBUILD}")
        return cls(store, vocab, a)

    def postings(self) -> tuple[np.ndarray, ...]:
        """``(indptr, docs, tf, idf, norm)``: term t's postings are ``docs[indptr[t]:indptr[t + 1]]`` (passage ids,
        ascending) with their term frequencies ``tf``; ``norm`` is each passage's length normalizer."""
        return self._indptr, self._docs, self._tf, self._idf, self._norm

    def _top_k(self, query_ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        docs, scores = _top_k_buffered(self._indptr, self._docs, self._tf, self._idf, self._codes, self._table,
                                       self._ratio, query_ids, k, *self._buffers())
        return list(zip(docs.tolist(), scores.tolist()))


@retrievers.register("rank_bm25")
class RankBm25Retriever(_BM25Retriever):
    """rank_bm25 ``BM25Okapi(epsilon=0)`` over the passages' term ids; small corpora only."""

    name = "rank_bm25"
    ARRAYS = ("ids", "offsets")

    def __init__(self, store: PassageStore, vocab: np.ndarray, model):
        super().__init__(store, vocab)
        self._model = model

    @classmethod
    def load(cls, backend_dir: Path, store: PassageStore, vocab: np.ndarray) -> "RankBm25Retriever":
        from rank_bm25 import BM25Okapi

        a = _load_arrays(backend_dir, cls.ARRAYS)
        ids, offsets = np.asarray(a["ids"]), np.asarray(a["offsets"])
        if len(offsets) != store.n + 1 or offsets[-1] != len(ids):
            raise IndexCorruptError(f"{backend_dir} holds {len(offsets) - 1} passages, the store {store.n}: "
                                    f"{REBUILD}")
        docs = [p.tolist() for p in np.split(ids, offsets[1:-1])]
        # no term at all: BM25Okapi divides by zero, and no query can reach _top_k
        return cls(store, vocab, BM25Okapi(docs, k1=K1, b=B, epsilon=0.0) if len(vocab) else None)

    def _top_k(self, query_ids: np.ndarray, k: int) -> list[tuple[int, float]]:
        scores = self._model.get_scores(query_ids.tolist())
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        top = np.flatnonzero((scores >= kth) & (scores > 0))  # every passage tied with the k-th too
        return _ranked(top, scores[top])[:k]


# -- loading ----------------------------------------------------------------------------------------------------


def load_retriever(index_dir: str | Path, backend: str = "bm25s") -> Retriever:
    """Open the saved ``backend`` of ``index_dir`` (memory-mapped where the backend allows)."""
    cls = get(retrievers, backend)
    index_dir = Path(index_dir)
    if not (index_dir / PASSAGES_FILE).is_file():
        raise IndexNotFoundError(str(index_dir))
    backend_dir = index_dir / RETRIEVAL_DIR / backend
    meta_path = backend_dir / META_FILE
    if not meta_path.is_file():
        raise IndexCorruptError(f"no {backend} retrieval index in {index_dir}: {REBUILD}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"unreadable {meta_path} ({e}): {REBUILD}") from None
    if meta.get("schema_version") != SCHEMA_VERSION or meta.get("tokenizer") != TOKENIZER_ID:
        raise IndexCorruptError(
            f"{backend_dir} was built with schema {meta.get('schema_version')}, tokenizer {meta.get('tokenizer')}; "
            f"this version reads schema {SCHEMA_VERSION}, tokenizer {TOKENIZER_ID}: {REBUILD}"
        )
    store = PassageStore(index_dir / PASSAGES_FILE)
    if meta.get("source") != store.fingerprint or meta.get("n_passages") != store.n:
        raise IndexCorruptError(f"{backend_dir} was built from another {PASSAGES_FILE}: {REBUILD}")
    vocab = _load_arrays(backend_dir, ["vocab"])["vocab"]
    if vocab.dtype != np.uint64 or vocab.ndim != 1:
        raise IndexCorruptError(f"{backend_dir / 'vocab.npy'} is not a uint64 vocabulary: {REBUILD}")
    return cls.load(backend_dir, store, vocab)
