"""Out-of-core merge of shard partials: the entity table (every build), and the single-process pair and posting
merge that the bucketed reduce replaced (kept for comparison).

Entities: DuckDB sums the partial entity tables (with a ``memory_limit``, spilling to disk if it must) and orders
them by hash; an entity's id is its rank, so the hash order of every partial's lists is also their global id
order. The build then sums pairs and postings with one task per bucket of entities (``index_builder/buckets.py``).

:func:`merge_pairs`, :func:`write_pair_rows` and :func:`merge_postings` are the merge as one process ran it before
the bucketed reduce, over pair lists holding each pair once (``ha < hb``): the global id range cut into buckets
summed one after another with numba ``merge_sum`` runs, the summed keys laid out as symmetric rows by passes over
them, postings scattered shard after shard. They are kept as the baseline ``bench/bench_executors.py`` measures
the bucketed reduce against; their output is byte for byte the bucketed reduce's.
"""
from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.csr import indptr_of, narrowest_uint, pair_row_ranges, scatter_rows
from quco.cooccur.kernels import PairAccumulator
from quco.errors import BuildError

BUCKET_PAIRS = 16_000_000  # pair entries (summed over partials) per merge bucket
ROW_BUDGET = 48_000_000  # entries of the pair rows laid out in memory at a time
KEY_CHUNK = 8_000_000  # keys read at a time


class NpyAppender:
    """Write a 1-D ``.npy`` file by appending chunks, fixing the header's length at close (valid npy 1.0)."""

    HEADER = 128

    def __init__(self, path: Path, dtype: np.dtype):
        self.path, self.dtype, self.n = path, np.dtype(dtype), 0
        self.f = open(path, "wb")
        self.f.write(b"\0" * self.HEADER)

    def append(self, arr: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(arr, dtype=self.dtype).tobytes())
        self.n += arr.shape[0]

    def close(self) -> None:
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.n,)}
        body = repr(d).encode("latin1")
        head = b"\x93NUMPY\x01\x00"
        pad = self.HEADER - len(head) - 2 - len(body) - 1
        header = head + (len(body) + pad + 1).to_bytes(2, "little") + body + b" " * pad + b"\n"
        assert len(header) == self.HEADER and ast.literal_eval(body.decode()) == d
        self.f.seek(0)
        self.f.write(header)
        self.f.close()


def merge_entities(partials: Sequence[Path], out: Path, memory_limit: str = "2GB", tmp: Path | None = None) -> pa.Table:
    """Sum partial entity tables into ``out/entities.parquet``; returns (hash, freq) for the arrays."""
    files = [str(p / "entities.parquet") for p in partials]
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute("SET threads=2")
    con.execute("SET preserve_insertion_order=false")
    if tmp is not None:
        con.execute(f"SET temp_directory='{tmp}'")
    target = out / "entities.parquet"
    # Window functions cannot sit beside GROUP BY in one level: aggregate first, number second.
    con.execute(
        f"""
        COPY (
          SELECT (row_number() OVER (ORDER BY hash) - 1)::INTEGER AS id, * FROM (
            SELECT hash,
                   first(key ORDER BY mentions DESC, key) AS key,
                   first(text ORDER BY mentions DESC, text) AS text,
                   first(label ORDER BY mentions DESC, label) AS label,
                   sum(freq)::BIGINT AS freq, sum(mentions)::BIGINT AS mentions
            FROM read_parquet(?) GROUP BY hash
          ) ORDER BY hash
        ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)
        """,
        [files],
    )
    con.close()
    return pq.read_table(str(target), columns=["hash", "freq"])


def merge_pairs(partials: Sequence[Path], entity_hash: np.ndarray, out_key: Path, out_count: Path,
                parquet_path: Path, bucket_pairs: int = BUCKET_PAIRS) -> int:
    """Merge the partials' pair lists; returns the number of distinct pairs written."""
    def maps(name: str) -> list[np.ndarray]:
        return [np.load(p / name, mmap_mode="r") for p in partials]

    total = sum(a.shape[0] for a in maps("pairs_ha.npy"))
    n_ent = entity_hash.shape[0]
    n_buckets = max(1, -(-total // bucket_pairs))
    bounds = np.linspace(0, n_ent, n_buckets + 1).astype(np.int64)
    keys_out, counts_out = NpyAppender(out_key, np.int64), NpyAppender(out_count, np.int32)
    writer = pq.ParquetWriter(str(parquet_path), pa.schema([("key", pa.int64()), ("count", pa.int32())]),
                              compression="zstd", use_dictionary=False,
                              column_encoding={"key": "DELTA_BINARY_PACKED", "count": "DELTA_BINARY_PACKED"})
    written = 0
    for lo_id, hi_id in zip(bounds[:-1], bounds[1:]):
        if lo_id == hi_id:
            continue
        lo_h = entity_hash[lo_id]
        acc = PairAccumulator()
        # mapped afresh for each bucket and dropped after it: pages read stay resident only while mapped
        for ha, hb, n in zip(maps("pairs_ha.npy"), maps("pairs_hb.npy"), maps("pairs_n.npy")):
            s = np.searchsorted(ha, lo_h, side="left")
            e = np.searchsorted(ha, entity_hash[hi_id], side="left") if hi_id < n_ent else ha.shape[0]
            if e <= s:
                continue
            ida = np.searchsorted(entity_hash, ha[s:e]).astype(np.int64)
            idb = np.searchsorted(entity_hash, hb[s:e]).astype(np.int64)
            acc.add_run((ida << 32) | idb, np.asarray(n[s:e], dtype=np.int64))
        keys, counts = acc.result()
        if keys.shape[0]:
            keys_out.append(keys)
            counts_out.append(counts)
            writer.write_table(pa.table({"key": keys, "count": counts.astype(np.int32)}))
            written += keys.shape[0]
    keys_out.close()
    counts_out.close()
    writer.close()
    return written


def _npy_chunks(path: Path, chunk: int = KEY_CHUNK):
    """Successive chunks of a 1-D ``.npy`` file, read with plain reads: unlike a memory map, the pages read do not
    stay in the process's resident set (a build's RSS would otherwise grow by every file it merges)."""
    arr = np.load(path, mmap_mode="r")
    n, dtype, offset = arr.shape[0], arr.dtype, arr.offset
    del arr
    with open(path, "rb") as f:
        for s in range(0, n, chunk):
            f.seek(offset + s * dtype.itemsize)
            yield np.fromfile(f, dtype=dtype, count=min(chunk, n - s))


def _npy_file(path: Path, dtype: np.dtype, n: int) -> int:
    """Create a ``.npy`` file of ``n`` items (contents to be written); returns the data offset."""
    m = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n,))
    offset = m.offset
    del m
    return offset


