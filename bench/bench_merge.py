"""The pair reduce of shard partials, measured both ways: the build's numba bucket reduce against a DuckDB GROUP BY.

    python bench/bench_merge.py --quick          # synthetic corpus, titles gazetteer; under a minute, no ../shared
    python bench/bench_merge.py                  # wiki2015 AA + AB, titles gazetteer
    python bench/bench_merge.py --corpus ../shared/data/wiki2015 --index /tmp/full3.idx
                                                 # all of wiki2015 with an index's gazetteer
    python bench/bench_merge.py --ks 1,4 --memory-limit 2GB,256MB --threads 2,1
                                                 # a numba row per K, a DuckDB row per limit and thread count
    python bench/bench_merge.py --render bench/out/bench-merge.json      # print a saved run's table again

**Partials.** Real ones, made by the build's own count: ``run_count`` on the local executor (``--workers``
processes, shards of ``--shard-docs`` documents or 32 M characters, window 1,000) with the gazetteer extractor,
then ``merge_entities`` for the global entity table (an entity's id is the rank of its hash). The gazetteer is
the one of ``--index DIR`` (its ``gazetteer.parquet``), else the corpus's article titles
(``Gazetteer.from_entries``, no spaCy). A partial holds its pairs once per direction, as rows over the shard's
entities in hash order (``pairs_vocab``, ``pairs_indptr``, ``pairs_partner``, ``pairs_n``: 8 bytes an entry;
``index_builder/shard.py``). Partials are kept in ``--work`` and reused while the recipe matches.

**What is summed.** Every partial's directed entries, into one sorted list of keys ``row << 32 | partner``
(global ids) with their summed counts: the pair part of the bucketed reduce (``index_builder/buckets.py``), which
lays these keys out as the index's ``nbr_*`` rows. The postings and the assembly of the index's files are not in
it (they are the same whoever sums the pairs).

**Methods**, each in a fresh interpreter (``bench_common.run_child``) that first imports numpy, pyarrow, DuckDB
and the build's bucket module and loads numba's ``merge_sum`` (compile or cache), so all start from the same
resident baseline; only the reduce is timed (wall, and CPU time of all the process's threads). Each writes
``pair_key.npy`` (int64) and ``pair_count.npy`` (int32) with the build's ``NpyAppender``:

- ``numba K=k``: ``bucket_bounds(entity_freq, k)`` as the build cuts them, then ``bucket_pairs`` for each bucket
  one after another, as a bucket task runs it (binary search for the slice of every partial, hash -> id by
  ``searchsorted``, ``PairAccumulator`` runs of ``merge_sum``); single-threaded. ``K=1`` is the whole reduce in
  one task, the reference of every ratio.
- ``duckdb-arrow@LIMIT``: ``SET memory_limit=LIMIT``, ``temp_directory`` in the work dir, ``threads`` as
  ``merge_entities`` (2; ``/Nt`` in the name when ``--threads`` asks for others),
  ``preserve_insertion_order=false``. The partials' rows are streamed to DuckDB as Arrow record batches, one per
  partial, of flat ``(ha, hb, n)`` entries (the row's hash repeated over its entries, the partner's hash looked
  up in the shard's vocabulary: numpy, inside the timed part); the entity table (hash, id = rank) is wrapped
  zero-copy. Hashes become ids by two hash joins with the entity table, then ``GROUP BY key SUM(n) ... ORDER BY
  key``, streamed out in Arrow batches.
- ``duckdb-parquet@LIMIT``: the same query over ``read_parquet`` of the flat entries written to Parquet first
  (DuckDB's native scan; the conversion is timed separately, in its own child, as ``prep``).

Peak RSS is the child's ``VmHWM`` (resident pages of every kind, memory-mapped file pages included): what
``ru_maxrss`` would say, were it not for Linux carrying the launching process's peak over ``exec``. The child also
samples its anonymous and file-backed RSS (``/proc/self/status``, every 50 ms) and, for DuckDB, the size of its
spill directory. Every method's outputs are checked equal to ``numba K=1``'s, whose keys must increase strictly
and whose count total must equal the partials'. The machine may be shared: ``uptime`` is printed and the load
average recorded at start, after every run and at the end, and CPU time is shown beside wall time. Results (every
run of every method) go to ``bench/out/bench-merge.json``, one key per mode.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (OUT_DIR, WIKI, corpus_files, load_average, machine_info, run_child,  # noqa: E402
                          synthetic_corpus)

OUT = OUT_DIR / "bench-merge.json"
RSS_BOUND_MIB = 4096
REFERENCE = "numba K=1"
MODES = {
    # synthetic corpus bytes (quick only), documents per shard, measured rounds
    "quick": dict(corpus_bytes=16_000_000, shard_docs=250, repeat=1),
    "full": dict(corpus_bytes=None, shard_docs=2000, repeat=3),
}

# ---- children ---------------------------------------------------------------------------------------------------
_CHILD_SETUP = """
import os, threading
from pathlib import Path
import numpy as np
import duckdb, pyarrow as pa, pyarrow.parquet as pq
from quco.index_builder import buckets as B
from quco.index_builder.merge import NpyAppender
from quco.cooccur.kernels import merge_sum

