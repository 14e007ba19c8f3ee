"""Build the phrase arrays: the corpus as token ids, its suffix array, and exact document counts of frequent phrases.

Documents are tokenized with the one tokenizer (``quco.cooccur.normalize``); each token's 64-bit hash becomes a
token id = 1 + its rank in the sorted hashes of the corpus vocabulary (``phrase_vocab``), and id 0 (``SEP``)
ends every segment (title, paragraph), so that no phrase is found across a paragraph or document boundary, as
the gazetteer never matches across one. ``phrase_doc_start[d]`` is where document ``d`` (numbered in reading
order, as the postings number them) starts in ``phrase_tokens``. The suffix array (``phrase_sa``) lists the
positions of every real token (separators left out) ordered by the token sequence that starts there, a separator
comparing below every token.

The suffix array comes from ``quco.index_builder.suffix_sort`` (``numba`` prefix doubling by default, or
``divsufsort``).

Document counts of phrases with at least ``heavy_min`` occurrences are computed here once (``phrase_heavy_*``:
the suffix-array interval of each such phrase, its document count, and for those with at least ``set_min``
occurrences a bitmap of its documents), so that no query scans more than ``heavy_min`` suffixes to count
documents, nor ``set_min`` to intersect them (``quco.cooccur.phrase_index``). Nothing is capped: rarer phrases
are counted exactly by scanning their interval at query time.

Measured on wiki2015 (bench/README.md, "Phrase counts"; 2 CPUs at load 10, so CPU seconds compare): the whole
phrase build, reading the ``.zst`` files included, 30.5 CPU s with the numba construction against 45.0 with
libdivsufsort, peak 1.5 GiB against 2.3 GiB (1.3 GiB after two memory fixes); 544 MB of arrays (1.32x the text).
Inside a build it runs in a child process (:class:`PhraseJob`, a fresh interpreter) beside the harvest, count,
merge and retrieval stages, and the build waits for it before computing the blend vectors, so that the two peaks
do not add up.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np

from quco.cooccur.normalize import tokenize
from quco.cooccur.phrase_index import BLOCK_SHIFT, PHRASE_ARRAYS, SEP
from quco.cooccur.types import Document
from quco.errors import BuildError
from quco.index_builder.memory import trim_heap
from quco.index_builder.suffix_sort import SUFFIX_METHODS, TokenIds, _grow

BATCH_CHARS = 4_000_000
HEAVY_MIN = 2048  # phrases with at least this many occurrences get a precomputed document count
SET_MIN = 32768  # ... and with at least this many, a precomputed document bitmap
HEAVY_DEPTH = 16  # precomputed counts for phrases of up to this many tokens (longer ones are scanned)


# ---- tokens ------------------------------------------------------------------------------------------------------
def _batches(docs: Iterable[Document], batch_chars: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += doc.n_chars
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _batch_tokens(batch: list[Document], table: TokenIds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(provisional ids + 1 with SEP = 0 after each non-empty segment, token-array length of each document, 1 for
    each document whose first segment is its title: it has one, with a token)."""
    segs: list[str] = []
    seg_doc: list[int] = []
    title_seg = np.full(len(batch), -1, dtype=np.int64)
    for d, doc in enumerate(batch):
        if doc.title:
            title_seg[d] = len(segs)
        for s in doc.segments():
            segs.append(s)
            seg_doc.append(d)
    lengths = np.fromiter((len(s) + 2 for s in segs), dtype=np.int64, count=len(segs))
    seg_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    hashes, starts, _ = tokenize("\n\n".join(segs))
    ids = table.assign(hashes)
    tok_seg = np.searchsorted(seg_start, starts, side="right") - 1
    local = _interleave(ids.astype(np.uint32) + np.uint32(1), tok_seg)
    nonempty = np.unique(tok_seg)
    seg_doc_a = np.asarray(seg_doc, np.int64)
    per_doc = np.bincount(seg_doc_a[tok_seg], minlength=len(batch)) + \
        np.bincount(seg_doc_a[nonempty], minlength=len(batch))
    has_tokens = np.zeros(len(segs) + 1, dtype=bool)
    has_tokens[nonempty] = True
    titled = ((title_seg >= 0) & has_tokens[np.maximum(title_seg, 0)]).astype(np.uint8)
    return local, per_doc.astype(np.int64), titled


