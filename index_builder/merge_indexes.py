"""Sum finished indexes into one (``quco merge``), and add new input to an index (``quco build --append``).

Indexes are *compatible* when the counts they hold mean the same thing: the same index schema, co-occurrence
window, extractor (name and configuration, e.g. the spaCy labels), extractor dictionary (the bytes of
``gazetteer.parquet``) and normalizer (the quco version that built them). Anything else is refused with a message
naming the parameter that differs.

Each index is turned back into the partial a shard would have written -- its entity table as it is, its pairs
as (hash, hash, count) lists (already sorted: an entity's id is the rank of its hash), its postings as (hash,
document) lists, its passages -- and the build's own out-of-core merge sums them (``index_builder/merge.py``).
Documents are numbered in the order the indexes are given, so the result equals one build over the inputs of the
first index followed by those of the others: same arrays byte for byte, same tables, same corpus fingerprint.
Retrieval (BM25) and the blend vectors are computed afresh over the merged passages and counts. Files that only a
later build step writes (e.g. phrase arrays) are not merged and are listed in ``stats.merge.dropped``.

``--append`` counts only the new input, with the index's own extractor and its frozen dictionary (the gazetteer
is *not* harvested again: an entity that only the new text would have added is not counted; rebuild to grow the
dictionary), into a temporary index beside it, then merges the two into place with one atomic swap.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import quco
from quco.cooccur.store import (MANIFEST, SCHEMA_VERSION, artifact_files, manifest_checksum, read_manifest,
                                sha256_file)
from quco.errors import ConfigError
from quco.index_builder.blend_build import compute_embeddings
from quco.index_builder.bm25_build import build_retrieval
from quco.index_builder.build import BuildConfig, _write_passages, build, reduce_on
from quco.index_builder.executors import make_executor
from quco.index_builder.merge import NpyAppender, merge_entities
from quco.index_builder.shard import atomic_write_bytes
from quco.index_builder.swap import check_target, lock_target, swap_into_place

MERGED = {"entities.parquet", "pairs.parquet", "passages.parquet", "gazetteer.parquet", "rejects.jsonl"}
MERGED_ARRAYS = {"entity_hash", "entity_freq", "nbr_indptr", "nbr_id", "nbr_count", "doc_indptr", "doc_ids"}
ROW_CHUNK = 200_000  # entities per chunk when writing postings as (hash, document) lists
SUMMED = ("documents", "tokens", "chars", "mentions", "pair_instances", "rejects", "shards")


def _dictionary(path: Path) -> str | None:
    gz = path / "gazetteer.parquet"
    return sha256_file(gz) if gz.exists() else None


def check_compatible(paths: Sequence[Path], manifests: Sequence[dict]) -> None:
    """Raise ConfigError naming the first parameter on which an index differs from the first one."""
    first, m0 = paths[0], manifests[0]
    checks = {
        "schema_version": lambda p, m: m.get("schema_version"),
        "window": lambda p, m: m["build"].get("window"),
        "extractor": lambda p, m: m["build"].get("extractor"),
        "extractor configuration": lambda p, m: m["build"].get("extractor_config"),
        "extractor dictionary (gazetteer.parquet)": lambda p, m: _dictionary(p),
        "normalizer (quco version that built it)": lambda p, m: m.get("quco_version"),
    }
    for path, m in zip(paths[1:], manifests[1:]):
        for what, get in checks.items():
            a, b = get(first, m0), get(path, m)
            if a != b:
                if what.startswith("extractor dictionary"):
                    a, b = (f"sha256 {x[:12]}" if x else "none" for x in (a, b))
                raise ConfigError(f"cannot merge {path} into {first}: the {what} differs ({b} vs {a}); indexes "
                                  f"merge only when built with the same one (build the others with "
                                  f"--gazetteer-from {first} for the same dictionary)")


def _as_partial(index: Path, part: Path, documents: int) -> None:
    """Lay out ``index`` as a shard partial in ``part``. The index's symmetric pair rows are already a partial's
    pair rows (entities in hash order, partners ascending), so they are linked, not copied."""
    part.mkdir(parents=True)
    arrays = index / "arrays"
    links = {"entities.parquet": index / "entities.parquet", "passages.parquet": index / "passages.parquet",
             "post_doc.npy": arrays / "doc_ids.npy", "pairs_vocab.npy": arrays / "entity_hash.npy",
             "pairs_indptr.npy": arrays / "nbr_indptr.npy", "pairs_partner.npy": arrays / "nbr_id.npy",
             "pairs_n.npy": arrays / "nbr_count.npy"}
    for name, target in links.items():
        os.symlink(target, part / name)
    entity_hash = np.load(arrays / "entity_hash.npy")
    doc_indptr = np.load(arrays / "doc_indptr.npy", mmap_mode="r")
    post = NpyAppender(part / "post_h.npy", np.uint64)
    for s in range(0, entity_hash.shape[0], ROW_CHUNK):
        e = min(s + ROW_CHUNK, entity_hash.shape[0])
        post.append(np.repeat(entity_hash[s:e], np.diff(np.asarray(doc_indptr[s:e + 1]))))
    post.close()
    atomic_write_bytes(part / "stats.json", json.dumps({"documents": documents}).encode())


def _fingerprint(manifests: Sequence[dict]) -> dict[str, Any]:
    """The corpus fingerprint of the inputs of all indexes, in order: what one build over them would record."""
    entries = [e for m in manifests for e in m["corpus"]["files"]]
    h = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    return {"sha256": h, "files": entries, "bytes": sum(e["bytes"] for e in entries)}


def merge_indexes(indexes: Sequence[str | Path], out: str | Path, *, retrieval: Sequence[str] | None = None,
                  blend: bool = True, progress: bool = False, lock: bool = True, workers: int = 1,
                  buckets: int = 0) -> dict[str, Any]:
    """Sum compatible ``indexes`` into ``out`` (which may be one of them), swapped in atomically; returns the
    manifest. ``retrieval``: backends to build (default: those of the first index). The reduce runs as
    ``buckets`` tasks (0: automatic) on a local pool of ``workers`` processes (1: in this process)."""
    if len(indexes) < 2:
        raise ConfigError("quco merge needs at least two indexes")
    paths = [Path(p).resolve() for p in indexes]
    if len(set(paths)) < len(paths):
        raise ConfigError("an index is given twice: its counts would be added twice")
    manifests = [read_manifest(p) for p in paths]
    check_compatible(paths, manifests)
    out = Path(out).resolve()
    check_target(out)
    if not lock:
        return _merge(paths, manifests, out, retrieval, blend, progress, ("local", workers, None), buckets)
    with lock_target(out):
        return _merge(paths, manifests, out, retrieval, blend, progress, ("local", workers, None), buckets)


def _merge(paths: list[Path], manifests: list[dict], out: Path, retrieval: Sequence[str] | None, blend: bool,
           progress: bool, engine: tuple[str, int, str | None], buckets: int = 0) -> dict[str, Any]:
    """Merge into ``out``; ``engine`` (executor name, workers, address) runs the bucketed reduce."""
    t0 = time.perf_counter()
    work = out.parent / f".{out.name}.merging"
    if work.exists():
        shutil.rmtree(work)
    partials = [work / "parts" / f"{i:05d}" for i in range(len(paths))]
    docs = [int(m["stats"]["documents"]) for m in manifests]
    for p, part, n in zip(paths, partials, docs):
        _as_partial(p, part, n)
    root = work / "index"
    (root / "arrays").mkdir(parents=True)
    ent = merge_entities(partials, root, tmp=work)
    entity_hash, entity_freq = ent.column("hash").to_numpy(), ent.column("freq").to_numpy()
    np.save(root / "arrays" / "entity_hash.npy", entity_hash)
    np.save(root / "arrays" / "entity_freq.npy", entity_freq)
    with make_executor(*engine) as ex:
        ex.start({})
        reduced = reduce_on(ex, partials, docs, root, work, buckets, progress)
    n_pairs, rows = reduced["pairs"], reduced["rows"]
    n_passages = _write_passages(partials, root / "passages.parquet")
    if (paths[0] / "gazetteer.parquet").exists():
        shutil.copy(paths[0] / "gazetteer.parquet", root / "gazetteer.parquet")
    rejects = [p / "rejects.jsonl" for p in paths if (p / "rejects.jsonl").exists()]
    if rejects:
        (root / "rejects.jsonl").write_bytes(b"".join(r.read_bytes() for r in rejects))
    timing = {"merge": time.perf_counter() - t0}
    backends = list(manifests[0]["build"].get("retrieval", []) if retrieval is None else retrieval)
    t = time.perf_counter()
    retrieval_stats = build_retrieval(root, backends=backends, progress=progress) if backends else {}
    timing["retrieval"] = time.perf_counter() - t
    dropped = sorted({a for m in manifests for a in m["artifacts"]
                      if a not in MERGED and not (a.startswith("arrays/") and Path(a).stem in MERGED_ARRAYS)
                      and not a.startswith(("retrieval/", "arrays/entity_vec", "arrays/blend"))})
    stats: dict[str, Any] = {k: sum(int(m["stats"].get(k, 0)) for m in manifests) for k in SUMMED}
    stats.update(entities=int(entity_hash.shape[0]), pairs=int(n_pairs), passages=n_passages, timing=timing,
                 retrieval=retrieval_stats, merge={"indexes": [str(p) for p in paths], "dropped": dropped},
                 reduce=reduced["stats"])
    if "harvest" in manifests[0]["stats"]:
        stats["harvest"] = manifests[0]["stats"]["harvest"]
    if blend and stats["entities"] > 1:
        t = time.perf_counter()
        stats["blend"] = compute_embeddings(root, n_documents=stats["documents"])
        timing["blend"] = time.perf_counter() - t
    rows.update({"entities.parquet": stats["entities"], "pairs.parquet": n_pairs, "passages.parquet": n_passages,
                 "arrays/entity_hash.npy": stats["entities"], "arrays/entity_freq.npy": stats["entities"]})
    timing["total"] = time.perf_counter() - t0
    build = {**manifests[0]["build"], "retrieval": backends,
             "inputs": [i for m in manifests for i in m["build"].get("inputs", [])]}
    manifest = {"format": "quco-index", "schema_version": SCHEMA_VERSION, "quco_version": quco.__version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "build": build,
                "corpus": _fingerprint(manifests), "stats": stats, "artifacts": {}}
    for p in artifact_files(root):
        rel = p.relative_to(root).as_posix()
        manifest["artifacts"][rel] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        if rel in rows:
            manifest["artifacts"][rel]["rows"] = rows[rel]
    manifest["checksum"] = manifest_checksum(manifest)
    atomic_write_bytes(root / MANIFEST, json.dumps(manifest, indent=1).encode())
    swap_into_place(root, out)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


def append_to_index(index: str | Path, inputs: Sequence[str], *, workers: int = 0, executor: str = "local",
                    address: str | None = None, progress: bool = False, buckets: int = 0) -> dict[str, Any]:
    """Count ``inputs`` with ``index``'s parameters and dictionary and add them to it, atomically; returns the
    new manifest. The old shards are not counted again."""
    index = Path(index).resolve()
    m = read_manifest(index)
    b = m["build"]
    tmp = index.parent / f".{index.name}.append"
    if tmp.exists():
        shutil.rmtree(tmp)
    gz = index / "gazetteer.parquet"
    with lock_target(index):
        cfg = BuildConfig(inputs=list(inputs), out=str(tmp), format=b["format"], window=b["window"],
                          text_field=b["text_field"], extractor=b["extractor"], labels=b["labels"],
                          harvest_sample=b["harvest_sample"], entities=b["entities"], titles=b["titles"],
                          phrases=b["phrases"], shard_docs=b["shard_docs"], shard_chars=b["shard_chars"],
                          on_bad_record=b["on_bad_record"], retrieval=(), blend=False, progress=progress,
                          workers=workers, executor=executor, address=address, buckets=buckets,
                          gazetteer=str(gz) if gz.exists() else None)
        build(cfg)
        try:
            engine = (executor, workers or os.cpu_count() or 1, address)
            merged = _merge([index, tmp], [m, read_manifest(tmp)], index, None, "blend" in m["stats"], progress,
                            engine, buckets)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return merged


__all__ = ["append_to_index", "check_compatible", "merge_indexes"]