_mem = {"anon": 0, "file": 0}
def _status():
    d = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:", "RssShmem:")):
                k, v = line.split(":", 1)
                d[k] = int(v.split()[0]) / 1024
    return d
def _mem_watch():
    while True:
        s = _status()
        _mem["anon"] = max(_mem["anon"], s.get("RssAnon", 0))
        _mem["file"] = max(_mem["file"], s.get("RssFile", 0) + s.get("RssShmem", 0))
        time.sleep(0.05)
threading.Thread(target=_mem_watch, daemon=True).start()
_one = np.ones(1, np.int64)
merge_sum(_one, _one, _one, _one)  # numba: compiled or loaded from cache before timing, on every side alike
partials = [Path(p) for p in ARGS["partials"]]
out = Path(ARGS["out"])
entity_hash = np.load(ARGS["entity_hash"])
baseline = _status()
def _flat(p):
    # a partial's directed entries as flat (row hash, partner hash, count)
    vocab = np.load(p / "pairs_vocab.npy")
    indptr = np.load(p / "pairs_indptr.npy")
    partner = np.load(p / "pairs_partner.npy")
    return (np.repeat(vocab, np.diff(indptr)), vocab[partner.astype(np.int64)],
            np.load(p / "pairs_n.npy").astype(np.int64))
def _done(result, wall, cpu):
    result.update(wall_s=wall, cpu_s=cpu, peak_rss_mib=round(_status()["VmHWM"], 1),
                  baseline_rss_mib=round(baseline["VmRSS"], 1),
                  baseline_anon_mib=round(baseline["RssAnon"], 1), peak_anon_mib=round(_mem["anon"], 1),
                  peak_file_mib=round(_mem["file"], 1))
    _report(result)
"""

_NUMBA_CHILD = _CHILD_SETUP + """
entity_freq = np.load(ARGS["entity_freq"])
c, t = time.process_time(), time.perf_counter()
bounds = B.bucket_bounds(entity_freq, int(ARGS["k"]))
keys_out, counts_out = NpyAppender(out / "pair_key.npy", np.int64), NpyAppender(out / "pair_count.npy", np.int32)
n, read, largest = 0, 0, 0
for i0, i1 in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
    keys, counts, r = B.bucket_pairs([str(p) for p in partials], entity_hash, i0, i1)
    keys_out.append(keys)
    counts_out.append(counts)
    n, read, largest = n + keys.shape[0], read + r, max(largest, keys.shape[0])
    del keys, counts
keys_out.close()
counts_out.close()
wall, cpu = time.perf_counter() - t, time.process_time() - c
_done({"distinct": n, "entries_read": read, "buckets": len(bounds) - 1, "largest_bucket": largest}, wall, cpu)
"""

_DUCKDB_CHILD = _CHILD_SETUP + """
tmp = out / "duckdb_tmp"
tmp.mkdir(parents=True, exist_ok=True)
spill, stop = [0], threading.Event()
def _spill_watch():
    while not stop.is_set():
        try:
            spill[0] = max(spill[0], sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()))
        except OSError:
            pass
        stop.wait(0.1)
