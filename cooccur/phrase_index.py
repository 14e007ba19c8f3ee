"""Exact document counts for any phrase: a suffix array over the corpus's token ids.

The gazetteer counts the entities it knows; this answers for every normalized token sequence, entity or not.
A phrase is normalized like an entity key (``quco.cooccur.normalize.key_tokens``: folded tokens, a leading
article and a trailing possessive dropped), its tokens become ids through ``phrase_vocab`` (sorted token hashes;
id = 1 + rank), and a binary search in ``phrase_sa`` gives the interval ``[lo, hi)`` of its occurrences. A token
the corpus never has means the phrase never occurs, without a search.

Counts are in documents and exact, nothing sampled or capped. The document of an occurrence comes from
``phrase_doc_start`` (a short scan from ``phrase_doc_block``); distinct documents are counted with a per-document
stamp array. Phrases with at least ``heavy_min`` occurrences have their document count precomputed
(``phrase_heavy_*``, found by their interval), and those with at least ``set_min`` a document bitmap, so that a
count never scans more than ``heavy_min`` occurrences and an intersection never more than ``set_min`` per side.
``cooc(a, b)`` = the number of documents holding both phrases; ``cooc_docs(a, docs)`` intersects with a sorted
document list (an entity's postings: documents are numbered alike).

Arrays (``arrays/phrase_*.npy``, memory-mapped, listed in the manifest with their checksums like every file):
``phrase_vocab`` (uint64), ``phrase_tokens`` (uint32, ``SEP`` = 0 after each title and paragraph),
``phrase_sa`` (int32, int64 past 2**31 tokens), ``phrase_doc_start`` (int64), ``phrase_doc_block`` (int32),
``phrase_heavy_lo``/``_hi``/``_df``/``_set`` (int64), ``phrase_heavy_bits`` (uint64, one row per bitmap),
``phrase_doc_titled`` (uint8, 1 per document whose first segment is its title; optional: older indexes lack it).

Measured on wiki2015 (411 MB of text, 66.6 M tokens, 30,729 documents; bench/README.md, "Phrase counts",
``bench/bench_phrase_index.py``, 2 CPUs at load 10): the arrays take 544 MB = 1.32x the text (token ids 271 MB,
suffix array 266 MB, the rest 6 MB; 5,879 precomputed intervals, 201 bitmaps); over 2,000 phrases cut from random
paragraphs, ``freq`` p50 25.5 us / p95 59 us from the phrase's text, an absent phrase 10.7 us, ``cooc`` of two
phrases p50 72 us / p95 399 us (its far tail is page faults of the memory-mapped arrays).

Not thread-safe per instance in the stamp array: each thread gets its own (``threading.local``).
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quco.cooccur import sa_kernels as K
from quco.cooccur.normalize import key_tokens, token_hash_py
from quco.cooccur.store import PHRASE_ARRAYS, PHRASE_OPTIONAL
from quco.errors import IndexCorruptError

SEP = 0
BLOCK_SHIFT = 10  # phrase_doc_block[j] = the document holding token position j << BLOCK_SHIFT


@dataclass(frozen=True, slots=True)
class PhraseHits:
    """Where a phrase occurs: ``sa[lo:hi]``, and its precomputed row (``heavy``, -1 if none) and bitmap row
    (``bits``, -1 if none). ``known`` is False when a token of it is not in the corpus at all."""

    lo: int
    hi: int
    heavy: int = -1
    bits: int = -1
    known: bool = True

    @property
    def occurrences(self) -> int:
        return self.hi - self.lo


_NONE = PhraseHits(0, 0, known=False)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the index knows of a string: ``kind`` is ``"entity"`` (in the entity list: ``freq`` from the
    gazetteer's postings), ``"phrase"`` (not an entity, but its normalized tokens occur: ``freq`` from the
    phrase arrays), ``"absent"`` (it never occurs: ``freq`` 0), or ``"unknown"`` (not an entity, and the index
    has no phrase arrays to tell whether it occurs: ``freq`` 0 means nothing then). ``occurrences`` counts
    positions (phrase arrays; ``None`` without them)."""

    text: str
    key: str
    kind: str
    freq: int
    occurrences: int | None = None
    entity_id: int = -1

    @property
    def occurs(self) -> bool | None:
        """Whether the corpus has it at all (``None``: cannot tell)."""
        return None if self.kind == "unknown" else self.kind != "absent"


