"""One shard of a build: documents in, a partial (entity counts, pair counts, passages) out.

A partial is a directory ``partials/<shard>/`` with ``entities.parquet`` (hash, key, text, label, freq, mentions),
``pairs_ha.npy``/``pairs_hb.npy``/``pairs_n.npy`` (pairs of entity hashes, ``ha < hb``, sorted, with document
counts; ``.npy`` so that the merge can memory-map and slice them), ``passages.parquet`` and ``stats.json``. The
completion marker ``completions/<shard>`` is written last, after everything else is on disk, so a shard either has
a marker and complete outputs or is redone.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.extract import Extractor, TokenizedBatch
from quco.cooccur.kernels import PairAccumulator, doc_entities, emit_pairs
from quco.cooccur.types import Document

PASSAGE_WORDS = 100
BATCH_CHARS = 4_000_000  # documents are tokenized and matched in batches of about this many characters


def passages_of(batch: TokenizedBatch, docs: Sequence[Document], words: int = PASSAGE_WORDS) -> dict[str, list]:
    """Chunks of about ``words`` tokens: consecutive paragraphs of one document, long paragraphs split on tokens."""
    doc_ids, titles, texts = [], [], []
    seg_tokens = np.bincount(batch.tok_seg, minlength=len(batch.segments)) if batch.n_tokens else None
    seg = 0
    for d, doc in enumerate(docs):
        if doc.title:
            seg += 1  # the title is not passage text; each passage carries it as `title`
        buf: list[str] = []
        n = 0
        for p in doc.paragraphs:
            k = int(seg_tokens[seg]) if seg_tokens is not None else 0
            if k > words * 3 // 2:
                if buf:
                    doc_ids.append(doc.doc_id), titles.append(doc.title or ""), texts.append("\n".join(buf))
                    buf, n = [], 0
                first = int(np.searchsorted(batch.tok_seg, seg))
                base = int(batch.seg_start[seg])
                for t in range(0, k, words):
                    s = 0 if t == 0 else int(batch.starts[first + t]) - base
                    e = len(p) if t + words >= k else int(batch.starts[first + t + words]) - base
                    doc_ids.append(doc.doc_id), titles.append(doc.title or ""), texts.append(p[s:e].strip())
            else:
                buf.append(p)
                n += k
                if n >= words:
                    doc_ids.append(doc.doc_id), titles.append(doc.title or ""), texts.append("\n".join(buf))
                    buf, n = [], 0
            seg += 1
        if buf:
            doc_ids.append(doc.doc_id), titles.append(doc.title or ""), texts.append("\n".join(buf))
    return {"doc_id": doc_ids, "title": titles, "text": texts}


def _batches(docs: Sequence[Document], max_chars: int = BATCH_CHARS):
    batch: list[Document] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += doc.n_chars
        if size >= max_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def process_shard(shard: str, docs: Sequence[Document], extractor: Extractor, window: int, work: Path) -> dict:
    """Count one shard into ``work/partials/<shard>`` and mark it complete. Returns the shard's stats."""
    t0 = time.perf_counter()
    out = work / "partials" / shard
    out.mkdir(parents=True, exist_ok=True)
    vocab = extractor.new_vocab()
    acc = PairAccumulator()
    freq_runs: list[np.ndarray] = []
    mentions_runs: list[np.ndarray] = []
    pw = pq.ParquetWriter(str(out / "passages.parquet"),
                          pa.schema([("doc_id", pa.string()), ("title", pa.string()), ("text", pa.string())]),
                          compression="zstd")
    stats = {"documents": 0, "tokens": 0, "chars": 0, "mentions": 0, "pair_instances": 0, "passages": 0}
    timing = {"tokenize": 0.0, "extract": 0.0, "pairs": 0.0, "passages": 0.0}
    for docs_b in _batches(docs):
        t = time.perf_counter()
        batch = TokenizedBatch(docs_b)
        timing["tokenize"] += time.perf_counter() - t
        t = time.perf_counter()
        offsets, ent, pos = extractor.extract_batch(batch, vocab)
        timing["extract"] += time.perf_counter() - t
        t = time.perf_counter()
        keys = emit_pairs(offsets, ent, pos, window)
        acc.add_keys(keys)
        freq_runs.append(doc_entities(offsets, ent, len(vocab)))
        mentions_runs.append(np.bincount(ent, minlength=len(vocab)))
        timing["pairs"] += time.perf_counter() - t
        t = time.perf_counter()
        table = pa.table(passages_of(batch, docs_b))
        pw.write_table(table)
        timing["passages"] += time.perf_counter() - t
        stats["documents"] += len(docs_b)
        stats["tokens"] += batch.n_tokens
        stats["chars"] += sum(d.n_chars for d in docs_b)
        stats["mentions"] += int(ent.shape[0])
        stats["pair_instances"] += int(keys.shape[0])
        stats["passages"] += table.num_rows
    pw.close()
    t = time.perf_counter()
    n = len(vocab)
    freq = sum((np.pad(f, (0, n - f.shape[0])) for f in freq_runs), np.zeros(n, np.int64))
    mentions = sum((np.pad(m, (0, n - m.shape[0])) for m in mentions_runs), np.zeros(n, np.int64))
    rows = vocab.rows()
    keep = np.flatnonzero(freq > 0)
    ent_table = pa.table(
        {
            "hash": pa.array(np.asarray(rows["hash"], dtype=np.uint64)[keep], pa.uint64()),
            "key": pa.array([rows["key"][i] for i in keep], pa.string()),
            "text": pa.array([rows["text"][i] for i in keep], pa.string()),
            "label": pa.array([rows["label"][i] for i in keep], pa.string()),
            "freq": pa.array(freq[keep], pa.int64()),
            "mentions": pa.array(mentions[keep], pa.int64()),
        }
    )
    pq.write_table(ent_table, str(out / "entities.parquet"), compression="zstd")
    keys, counts = acc.result()
    hashes = np.asarray(rows["hash"], dtype=np.uint64)
    ha, hb = hashes[keys >> 32], hashes[keys & 0xFFFFFFFF]
    lo, hi = np.minimum(ha, hb), np.maximum(ha, hb)
    order = np.lexsort((hi, lo))
    np.save(out / "pairs_ha.npy", lo[order])
    np.save(out / "pairs_hb.npy", hi[order])
    np.save(out / "pairs_n.npy", counts[order].astype(np.int64))
    timing["write"] = time.perf_counter() - t
    stats["entities"] = int(keep.shape[0])
    stats["pairs"] = int(keys.shape[0])
    stats["seconds"] = time.perf_counter() - t0
    stats["timing"] = timing
    atomic_write_bytes(out / "stats.json", json.dumps(stats).encode())
    marker_dir = work / "completions"
    marker_dir.mkdir(exist_ok=True)
    atomic_write_bytes(marker_dir / shard, b"done\n")
    return stats