threading.Thread(target=_spill_watch, daemon=True).start()

c, t = time.process_time(), time.perf_counter()
con = duckdb.connect()
con.execute(f"SET memory_limit='{ARGS['memory_limit']}'")
con.execute(f"SET threads={int(ARGS['threads'])}")
con.execute("SET preserve_insertion_order=false")
con.execute(f"SET temp_directory='{tmp}'")
hm = np.load(ARGS["entity_hash"], mmap_mode="r")  # zero-copy: the Arrow buffer is the memory map
con.register("ent", pa.table({"hash": pa.Array.from_buffers(pa.uint64(), hm.shape[0], [None, pa.py_buffer(hm)]),
                              "id": pa.array(np.arange(entity_hash.shape[0], dtype=np.int64))}))
if ARGS["source"] == "arrow":
    schema = pa.schema([("ha", pa.uint64()), ("hb", pa.uint64()), ("n", pa.int64())])
    def _batches():
        for p in partials:  # one partial's flat entries in memory at a time
            yield pa.record_batch(list(_flat(p)), schema=schema)
    if ARGS.get("stream"):  # one partial's entries in memory at a time; DuckDB scans the stream on one thread
        con.register("pairs", pa.RecordBatchReader.from_batches(schema, _batches()))
    else:  # every partial's entries in memory (24 bytes an entry), scanned in parallel
        con.register("pairs", pa.Table.from_batches(list(_batches()), schema=schema))
else:
    files = ", ".join("'" + str(f).replace("'", "''") + "'" for f in ARGS["parquet_files"])
    con.execute(f"CREATE VIEW pairs AS SELECT ha, hb, n FROM read_parquet([{files}])")
# con.sql streams the result (con.execute(...).to_arrow_reader copies it, and with preserve_insertion_order=false
# returns its batches out of ORDER BY order, duckdb 2.0.0)
rel = con.sql('''SELECT (a.id << 32) | b.id AS key, sum(p.n)::INTEGER AS count
                 FROM pairs p JOIN ent a ON p.ha = a.hash JOIN ent b ON p.hb = b.hash
                 GROUP BY 1 ORDER BY 1''')
reader = (rel.to_arrow_reader(ARGS["batch_rows"]) if hasattr(rel, "to_arrow_reader")  # duckdb >= 1.4
          else rel.fetch_record_batch(ARGS["batch_rows"]))
t_query = time.perf_counter() - t
keys_out, counts_out = NpyAppender(out / "pair_key.npy", np.int64), NpyAppender(out / "pair_count.npy", np.int32)
n = 0
for b in reader:
    keys_out.append(b.column(0).to_numpy())
    counts_out.append(b.column(1).to_numpy())
    n += b.num_rows
keys_out.close()
counts_out.close()
con.close()
wall, cpu = time.perf_counter() - t, time.process_time() - c
stop.set()
_done({"distinct": n, "query_s": t_query, "spill_peak_mib": round(spill[0] / 2**20, 1),
       "memory_limit": ARGS["memory_limit"], "threads": ARGS["threads"], "source": ARGS["source"]}, wall, cpu)
"""

_PREP_CHILD = _CHILD_SETUP + """
c, t = time.process_time(), time.perf_counter()
for p, f in zip(partials, ARGS["parquet_files"]):
    Path(f).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(dict(zip(("ha", "hb", "n"), _flat(p)))), f)
wall, cpu = time.perf_counter() - t, time.process_time() - c
_done({"bytes": sum(Path(f).stat().st_size for f in ARGS["parquet_files"])}, wall, cpu)
"""


# ---- partials ---------------------------------------------------------------------------------------------------
def _log(msg: str) -> None:
    print(f"[bench-merge {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def uptime() -> str:
    """``uptime``'s line (the load averages over 1, 5 and 15 minutes), or the load average alone."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"load average: {', '.join(map(str, load_average()))}"