class PhraseCounts:
    """Read-only phrase counts over the ``phrase_*`` arrays (memory-mapped by :meth:`open`)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        missing = [n for n in PHRASE_ARRAYS if n not in arrays and n not in PHRASE_OPTIONAL]
        if missing:
            raise ValueError(f"phrase arrays missing: {', '.join(missing)}")
        self.vocab = arrays["phrase_vocab"]
        self.tokens = arrays["phrase_tokens"]
        self.sa = arrays["phrase_sa"]
        self.doc_start = arrays["phrase_doc_start"]
        self.doc_block = arrays["phrase_doc_block"]
        self.heavy_lo = arrays["phrase_heavy_lo"]
        self.heavy_hi = arrays["phrase_heavy_hi"]
        self.heavy_df = arrays["phrase_heavy_df"]
        self.heavy_set = arrays["phrase_heavy_set"]
        self.heavy_bits = arrays["phrase_heavy_bits"]
        self.n_documents = int(self.doc_start.shape[0]) - 1
        # per document, 1 if its first segment is its title (None: an index older than the array)
        self.doc_titled = arrays.get("phrase_doc_titled")
        n_heavy = self.heavy_lo.shape[0]
        if self.sa.shape[0] > self.tokens.shape[0] or self.n_documents < 0 or \
                any(a.shape[0] != n_heavy for a in (self.heavy_hi, self.heavy_df, self.heavy_set)) or \
                (self.heavy_bits.ndim != 2 or self.heavy_bits.shape[1] != (self.n_documents + 63) // 64) or \
                (self.tokens.shape[0] and self.doc_block.shape[0] <= (self.tokens.shape[0] - 1) >> BLOCK_SHIFT) or \
                (self.doc_titled is not None and self.doc_titled.shape[0] != self.n_documents):
            raise ValueError("phrase arrays of inconsistent shapes")
        self.heavy_min = int((self.heavy_hi - self.heavy_lo).min()) if self.heavy_lo.shape[0] else 1 << 62
        self._local = threading.local()

    @classmethod
    def open(cls, directory: str | Path) -> "PhraseCounts":
        """Memory-map ``<directory>/phrase_*.npy``."""
        d = Path(directory)
        return cls({n: np.load(d / f"{n}.npy", mmap_mode="r") for n in PHRASE_ARRAYS
                    if n not in PHRASE_OPTIONAL or (d / f"{n}.npy").exists()})

    @classmethod
    def open_index_arrays(cls, root: Path, artifacts: Mapping[str, dict], shown: str | Path) -> "PhraseCounts | None":
        """The phrase arrays of an index directory when its manifest lists them (else None), each checked against
        its manifest row count; raises IndexCorruptError for a listed array that is missing or of another length."""
        if "arrays/phrase_vocab.npy" not in artifacts:
            return None
        arrays = {}
        for name in PHRASE_ARRAYS:
            rel = f"arrays/{name}.npy"
            if name in PHRASE_OPTIONAL and rel not in artifacts:
                continue
            try:
                arr = np.load(Path(root) / rel, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise IndexCorruptError(f"{shown}/{rel}: cannot be read ({e}); run `quco verify`") from None
            want = artifacts.get(rel, {}).get("rows")
            if want is not None and arr.shape[0] != want:
                raise IndexCorruptError(f"{shown}/{rel}: {arr.shape[0]} rows, manifest says {want}; "
                                        f"run `quco verify --index {shown}`")
            arrays[name] = arr
        try:
            return cls(arrays)
        except ValueError as e:
            raise IndexCorruptError(f"{shown}: {e}") from None

    # ---- the stamp array -------------------------------------------------------------------------------------
    def _stamps(self, k: int) -> tuple[np.ndarray, int]:
        """This thread's mark array and the first of ``k`` fresh stamps."""
        loc = self._local
        mark = getattr(loc, "mark", None)
        if mark is None or loc.next + k >= 0xFFFFFFFF:
            mark = loc.mark = np.zeros(max(self.n_documents, 1), dtype=np.uint32)
            loc.next = 1
        s = loc.next
        loc.next += k
        return mark, s

    # ---- phrases ---------------------------------------------------------------------------------------------
    def token_ids(self, tokens: list[str]) -> np.ndarray | None:
        """Ids of folded tokens (uint32), or None when one of them never occurs in the corpus."""
        if not tokens:
            return None
        h = np.fromiter((token_hash_py(t) for t in tokens), dtype=np.uint64, count=len(tokens))
        i = np.searchsorted(self.vocab, h)
        if (i >= self.vocab.shape[0]).any() or (self.vocab[np.minimum(i, self.vocab.shape[0] - 1)] != h).any():
            return None
        return (i + 1).astype(np.uint32)

    def _ids(self, phrase: str | list[str]) -> np.ndarray | None:
        return self.token_ids(key_tokens(phrase) if isinstance(phrase, str) else list(phrase))

    def hits(self, phrase: str | list[str]) -> PhraseHits:
        """Where ``phrase`` (text, normalized like an entity key; or a list of folded tokens) occurs."""
        return self._hits_of(self._ids(phrase))

    def _hits_of(self, ids: np.ndarray | None) -> PhraseHits:
        if ids is None:
            return _NONE
        lo, hi = K.sa_range(self.tokens, self.sa, ids)
        heavy = bits = -1
        if hi - lo >= self.heavy_min:
            heavy = int(K.find_interval(self.heavy_lo, self.heavy_hi, lo, hi))
            if heavy >= 0:
                bits = int(self.heavy_set[heavy])
        return PhraseHits(int(lo), int(hi), heavy, bits)

    def occurrences(self, phrase: str | list[str]) -> int:
        """Number of occurrences of ``phrase`` (positions, not documents)."""
        return self.hits(phrase).occurrences

    def freq(self, phrase: str | list[str]) -> int:
        """Number of documents in which ``phrase`` occurs (0: it never does)."""
        return self.freq_of(self.hits(phrase))

    def freq_of(self, h: PhraseHits) -> int:
        if h.hi <= h.lo:
            return 0
        if h.heavy >= 0:
            return int(self.heavy_df[h.heavy])
        mark, s = self._stamps(1)
        return int(K.mark_range(self.sa, h.lo, h.hi, self.doc_start, self.doc_block, BLOCK_SHIFT, mark, s))

    def docs(self, phrase: str | list[str]) -> np.ndarray:
        """The documents in which ``phrase`` occurs, ascending (int64)."""
        return self.docs_of(self.hits(phrase))

    def docs_of(self, h: PhraseHits) -> np.ndarray:
        if h.hi <= h.lo:
            return np.empty(0, np.int64)
        if h.bits >= 0:
            bits = np.unpackbits(np.asarray(self.heavy_bits[h.bits]).view(np.uint8), bitorder="little")
            return np.flatnonzero(bits[:self.n_documents]).astype(np.int64)
        mark, s = self._stamps(1)
        return K.docs_of_range(self.sa, h.lo, h.hi, self.doc_start, self.doc_block, BLOCK_SHIFT, mark, s)

    def cooc(self, a: str | list[str], b: str | list[str]) -> int:
        """Number of documents in which both ``a`` and ``b`` occur."""
        return self.cooc_of(self.hits(a), self.hits(b))

    def cooc_of(self, a: PhraseHits, b: PhraseHits) -> int:
        if a.hi <= a.lo or b.hi <= b.lo:
            return 0
        if a.bits >= 0 and b.bits >= 0:
            return int(K.and_count(self.heavy_bits[a.bits], self.heavy_bits[b.bits]))
        if a.bits >= 0 or b.bits >= 0:
            full, scan = (a, b) if a.bits >= 0 else (b, a)
            mark, s = self._stamps(1)
            return int(K.range_in_bits(self.sa, scan.lo, scan.hi, self.doc_start, self.doc_block, BLOCK_SHIFT,
                                       self.heavy_bits[full.bits], mark, s))
        small, large = (a, b) if a.occurrences <= b.occurrences else (b, a)
        mark, s = self._stamps(2)
        K.mark_range(self.sa, small.lo, small.hi, self.doc_start, self.doc_block, BLOCK_SHIFT, mark, s)
        return int(K.take_range(self.sa, large.lo, large.hi, self.doc_start, self.doc_block, BLOCK_SHIFT,
                                mark, s, s + 1))

    def cooc_docs(self, phrase: str | list[str] | PhraseHits, docs: np.ndarray) -> int:
        """Number of the distinct documents ``docs`` (e.g. an entity's postings) in which ``phrase`` occurs."""
        h = phrase if isinstance(phrase, PhraseHits) else self.hits(phrase)
        docs = np.asarray(docs)
        if h.hi <= h.lo or docs.shape[0] == 0:
            return 0
        if h.bits >= 0:
            return int(K.docs_in_bits(docs, self.heavy_bits[h.bits]))
        mark, s = self._stamps(2)
        K.mark_range(self.sa, h.lo, h.hi, self.doc_start, self.doc_block, BLOCK_SHIFT, mark, s)
        return int(K.take_docs(docs, mark, s, s + 1))

    def together(self, a: str | list[str], b: str | list[str], cap: int = 5_000) -> bool | None:
        """Whether ``a`` and ``b`` occur in one paragraph (one segment between two ``SEP``; a title is a segment
        of its own). ``None`` when it cannot say: the rarer of the two occurs more than ``cap`` times (the scan
        reads each of its paragraphs; measured on wiki2015 + wiki_extra: 0.1 ms for 200 occurrences, ~2 ms at
        the cap), or one of them never occurs (a caller that counted it elsewhere should not read "apart")."""
        ids_a, ids_b = self._ids(a), self._ids(b)
        ha, hb = self._hits_of(ids_a), self._hits_of(ids_b)
        if ha.hi <= ha.lo or hb.hi <= hb.lo:
            return None
        scan, other = (ha, ids_b) if ha.occurrences <= hb.occurrences else (hb, ids_a)
        if scan.occurrences > cap:
            return None
        return bool(K.paragraph_with(self.tokens, self.sa, scan.lo, scan.hi, other))

    def __repr__(self) -> str:
        return (f"PhraseCounts(tokens={self.sa.shape[0]}, vocab={self.vocab.shape[0]}, "
                f"documents={self.n_documents}, heavy={self.heavy_lo.shape[0]})")
