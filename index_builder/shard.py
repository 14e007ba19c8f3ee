"""One shard of a build: documents in, a partial (entity counts, pair counts, passages) out.

A partial is a directory ``partials/<shard>/`` with ``entities.parquet`` (hash, key, text, label, freq, mentions),
``pairs_vocab.npy``/``pairs_indptr.npy``/``pairs_partner.npy``/``pairs_n.npy`` (every pair once per direction, as
rows: the shard's entity hashes ascending, each row's entries, each entry a partner's position in that list and
the pair's ``int32`` document count; 8 bytes an entry), ``post_h.npy``/``post_doc.npy`` (each entity hash with
the shard-local number of every document that mentions it, sorted), ``passages.parquet`` and ``stats.json``.
Sorted by hash, every list is already split into the reduce's buckets (ranges of hashes) for any number of them:
a bucket is one slice, found by a binary search in the memory-mapped ``.npy`` (``index_builder/buckets.py``). The
completion marker ``completions/<shard>`` is written last, after everything else is on disk, so a shard either has
a marker and complete outputs or is redone.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quco.cooccur.csr import indptr_of
from quco.cooccur.extract import Extractor, TokenizedBatch
from quco.cooccur.kernels import PairAccumulator, doc_entities, emit_pairs
from quco.cooccur.types import Document

PASSAGE_WORDS = 100
PAIR_FILES = ("pairs_vocab.npy", "pairs_indptr.npy", "pairs_partner.npy", "pairs_n.npy")
PARTIAL_FORMAT = 2  # 2: pair rows in both directions (the bucketed reduce); a resumed build needs the same
BATCH_CHARS = 4_000_000  # documents are tokenized and matched in batches of about this many characters


def passages_of(batch: TokenizedBatch, docs: Sequence[Document], words: int = PASSAGE_WORDS,
                doc_titles: Sequence[str] | None = None) -> dict[str, list]:
    """Chunks of about ``words`` tokens: consecutive paragraphs of one document, long paragraphs split on tokens.

    ``doc_titles`` gives the title each document's passages carry when it differs from ``doc.title`` (the later
    parts of a document split into pieces have no title segment but keep the document's title)."""
    doc_ids, titles, texts = [], [], []
    seg_tokens = np.bincount(batch.tok_seg, minlength=len(batch.segments)) if batch.n_tokens else None
    seg = 0
    for d, doc in enumerate(docs):
        if doc.title:
            seg += 1  # the title is not passage text; each passage carries it as `title`
        title = doc_titles[d] if doc_titles is not None else doc.title
        doc = Document(doc.doc_id, title, doc.paragraphs)
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


@dataclass
class _Part:
    """A document, or one piece of a document longer than a batch (``last`` is False until its final piece)."""

    doc: Document
    seq: int  # the document's number in the shard
    first: bool
    last: bool


def _parts(docs: Sequence[Document], max_chars: int) -> Iterator[_Part]:
    for seq, doc in enumerate(docs):
        if doc.n_chars <= max_chars:
            yield _Part(doc, seq, True, True)
            continue
        paras: list[str] = []
        size, first = len(doc.title or ""), True
        for p in doc.paragraphs:
            if paras and size + len(p) > max_chars:
                yield _Part(Document(doc.doc_id, doc.title if first else None, paras), seq, first, False)
                paras, size, first = [], 0, False
            paras.append(p)
            size += len(p)
        yield _Part(Document(doc.doc_id, doc.title if first else None, paras), seq, first, True)


def _pieces(docs: Sequence[Document], max_chars: int = BATCH_CHARS) -> Iterator[list[_Part]]:
    """Batches of about ``max_chars`` characters; a longer document is cut at paragraph boundaries into parts."""
    piece: list[_Part] = []
    size = 0
    for part in _parts(docs, max_chars):
        piece.append(part)
        size += part.doc.n_chars
        if size >= max_chars:
            yield piece
            piece, size = [], 0
    if piece:
        yield piece