def titles_gazetteer(files: list[Path], path: Path) -> int:
    from quco.cooccur.gazetteer import Gazetteer
    from quco.index_builder.readers import read_documents

    g = Gazetteer.from_entries((d.title, "TITLE") for f in files for d in read_documents(f) if d.title)
    g.save(path)
    return len(g)


def make_partials(files: list[Path], work: Path, workers: int, shard_docs: int) -> dict[str, Any]:
    """Count every shard with the build's own count (local executor, ``workers`` processes) and merge the
    entities; returns the shard ids and the counting figures."""
    from quco.cooccur.extract import DEFAULT_LABELS
    from quco.index_builder.executors import make_executor, run_count
    from quco.index_builder.merge import merge_entities
    from quco.index_builder.shard_plan import ReadOptions

    opts = ReadOptions(shard_docs=shard_docs)
    spec = {"name": "gazetteer", "labels": list(DEFAULT_LABELS), "work": str(work)}  # work/gazetteer.parquet
    t = time.perf_counter()
    ids = run_count(make_executor("local", workers), files, opts, spec, 1000, work, set(), None, lambda n: None)
    count_s = time.perf_counter() - t
    partials = [work / "partials" / s for s in ids]
    stats = [json.loads((p / "stats.json").read_text()) for p in partials]
    t = time.perf_counter()
    (work / "merged").mkdir()
    ent = merge_entities(partials, work / "merged", tmp=work)
    np.save(work / "entity_hash.npy", ent.column("hash").to_numpy())
    np.save(work / "entity_freq.npy", ent.column("freq").to_numpy())
    return {"shards": ids, "count_wall_s": count_s, "window": 1000, "shard_docs": shard_docs,
            "shard_chars": opts.shard_chars, "entities": ent.num_rows, "merge_entities_s": time.perf_counter() - t,
            "pair_partial_mb": round(sum((p / f"pairs_{x}.npy").stat().st_size for p in partials
                                         for x in ("vocab", "indptr", "partner", "n")) / 1e6, 1),
            **{k: sum(s[k] for s in stats) for k in ("documents", "chars", "tokens", "mentions", "pair_instances")}}


def prepare(args: argparse.Namespace, mode: str, work: Path) -> dict[str, Any]:
    """Partials and the global entity table in ``work``, reused when made by the same recipe."""
    from quco.index_builder.shard import PARTIAL_FORMAT

    p = MODES[mode]
    if mode == "quick" and not args.corpus:
        corpus = work / "synthetic.txt"
        if not corpus.exists():
            synthetic_corpus(corpus, p["corpus_bytes"])
        files = [corpus]
    else:
        files = corpus_files(args.corpus or [WIKI / "wiki2015_AA.txt.zst", WIKI / "wiki2015_AB.txt.zst"])
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        sys.exit(f"no corpus at {', '.join(missing)}; pass --corpus, or --quick")
    gz_src = Path(args.index) / "gazetteer.parquet" if args.index else None
    if gz_src is not None and not gz_src.is_file():
        sys.exit(f"{gz_src} not found: --index needs an index built with the gazetteer extractor")
    shard_docs = args.shard_docs or p["shard_docs"]
    recipe = {"files": [[str(f.resolve()), f.stat().st_size] for f in files], "partial_format": PARTIAL_FORMAT,
              "gazetteer": [str(gz_src.resolve()), gz_src.stat().st_size] if gz_src else "titles",
              "shard_docs": shard_docs}
    made = work / "partials.json"
    if made.exists() and not args.fresh:
        info = json.loads(made.read_text())
        if info.get("recipe") == recipe and all((work / "partials" / s / "stats.json").exists()
                                                for s in info["shards"]):
            _log(f"reusing {len(info['shards'])} partials in {work}")
            return {**info, "reused": True}
    for name in ("partials", "completions", "merged", "parquet", "out"):
        shutil.rmtree(work / name, ignore_errors=True)
    made.unlink(missing_ok=True)
    t = time.perf_counter()
    gazetteer = work / "gazetteer.parquet"
    if gz_src is not None:
        shutil.copyfile(gz_src, gazetteer)
        gz_info: dict[str, Any] = {"source": str(gz_src)}
    else:
        gz_info = {"source": "corpus titles", "entries": titles_gazetteer(files, gazetteer)}
    gz_info["seconds"] = time.perf_counter() - t
    _log(f"gazetteer ({gz_info['source']}) ready in {gz_info['seconds']:.1f}s; counting shards")
    info = {"recipe": recipe, "gazetteer": gz_info,
            **make_partials(files, work, args.workers or os.cpu_count() or 1, shard_docs)}
    _log(f"{len(info['shards'])} partials of {info['documents']:,} documents in {info['count_wall_s']:.1f}s")
    made.write_text(json.dumps(info, indent=1))
    return {**info, "reused": False}


