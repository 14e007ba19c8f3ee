"""Build an index: read -> (harvest a gazetteer) -> count shards in worker processes -> merge -> write atomically.

The build works in a sibling directory ``.<name>.building/`` of ``--out``: partials and completion markers live
there, so a killed build run again with ``resume=True`` skips the shards it finished. The finished index is
assembled in ``.<name>.building/index`` and swapped into place with one atomic rename (``renameat2`` exchange on
Linux), so readers of an existing index at ``--out`` never see a half-written one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import quco
from quco.cooccur.bm25 import GROUP_ROWS
from quco.cooccur.extract import DEFAULT_LABELS, extractor_class
from quco.cooccur.store import MANIFEST, SCHEMA_VERSION, artifact_files, manifest_checksum, sha256_file
from quco.errors import BuildError, ConfigError
from quco.index_builder.blend_build import compute_embeddings
from quco.index_builder.bm25_build import build_retrieval
from quco.index_builder.buckets import reduce_partials
from quco.index_builder.memory import trim_heap
from quco.index_builder.merge import merge_entities
from quco.index_builder.executors import Executor, Progress, completed_shards, make_executor, run_count
from quco.index_builder.shard import PARTIAL_FORMAT, atomic_write_bytes
from quco.index_builder.suffix_build import PhraseJob, close_phrase_jobs
from quco.index_builder.shard_plan import ReadOptions, extractor_config
from quco.index_builder.swap import check_target, lock_target, swap_into_place

AUTO_GAZETTEER_BYTES = 20_000_000  # inputs larger than this default to the gazetteer extractor


@dataclass
class BuildConfig:
    """Everything that determines a build. Fields that change counts go into the manifest and the resume key."""

    inputs: list[str]
    out: str
    format: str = "auto"
    window: int = 1000
    text_field: str = "text"
    extractor: str = "auto"  # auto | spacy | gazetteer
    labels: Sequence[str] = DEFAULT_LABELS
    harvest_sample: int = 500_000  # characters of text run through spaCy NER to harvest gazetteer entries
    entities: str | None = None  # user entity list / alias table for the gazetteer
    titles: bool = True  # harvest article titles (formats that have them)
    phrases: bool = False  # harvest capitalized phrases over the whole corpus (index_builder/phrases.py)
    workers: int = 0  # 0 = all cores
    shard_docs: int = 2000
    shard_chars: int = 32_000_000
    resume: bool = False
    on_bad_record: str = "error"
    retrieval: Sequence[str] = ("bm25s",)
    blend: bool = True  # precompute the field-distance vectors of creative-mode blends (index_builder/blend_build.py)
    phrase_counts: bool = True  # exact counts of any phrase: a suffix array (index_builder/suffix_build.py)
    progress: bool = True
    executor: str = "local"  # local | dask | a plugin's (quco.index_builder.executors); does not change counts
    address: str | None = None  # a cluster scheduler for executors that have one (dask: tcp://host:8786)
    gazetteer: str | None = None  # use this gazetteer.parquet as the dictionary, no harvest (--append, merges)
    buckets: int = 0  # tasks of the reduce (index_builder/buckets.py); 0 = from the pair entries; no effect on counts
    extra: dict = field(default_factory=dict)

    def count_params(self, extractor: str) -> dict[str, Any]:
        return {"window": self.window, "format": self.format, "text_field": self.text_field, "extractor": extractor,
                "labels": sorted(self.labels), "harvest_sample": self.harvest_sample, "entities": self.entities,
                "titles": self.titles, "phrases": self.phrases, "shard_docs": self.shard_docs, "shard_chars": self.shard_chars,
                "on_bad_record": self.on_bad_record,
                **({"gazetteer": self.gazetteer} if self.gazetteer else {})}


# Files a corpus directory holds beside its shards, never read as corpus text when a directory is given (a file
# named on the command line is always read): documentation, code and configuration.
_NOT_CORPUS_SUFFIXES = frozenset({".md", ".rst", ".py", ".ipynb", ".sh", ".yaml", ".yml", ".toml", ".cfg", ".ini",
                                  ".lock", ".sha256", ".md5"})
_NOT_CORPUS_NAMES = ("readme", "license", "licence", "copying", "notice", "changelog", "authors")


def _not_corpus(path: Path) -> bool:
    name = path.name.lower()
    return path.suffix.lower() in _NOT_CORPUS_SUFFIXES or name.split(".")[0] in _NOT_CORPUS_NAMES


def _expand_inputs(inputs: Sequence[str], say=None) -> list[Path]:
    """The corpus files of the inputs: a file as named, a directory's files (recursively, hidden ones and
    documentation or code beside the shards left out, each left-out file named through ``say``)."""
    files: list[Path] = []
    left: list[tuple[str, list[Path]]] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            kept, skipped = [], []
            for q in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")):
                (skipped if _not_corpus(q) else kept).append(q)
            if skipped:
                left.append((raw, skipped))
            files.extend(kept)
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"input not found: {raw}")
    notes = [f"{len(qs)} file(s) of {raw} that are not corpus text ({', '.join(q.name for q in qs[:5])}"
             f"{', ...' if len(qs) > 5 else ''})" for raw, qs in left]
    if not files:
        raise ConfigError("no input files" + (f": not reading {'; '.join(notes)}; name a file to read it"
                                              if notes else ""))
    if notes and say is not None:
        say(f"quco build: not reading {'; '.join(notes)}; name a file to read it")
    return files


def corpus_fingerprint(files: Sequence[Path]) -> dict[str, Any]:
    entries = [{"name": f.name, "bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files]
    h = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    return {"sha256": h, "files": entries, "bytes": sum(e["bytes"] for e in entries)}


def _step(cfg: BuildConfig, what: str) -> None:
    """Say on stderr which long step starts (with progress on): none of them leaves the terminal silent."""
    if cfg.progress:
        print(f"quco build: {what} ...", file=sys.stderr, flush=True)


# ---- the count: shards on an executor (quco.index_builder.executors) -------------------------------------------
def _count(ex: Executor, files, cfg: BuildConfig, spec: dict, work: Path, reject) -> list[str]:
    """Run every shard not yet complete on ``ex``, left running for the reduce; returns all shard ids in order."""
    done = completed_shards(work) if cfg.resume else set()
    cfg.extra["resumed_shards"] = len(done)
    total = sum(f.stat().st_size for f in files)
    bar = Progress(cfg.progress, "counting", total=None if any(str(f).endswith((".zst", ".gz")) for f in files)
                   else total)
    opts = ReadOptions(cfg.format, cfg.text_field, cfg.on_bad_record, cfg.shard_docs, cfg.shard_chars)
    try:
        return run_count(ex, files, opts, spec, cfg.window, work, done, reject, bar.update, close=False)
    finally:
        bar.close()


def reduce_on(ex: Executor, partials: Sequence[Path], documents: Sequence[int], root: Path, work: Path,
              buckets: int, progress: bool) -> dict[str, Any]:
    """The bucketed reduce (``index_builder/buckets.py``) on ``ex``, with one progress bar over its buckets."""
    bar = Progress(progress, "reducing", unit="bucket")
    try:
        return reduce_partials(ex, partials, documents, root, work, buckets, bar.update, bar.set_total)
    finally:
        bar.close()


def _write_passages(partials: Sequence[Path], target: Path) -> int:
    schema = pa.schema([("passage_id", pa.int64()), ("doc_id", pa.string()), ("title", pa.string()),
                        ("text", pa.string())])
    n = 0
    # small row groups, so that retrieval reads only the groups holding its top-k passages (cooccur/bm25.py)
    small = ["passage_id", "doc_id", "title"]
    with pq.ParquetWriter(str(target), schema, compression="zstd", write_statistics=small,
                          use_dictionary=small) as w:
        for p in partials:
            pf = pq.ParquetFile(str(p / "passages.parquet"))
            for batch in pf.iter_batches(batch_size=8192, columns=["doc_id", "title", "text"]):
                ids = pa.array(np.arange(n, n + batch.num_rows, dtype=np.int64))
                w.write_table(pa.Table.from_batches([batch]).add_column(0, "passage_id", ids).cast(schema),
                              row_group_size=GROUP_ROWS)
                n += batch.num_rows
    return n


def _manifest(root: Path, cfg: BuildConfig, extractor: str, spec: dict, fingerprint: dict, stats: dict,
              rows: dict[str, int]) -> dict:
    artifacts = {}
    for p in artifact_files(root):
        rel = p.relative_to(root).as_posix()
        artifacts[rel] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        if rel in rows:
            artifacts[rel]["rows"] = rows[rel]
    return {
        "format": "quco-index",
        "schema_version": SCHEMA_VERSION,
        "quco_version": quco.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build": {**cfg.count_params(extractor), "extractor_config": extractor_config(spec),
                  "retrieval": list(cfg.retrieval), "inputs": [str(i) for i in cfg.inputs]},
        "corpus": fingerprint,
        "stats": stats,
        "artifacts": artifacts,
    }


def build(cfg: BuildConfig) -> dict[str, Any]:
    """Build the index described by ``cfg``; returns the manifest."""
    if any("://" in str(p) for p in [*cfg.inputs, cfg.out]):  # fsspec URLs: staged in, uploaded out
        from quco.index_builder.remote import build_with_urls

        return build_with_urls(cfg, build)
    t0 = time.perf_counter()
    if cfg.window < 1:
        raise ConfigError("--window must be a positive number of tokens")
    if cfg.on_bad_record not in ("error", "skip"):
        raise ConfigError("--on-bad-record must be 'error' or 'skip'")
    files = _expand_inputs(cfg.inputs, lambda m: print(m, file=sys.stderr, flush=True))
    out = Path(cfg.out).resolve()
    check_target(out)
    with lock_target(out):
        try:
            return _build(cfg, files, out, t0)
        finally:
            close_phrase_jobs()  # a failed build leaves no phrase-count process behind


def _build(cfg: BuildConfig, files: list[Path], out: Path, t0: float) -> dict[str, Any]:
    work = out.parent / f".{out.name}.building"
    workers = cfg.workers or os.cpu_count() or 1
    total_bytes = sum(f.stat().st_size for f in files)
    extractor = cfg.extractor
    feeds_gazetteer = [flag for flag, on in (("--phrases", cfg.phrases), ("--entities", cfg.entities),
                                             ("--gazetteer-from", cfg.gazetteer)) if on]
    if extractor == "auto":  # an entity list or the phrase harvest only mean something to the gazetteer
        big = total_bytes > AUTO_GAZETTEER_BYTES
        extractor = "gazetteer" if big or feeds_gazetteer else "spacy"
    uses_gazetteer = extractor_class(extractor).uses_gazetteer  # unknown names fail here, listing the available
    if not uses_gazetteer and feeds_gazetteer:
        raise ConfigError(f"{' and '.join(feeds_gazetteer)} add entries to the gazetteer, which the {extractor} "
                          f"extractor does not use: drop --extractor {extractor} (or use --extractor gazetteer)")
    fingerprint = corpus_fingerprint(files)
    params = {"count": cfg.count_params(extractor), "corpus": fingerprint["sha256"], "partials": PARTIAL_FORMAT}
    params_path = work / "params.json"
    if cfg.resume and params_path.exists() and json.loads(params_path.read_text()) != params:
        raise ConfigError(f"{work} holds a build with other parameters or inputs; run without --resume")
    if not cfg.resume and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(params_path, json.dumps(params, sort_keys=True).encode())
    phrase_job = None
    if cfg.phrase_counts:  # a child process beside harvest, count, merge and retrieval; waited for before blends
        phrase_job = PhraseJob(files, work / "phrase", {"format": cfg.format, "text_field": cfg.text_field,
                                                        "on_bad_record": cfg.on_bad_record},
                               background=workers > 1 and total_bytes > AUTO_GAZETTEER_BYTES)
    rejects_path = work / "rejects.jsonl"
    rejects_n = 0

    def reject(rec: dict) -> None:
        nonlocal rejects_n
        rejects_n += 1
        with open(rejects_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    if not cfg.resume and rejects_path.exists():
        rejects_path.unlink()
    timing: dict[str, float] = {}
    spec: dict[str, Any] = {"name": extractor, "labels": list(cfg.labels), "work": str(work)}
    if uses_gazetteer:
        from quco.index_builder.harvest import harvest

        t = time.perf_counter()
        gz_path = work / "gazetteer.parquet"
        if cfg.gazetteer:  # a given dictionary: counts that merge with those of the index it comes from
            given = Path(cfg.gazetteer) / "gazetteer.parquet" if Path(cfg.gazetteer).is_dir() else Path(cfg.gazetteer)
            if not given.is_file():
                raise ConfigError(f"--gazetteer-from {cfg.gazetteer}: no gazetteer.parquet there (an index built "
                                  "with the gazetteer extractor, or its gazetteer.parquet)")
            shutil.copy(given, gz_path)
            atomic_write_bytes(work / "harvest.json", json.dumps({"from": str(cfg.gazetteer)}).encode())
        elif not (cfg.resume and gz_path.exists()):
            _step(cfg, f"harvesting the gazetteer from {len(files)} file(s)"
                  + (" (capitalized phrases over the whole corpus)" if cfg.phrases else ""))
            g, hstats = harvest(files, cfg)
            g.save(work / "gazetteer.parquet.tmp")
            os.replace(work / "gazetteer.parquet.tmp", gz_path)
            atomic_write_bytes(work / "harvest.json", json.dumps(hstats).encode())
        timing["harvest"] = time.perf_counter() - t
    t = time.perf_counter()
    if cfg.resume and rejects_path.exists():
        rejects_path.unlink()  # the reader pass runs again in full and re-reports every reject
    ex = make_executor(cfg.executor, workers, cfg.address)  # the count's engine runs the reduce too
    try:
        shard_ids = _count(ex, files, cfg, spec, work, reject if cfg.on_bad_record == "skip" else None)
        timing["count"] = time.perf_counter() - t
        partials = [work / "partials" / s for s in shard_ids]
        n_docs = sum(json.loads((p / "stats.json").read_text())["documents"] for p in partials)
        if n_docs == 0:  # an empty index would only fail later, at query time
            raise ConfigError(f"no corpus documents in {', '.join(map(str, cfg.inputs))}"
                              + (f" ({rejects_n} records rejected)" if rejects_n else "")
                              + ": nothing to index; pass WikiExtractor, JSONL, Parquet or plain text files")

        t = time.perf_counter()
        _step(cfg, f"merging {len(partials)} shard(s)")
        root = work / "index"
        if root.exists():
            shutil.rmtree(root)
        (root / "arrays").mkdir(parents=True)
        ent = merge_entities(partials, root, tmp=work)
        entity_hash = ent.column("hash").to_numpy()
        entity_freq = ent.column("freq").to_numpy()
        if entity_hash.shape[0] == 0:
            raise ConfigError(f"no entities found in the {n_docs:,} documents of the corpus: an index without "
                              "entities answers nothing; give a larger corpus, or entities with --entities")
        np.save(root / "arrays" / "entity_hash.npy", entity_hash)
        np.save(root / "arrays" / "entity_freq.npy", entity_freq)
        timing["entities"] = time.perf_counter() - t
        shard_stats = [json.loads((p / "stats.json").read_text()) for p in partials]
        reduced = reduce_on(ex, partials, [s["documents"] for s in shard_stats], root, work, cfg.buckets,
                            cfg.progress)
        ex.close()  # the engine's workers are not needed past the reduce
        n_pairs, array_rows = reduced["pairs"], reduced["rows"]
        n_passages = _write_passages(partials, root / "passages.parquet")
        if uses_gazetteer:
            shutil.copy(work / "gazetteer.parquet", root / "gazetteer.parquet")
        if rejects_path.exists():
            shutil.copy(rejects_path, root / "rejects.jsonl")
        timing["merge"] = time.perf_counter() - t
    finally:
        ex.close()
    t = time.perf_counter()
    retrieval_stats = {}
    if cfg.retrieval:
        retrieval_stats = build_retrieval(root, backends=list(cfg.retrieval), progress=cfg.progress)
    timing["retrieval"] = time.perf_counter() - t
    if phrase_job is not None:  # the child's suffix sort now meets no other large step
        trim_heap()
        phrase_job.release()

    stats: dict[str, Any] = {k: sum(s[k] for s in shard_stats) for k in
                             ("documents", "tokens", "chars", "mentions", "pair_instances")}
    stats.update(entities=int(entity_hash.shape[0]), pairs=int(n_pairs), passages=n_passages, rejects=rejects_n,
                 shards=len(partials), resumed_shards=cfg.extra.get("resumed_shards", 0), workers=workers,
                 timing=timing,
                 stage_seconds={k: round(sum(s["timing"].get(k, 0.0) for s in shard_stats), 3)
                                for k in ("tokenize", "extract", "pairs", "passages", "write")},
                 retrieval=retrieval_stats, reduce=reduced["stats"])
    if uses_gazetteer:
        stats["harvest"] = json.loads((work / "harvest.json").read_text())
    if phrase_job is not None:
        t = time.perf_counter()  # before blends: their peak and the phrase build's do not add up
        stats["phrase_counts"] = phrase_job.finish(root / "arrays")
        if stats["phrase_counts"]["documents"] != stats["documents"]:
            raise BuildError(f"the phrase arrays have {stats['phrase_counts']['documents']} documents, the counts "
                             f"{stats['documents']}: the two reads of the corpus differ")
        array_rows.update(PhraseJob.rows(root / "arrays"))
        timing["phrase_counts_wait"] = time.perf_counter() - t
    if cfg.blend and stats["entities"] > 1:
        t = time.perf_counter()
        _step(cfg, f"computing the blend vectors of {stats['entities']:,} entities")
        stats["blend"] = compute_embeddings(root, n_documents=stats["documents"])
        timing["blend"] = time.perf_counter() - t
    rows = {"entities.parquet": stats["entities"], "pairs.parquet": n_pairs, "passages.parquet": n_passages,
            "arrays/entity_hash.npy": stats["entities"], "arrays/entity_freq.npy": stats["entities"], **array_rows}
    timing["total"] = time.perf_counter() - t0
    manifest = _manifest(root, cfg, extractor, spec, fingerprint, stats, rows)
    manifest["checksum"] = manifest_checksum(manifest)
    atomic_write_bytes(root / MANIFEST, json.dumps(manifest, indent=1).encode())
    swap_into_place(root, out)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


def build_index(inputs: Sequence[str], out: str, **kwargs: Any) -> dict[str, Any]:
    """Library entry point: ``build_index(["corpus.jsonl"], "idx", window=1000)``."""
    return build(BuildConfig(inputs=list(inputs), out=out, **kwargs))


__all__ = ["BuildConfig", "build", "build_index"]
