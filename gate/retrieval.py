"""Passage retrieval over an index's passages: BM25 through bm25s (default) or rank_bm25 (the reference).

    build_retrieval(index_dir)                  # at index-build time, once
    retriever = load_retriever(index_dir)       # memory-mapped, cheap
    retriever.search("Proudhon anarchism", k=5) # -> list[Passage]

Layout under ``<index_dir>/retrieval/``:

- ``passages.arrow``: the passages (``passage_id, doc_id, title, text``) as an uncompressed Arrow IPC file in
  record batches of ``STORE_BATCH_ROWS`` rows. A search memory-maps it and reads only the batches holding its
  top-k rows. Reading the same rows lazily from ``passages.parquet`` costs one decoded row group (or a duckdb
  scan) per query, tens to thousands of milliseconds; see ``bench/bench_retrieval.py``.
- ``<backend>/``: one directory per backend, with ``quco_retrieval.json`` (schema version, tokenizer, BM25
  parameters, passage count) beside the backend's own files.

Backends are classes registered in ``quco.registry.retrievers`` ("bm25s", "rank_bm25"); a plugin registers one
with two classmethods, ``build(corpus: TokenizedPassages, out_dir, *, progress) -> dict`` (its parameters, kept
in ``quco_retrieval.json``) and ``load(backend_dir, store: PassageStore) -> Retriever``.

Scoring. Both backends score a passage's title and text together with Okapi BM25, k1=1.5, b=0.75:
``idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))`` with
``idf(t) = ln((N - df + 0.5) / (df + 0.5))``, floored at 0. That is bm25s ``method="atire"`` (the tf part with
its ``k1 + 1`` factor; bm25s ``"robertson"`` drops the factor, which rescales scores but keeps the ranking) with
``idf_method="robertson"``, and rank_bm25 ``BM25Okapi(epsilon=0)``. BM25Okapi's default ``epsilon=0.25`` lifts
the negative idf of a term found in more than half the passages to a quarter of the mean idf, a floor no bm25s
method has; with ``epsilon=0`` both clamp it to 0 and agree up to float32 rounding.

Only passages with a positive score are returned, best first, ties broken by passage id: a query with no
indexed term returns ``[]``.

The bm25s backend builds and saves with bm25s and memory-maps its score matrix at load, but ranks with
``_top_k``, a numba kernel compiled with ``cache=True`` (beside its numpy reference ``_top_k_reference``).
bm25s's own numba retrieval is compiled afresh in every process (about 19 s on a 2-core machine), too slow for a
command-line call; ours loads from numba's cache in well under a second.

The rank_bm25 backend keeps the tokenized passages as JSON (no pickle: an index directory may come from
elsewhere) and builds ``BM25Okapi`` at load. It scores every passage in Python for every query term: use it for
small corpora and as the reference that bm25s is tested against.
"""
from __future__ import annotations

import gc
import json
import os
import re
import shutil
import time
from array import array
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import count
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from quco.errors import BadInputError, ConfigError, IndexCorruptError, IndexNotFoundError
from quco.registry import get, retrievers

SCHEMA_VERSION = 1
K1 = 1.5
B = 0.75
STORE_BATCH_ROWS = 1024
READ_BATCH_ROWS = 8192
PASSAGES_FILE = "passages.parquet"
RETRIEVAL_DIR = "retrieval"
STORE_FILE = "passages.arrow"
META_FILE = "quco_retrieval.json"

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
_TOKEN = re.compile(r"\w+")
TOKENIZER_ID = f"lower-w+-stop{len(STOPWORDS)}-v1"
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


def tokenize_for_bm25(texts: list[str]) -> list[list[str]]:
    """The one tokenization of passages and queries: lowercase, ``\\w+`` tokens, ``STOPWORDS`` removed, no stemming."""
    stop = STOPWORDS
    return [[t for t in _TOKEN.findall(text.lower()) if t not in stop] for text in texts]