# ---- measuring --------------------------------------------------------------------------------------------------
def _npy_equal(a: Path, b: Path, chunk: int = 8_000_000) -> bool:
    x, y = np.load(a, mmap_mode="r"), np.load(b, mmap_mode="r")
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    return all(np.array_equal(x[s:s + chunk], y[s:s + chunk]) for s in range(0, x.shape[0], chunk))


def check(outs: dict[str, Path], partials: list[Path], reference: str = REFERENCE) -> dict[str, Any]:
    """Every method's outputs equal the reference's; the reference's keys increase and its counts sum right."""
    ref = outs[reference]
    keys = np.load(ref / "pair_key.npy", mmap_mode="r")
    counts = np.load(ref / "pair_count.npy", mmap_mode="r")
    chunk = 8_000_000
    increasing = all(bool(np.all(np.diff(keys[max(s - 1, 0):s + chunk]) > 0)) for s in range(0, keys.shape[0], chunk))
    total_in = sum(int(np.load(p / "pairs_n.npy", mmap_mode="r").sum(dtype=np.int64)) for p in partials)
    total_out = sum(int(counts[s:s + chunk].sum(dtype=np.int64)) for s in range(0, counts.shape[0], chunk))
    res: dict[str, Any] = {"reference": reference, "keys_increasing": increasing, "count_total_in": total_in,
                           "count_total_out": total_out, "methods": {}}
    for name, d in outs.items():
        res["methods"][name] = {"pair_key": _npy_equal(d / "pair_key.npy", ref / "pair_key.npy"),
                                "pair_count": _npy_equal(d / "pair_count.npy", ref / "pair_count.npy")}
    res["identical"] = bool(increasing and total_in == total_out
                            and all(all(v.values()) for v in res["methods"].values()))
    return res


