"""The bucketed reduce: pair and posting counts summed by K independent tasks, one per bucket of entities.

Every shard writes its lists sorted by entity hash (``index_builder/shard.py``): pairs once per direction, as rows
over its entities in hash order (each entry a partner and a count, partners ascending), and postings as (hash,
document) sorted by hash. An entity's id in the index is the rank of its hash, so a bucket -- a contiguous range
of entity ids, i.e. a range of hashes -- is one contiguous slice of every shard's lists, found by a binary search:
the shards are already split into buckets, for any K. K is chosen when the reduce starts (``--buckets``, or from
the number of pair entries), so it is not a count parameter, and ``--resume`` may use another one.

A bucket task (:func:`reduce_bucket`, run through the build's :class:`~quco.index_builder.executors.Executor`:
local pool, Dask, Ray) maps its slices to global ids and sums them with the numba ``merge_sum`` runs of
:class:`~quco.cooccur.kernels.PairAccumulator`, scatters its postings shard after shard (``scatter_rows``), and
writes its rows: degrees, partner ids, counts, document lists. Because a bucket holds *whole rows* of the
symmetric pair relation (both directions were written by the shards), the index's CSR arrays are the buckets'
rows one after the other: the final step (:func:`assemble`) only concatenates, narrowing ids and counts to the
index's dtypes, and writes ``pairs.parquet`` from the entries whose partner is the larger id. The arrays are
byte-identical whatever K and whatever executor; ``pairs.parquet`` is written in row groups of a fixed size, so
its bytes do not depend on K either.

Buckets are cut at equal shares of the entities' document frequencies (a proxy for the size of their rows).
Memory of a task is about 40 bytes per pair entry of its bucket (measured: 107 MiB for 1.3 M entries, 774 MiB for
18.5 M; ``bench/bench_executors.py --reduce-only``), so K bounds it whatever the corpus; a finished bucket
has a completion marker in the reduce directory, which is named by a digest of its inputs, so a resumed build
(or a retried task) reuses the buckets already done.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.csr import indptr_of, narrowest_uint, row_ranges, scatter_rows
from quco.cooccur.kernels import PairAccumulator
from quco.errors import BuildError
from quco.index_builder.executors import Executor
from quco.index_builder.merge import _npy_chunks, _npy_file
from quco.index_builder.shard import atomic_write_bytes

BUCKET_ENTRIES = 16_000_000  # directed pair entries (summed over partials) per bucket when K is automatic
MIN_BUCKETS_PER_WORKER = 2  # automatic K: at least this many buckets per worker, for balance
PAIR_GROUP = 1 << 20  # rows per row group of pairs.parquet (fixed: the file's bytes do not depend on K)
CHUNK = 8_000_000  # entries read at a time when concatenating
_MASK = np.int64(0xFFFFFFFF)


@dataclass(frozen=True)
class ReduceJob:
    """What every bucket task reads: the partials (in shard order), the document number of each partial's first
    document, the global entity table's hashes and frequencies (``.npy`` paths), and where results go."""

    partials: tuple[str, ...]
    doc_offsets: tuple[int, ...]
    entity_hash: str
    entity_freq: str
    out: str


