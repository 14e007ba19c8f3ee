"""Open a built index read-only and answer ``freq``, ``cooc`` and ``top_neighbors``.

The hot path is numpy and numba over memory-mapped arrays: an entity's id is the rank of its key hash in the
sorted ``entity_hash`` array (binary search); a pair's windowed count is a binary search inside the shorter of its
two entities' rows; a pair's document-level count is the intersection of the two entities' document lists
(``quco.cooccur.csr``). DuckDB is there for ad-hoc SQL over the Parquet tables (``Index.sql``), through views
created on first use.

The directory is opened through a file descriptor and every file is read through ``/proc/self/fd/N/...`` where
that exists, so an index swapped in by a concurrent rebuild cannot mix old and new files inside one ``Index``. The
files read lazily (Parquet tables, the gazetteer) are opened at once and later read through their own descriptors,
so an ``Index`` keeps working after a rebuild has swapped its directory out and deleted it; an open that races with
such a swap starts again on the new directory.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from quco.cooccur.articles import Articles
from quco.cooccur.csr import intersect_counts, row_lookup
from quco.cooccur.normalize import key_hash, normalize
from quco.cooccur.phrase_index import Lookup, PhraseCounts
from quco.cooccur.store import ARRAYS, read_manifest
from quco.errors import ConfigError, IndexCorruptError, IndexNotFoundError

_LAZY_FILES = ("entities.parquet", "pairs.parquet", "passages.parquet", "gazetteer.parquet")
_OPEN_ATTEMPTS = 5  # opens that race with a rebuild swapping the directory start again this many times


class Index:
    """A read-only view of one index directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._dirfd = -1
        self._fds: dict[str, int] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._con = None
        self.phrases: PhraseCounts | None = None  # exact counts of any phrase, when the index has them
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                self._open()
                return
            except (IndexNotFoundError, IndexCorruptError):
                swapped = self._swapped()
                self.close()
                if not swapped or attempt == _OPEN_ATTEMPTS - 1:
                    raise

    def _swapped(self) -> bool:
        """Whether the directory opened is no longer the one at ``path`` (a rebuild swapped it out meanwhile)."""
        if self._dirfd < 0:
            return False
        try:
            st = os.fstat(self._dirfd)
            now = os.stat(self.path)
        except OSError:
            return True
        return st.st_nlink == 0 or (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino)

    def _open(self) -> None:
        if not self.path.is_dir():
            raise IndexNotFoundError(str(self.path))
        try:
            self._dirfd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            raise IndexNotFoundError(str(self.path)) from None
        except OSError as e:
            raise ConfigError(f"cannot open the index {self.path} ({e.strerror}): check its permissions") from None
        proc = Path(f"/proc/self/fd/{self._dirfd}")
        self.root = proc if proc.exists() else self.path
        self.manifest = read_manifest(self.root, shown=self.path)
        arts = self.manifest.get("artifacts", {})
        self._arrays: dict[str, np.ndarray] = {}
        for name in ARRAYS:
            rel = f"arrays/{name}.npy"
            try:
                arr = np.load(self.root / rel, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise IndexCorruptError(f"{self.path}/{rel}: cannot be read ({e}); run `quco verify`") from None
            want = arts.get(rel, {}).get("rows")
            if want is not None and arr.shape[0] != want:
                raise IndexCorruptError(
                    f"{self.path}/{rel}: {arr.shape[0]} rows, manifest says {want}; run `quco verify --index {self.path}`"
                )
            self._arrays[name] = arr
        self.entity_hash = self._arrays["entity_hash"]
        self.entity_freq = self._arrays["entity_freq"]
        self.nbr_indptr = self._arrays["nbr_indptr"]
        self.nbr_id = self._arrays["nbr_id"]
        self.nbr_count = self._arrays["nbr_count"]
        self.doc_indptr = self._arrays["doc_indptr"]
        self.doc_ids = self._arrays["doc_ids"]
        n = self.entity_hash.shape[0]
        if self.nbr_indptr.shape[0] != n + 1 or self.doc_indptr.shape[0] != n + 1 or \
                (n and (self.nbr_indptr[-1] != self.nbr_id.shape[0] or self.doc_indptr[-1] != self.doc_ids.shape[0])):
            raise IndexCorruptError(f"{self.path}: arrays of inconsistent lengths; run `quco verify --index {self.path}`")
        self.phrases = PhraseCounts.open_index_arrays(self.root, arts, self.path)
        for name in _LAZY_FILES:
            try:
                self._fds[name] = os.open(name, os.O_RDONLY, dir_fd=self._dirfd)
            except FileNotFoundError:
                if name in arts:
                    raise IndexCorruptError(
                        f"{self.path}/{name}: missing; run `quco verify --index {self.path}`"
                    ) from None

    def _file(self, name: str) -> Path:
        """A path that reads the file ``name`` opened with the index, even once a rebuild has deleted it."""
        fd = self._fds.get(name)
        if fd is not None and self.root != self.path:
            return Path(f"/proc/self/fd/{fd}")
        return self.root / name

    # ---- metadata ------------------------------------------------------------------------------------------
    @property
    def build(self) -> dict[str, Any]:
        return self.manifest.get("build", {})

    @property
    def window(self) -> int:
        return int(self.build.get("window", 0))

    def stats(self) -> dict[str, Any]:
        s = self.manifest.get("stats", {})
        size = sum(a.get("bytes", 0) for a in self.manifest.get("artifacts", {}).values())
        return {
            "documents": s.get("documents"), "tokens": s.get("tokens"), "entities": s.get("entities"),
            "pairs": s.get("pairs"), "passages": s.get("passages"), "window": self.window,
            "schema_version": self.manifest.get("schema_version"), "quco_version": self.manifest.get("quco_version"),
            "extractor": self.build.get("extractor"), "index_bytes": size, "text_bytes": s.get("chars"),
            "corpus_sha256": self.manifest.get("corpus", {}).get("sha256"), "created": self.manifest.get("created"),
            "path": str(self.path),
        }

    @property
    def n_tokens(self) -> int:
        return int(self.manifest.get("stats", {}).get("tokens") or 0)

    @property
    def n_documents(self) -> int:
        return int(self.manifest.get("stats", {}).get("documents") or 0)

    # ---- entities ------------------------------------------------------------------------------------------
    def entity_id(self, text: str) -> int:
        """The id of the entity whose key equals ``normalize(text)``, or -1."""
        return self.id_of_hash(key_hash(text))

    def id_of_hash(self, h: int) -> int:
        i = int(np.searchsorted(self.entity_hash, np.uint64(h)))
        return i if i < self.entity_hash.shape[0] and int(self.entity_hash[i]) == h else -1

    def ids_of_hashes(self, hashes: np.ndarray) -> np.ndarray:
        hashes = np.asarray(hashes, dtype=np.uint64)
        i = np.searchsorted(self.entity_hash, hashes)
        ok = i < self.entity_hash.shape[0]
        i_c = np.where(ok, i, 0)
        found = ok & (self.entity_hash[i_c] == hashes)
        return np.where(found, i_c, -1).astype(np.int64)

    def freq(self, text: str) -> int:
        """Number of documents that mention ``text`` (0 if the corpus never does): an entity's from its postings,
        any other string's from the phrase arrays (0 in an index built without them; :meth:`lookup` tells)."""
        i = self.entity_id(text)
        if i >= 0:
            return int(self.entity_freq[i])
        return self.phrases.freq(text) if self.phrases is not None else 0

    def lookup(self, text: str) -> Lookup:
        """``text`` as an entity, as a phrase that occurs but is no entity, or absent (never occurs)."""
        i = self.entity_id(text)
        hits = self.phrases.hits(text) if self.phrases is not None else None
        occ = hits.occurrences if hits is not None else None
        if i >= 0:
            return Lookup(text, normalize(text), "entity", int(self.entity_freq[i]), occ, i)
        if hits is None:
            return Lookup(text, normalize(text), "unknown", 0)
        f = self.phrases.freq_of(hits)
        return Lookup(text, normalize(text), "phrase" if f > 0 else "absent", f, occ)

    def freq_of_id(self, i: int) -> int:
        return int(self.entity_freq[i]) if i >= 0 else 0

    # ---- pairs ---------------------------------------------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        return self.nbr_id.shape[0] // 2

    def cooc_ids(self, a: np.ndarray, b: np.ndarray, scope: str = "window") -> np.ndarray:
        """Batched co-occurrence by entity id (-1 = unknown entity, count 0) within the window, or with
        ``scope="document"`` anywhere in one document (:meth:`doc_cooc_ids`)."""
        if scope == "document":
            return self.doc_cooc_ids(a, b)
        if scope != "window":
            raise ConfigError(f"scope must be 'window' or 'document', not {scope!r}")
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        c = row_lookup(self.nbr_indptr, self.nbr_id, self.nbr_count, a, b)
        c[a == b] = 0
        return c

    def doc_cooc_ids(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Batched document-level co-occurrence by entity id: documents that mention both (-1 = unknown: 0)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        c = intersect_counts(self.doc_indptr, self.doc_ids, a, b)
        c[a == b] = 0
        return c

    def cooc(self, a: str, b: str, scope: str = "window") -> int:
        """Documents in which ``a`` and ``b`` are mentioned within the index's window of each other
        (``scope="window"``) or anywhere in one document (``scope="document"``). At document scope a string that
        is not an entity is counted from the phrase arrays, when the index has them."""
        ia, ib = self.entity_id(a), self.entity_id(b)
        if scope == "document" and (ia < 0 or ib < 0) and self.phrases is not None:
            return self._phrase_doc_cooc(a, ia, b, ib)
        return int(self.cooc_ids(np.array([ia]), np.array([ib]), scope)[0])

    def cooc_many(self, pairs: Iterable[tuple[str, str]], scope: str = "window") -> list[int]:
        pairs = list(pairs)
        ids = self.ids_of_hashes(np.array([key_hash(x) for p in pairs for x in p], dtype=np.uint64))
        out = self.cooc_ids(ids[0::2], ids[1::2], scope).tolist()
        if scope == "document" and self.phrases is not None:
            for k in np.flatnonzero((ids[0::2] < 0) | (ids[1::2] < 0)).tolist():
                out[k] = self._phrase_doc_cooc(pairs[k][0], int(ids[2 * k]), pairs[k][1], int(ids[2 * k + 1]))
        return out

    def _phrase_doc_cooc(self, a: str, ia: int, b: str, ib: int) -> int:
        """Documents holding both, one side (at least) not an entity: an entity side is its postings."""
        if normalize(a) == normalize(b):
            return 0  # as for an entity with itself
        if ia >= 0 or ib >= 0:
            i, phrase = (ia, b) if ia >= 0 else (ib, a)
            return self.phrases.cooc_docs(phrase, self.doc_ids[self.doc_indptr[i]:self.doc_indptr[i + 1]])
        return self.phrases.cooc(a, b)

    @cached_property
    def articles(self) -> Articles | None:
        """Which documents are titled with a phrase (:mod:`quco.cooccur.articles`), built on first use; None
        without phrase arrays."""
        return Articles(self.phrases) if self.phrases is not None else None

    def neighbor_ids(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """All (neighbour id, count) of entity id ``i``, ids ascending."""
        if i < 0 or i >= self.entity_hash.shape[0]:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        s, e = int(self.nbr_indptr[i]), int(self.nbr_indptr[i + 1])
        return self.nbr_id[s:e].astype(np.int64), self.nbr_count[s:e].astype(np.int64)

    def top_neighbors(self, text: str, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` entities that co-occur with ``text`` in the most documents."""
        if k < 1:
            raise ConfigError("k must be at least 1")
        ids, counts = self.neighbor_ids(self.entity_id(text))
        order = np.lexsort((ids, -counts))[:k]
        info = self.entity_info(ids[order])
        return [{**inf, "cooccurrence": int(c)} for inf, c in zip(info, counts[order])]

    # ---- entity table ----------------------------------------------------------------------------------------
    @cached_property
    def _entities(self):
        import pyarrow.parquet as pq

        return pq.read_table(self._file("entities.parquet"), columns=["key", "text", "label"], memory_map=True)

    def entity_info(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        t = self._entities
        ids = [int(i) for i in ids]
        if not ids:
            return []
        sub = t.take(ids).to_pydict()
        return [{"id": i, "key": sub["key"][j], "text": sub["text"][j], "label": sub["label"][j],
                 "freq": int(self.entity_freq[i])} for j, i in enumerate(ids)]

    def describe(self, text: str) -> dict[str, Any]:
        """``text``, its key, its document frequency and its ``kind`` (see :meth:`lookup`): ``entity``,
        ``phrase`` (occurs, but is no entity of the index), ``absent`` (never occurs) or ``unknown``."""
        found = self.lookup(text)
        return {"text": text, "key": found.key, "freq": found.freq, "kind": found.kind}

    # ---- SQL -----------------------------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None):
        """Run SQL over views ``entities``, ``pairs`` (with ``a``, ``b``) and ``passages``; returns a DuckDB relation."""
        if self._con is None:
            import duckdb

            con = duckdb.connect(":memory:")
            ent, pairs, psg = (self._file(f) for f in ("entities.parquet", "pairs.parquet", "passages.parquet"))
            con.execute(f"CREATE VIEW entities AS SELECT * FROM read_parquet('{ent}')")
            con.execute(f"CREATE VIEW pairs AS SELECT key >> 32 AS a, key & 4294967295 AS b, count, key "
                        f"FROM read_parquet('{pairs}')")
            con.execute(f"CREATE VIEW passages AS SELECT * FROM read_parquet('{psg}')")
            self._con = con
        return self._con.execute(query, params or [])

    # ---- extractor -----------------------------------------------------------------------------------------
    @cached_property
    def extractor(self):
        """The extractor this index was built with, configured identically (for query-time extraction)."""
        from quco.cooccur.extract import make_extractor

        cfg = dict(self.build.get("extractor_config", {}))
        if not cfg.get("labels") and self.build.get("labels"):
            cfg["labels"] = self.build["labels"]
        return make_extractor(self.build.get("extractor", "spacy"), cfg, self._file)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        self._arrays.clear()
        self.phrases = None
        for fd in [*self._fds.values(), self._dirfd]:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fds.clear()
        self._dirfd = -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, entities={self.entity_hash.shape[0]}, pairs={self.n_pairs})"