@nb.njit(cache=True, nogil=True)
def _interleave(ids, tok_seg):
    """``ids`` with a 0 after the last token of each segment (``tok_seg`` non-decreasing)."""
    n = ids.shape[0]
    k = 0
    for i in range(n):
        if i + 1 == n or tok_seg[i + 1] != tok_seg[i]:
            k += 1
    out = np.empty(n + k, dtype=np.uint32)
    j = 0
    for i in range(n):
        out[j] = ids[i]
        j += 1
        if i + 1 == n or tok_seg[i + 1] != tok_seg[i]:
            out[j] = 0
            j += 1
    return out


def corpus_tokens(docs: Iterable[Document], batch_chars: int = BATCH_CHARS, spill: str | Path | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(``tokens`` uint32 with SEP = 0 after every segment, ``vocab`` sorted uint64 hashes (token id = 1 + rank),
    ``doc_start`` int64 of length documents + 1, ``doc_titled`` uint8 per document: 1 when its first segment is
    its title). With ``spill`` (a file path), the provisional ids go to that file
    batch by batch and come back into one array renumbered in place: the peak is the token array plus one batch,
    not two token arrays (plus the heap the batches leave behind)."""
    table = TokenIds()
    parts: list[np.ndarray] = []
    doc_lengths: list[np.ndarray] = []
    doc_titled: list[np.ndarray] = []
    n = 0
    out = open(spill, "wb") if spill is not None else None
    try:
        for batch in _batches(docs, batch_chars):
            local, per_doc, titled = _batch_tokens(batch, table)
            doc_titled.append(titled)
            n += local.shape[0]
            if out is not None:
                local.tofile(out)
            else:
                parts.append(local)
            doc_lengths.append(per_doc)
    finally:
        if out is not None:
            out.close()
    by_id = table.hashes[:table.n].copy()
    del table
    order = np.argsort(by_id)
    vocab = by_id[order]
    remap = np.empty(by_id.shape[0] + 1, dtype=np.uint32)  # provisional id + 1 -> final id
    remap[0] = SEP
    remap[order + 1] = np.arange(1, by_id.shape[0] + 1, dtype=np.uint32)
    if out is not None:
        tokens = np.fromfile(spill, dtype=np.uint32)
        os.unlink(spill)
    else:
        tokens = np.concatenate(parts) if parts else np.empty(0, np.uint32)
        del parts
    step = 1 << 22
    for at in range(0, n, step):
        tokens[at:at + step] = remap[tokens[at:at + step]]
    lengths = np.concatenate(doc_lengths) if doc_lengths else np.empty(0, np.int64)
    doc_start = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=doc_start[1:])
    titled = np.concatenate(doc_titled) if doc_titled else np.empty(0, np.uint8)
    return tokens, vocab, doc_start, titled


# ---- precomputed document counts of frequent phrases -------------------------------------------------------------
@nb.njit(cache=True, nogil=True)
def _heavy_intervals(tokens, sa, starts, min_size, max_depth):
    """Suffix-array intervals ``[lo, hi)`` of every phrase of up to ``max_depth`` tokens with at least
    ``min_size`` occurrences (``starts``: interval starts of the token ids, length vocab + 2)."""
    cap = 1024
    out_lo = np.empty(cap, dtype=np.int64)
    out_hi = np.empty(cap, dtype=np.int64)
    st_lo = np.empty(cap, dtype=np.int64)
    st_hi = np.empty(cap, dtype=np.int64)
    st_d = np.empty(cap, dtype=np.int64)
    sp = 0
    for t in range(1, starts.shape[0] - 1):
        if starts[t + 1] - starts[t] >= min_size:
            if sp == st_lo.shape[0]:
                st_lo, st_hi, st_d = _grow(st_lo), _grow(st_hi), _grow(st_d)
            st_lo[sp], st_hi[sp], st_d[sp] = starts[t], starts[t + 1], 1
            sp += 1
    k = 0
    while sp > 0:
        sp -= 1
        lo, hi, d = st_lo[sp], st_hi[sp], st_d[sp]
        if k == out_lo.shape[0]:
            out_lo, out_hi = _grow(out_lo), _grow(out_hi)
        out_lo[k], out_hi[k] = lo, hi
        k += 1
        if d >= max_depth:
            continue
        i = lo
        while i < hi:
            v = tokens[sa[i] + d]
            j = i + 1
            while j < hi and tokens[sa[j] + d] == v:
                j += 1
            if v != 0 and j - i >= min_size:
                if sp == st_lo.shape[0]:
                    st_lo, st_hi, st_d = _grow(st_lo), _grow(st_hi), _grow(st_d)
                st_lo[sp], st_hi[sp], st_d[sp] = i, j, d + 1
                sp += 1
            i = j
    return out_lo[:k], out_hi[:k]


@nb.njit(cache=True, nogil=True)
def _interval_docs(sa, lo, hi, doc_start, block, shift, with_bits, n_docs, bits, df):
    """Document count of each interval, and its document bitmap where ``with_bits[g] >= 0`` (the row)."""
    words = (n_docs + 63) // 64
    mark = np.zeros(words, dtype=np.uint64)
    for g in range(lo.shape[0]):
        mark[:] = 0
        c = 0
        for i in range(lo[g], hi[g]):
            p = sa[i]
            d = block[p >> shift]
            while doc_start[d + 1] <= p:
                d += 1
            w, b = d >> 6, np.uint64(1) << np.uint64(d & 63)
            if mark[w] & b == 0:
                mark[w] |= b
                c += 1
        df[g] = c
        r = with_bits[g]
        if r >= 0:
            bits[r, :] = mark


def doc_blocks(doc_start: np.ndarray, n_tokens: int, shift: int) -> np.ndarray:
    """``block[j]``: the document holding token position ``j << shift`` (a start for a short forward scan)."""
    pos = np.arange(0, max(n_tokens, 1) + (1 << shift), 1 << shift, dtype=np.int64)
    d = np.searchsorted(doc_start, pos, side="right") - 1
    return np.clip(d, 0, max(doc_start.shape[0] - 2, 0)).astype(np.int32)



# ---- the whole build ---------------------------------------------------------------------------------------------
def build_phrase_arrays(docs: Iterable[Document], out_dir: str | Path, *, method: str = "numba",
                        heavy_min: int = HEAVY_MIN, set_min: int = SET_MIN, heavy_depth: int = HEAVY_DEPTH,
                        batch_chars: int = BATCH_CHARS, before_sort: Callable[[], None] | None = None
                        ) -> dict[str, Any]:
    """Write the ``phrase_*`` arrays of ``docs`` into ``out_dir`` (each written to a temporary name, then renamed);
    returns stats: tokens, vocabulary, documents, heavy intervals, and seconds per stage. ``before_sort`` is
    called between the tokenizing and the suffix sort (a build's child waits there for its turn: see
    :class:`PhraseJob`)."""
    if method not in SUFFIX_METHODS:
        raise ValueError(f"unknown suffix-array method {method!r}; available: {', '.join(SUFFIX_METHODS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    t = time.perf_counter()
    tokens, vocab, doc_start, doc_titled = corpus_tokens(docs, batch_chars, spill=out / f"tokens.tmp{os.getpid()}")
    trim_heap()
    if tokens.shape[0] == 0:
        tokens = np.zeros(1, dtype=np.uint32)  # one separator: every search finds nothing
    timing["tokenize"] = time.perf_counter() - t
    if before_sort is not None:
        t = time.perf_counter()
        before_sort()
        timing["wait"] = time.perf_counter() - t
    t = time.perf_counter()
    sa = SUFFIX_METHODS[method](tokens, int(vocab.shape[0]))
    timing["suffix_array"] = time.perf_counter() - t
    t = time.perf_counter()
    counts = np.bincount(tokens, minlength=vocab.shape[0] + 1)
    starts = np.zeros(vocab.shape[0] + 2, dtype=np.int64)
    np.cumsum(counts[1:], out=starts[2:])
    hlo, hhi = _heavy_intervals(tokens, sa, starts, max(int(heavy_min), 1), int(heavy_depth))
    pairs = np.unique((hlo.astype(np.int64) << 32) | hhi) if hlo.shape[0] and sa.shape[0] < 2**31 else None
    if pairs is not None:
        hlo, hhi = pairs >> 32, pairs & 0xFFFFFFFF
    else:
        order = np.lexsort((hhi, hlo))
        hlo, hhi = hlo[order], hhi[order]
    n_docs = doc_start.shape[0] - 1
    block = doc_blocks(doc_start, tokens.shape[0], BLOCK_SHIFT)
    big = (hhi - hlo) >= set_min
    with_bits = np.where(big, np.cumsum(big) - 1, -1).astype(np.int64)
    bits = np.zeros((int(big.sum()), (n_docs + 63) // 64), dtype=np.uint64)
    df = np.zeros(hlo.shape[0], dtype=np.int64)
    _interval_docs(sa, hlo, hhi, doc_start, block, BLOCK_SHIFT, with_bits, n_docs, bits, df)
    timing["heavy"] = time.perf_counter() - t
    t = time.perf_counter()
    arrays = {"phrase_vocab": vocab, "phrase_tokens": tokens, "phrase_sa": sa, "phrase_doc_start": doc_start,
              "phrase_doc_block": block, "phrase_heavy_lo": hlo.astype(np.int64),
              "phrase_heavy_hi": hhi.astype(np.int64), "phrase_heavy_df": df, "phrase_heavy_set": with_bits,
              "phrase_heavy_bits": bits, "phrase_doc_titled": doc_titled}
    assert set(arrays) == set(PHRASE_ARRAYS)
    for name, arr in arrays.items():
        tmp = out / f"{name}.tmp{os.getpid()}.npy"
        np.save(tmp, arr)
        os.replace(tmp, out / f"{name}.npy")
    timing["write"] = time.perf_counter() - t
    return {"tokens": int(np.count_nonzero(tokens)), "positions": int(tokens.shape[0]), "vocab": int(vocab.shape[0]),
            "documents": int(n_docs), "heavy_intervals": int(hlo.shape[0]), "heavy_sets": int(bits.shape[0]),
            "method": method, "block_shift": BLOCK_SHIFT, "heavy_min": int(heavy_min), "set_min": int(set_min),
            "heavy_depth": int(heavy_depth), "bytes": sum(int(a.nbytes) for a in arrays.values()), "timing": timing}


# ---- inside a build ------------------------------------------------------------------------------------------------
def phrase_arrays_of_files(files: list[str], out_dir: str, read_args: dict[str, Any], go: str | None = None
                           ) -> dict[str, Any]:
    """:func:`build_phrase_arrays` over corpus files, read like the build reads them (same documents, same order,
    so document numbers equal the postings'). With ``go`` (a path), the suffix sort waits until that file
    exists."""
    from quco.index_builder import readers

    def docs() -> Iterator[Document]:
        for f in files:
            yield from readers.read_documents(f, read_args.get("format", "auto"),
                                              text_field=read_args.get("text_field", "text"),
                                              on_bad_record=read_args.get("on_bad_record", "error"))

    def wait() -> None:
        while not Path(go).exists():
            time.sleep(0.05)

    t = time.perf_counter()
    stats = build_phrase_arrays(docs(), out_dir, before_sort=wait if go else None)
    stats["seconds"] = time.perf_counter() - t
    return stats


def _child(files: list[str], out_dir: str, read_args: dict[str, Any], parent: int, go: str | None) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL: die with the build
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)
    import json

    stats = phrase_arrays_of_files(files, out_dir, read_args, go)
    tmp = Path(out_dir) / "stats.json.tmp"
    tmp.write_text(json.dumps(stats))
    os.replace(tmp, Path(out_dir) / "stats.json")


_RUNNING: set["PhraseJob"] = set()


class PhraseJob:
    """The phrase arrays of a build, made in a child interpreter while the build does its other stages
    (``background``), or in-process when :meth:`finish` is called.

    The child reads and tokenizes the corpus at once (beside harvest and count), then waits for :meth:`release`
    (or :meth:`finish`) before its suffix sort, the step that holds the most memory (~1.8 GiB on wiki2015 +
    wiki_extra): run beside the count's workers it took the build tree to 4.0-4.3 GiB, run after the retrieval
    step its peak meets no other large one (bench/README.md, "Inside the default build")."""

    def __init__(self, files: list[str], work_dir: Path, read_args: dict[str, Any], background: bool):
        self.files, self.work, self.read_args = [str(f) for f in files], Path(work_dir), dict(read_args)
        self.proc, self.background = None, background
        if self.work.exists():
            import shutil

            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        if background:  # a fresh interpreter, not a fork: the parent has Arrow and DuckDB threads running
            import json
            import subprocess
            import sys

            spec = json.dumps({"files": self.files, "out": str(self.work), "read_args": self.read_args,
                               "parent": os.getpid(), "go": str(self.work / "go")})
            with open(self.work / "stderr.txt", "wb") as err:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", "from quco.index_builder.suffix_build import child_main; child_main()",
                     spec], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            _RUNNING.add(self)

    def release(self) -> None:
        """Let the child go on to its suffix sort."""
        if self.proc is not None:
            (self.work / "go").touch()

    def finish(self, arrays_dir: Path) -> dict[str, Any]:
        """Wait for (or make) the arrays, move them into ``arrays_dir``; returns their stats."""
        import json

        self.release()
        if self.proc is not None:
            code, self.proc = self.proc.wait(), None
            _RUNNING.discard(self)
            if code != 0 or not (self.work / "stats.json").exists():
                err = (self.work / "stderr.txt").read_text(errors="replace").strip().splitlines()[-1:] \
                    if (self.work / "stderr.txt").exists() else []
                raise BuildError(f"the phrase-count process failed (exit code {code}"
                                 + (f": {err[0]}" if err else ": killed, or out of memory?")
                                 + "); build again, or without phrase counts (--no-phrase-counts)")
            stats = json.loads((self.work / "stats.json").read_text())
        else:
            stats = phrase_arrays_of_files(self.files, str(self.work), self.read_args)
        stats["background"] = self.background
        for name in PHRASE_ARRAYS:
            os.replace(self.work / f"{name}.npy", Path(arrays_dir) / f"{name}.npy")
        return stats

    def close(self) -> None:
        """Stop the child if it is still running (the build failed elsewhere)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        _RUNNING.discard(self)

    @staticmethod
    def rows(arrays_dir: Path) -> dict[str, int]:
        """Manifest row counts of the phrase arrays in ``arrays_dir``."""
        return {f"arrays/{n}.npy": int(np.load(Path(arrays_dir) / f"{n}.npy", mmap_mode="r").shape[0])
                for n in PHRASE_ARRAYS}


def close_phrase_jobs() -> None:
    """Stop every phrase-count child still running in this process (called when a build ends, failed or not)."""
    for job in list(_RUNNING):
        job.close()


def child_main() -> None:
    """Entry point of a :class:`PhraseJob`'s child: the job's JSON spec is ``sys.argv[1]``."""
    import json
    import sys

    spec = json.loads(sys.argv[1])
    _child(spec["files"], spec["out"], spec["read_args"], int(spec["parent"]), spec.get("go"))