def _error_line(stderr: str) -> str:
    """The exception line of a child's stderr (DuckDB's nanobind may print reference-leak notes after it)."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip() and "leak" not in x and "nanobind" not in x]
    hits = [x for x in lines if "Exception:" in x or "Error:" in x]
    return (hits or lines or ["?"])[-1][:300]


def _methods(args: argparse.Namespace, pq_files: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    ks = sorted({int(x) for x in str(args.ks).split(",") if x.strip()} | {1})  # K=1 is the reference
    methods: dict[str, tuple[str, dict[str, Any]]] = {f"numba K={k}": (_NUMBA_CHILD, {"k": k}) for k in ks}
    limits = [x.strip() for x in args.memory_limit.split(",") if x.strip()]
    threads = [int(x) for x in str(args.threads).split(",") if x.strip()]
    for th in threads:
        tag = f"/{th}t" if threads != [2] else ""  # 2 threads (as merge_entities) unless said otherwise
        for lim in limits:
            methods[f"duckdb-arrow@{lim}{tag}"] = (_DUCKDB_CHILD, {"source": "arrow", "memory_limit": lim,
                                                                   "threads": th})
            if args.stream:
                methods[f"duckdb-stream@{lim}{tag}"] = (_DUCKDB_CHILD, {"source": "arrow", "stream": True,
                                                                        "memory_limit": lim, "threads": th})
            if not args.no_parquet:
                methods[f"duckdb-parquet@{lim}{tag}"] = (_DUCKDB_CHILD, {"source": "parquet", "memory_limit": lim,
                                                                         "threads": th, "parquet_files": pq_files})
    return methods


def _summary(runs: list[dict[str, Any]], pairs_in: int) -> dict[str, Any]:
    best = min(runs, key=lambda x: x["wall_s"])
    return {"pairs_in": pairs_in, "distinct_out": best["distinct"], "wall_s": best["wall_s"], "cpu_s": best["cpu_s"],
            "wall_s_all": [x["wall_s"] for x in runs], "peak_rss_mib": max(x["peak_rss_mib"] for x in runs),
            "baseline_rss_mib": best["baseline_rss_mib"], "peak_anon_mib": max(x["peak_anon_mib"] for x in runs),
            "peak_file_mib": max(x["peak_file_mib"] for x in runs),
            "spill_peak_mib": max((x.get("spill_peak_mib", 0.0) for x in runs), default=0.0),
            "query_s": best.get("query_s"), "buckets": best.get("buckets"),
            "largest_bucket": best.get("largest_bucket"), "m_entries_per_s": pairs_in / best["wall_s"] / 1e6,
            "loads_after": [x["load_after"] for x in runs]}


def measure(args: argparse.Namespace, mode: str, work: Path, info: dict[str, Any]) -> dict[str, Any]:
    partials = [work / "partials" / s for s in info["shards"]]
    pairs_in = sum(int(np.load(p / "pairs_partner.npy", mmap_mode="r").shape[0]) for p in partials)
    base = {"partials": [str(p) for p in partials], "entity_hash": str(work / "entity_hash.npy"),
            "entity_freq": str(work / "entity_freq.npy")}
    pq_files = [str(work / "parquet" / p.name / "pairs.parquet") for p in partials]
    methods = _methods(args, pq_files)
    res: dict[str, Any] = {"pairs_in": pairs_in, "runs": {m: [] for m in methods}}
    if not args.no_parquet:
        shutil.rmtree(work / "parquet", ignore_errors=True)
        (work / "out" / "prep").mkdir(parents=True, exist_ok=True)
        res["prep"] = run_child(_PREP_CHILD, {**base, "out": str(work / "out" / "prep"), "parquet_files": pq_files})
        _log(f"prep partial rows -> flat parquet: {res['prep']['wall_s']:.2f}s")
    outs = {m: work / "out" / m.replace("@", "_").replace("/", "_").replace(" ", "_").replace("=", "") for m in methods}
    names = list(methods)
    repeat = args.repeat or MODES[mode]["repeat"]
    for r in range(repeat):
        for m in names[r % len(names):] + names[:r % len(names)]:  # rotate the order from round to round
            code, extra = methods[m]
            shutil.rmtree(outs[m], ignore_errors=True)
            outs[m].mkdir(parents=True)
            try:
                run = run_child(code, {**base, "out": str(outs[m]), "batch_rows": 1_000_000, **extra})
            except RuntimeError as e:  # e.g. DuckDB out of memory under a small limit: recorded, not fatal
                if m == REFERENCE:
                    raise
                res["runs"][m].append({"error": _error_line(str(e)), "stderr": str(e), "load_after": load_average()})
                _log(f"round {r + 1}/{repeat} {m}: FAILED {_error_line(str(e))}")
                continue
            run["load_after"] = load_average()
            res["runs"][m].append(run)
            _log(f"round {r + 1}/{repeat} {m}: {run['wall_s']:.2f}s wall, {run['cpu_s']:.2f}s CPU, "
                 f"{run['peak_rss_mib']:.0f} MiB peak RSS, {run['distinct']:,} keys out; load {run['load_after']}")
    good = {m: [x for x in runs if "error" not in x] for m, runs in res["runs"].items()}
    res["failed"] = sorted(m for m, runs in good.items() if not runs)
    res["check"] = check({m: d for m, d in outs.items() if good[m] and "error" not in res["runs"][m][-1]},
                         partials)
    res["summary"] = {m: _summary(runs, pairs_in) for m, runs in good.items() if runs}
    ref = res["summary"][REFERENCE]
    for s in res["summary"].values():
        s["wall_vs_ref"] = s["wall_s"] / ref["wall_s"]
        s["cpu_vs_ref"] = s["cpu_s"] / ref["cpu_s"] if ref["cpu_s"] > 0 else float("nan")
        s["rss_vs_ref"] = s["peak_rss_mib"] / ref["peak_rss_mib"]
        s["within_bound"] = s["peak_rss_mib"] <= RSS_BOUND_MIB
    ok = {m: s for m, s in res["summary"].items() if s["within_bound"]}
    if ok and res["check"]["identical"]:
        win = min(ok, key=lambda m: ok[m]["wall_s"])
        others = [m for m in ok if m != win]
        res["fastest_within_bound"] = win
        if others:
            second = min(others, key=lambda m: ok[m]["wall_s"])
            res["margin"] = {"next": second, "wall_ratio": ok[second]["wall_s"] / ok[win]["wall_s"]}
    return res


# ---- report -----------------------------------------------------------------------------------------------------
def render(r: dict[str, Any]) -> str:
    mi, info, m = r["machine"], r["partials"], r["merge"]
    lines = [
        f"## Pair reduce of shard partials: numba buckets vs DuckDB GROUP BY ({r['mode']})",
        "",
        f"{mi['date']}; {mi['usable_cpus']} CPUs ({mi['cpu']}), {mi['ram_gib']} GiB; numba {mi['numba']}, duckdb "
        f"{mi['duckdb']}, numpy {mi['numpy']}; commit {mi['commit']}.",
        f"Load: `{r.get('uptime_start', '')}` at start (load average {r['load_start']}), {r['load_end']} at end.",
        f"Partials: {len(info['shards'])} shards of {info['documents']:,} documents ({info['chars'] / 1e6:.0f} M "
        f"chars) from {', '.join(Path(f[0]).name for f in info['recipe']['files'])}; gazetteer: "
        f"{info['gazetteer']['source']}; {info['entities']:,} entities; {m['pairs_in']:,} directed pair entries "
        f"in ({info.get('pair_partial_mb', '?')} MB of pair partials; {info['pair_instances']:,} pair instances "
        f"counted).",
        f"Best of {len(next(iter(m['runs'].values())))} run(s) each (wall); ratios against {REFERENCE} of the same "
        f"run; peak RSS = the child's VmHWM, max over runs, fresh process, imports included.",
        "",
        "| method | entries in | distinct keys out | wall s | CPU s | peak RSS MiB | M entries/s | wall vs numba K=1 "
        "| CPU vs numba K=1 | peak RSS vs numba K=1 | RSS <= 4 GiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in m["summary"].items():
        lines.append(f"| {name} | {s['pairs_in']:,} | {s['distinct_out']:,} | {s['wall_s']:.2f} | {s['cpu_s']:.2f} "
                     f"| {s['peak_rss_mib']:.0f} | {s['m_entries_per_s']:.1f} | {s['wall_vs_ref']:.2f}x "
                     f"| {s['cpu_vs_ref']:.2f}x | {s['rss_vs_ref']:.2f}x | {'ok' if s['within_bound'] else 'OVER'} |")
    for name in m.get("failed", []):
        lines.append(f"| {name} | {m['pairs_in']:,} | FAILED | | | | | | | | |")
    lines.append("")
    for name in m.get("failed", []):
        lines.append(f"- {name}: failed: {m['runs'][name][-1]['error']}")
    for name, s in m["summary"].items():
        extra = (f"; query (join+aggregate+sort, to first batch) {s['query_s']:.2f} s, spill peak "
                 f"{s['spill_peak_mib']:.0f} MiB" if s["query_s"] is not None else
                 f"; {s['buckets']} bucket(s), the largest {s['largest_bucket']:,} keys")
        lines.append(f"- {name}: walls {', '.join(f'{w:.2f}' for w in s['wall_s_all'])} s (load after each: "
                     f"{'; '.join(str(x[0]) for x in s['loads_after'])}); RSS baseline {s['baseline_rss_mib']:.0f} "
                     f"MiB, peak anon {s['peak_anon_mib']:.0f} MiB, peak file-backed {s['peak_file_mib']:.0f} MiB; "
                     f"CPU/wall {s['cpu_s'] / s['wall_s']:.2f}{extra}")
    if "prep" in m:
        p = m["prep"]
        lines.append(f"- prep for duckdb-parquet (partial rows -> flat Parquet, not in its row): {p['wall_s']:.2f} s "
                     f"wall, {p['cpu_s']:.2f} s CPU, {p['bytes'] / 2**20:.1f} MiB written, peak RSS "
                     f"{p['peak_rss_mib']:.0f} MiB")
    c = m["check"]
    lines.append(f"- check: {'identical' if c['identical'] else 'MISMATCH'} (pair_key.npy, pair_count.npy of every "
                 f"method vs {c['reference']}; keys increasing: {c['keys_increasing']}; count total "
                 f"{c['count_total_out']:,} out of {c['count_total_in']:,} in)")
    if "fastest_within_bound" in m:
        w = m["fastest_within_bound"]
        margin = (f", {m['margin']['wall_ratio']:.2f}x faster than the next ({m['margin']['next']})"
                  if "margin" in m else "")
        lines.append(f"- fastest within the 4 GiB bound: **{w}**{margin}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="synthetic corpus (no ../shared), under a minute")
    ap.add_argument("--corpus", nargs="+", help="corpus files or directories (default: wiki2015 AA and AB; "
                                                "--quick: a synthetic corpus)")
    ap.add_argument("--index", help="use this index's gazetteer.parquet (default: a gazetteer of the corpus's titles)")
    ap.add_argument("--shard-docs", type=int, help="documents per shard (default 2000 as the build; --quick 250)")
    ap.add_argument("--workers", type=int, default=0, help="processes counting shards (default: all cores)")
    ap.add_argument("--ks", default="1,4", help="numba bucket counts, comma-separated: a row per K (K=1 always)")
    ap.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit, or several, comma-separated")
    ap.add_argument("--threads", default="2", help="DuckDB threads (default 2, as merge_entities), or several, "
                                                   "comma-separated: a DuckDB row per value (tagged /Nt)")
    ap.add_argument("--no-parquet", action="store_true", help="skip the DuckDB-over-Parquet variant")
    ap.add_argument("--stream", action="store_true", help="also DuckDB over a stream of the partials' record "
                                                          "batches, one partial in memory at a time")
    ap.add_argument("--repeat", type=int, help="measured rounds, best kept (default: 3, --quick 1)")
    ap.add_argument("--work", help="working directory, kept for reuse (default /tmp/quco-bench-merge-<mode>)")
    ap.add_argument("--fresh", action="store_true", help="make the partials again even if the recipe matches")
    ap.add_argument("--out", help=f"JSON output (default {OUT}; one key per mode)")
    ap.add_argument("--render", metavar="JSON", help="print the table of a saved run and exit")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    out = Path(args.out) if args.out else OUT
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        for r in (saved.values() if "mode" not in saved else [saved]):
            print(render(r) + "\n")
        return saved
    work = Path(args.work or f"/tmp/quco-bench-merge-{mode}")
    work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"mode": mode, "machine": machine_info(), "load_start": load_average(),
                           "uptime_start": uptime(), "argv": sys.argv[1:] if argv is None else argv,
                           "work": str(work)}
    _log(res["uptime_start"])
    t = time.perf_counter()
    res["partials"] = prepare(args, mode, work)
    res["merge"] = measure(args, mode, work, res["partials"])
    res["load_end"] = load_average()
    res["uptime_end"] = uptime()
    res["wall_s"] = time.perf_counter() - t
    print(render(res))
    print(f"uptime at end: {res['uptime_end']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(out.read_text()) if out.is_file() else {}
    saved[mode] = res
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(saved, indent=1, default=str))
    tmp.replace(out)
    print(f"\n(raw numbers: {out})")
    return res


if __name__ == "__main__":
    main()