def _indexed_text(title: str | None, text: str | None) -> str:
    """What a passage is scored on: its document's title, then its text."""
    return f"{title or ''}\n{text or ''}"


@dataclass
class TokenizedPassages:
    """All passages tokenized once, as token ids (one ``array('i')`` per passage) into ``vocab``."""

    ids: list[array]
    vocab: dict[str, int]

    def strings(self) -> Iterator[list[str]]:
        words = list(self.vocab)  # ids are assigned in insertion order
        for doc in self.ids:
            yield [words[i] for i in doc]


# -- the passage store ------------------------------------------------------------------------------------------


class PassageStore:
    """Passages by row id from ``retrieval/passages.arrow``, memory-mapped; a lookup decodes only its batches."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._reader = ipc.open_file(pa.memory_map(str(path), "r"))
        except (OSError, pa.ArrowInvalid) as e:
            raise IndexCorruptError(f"unreadable passage store {path} ({e}): {_REBUILD}") from None
        meta = self._reader.schema.metadata or {}
        self.batch_rows = int(meta.get(b"quco_batch_rows", 0))
        self.n = int(meta.get(b"quco_rows", -1))
        if self.batch_rows <= 0 or self.n < 0:
            raise IndexCorruptError(f"passage store {path} has no quco metadata: {_REBUILD}")

    def passages(self, hits: Sequence[tuple[int, float]]) -> list[Passage]:
        """``Passage`` objects for ``(passage_id, score)`` hits, in the order given."""
        by_batch: dict[int, list[int]] = {}
        for pid, _ in hits:
            by_batch.setdefault(pid // self.batch_rows, []).append(pid)
        rows: dict[int, dict] = {}
        for b, pids in by_batch.items():
            batch = self._reader.get_batch(b)
            local = pa.array([p - b * self.batch_rows for p in pids], pa.int32())
            for pid, row in zip(pids, batch.take(local).to_pylist()):
                if row["passage_id"] != pid:
                    raise IndexCorruptError(f"passage store {self.path} is out of order at row {pid}: {_REBUILD}")
                rows[pid] = row
        return [Passage(pid, rows[pid]["doc_id"], rows[pid]["title"], rows[pid]["text"], float(s)) for pid, s in hits]


def _read_passages(index_dir: Path, store_path: Path, progress: bool) -> tuple[TokenizedPassages, int]:
    """One pass over ``passages.parquet``: write the passage store and tokenize every passage."""
    source = index_dir / PASSAGES_FILE
    try:
        pf = pq.ParquetFile(source)
    except (OSError, pa.ArrowInvalid) as e:
        raise BadInputError(str(source), f"cannot read passages ({e})") from None
    missing = {"passage_id", "doc_id", "title", "text"} - set(pf.schema_arrow.names)
    if missing:
        raise BadInputError(str(source), f"missing columns {sorted(missing)}")
    n = pf.metadata.num_rows
    if n == 0:
        raise BadInputError(str(source), "no passages to index")
    schema = pa.schema(
        [("passage_id", pa.int64()), ("doc_id", pa.string()), ("title", pa.string()), ("text", pa.string())],
        metadata={"quco_batch_rows": str(STORE_BATCH_ROWS), "quco_rows": str(n)},
    )
    vocab: dict[str, int] = defaultdict(count().__next__)  # a new token gets the next id
    ids: list[array] = []
    batches = pf.iter_batches(batch_size=READ_BATCH_ROWS, columns=schema.names)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=-(-n // READ_BATCH_ROWS), desc="retrieval: tokenize passages")
    tmp = store_path.with_name(f".{store_path.name}.tmp-{os.getpid()}")
    try:
        with ipc.new_file(str(tmp), schema) as writer:
            pending = pa.Table.from_batches([], schema=schema)
            for batch in batches:
                batch = pa.RecordBatch.from_arrays(
                    [batch.column(c).cast(schema.field(c).type) for c in schema.names], schema=schema
                )
                pids = batch.column("passage_id").to_numpy(zero_copy_only=False)
                if not np.array_equal(pids, np.arange(len(ids), len(ids) + batch.num_rows)):
                    raise BadInputError(str(source), "passage_id must be 0..n-1 in row order", record=len(ids))
                texts = map(_indexed_text, batch.column("title").to_pylist(), batch.column("text").to_pylist())
                ids.extend(array("i", map(vocab.__getitem__, tokens)) for tokens in tokenize_for_bm25(list(texts)))
                # store batches hold exactly STORE_BATCH_ROWS rows (the last one fewer): row id // size = batch
                pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
                while pending.num_rows >= STORE_BATCH_ROWS:
                    writer.write_batch(pending.slice(0, STORE_BATCH_ROWS).combine_chunks().to_batches()[0])
                    pending = pending.slice(STORE_BATCH_ROWS)
            if pending.num_rows:
                writer.write_batch(pending.combine_chunks().to_batches()[0])
        if len(ids) != n:
            raise BadInputError(str(source), f"read {len(ids)} passages, its metadata says {n}")
        os.replace(tmp, store_path)
    finally:
        tmp.unlink(missing_ok=True)
    return TokenizedPassages(ids, dict(vocab)), n


# -- backends ---------------------------------------------------------------------------------------------------


class _BM25Retriever:
    """Shared query path: tokenize, score (``_top_k``), fetch the top passages from the store."""

    name = ""

    def __init__(self, store: PassageStore):
        self._store = store

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The ``k`` best passages for ``query`` with a positive score, best first (ties by passage id)."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int = 5) -> list[list[Passage]]:
        """``search`` for each query."""
        if isinstance(queries, str):
            raise ConfigError("search_many takes a list of queries; use search() for one query")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        hits = self._top_k(tokenize_for_bm25(list(queries)), min(int(k), self._store.n))
        return [self._store.passages(h) for h in hits]

    def _top_k(self, queries: list[list[str]], k: int) -> list[list[tuple[int, float]]]:
        raise NotImplementedError


def _ranked(ids: Iterable, scores: Iterable) -> list[tuple[int, float]]:
    """Positive-score hits sorted by score (descending), then passage id."""
    hits = [(int(i), float(s)) for i, s in zip(ids, scores) if s > 0]
    hits.sort(key=lambda h: (-h[1], h[0]))
    return hits


# -- top-k scoring over a BM25 matrix stored by term (CSC: term t's postings are indptr[t]:indptr[t+1]) ---------


def _top_k_reference(data, indices, indptr, n_docs: int, query_ids: np.ndarray, k: int):
    """Plain numpy: sum each query term's precomputed BM25 column, keep the ``k`` best positive scores.

    Returns ``(passage_ids int64, scores float32)`` sorted by score descending, then passage id.
    """
    scores = np.zeros(n_docs, dtype=np.float32)
    for t in query_ids:
        np.add.at(scores, indices[indptr[t]:indptr[t + 1]], data[indptr[t]:indptr[t + 1]])
    hits = np.flatnonzero(scores > 0)
    best = hits[np.lexsort((hits, -scores[hits]))[:k]]
    return best.astype(np.int64), scores[best]


def _worse(s1, d1, s2, d2) -> bool:
    """Hit (s1, d1) ranks below hit (s2, d2): lower score, or the same score and a higher id."""
    return s1 < s2 or (s1 == s2 and d1 > d2)


def _top_k_kernel(data, indices, indptr, n_docs, query_ids, k):
    """``_top_k_reference`` for numba: same float32 sums in the same order, a size-k heap over touched rows."""
    scores = np.zeros(n_docs, dtype=np.float32)
    total = 0
    for q in range(query_ids.shape[0]):
        total += indptr[query_ids[q] + 1] - indptr[query_ids[q]]
    touched = np.empty(total, dtype=np.int64)
    n_touched = 0
    for q in range(query_ids.shape[0]):
        for j in range(indptr[query_ids[q]], indptr[query_ids[q] + 1]):
            d = indices[j]
            if scores[d] == 0 and data[j] > 0:
                touched[n_touched] = d
                n_touched += 1
            scores[d] += data[j]
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
except ImportError:  # pragma: no cover - numba is a dependency; the reference keeps retrieval working without it
    _top_k = _top_k_reference
else:
    _worse = njit(cache=True, nogil=True)(_worse)
    _top_k = njit(cache=True, nogil=True)(_top_k_kernel)


@retrievers.register("bm25s")
class Bm25sRetriever(_BM25Retriever):
    """A bm25s index (its score matrix memory-mapped), scored by ``_top_k`` (numba, with the numpy reference)."""

    name = "bm25s"

    def __init__(self, store: PassageStore, model):
        super().__init__(store)
        self._vocab: dict[str, int] = model.vocab_dict
        self._data = model.scores["data"]
        self._indices = model.scores["indices"]
        self._indptr = model.scores["indptr"]

    @classmethod
    def build(cls, corpus: TokenizedPassages, out_dir: Path, *, progress: bool = False) -> dict:
        import bm25s

        model = bm25s.BM25(k1=K1, b=B, method="atire", idf_method="robertson", backend="numpy")
        model.index((corpus.ids, dict(corpus.vocab)), create_empty_token=False, show_progress=progress)
        model.save(out_dir, show_progress=progress)
        return {"bm25s_version": bm25s.__version__, "method": "atire", "idf_method": "robertson"}

    @classmethod
    def load(cls, backend_dir: Path, store: PassageStore) -> "Bm25sRetriever":
        import bm25s

        try:
            model = bm25s.BM25.load(backend_dir, mmap=True, load_corpus=False, backend="numpy")
        except (OSError, ValueError) as e:
            raise IndexCorruptError(f"unreadable bm25s index {backend_dir} ({e}): {_REBUILD}") from None
        if model.scores["num_docs"] != store.n:
            raise IndexCorruptError(f"{backend_dir} indexes {model.scores['num_docs']} passages, "
                                    f"the store holds {store.n}: {_REBUILD}")
        return cls(store, model)

    def _top_k(self, queries: list[list[str]], k: int) -> list[list[tuple[int, float]]]:
        out = []
        for q in queries:
            ids = np.array([self._vocab[t] for t in q if t in self._vocab], dtype=np.int64)
            if len(ids) == 0:
                out.append([])
                continue
            docs, scores = _top_k(self._data, self._indices, self._indptr, self._store.n, ids, k)
            out.append([(int(d), float(s)) for d, s in zip(docs, scores)])
        return out


@retrievers.register("rank_bm25")
class RankBm25Retriever(_BM25Retriever):
    """rank_bm25 ``BM25Okapi(epsilon=0)`` over the tokenized passages kept as JSON; small corpora only."""

    name = "rank_bm25"
    TOKENS_FILE = "tokens.json"

    def __init__(self, store: PassageStore, model):
        super().__init__(store)
        self._model = model

    @classmethod
    def build(cls, corpus: TokenizedPassages, out_dir: Path, *, progress: bool = False) -> dict:
        import rank_bm25

        with open(out_dir / cls.TOKENS_FILE, "w", encoding="utf-8") as f:
            f.write("[")
            for i, tokens in enumerate(corpus.strings()):
                f.write(("," if i else "") + json.dumps(tokens, ensure_ascii=False) + "\n")
            f.write("]")
        return {"rank_bm25_version": getattr(rank_bm25, "__version__", "unknown"), "epsilon": 0.0}

    @classmethod
    def load(cls, backend_dir: Path, store: PassageStore) -> "RankBm25Retriever":
        from rank_bm25 import BM25Okapi

        with open(backend_dir / cls.TOKENS_FILE, encoding="utf-8") as f:
            tokens = json.load(f)
        if len(tokens) != store.n:
            raise IndexCorruptError(f"{backend_dir} holds {len(tokens)} passages, the store {store.n}: {_REBUILD}")
        return cls(store, BM25Okapi(tokens, k1=K1, b=B, epsilon=0.0))

    def _top_k(self, queries: list[list[str]], k: int) -> list[list[tuple[int, float]]]:
        out = []
        for q in queries:
            if not q:
                out.append([])
                continue
            scores = self._model.get_scores(q)
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            top = np.flatnonzero((scores >= kth) & (scores > 0))  # every passage tied with the k-th too
            out.append(_ranked(top, scores[top])[:k])
        return out


# -- building and loading ---------------------------------------------------------------------------------------


def _dir_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _source_fingerprint(index_dir: Path) -> dict:
    source = index_dir / PASSAGES_FILE
    return {"rows": pq.ParquetFile(source).metadata.num_rows, "bytes": source.stat().st_size}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building makes millions of small lists; the cyclic collector would rescan them over and over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_retrieval(
    index_dir: str | Path, backends: Sequence[str] = ("bm25s",), *, progress: bool = False
) -> dict:
    """Build and save each backend under ``<index_dir>/retrieval/<backend>/``, replacing what was there.

    Reads ``passages.parquet`` once in batches, writing the shared passage store and tokenizing each passage.
    Returns ``{"passages": {"seconds", "bytes"}, backend: {"seconds", "bytes"}, ...}`` for the manifest:
    ``passages`` is that shared pass (read, tokenize, write the store), each backend its own build and save.
    """
    index_dir = Path(index_dir)
    if isinstance(backends, str):
        backends = (backends,)
    classes = {name: get(retrievers, name) for name in backends}  # unknown names fail before any work
    if not (index_dir / PASSAGES_FILE).is_file():
        raise IndexNotFoundError(str(index_dir))
    root = index_dir / RETRIEVAL_DIR
    root.mkdir(parents=True, exist_ok=True)
    with _gc_paused():
        return _build(index_dir, root, classes, progress)


def _build(index_dir: Path, root: Path, classes: dict, progress: bool) -> dict:
    t0 = time.perf_counter()
    corpus, n = _read_passages(index_dir, root / STORE_FILE, progress)
    stats = {"passages": {"seconds": time.perf_counter() - t0, "bytes": _dir_bytes(root / STORE_FILE)}}
    fingerprint = _source_fingerprint(index_dir)
    for name, cls in classes.items():
        t0 = time.perf_counter()
        final = root / name
        tmp = root / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            params = cls.build(corpus, tmp, progress=progress)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        meta = {"schema_version": SCHEMA_VERSION, "backend": name, "tokenizer": TOKENIZER_ID, "k1": K1, "b": B,
                "n_passages": n, "source": fingerprint, "params": params}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        old = root / f".{name}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        stats[name] = {"seconds": time.perf_counter() - t0, "bytes": _dir_bytes(final)}
    return stats


def load_retriever(index_dir: str | Path, backend: str = "bm25s") -> Retriever:
    """Open the saved ``backend`` of ``index_dir`` (memory-mapped where the backend allows)."""
    cls = get(retrievers, backend)
    index_dir = Path(index_dir)
    if not (index_dir / PASSAGES_FILE).is_file():
        raise IndexNotFoundError(str(index_dir))
    backend_dir = index_dir / RETRIEVAL_DIR / backend
    meta_path = backend_dir / META_FILE
    store_path = index_dir / RETRIEVAL_DIR / STORE_FILE
    if not meta_path.is_file() or not store_path.is_file():
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
    if meta.get("source") != _source_fingerprint(index_dir):
        raise IndexCorruptError(f"{backend_dir} was built from another {PASSAGES_FILE}: {_REBUILD}")
    store = PassageStore(store_path)
    if store.n != meta.get("n_passages"):
        raise IndexCorruptError(f"{store_path} holds {store.n} passages, {backend_dir} {meta.get('n_passages')}: "
                                f"{_REBUILD}")
    return cls.load(backend_dir, store)