def pair_rows(keys: np.ndarray, counts: np.ndarray, hashes: np.ndarray, present: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A shard's pairs once per direction, as rows over its entities sorted by hash: ``(vocab, indptr, partner,
    n)``, where ``vocab`` is the hashes of the vocabulary ids ``present`` (every id in ``keys`` among them),
    ascending; row ``r`` (entity ``vocab[r]``) holds the entries ``indptr[r]:indptr[r + 1]`` of ``partner`` (a
    position in ``vocab``, ascending) and ``n`` (the pair's document count). ``keys`` are ``a << 32 | b`` of
    vocabulary ids (``hashes[id]``), each pair once.

    Sorted as one ``int64`` key: each id is replaced by its rank in ``vocab``, whose order is the hashes'."""
    order = present[np.argsort(hashes[present], kind="stable")]
    rank = np.full(hashes.shape[0], -1, dtype=np.int64)
    rank[order] = np.arange(order.shape[0], dtype=np.int64)
    a, b = rank[keys >> 32], rank[keys & 0xFFFFFFFF]
    packed = np.concatenate([(a << 32) | b, (b << 32) | a])
    by_key = np.argsort(packed, kind="stable")
    packed = packed[by_key]
    indptr = indptr_of(np.bincount(packed >> 32, minlength=order.shape[0]))
    return (hashes[order], indptr, (packed & 0xFFFFFFFF).astype(np.uint32),
            np.concatenate([counts, counts])[by_key].astype(np.int32))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def process_shard(shard: str, docs: Sequence[Document], extractor: Extractor, window: int, work: Path,
                  batch_chars: int = BATCH_CHARS) -> dict:
    """Count one shard into ``work/partials/<shard>`` and mark it complete. Returns the shard's stats.

    Documents are processed in pieces of about ``batch_chars`` characters; a longer document is cut at paragraph
    boundaries and its mentions are carried from piece to piece, so memory stays bounded by the piece size (plus
    the document's mention list) while its counts are those of the whole document."""
    t0 = time.perf_counter()
    out = work / "partials" / shard
    out.mkdir(parents=True, exist_ok=True)
    vocab = extractor.new_vocab()
    acc = PairAccumulator()
    freq_runs: list[np.ndarray] = []
    post_runs: list[np.ndarray] = []  # (entity << 32 | document) of each distinct mention
    mentions_runs: list[np.ndarray] = []
    pw = pq.ParquetWriter(str(out / "passages.parquet"),
                          pa.schema([("doc_id", pa.string()), ("title", pa.string()), ("text", pa.string())]),
                          compression="zstd")
    stats = {"documents": 0, "tokens": 0, "chars": 0, "mentions": 0, "pair_instances": 0, "passages": 0}
    timing = {"tokenize": 0.0, "extract": 0.0, "pairs": 0.0, "passages": 0.0}
    carry_ent = np.empty(0, np.int32)  # mentions of a document continued in the next piece
    carry_pos = np.empty(0, np.int64)
    carry_tokens = 0
    for piece in _pieces(docs, batch_chars):
        parts = [pt.doc for pt in piece]
        t = time.perf_counter()
        batch = TokenizedBatch(parts)
        timing["tokenize"] += time.perf_counter() - t
        t = time.perf_counter()
        offsets, ent, pos = extractor.extract_batch(batch, vocab)
        timing["extract"] += time.perf_counter() - t
        t = time.perf_counter()
        # token positions relative to the whole document, and mentions grouped by document
        part_tokens = batch.doc_tok_start[1:] - batch.doc_tok_start[:-1]
        base = np.zeros(len(piece), dtype=np.int64)
        seqs = np.fromiter((pt.seq for pt in piece), dtype=np.int64, count=len(piece))
        running = carry_tokens
        for i, pt in enumerate(piece):
            if pt.first:
                running = 0
            base[i] = running
            running += int(part_tokens[i])
        part_of = np.repeat(np.arange(len(piece)), np.diff(offsets))
        pos = pos + base[part_of]
        doc_of = seqs[part_of]
        if carry_ent.shape[0]:
            ent = np.concatenate([carry_ent, ent])
            pos = np.concatenate([carry_pos, pos])
            doc_of = np.concatenate([np.full(carry_ent.shape[0], piece[0].seq), doc_of])
        done = [pt.seq for pt in piece if pt.last]
        open_seq = None if piece[-1].last else piece[-1].seq
        keep = doc_of != open_seq if open_seq is not None else np.ones(ent.shape[0], bool)
        if open_seq is not None:
            carry_ent, carry_pos, carry_tokens = ent[~keep], pos[~keep], running
        else:
            carry_ent, carry_pos, carry_tokens = np.empty(0, np.int32), np.empty(0, np.int64), 0
        ent, pos, doc_of = ent[keep], pos[keep], doc_of[keep]
        doc_offsets = np.searchsorted(doc_of, np.asarray(done, dtype=np.int64), side="left")
        doc_offsets = np.append(doc_offsets, ent.shape[0]).astype(np.int64)
        keys = emit_pairs(doc_offsets, ent, pos, window)
        acc.add_keys(keys)
        freq_runs.append(doc_entities(doc_offsets, ent, len(vocab)))
        post_runs.append(np.unique((ent.astype(np.int64) << 32) | doc_of))
        mentions_runs.append(np.bincount(ent, minlength=len(vocab)))
        timing["pairs"] += time.perf_counter() - t
        t = time.perf_counter()
        titles = [docs[pt.seq].title for pt in piece]
        table = pa.table(passages_of(batch, parts, doc_titles=titles))
        pw.write_table(table)
        timing["passages"] += time.perf_counter() - t
        stats["documents"] += len(done)
        stats["tokens"] += batch.n_tokens
        stats["chars"] += sum(d.n_chars for d in parts)
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
    for name, arr in zip(PAIR_FILES, pair_rows(keys, counts, hashes, keep)):
        np.save(out / name, arr)
    post = np.unique(np.concatenate(post_runs)) if post_runs else np.empty(0, np.int64)
    post_h = hashes[post >> 32]
    order = np.lexsort((post & 0xFFFFFFFF, post_h))
    np.save(out / "post_h.npy", post_h[order])
    np.save(out / "post_doc.npy", (post & 0xFFFFFFFF)[order].astype(np.int32))
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