def write_pair_rows(keys_path: Path, counts_path: Path, n_entities: int, arrays: Path,
                    budget: int = ROW_BUDGET) -> dict[str, int]:
    """Lay the merged pairs out as symmetric rows: ``nbr_indptr``, ``nbr_id``, ``nbr_count`` in ``arrays``.

    One range of rows (at most ``budget`` entries) at a time is filled in memory from a pass over the keys and
    written out: memory is bounded by the budget, and the outputs are written sequentially."""
    n = int(np.load(keys_path, mmap_mode="r").shape[0])
    top = max((int(c.max()) for c in _npy_chunks(counts_path) if c.shape[0]), default=0)
    id_t, count_t = narrowest_uint(max(n_entities - 1, 0)), narrowest_uint(top)
    indptr, ranges = pair_row_ranges(lambda: _npy_chunks(keys_path),
                                     lambda: zip(_npy_chunks(keys_path), _npy_chunks(counts_path)),
                                     n_entities, budget, id_t, count_t)
    off_ids = _npy_file(arrays / "nbr_id.npy", id_t, 2 * n)
    off_cnt = _npy_file(arrays / "nbr_count.npy", count_t, 2 * n)
    with open(arrays / "nbr_id.npy", "r+b") as f_ids, open(arrays / "nbr_count.npy", "r+b") as f_cnt:
        for base, ids, cnt in ranges:
            f_ids.seek(off_ids + base * id_t.itemsize)
            f_ids.write(ids.tobytes())
            f_cnt.seek(off_cnt + base * count_t.itemsize)
            f_cnt.write(cnt.tobytes())
    np.save(arrays / "nbr_indptr.npy", indptr)
    return {"arrays/nbr_indptr.npy": n_entities + 1, "arrays/nbr_id.npy": 2 * n, "arrays/nbr_count.npy": 2 * n}


def merge_postings(partials: Sequence[Path], documents: Sequence[int], entity_hash: np.ndarray,
                   entity_freq: np.ndarray, arrays: Path) -> dict[str, int]:
    """Per-entity document lists ``doc_indptr`` / ``doc_ids`` from the partials' postings, documents numbered in
    shard order (``documents``: each partial's document count). Each entity's list length must equal its
    document frequency: a mismatch is a BuildError."""
    n_ent = entity_hash.shape[0]
    offsets = np.concatenate([[0], np.cumsum(documents)]).astype(np.int64)
    hs = [np.load(p / "post_h.npy", mmap_mode="r") for p in partials]
    deg = np.zeros(n_ent, dtype=np.int64)
    for h in hs:
        deg += np.bincount(np.searchsorted(entity_hash, h), minlength=n_ent)
    if not np.array_equal(deg, np.asarray(entity_freq)):
        raise BuildError("the partials' postings disagree with their entity counts: delete the build's work "
                         "directory and build again without --resume")
    indptr = indptr_of(deg)
    docs = np.lib.format.open_memmap(arrays / "doc_ids.npy", mode="w+", dtype=np.int32, shape=(int(indptr[-1]),))
    pos = indptr[:-1].copy()
    out = np.asarray(docs)
    for p, h, off in zip(partials, hs, offsets[:-1]):
        d = np.load(p / "post_doc.npy", mmap_mode="r")
        ids = np.searchsorted(entity_hash, h).astype(np.int64)
        scatter_rows(ids, (np.asarray(d, dtype=np.int64) + off).astype(np.int32), ids[:0], pos, out, out[:0])
    docs.flush()
    del docs
    np.save(arrays / "doc_indptr.npy", indptr)
    return {"arrays/doc_indptr.npy": n_ent + 1, "arrays/doc_ids.npy": int(indptr[-1])}