def auto_buckets(pair_entries: int, workers: int) -> int:
    """K when ``--buckets`` is 0: enough for :data:`BUCKET_ENTRIES` entries a bucket, and at least two per
    worker."""
    return max(MIN_BUCKETS_PER_WORKER * max(1, workers), -(-pair_entries // BUCKET_ENTRIES), 1)


def bucket_bounds(entity_freq: np.ndarray, k: int) -> np.ndarray:
    """``k`` (or fewer, if there are fewer entities) ranges of entity ids as ``k + 1`` ascending boundaries, cut
    at equal shares of the summed document frequencies (each entity weighs its frequency plus one)."""
    n = int(entity_freq.shape[0])
    weight = np.cumsum(np.asarray(entity_freq, dtype=np.int64) + 1)
    total = int(weight[-1]) if n else 0
    cuts = [int(np.searchsorted(weight, total * i // k, side="right")) for i in range(1, k)]
    return np.unique(np.array([0, *cuts, n], dtype=np.int64))


def job_digest(job: ReduceJob, bounds: np.ndarray) -> str:
    """Names a reduce's inputs: the partials, their document offsets, the entity table and the bucket bounds."""
    h = hashlib.sha256(json.dumps([job.partials, job.doc_offsets]).encode())
    for path in (job.entity_hash, job.entity_freq):
        h.update(Path(path).read_bytes())
    h.update(np.ascontiguousarray(bounds).tobytes())
    return h.hexdigest()[:16]


def _slice(sorted_hashes: np.ndarray, lo: int, hi: int | None) -> tuple[int, int]:
    """The positions of hashes ``lo <= h < hi`` (``hi`` None: no upper bound) in a sorted array."""
    s = int(np.searchsorted(sorted_hashes, np.uint64(lo), side="left"))
    e = sorted_hashes.shape[0] if hi is None else int(np.searchsorted(sorted_hashes, np.uint64(hi), side="left"))
    return s, max(s, e)


def _row_counts(sorted_hashes: np.ndarray, entity_hash: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """How many entries of ``sorted_hashes`` (hashes of entities ``i0 <= id < i1`` only, ascending) each of those
    entities has: a binary search per entity instead of one per entry."""
    starts = np.searchsorted(sorted_hashes, entity_hash[i0:i1], side="left")
    return np.diff(np.append(starts, sorted_hashes.shape[0])).astype(np.int64)


def bucket_pairs(partials: Sequence[str], entity_hash: np.ndarray, i0: int, i1: int
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """The summed directed pairs of rows ``i0 <= row < i1``: sorted keys ``row << 32 | partner`` (global ids),
    their counts, and the number of entries read."""
    lo, hi = int(entity_hash[i0]), (int(entity_hash[i1]) if i1 < entity_hash.shape[0] else None)
    acc, read = PairAccumulator(), 0
    for p in partials:
        vocab = np.load(Path(p) / "pairs_vocab.npy", mmap_mode="r")
        v0, v1 = _slice(vocab, lo, hi)
        indptr = np.load(Path(p) / "pairs_indptr.npy", mmap_mode="r")
        s, e = int(indptr[v0]), int(indptr[v1])
        if e == s:
            continue
        row = np.repeat(np.searchsorted(entity_hash, vocab[v0:v1]).astype(np.int64),
                        np.diff(np.asarray(indptr[v0:v1 + 1])))
        partner, n = (np.load(Path(p) / name, mmap_mode="r") for name in ("pairs_partner.npy", "pairs_n.npy"))
        at = np.asarray(partner[s:e], dtype=np.int64)
        if e - s > vocab.shape[0]:  # the shard's whole dictionary mapped once, then looked up
            other = np.searchsorted(entity_hash, vocab).astype(np.int64)[at]
        else:  # a small slice (many buckets or shards): only its partners, work in proportion to the slice
            other = np.searchsorted(entity_hash, vocab[at]).astype(np.int64)
        acc.add_run((row << 32) | other, np.asarray(n[s:e], dtype=np.int64))
        read += e - s
    keys, counts = acc.result()
    return keys, counts, read


def bucket_postings(partials: Sequence[str], doc_offsets: Sequence[int], entity_hash: np.ndarray,
                    entity_freq: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """The document lists of rows ``i0 <= row < i1``, one after the other (shard order, then document order).
    Each row's length must equal the entity's document frequency: a mismatch is a BuildError."""
    lo, hi = int(entity_hash[i0]), (int(entity_hash[i1]) if i1 < entity_hash.shape[0] else None)
    slices = []
    deg = np.zeros(i1 - i0, dtype=np.int64)
    for p in partials:
        h = np.load(Path(p) / "post_h.npy", mmap_mode="r")
        s, e = _slice(h, lo, hi)
        slices.append((s, e))
        if e > s:
            deg += _row_counts(np.asarray(h[s:e]), entity_hash, i0, i1)
    if not np.array_equal(deg, np.asarray(entity_freq[i0:i1])):
        raise BuildError("the partials' postings disagree with their entity counts: delete the build's work "
                         "directory and build again without --resume")
    indptr = indptr_of(deg)
    out = np.empty(int(indptr[-1]), dtype=np.int32)
    pos = indptr[:-1].copy()
    for p, (s, e), off in zip(partials, slices, doc_offsets):
        if e == s:
            continue
        h = np.load(Path(p) / "post_h.npy", mmap_mode="r")
        d = np.load(Path(p) / "post_doc.npy", mmap_mode="r")
        ids = np.repeat(np.arange(i1 - i0, dtype=np.int64), _row_counts(np.asarray(h[s:e]), entity_hash, i0, i1))
        docs = (np.asarray(d[s:e], dtype=np.int64) + off).astype(np.int32)
        scatter_rows(ids, docs, ids[:0], pos, out, out[:0])
    return out


def _bucket_dir(job: ReduceJob, b: int) -> Path:
    return Path(job.out) / f"{b:05d}"


def _marker(job: ReduceJob, b: int) -> Path:
    return Path(job.out) / "done" / f"{b:05d}.json"


def reduce_bucket(job: ReduceJob, b: int, i0: int, i1: int) -> dict[str, int]:
    """Reduce bucket ``b`` (rows ``i0 <= id < i1``) into ``job.out/<b>``; returns its stats. A bucket already
    marked complete (a resumed build, a retried task) is not reduced again."""
    marker = _marker(job, b)
    if marker.exists():
        return json.loads(marker.read_text())
    entity_hash = np.load(job.entity_hash)
    entity_freq = np.load(job.entity_freq, mmap_mode="r")
    keys, counts, read = bucket_pairs(job.partials, entity_hash, i0, i1)
    rows = keys >> 32
    partner = keys & _MASK
    top = int(counts.max()) if counts.shape[0] else 0
    docs = bucket_postings(job.partials, job.doc_offsets, entity_hash, entity_freq, i0, i1)
    final = _bucket_dir(job, b)
    tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    np.save(tmp / "nbr_deg.npy", np.bincount(rows - i0, minlength=i1 - i0).astype(np.int64))
    np.save(tmp / "nbr_id.npy", partner.astype(np.uint32))
    np.save(tmp / "nbr_count.npy", counts.astype(narrowest_uint(top)))
    np.save(tmp / "doc_ids.npy", docs)
    stats = {"bucket": b, "rows": [i0, i1], "entries": int(keys.shape[0]), "pairs": int((partner > rows).sum()),
             "max_count": top, "entries_read": int(read), "postings": int(docs.shape[0])}
    if final.exists():  # another attempt of this task finished first: its outputs are the same
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, final)
    marker.parent.mkdir(exist_ok=True)
    atomic_write_bytes(marker, json.dumps(stats).encode())
    return stats


def run_reduce(ex: Executor, job: ReduceJob, bounds: np.ndarray, progress: Callable[[int], None]
               ) -> list[dict[str, int]]:
    """Every bucket of ``bounds`` reduced on ``ex`` (already started), the ones marked complete skipped;
    ``progress`` is called with 1 per bucket finished. Returns the buckets' stats in order."""
    Path(job.out).mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, int]] = {}
    pending: dict[Any, int] = {}
    for b, (i0, i1) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
        if _marker(job, b).exists():  # finished by an earlier run of this reduce (--resume)
            results[b] = {**json.loads(_marker(job, b).read_text()), "resumed": 1}
            progress(1)
        else:
            pending[ex.submit(reduce_bucket, job, b, i0, i1)] = b
    while pending:
        for f in ex.wait_first(list(pending), None):
            b = pending.pop(f)
            results[b] = ex.result(f)
            progress(1)
    return [results[b] for b in range(len(bounds) - 1)]


def _cast_into(path: Path, offset: int, dtype: np.dtype, parts: Sequence[Path]) -> None:
    """Write the 1-D ``.npy`` files ``parts`` one after the other, as ``dtype``, into ``path`` from ``offset``."""
    with open(path, "r+b") as f:
        f.seek(offset)
        for part in parts:
            for chunk in _npy_chunks(part, CHUNK):
                f.write(chunk.astype(dtype, copy=False).tobytes())


def _read_slice(path: Path, s: int, e: int) -> np.ndarray:
    """Items ``s:e`` of a 1-D ``.npy`` file, by a plain read (pages do not stay resident as a map's would)."""
    m = np.load(path, mmap_mode="r")
    dtype, offset = m.dtype, m.offset
    del m
    with open(path, "rb") as f:
        f.seek(offset + s * dtype.itemsize)
        return np.fromfile(f, dtype=dtype, count=e - s)


def _write_pairs(job: ReduceJob, bounds: np.ndarray, target: Path) -> None:
    """``pairs.parquet``: each pair once (``a < b``), ``a << 32 | b`` ascending, in row groups of PAIR_GROUP."""
    writer = pq.ParquetWriter(str(target), pa.schema([("key", pa.int64()), ("count", pa.int32())]),
                              compression="zstd", use_dictionary=False,
                              column_encoding={"key": "DELTA_BINARY_PACKED", "count": "DELTA_BINARY_PACKED"})
    held_k: list[np.ndarray] = []
    held_c: list[np.ndarray] = []
    held = 0

    def flush(final: bool) -> None:
        nonlocal held_k, held_c, held
        keys = np.concatenate(held_k or [np.empty(0, np.int64)])
        counts = np.concatenate(held_c or [np.empty(0, np.int32)])
        stop = keys.shape[0] if final else keys.shape[0] - keys.shape[0] % PAIR_GROUP
        for s in range(0, stop, PAIR_GROUP):
            e = min(s + PAIR_GROUP, stop)
            writer.write_table(pa.table({"key": keys[s:e], "count": counts[s:e]}), row_group_size=PAIR_GROUP)
        held_k, held_c, held = [keys[stop:]], [counts[stop:]], keys.shape[0] - stop

    for b, i0 in enumerate(bounds[:-1].tolist()):
        d = _bucket_dir(job, b)
        indptr = indptr_of(np.load(d / "nbr_deg.npy"))
        for r0, r1 in row_ranges(indptr, CHUNK):  # memory: a chunk of entries, whatever the bucket's size
            s, e = int(indptr[r0]), int(indptr[r1])
            rows = np.repeat(np.arange(i0 + r0, i0 + r1, dtype=np.int64), np.diff(indptr[r0:r1 + 1]))
            partner = _read_slice(d / "nbr_id.npy", s, e).astype(np.int64)
            fwd = partner > rows
            held_k.append((rows[fwd] << 32) | partner[fwd])
            held_c.append(_read_slice(d / "nbr_count.npy", s, e)[fwd].astype(np.int32))
            held += int(held_k[-1].shape[0])
            if held >= PAIR_GROUP:
                flush(False)
    flush(True)
    writer.close()


def assemble(job: ReduceJob, bounds: np.ndarray, results: Sequence[dict[str, int]], arrays: Path,
             pairs_parquet: Path) -> dict[str, int]:
    """Concatenate the buckets' rows into the index's ``nbr_*`` and ``doc_*`` arrays and ``pairs.parquet``;
    returns the arrays' row counts."""
    n = int(bounds[-1])
    dirs = [_bucket_dir(job, b) for b in range(len(bounds) - 1)]
    deg = np.concatenate([np.load(d / "nbr_deg.npy") for d in dirs]) if dirs else np.zeros(0, np.int64)
    indptr = indptr_of(deg)
    entries = int(indptr[-1])
    id_t = narrowest_uint(max(n - 1, 0))
    count_t = narrowest_uint(max((r["max_count"] for r in results), default=0))
    _cast_into(arrays / "nbr_id.npy", _npy_file(arrays / "nbr_id.npy", id_t, entries), id_t,
               [d / "nbr_id.npy" for d in dirs])
    _cast_into(arrays / "nbr_count.npy", _npy_file(arrays / "nbr_count.npy", count_t, entries), count_t,
               [d / "nbr_count.npy" for d in dirs])
    np.save(arrays / "nbr_indptr.npy", indptr)
    doc_indptr = indptr_of(np.load(job.entity_freq).astype(np.int64))
    postings = int(doc_indptr[-1])
    _cast_into(arrays / "doc_ids.npy", _npy_file(arrays / "doc_ids.npy", np.dtype(np.int32), postings),
               np.dtype(np.int32), [d / "doc_ids.npy" for d in dirs])
    np.save(arrays / "doc_indptr.npy", doc_indptr)
    _write_pairs(job, bounds, pairs_parquet)
    return {"arrays/nbr_indptr.npy": n + 1, "arrays/nbr_id.npy": entries, "arrays/nbr_count.npy": entries,
            "arrays/doc_indptr.npy": n + 1, "arrays/doc_ids.npy": postings}


def plan_reduce(partials: Sequence[Path], documents: Sequence[int], arrays: Path, work: Path, buckets: int,
                capacity: int) -> tuple[ReduceJob, np.ndarray]:
    """The reduce's job and bucket bounds: ``arrays`` holds the merged ``entity_hash.npy`` and ``entity_freq.npy``;
    ``buckets`` 0 chooses K from the partials' pair entries and ``capacity`` (the executor's parallel tasks)."""
    freq = np.load(arrays / "entity_freq.npy")
    entries = sum(int(np.load(p / "pairs_partner.npy", mmap_mode="r").shape[0]) for p in partials)
    bounds = bucket_bounds(freq, buckets or auto_buckets(entries, capacity))
    offsets = np.concatenate([[0], np.cumsum(np.asarray(documents, dtype=np.int64))])[:-1]
    job = ReduceJob(tuple(str(p) for p in partials), tuple(int(o) for o in offsets), str(arrays / "entity_hash.npy"),
                    str(arrays / "entity_freq.npy"), "")
    return ReduceJob(job.partials, job.doc_offsets, job.entity_hash, job.entity_freq,
                     str(work / "reduce" / job_digest(job, bounds))), bounds


def reduce_partials(ex: Executor, partials: Sequence[Path], documents: Sequence[int], root: Path, work: Path,
                    buckets: int, progress: Callable[[int], Any] | None = None,
                    total: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """The whole reduce after the entity merge: ``root/arrays/entity_hash.npy`` and ``entity_freq.npy`` must be
    written. Buckets run on ``ex`` (started); ``buckets`` 0 chooses K from the pair entries. ``total`` is told the
    number of buckets before they start, ``progress`` each one that finishes. Returns ``{"pairs", "rows",
    "stats"}``: the distinct pairs, the arrays' row counts, and the reduce's stats for the manifest."""
    job, bounds = plan_reduce(partials, documents, root / "arrays", work, buckets, ex.capacity())
    if total is not None:
        total(len(bounds) - 1)
    t = time.perf_counter()
    results = run_reduce(ex, job, bounds, progress or (lambda n: None))
    t_tasks = time.perf_counter() - t
    rows = assemble(job, bounds, results, root / "arrays", root / "pairs.parquet")
    sizes = [r["entries"] for r in results]
    stats = {"buckets": len(bounds) - 1, "requested": buckets, "entries_read": sum(r["entries_read"] for r in results),
             "largest_bucket_entries": max(sizes, default=0), "smallest_bucket_entries": min(sizes, default=0),
             "resumed_buckets": sum(r.get("resumed", 0) for r in results),
             "tasks_s": round(t_tasks, 3), "assemble_s": round(time.perf_counter() - t - t_tasks, 3)}
    shutil.rmtree(work / "reduce", ignore_errors=True)
    return {"pairs": sum(r["pairs"] for r in results), "rows": rows, "stats": stats}


__all__ = ["ReduceJob", "assemble", "auto_buckets", "bucket_bounds", "bucket_pairs", "bucket_postings",
           "plan_reduce", "reduce_bucket", "reduce_partials", "run_reduce"]
