"""Executors compared in one run: the local process pool vs a local Dask cluster, same shard, same workers.

    python bench/bench_executors.py                    # one shard of ../shared/data/wiki2015, 2 workers
    python bench/bench_executors.py --rounds 2         # local, dask, dask, local: best of each
    python bench/bench_executors.py --full             # also: all of wiki2015 through Dask (default settings)
    python bench/bench_executors.py --corpus my.jsonl  # any corpus
    python bench/bench_executors.py --reduce-only --reduce-files 4   # the reduce by K alone, on all of wiki2015

The gazetteer is harvested once, beforehand, and every build reuses it (``gazetteer=``), with no retrieval and
no blend vectors: a build is then the count (where executors differ) plus the merge (where they do not). Each
build runs in a fresh interpreter (``bench_common.run_child``), with its process tree's PSS sampled (Dask's
scheduler, nannies and workers included). Reported per executor: the count stage's wall time (cluster start and
stop included) and throughput over the text's characters, per worker too, and the whole build's; the overhead of
Dask is its count time over the local pool's, minus one, from builds measured in the same run (rounds alternate
the order, so load drift does not favour either). The two indexes' count arrays are compared byte for byte.

The reduce alone (``--reduce-files`` of the corpus, counted once on the local pool, entities merged): the bucketed
reduce (``index_builder/buckets.py``) for each K of ``--ks`` on one process (its peak memory above the
process's size before it, which is what one bucket task costs a worker), on a pool of ``--workers`` and on a
local Dask cluster of ``--workers``, against the single-process merge it replaced (``merge_pairs`` + ``write_pair_rows`` + ``merge_postings`` of
``index_builder/merge.py`` over the same partials reduced to one direction, as shards wrote them before); each in
a fresh interpreter, and every output's arrays compared byte for byte.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import run_build  # noqa: E402
from bench_common import OUT_DIR, WIKI, _tree, load_average, machine_info, run_child  # noqa: E402

ARRAYS = ("entity_hash", "entity_freq", "nbr_indptr", "nbr_id", "nbr_count", "doc_indptr", "doc_ids")


class TreeCPU:
    """CPU seconds (user + system) of this process's descendants, sampled from /proc: the build's interpreter and
    every worker (Dask's are not reaped by it, so its rusage misses them). A process's last sample counts."""

    def __init__(self, interval: float = 0.2):
        self.seen: dict[int, float] = {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            for pid in _tree(me):
                if pid == me:
                    continue
                try:
                    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    self.seen[pid] = (int(f[11]) + int(f[12])) / self.tick
                except (OSError, IndexError, ValueError):
                    pass
            self._stop.wait(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(sum(self.seen.values()), 1)


def harvest_once(files: list[Path], target: Path) -> dict[str, Any]:
    """The build's own harvest of a gazetteer for ``files``, saved to ``target``."""
    from quco.index_builder.build import BuildConfig
    from quco.index_builder.harvest import harvest

    t = time.perf_counter()
    g, stats = harvest(files, BuildConfig(inputs=[str(f) for f in files], out=str(target.parent / "unused")))
    g.save(target)
    return {"seconds": round(time.perf_counter() - t, 1), "entries": stats.get("entries")}


def per_core_count(path: Path, gazetteer: Path, work: Path) -> dict[str, Any]:
    """The count alone (read, tokenize, match, pairs, passages, partial written) of the file's first shard, in this
    process, in CPU seconds: the per-core rate that scales out."""
    from quco.cooccur.extract import DEFAULT_LABELS
    from quco.index_builder.shard import process_shard
    from quco.index_builder.shard_plan import ReadOptions, file_shards, worker_extractor

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copy(gazetteer, work / "gazetteer.parquet")
    ex = worker_extractor({"name": "gazetteer", "labels": list(DEFAULT_LABELS), "work": str(work)})
    sid, docs = next(iter(file_shards(path, 0, ReadOptions())))
    process_shard(sid, docs[:50], ex, 1000, work)  # warm: numba's cache
    del docs
    c, t = time.process_time(), time.perf_counter()
    sid, docs = next(iter(file_shards(path, 0, ReadOptions())))
    read_cpu = time.process_time() - c
    stats = process_shard(sid, docs, ex, 1000, work)
    cpu, wall = time.process_time() - c, time.perf_counter() - t
    mb = stats["chars"] / 1e6
    shutil.rmtree(work)
    return {"text_mb": round(mb, 1), "cpu_s": round(cpu, 2), "read_cpu_s": round(read_cpu, 2),
            "wall_s": round(wall, 2), "mb_per_cpu_s": round(mb / cpu, 2)}


def arrays_digest(index: Path) -> dict[str, str]:
    return {n: hashlib.sha256((index / "arrays" / f"{n}.npy").read_bytes()).hexdigest()[:16] for n in ARRAYS}


def one_build(files: list[Path], out: Path, executor: str, workers: int, gazetteer: Path) -> dict[str, Any]:
    cpu = TreeCPU()
    r = run_build([str(f) for f in files], out, executor=executor, workers=workers, extractor="gazetteer",
                  gazetteer=str(gazetteer), retrieval=(), blend=False, phrase_counts=False)
    tree_cpu = cpu.stop()
    s = r["stats"]
    mb = s["chars"] / 1e6
    count = s["timing"]["count"]
    return {"executor": executor, "workers": workers, "text_mb": round(mb, 1), "shards": s["shards"],
            "count_s": round(count, 2), "merge_s": round(s["timing"]["merge"], 2), "build_s": round(r["wall_s"], 2),
            "reduce_s": s["reduce"]["tasks_s"], "assemble_s": s["reduce"]["assemble_s"],
            "buckets": s["reduce"]["buckets"],
            "count_mb_s": round(mb / count, 3), "count_mb_s_per_worker": round(mb / count / workers, 3),
            "build_mb_s": round(mb / r["wall_s"], 3), "cpu_s": tree_cpu, "mb_per_cpu_s": round(mb / tree_cpu, 3),
            "tree_peak_pss_mib": r["tree_peak_pss_mib"], "entities": s["entities"], "pairs": s["pairs"],
            "digest": arrays_digest(out)}


def full_build(files: list[Path], out: Path, workers: int) -> dict[str, Any]:
    """All of ``files`` through Dask with the default settings (harvest, retrieval, blend)."""
    cpu = TreeCPU()
    r = run_build([str(f) for f in files], out, executor="dask", workers=workers)
    tree_cpu = cpu.stop()
    s = r["stats"]
    return {"executor": "dask", "workers": workers, "text_mb": round(s["chars"] / 1e6, 1), "shards": s["shards"],
            "build_s": round(r["wall_s"], 1), "timing_s": {k: round(v, 1) for k, v in s["timing"].items()},
            "build_mb_s": round(s["chars"] / 1e6 / r["wall_s"], 3),
            "count_mb_s": round(s["chars"] / 1e6 / s["timing"]["count"], 3),
            "cpu_s": tree_cpu, "tree_peak_pss_mib": r["tree_peak_pss_mib"], "maxrss_children_mib": r["maxrss_children_mib"],
            "maxrss_self_mib": r["maxrss_self_mib"], "documents": s["documents"], "entities": s["entities"],
            "pairs": s["pairs"], "index_mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6, 1)}


_REDUCE_CHILD = """
import shutil
from pathlib import Path
import numpy as np
def rss_mib():
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024
root, work = Path(ARGS["root"]), Path(ARGS["work"])
for d in (root, work):
    shutil.rmtree(d, ignore_errors=True)
(root / "arrays").mkdir(parents=True)
for name in ("entity_hash", "entity_freq"):
    shutil.copy(Path(ARGS["entities"]) / f"{name}.npy", root / "arrays" / f"{name}.npy")
partials = [Path(p) for p in ARGS["partials"]]
from quco.index_builder.buckets import reduce_partials
from quco.index_builder.executors import make_executor
from quco.index_builder import merge as M
entity_hash = np.load(root / "arrays" / "entity_hash.npy")
entity_freq = np.load(root / "arrays" / "entity_freq.npy")
from quco.cooccur.csr import scatter_pairs, scatter_rows
from quco.cooccur.kernels import merge_sum
z, e = np.zeros(1, np.int64), np.zeros(0, np.int64)  # the kernels loaded (numba, LLVM) before the baseline
merge_sum(z, z, z, z), scatter_rows(z, z, e, z.copy(), z.copy(), e)
scatter_pairs(z, z, 0, 1, z.copy(), z.copy(), 0, z.copy(), z.copy())
base = rss_mib()
t = time.perf_counter()
if ARGS["k"] == "single":
    work.mkdir(parents=True)
    M.merge_pairs(partials, entity_hash, work / "key.npy", work / "count.npy", root / "pairs.parquet")
    M.write_pair_rows(work / "key.npy", work / "count.npy", len(entity_hash), root / "arrays")
    M.merge_postings(partials, ARGS["documents"], entity_hash, entity_freq, root / "arrays")
    stats = {}
else:
    with make_executor(ARGS["executor"], ARGS["workers"]) as ex:
        ex.start({})
        stats = reduce_partials(ex, partials, ARGS["documents"], root, work, ARGS["k"])["stats"]
_report({"wall_s": time.perf_counter() - t, "base_rss_mib": round(base, 1), "stats": stats})
"""


def count_partials(files: list[Path], gazetteer: Path, work: Path, workers: int) -> dict[str, Any]:
    """Count ``files`` on the local pool into ``work``, merge the entities; the reduce's inputs, kept."""
    from quco.cooccur.extract import DEFAULT_LABELS
    from quco.index_builder.executors import make_executor, run_count
    from quco.index_builder.merge import merge_entities
    from quco.index_builder.shard_plan import ReadOptions

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copy(gazetteer, work / "gazetteer.parquet")
    spec = {"name": "gazetteer", "labels": list(DEFAULT_LABELS), "work": str(work)}
    t = time.perf_counter()
    sids = run_count(make_executor("local", workers), files, ReadOptions(), spec, 1000, work, set(), None,
                     lambda n: None)
    partials = [work / "partials" / s for s in sids]
    ent_dir = work / "entities"
    ent_dir.mkdir()
    ent = merge_entities(partials, ent_dir, tmp=work)
    np.save(ent_dir / "entity_hash.npy", ent.column("hash").to_numpy())
    np.save(ent_dir / "entity_freq.npy", ent.column("freq").to_numpy())
    docs = [json.loads((p / "stats.json").read_text())["documents"] for p in partials]
    old = work / "one-direction"  # the partials as shards wrote them before the bucketed reduce: ha < hb only
    for p in partials:
        q = old / p.name
        q.mkdir(parents=True)
        vocab, indptr, partner, n = (np.load(p / f"pairs_{x}.npy") for x in ("vocab", "indptr", "partner", "n"))
        ha, hb = np.repeat(vocab, np.diff(indptr)), vocab[partner.astype(np.int64)]
        fwd = ha < hb
        for x, arr in (("ha", ha[fwd]), ("hb", hb[fwd]), ("n", n[fwd].astype(np.int64))):
            np.save(q / f"pairs_{x}.npy", arr)
        for name in ("post_h.npy", "post_doc.npy"):
            os.symlink(p / name, q / name)
    entries = sum(int(np.load(p / "pairs_partner.npy", mmap_mode="r").shape[0]) for p in partials)
    return {"partials": [str(p) for p in partials], "old_partials": [str(old / p.name) for p in partials],
            "documents": docs, "entities": str(ent_dir), "count_s": round(time.perf_counter() - t, 1),
            "shards": len(partials), "directed_entries": entries, "n_entities": int(ent.num_rows),
            "partial_pair_mb": round(sum((p / f"pairs_{x}.npy").stat().st_size for p in partials
                                         for x in ("vocab", "indptr", "partner", "n")) / 1e6, 1),
            "one_direction_pair_mb": round(sum((old / p.name / f"pairs_{x}.npy").stat().st_size for p in partials
                                               for x in ("ha", "hb", "n")) / 1e6, 1)}


def reduce_by_k(inp: dict[str, Any], ks: list[int], workers: int, work: Path, dask: bool = True
                ) -> list[dict[str, Any]]:
    """The single-process merge, then the bucketed reduce for each K: on 1 process, on a local pool of
    ``workers``, and on a local Dask cluster of ``workers`` (its start counted in the wall time, not in the
    tasks' time; its workers' CPU is not counted: they are not the child's children)."""
    runs = [("single", "local", 1)] + [(k, ex, w) for k in ks
                                       for ex, w in [("local", n) for n in sorted({1, workers})]
                                       + ([("dask", workers)] if dask else [])]
    out = []
    for k, ex, w in runs:
        root = work / f"reduce-{k}-{ex}-{w}"
        partials = inp["old_partials"] if k == "single" else inp["partials"]
        r = run_child(_REDUCE_CHILD, {"k": k, "executor": ex, "workers": w, "partials": partials,
                                      "documents": inp["documents"], "entities": inp["entities"],
                                      "root": str(root), "work": str(work / "rw")})
        row = {"k": k, "executor": ex, "workers": w, "wall_s": round(r["wall_s"], 2),
               "peak_above_base_mib": round(r["maxrss_self_mib"] - r["base_rss_mib"], 1),
               "maxrss_children_mib": r["maxrss_children_mib"], "tree_peak_pss_mib": r["tree_peak_pss_mib"],
               "cpu_s": round(r["cpu_self_s"] + r["cpu_children_s"], 2), "digest": arrays_digest(root)}
        row.update({x: r["stats"][x] for x in ("buckets", "tasks_s", "assemble_s", "largest_bucket_entries")
                    if x in r["stats"]})
        out.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        shutil.rmtree(root)
    return out


def render(res: dict[str, Any]) -> str:
    lines = [f"## Executors ({res['machine'].get('nproc')} CPUs, load {res['load_start']} -> {res['load_end']})", ""]
    if res["builds"]:
        lines += ["| executor | workers | text MB | shards | count s | count MB/s | per worker | reduce s (K) | "
                  "build s | CPU s | MB per CPU s | peak PSS MiB |", "|---" * 12 + "|"]
        for b in res["builds"]:
            lines.append(f"| {b['executor']} | {b['workers']} | {b['text_mb']} | {b['shards']} | {b['count_s']} | "
                         f"{b['count_mb_s']} | {b['count_mb_s_per_worker']} | {b['reduce_s']} ({b['buckets']}) | "
                         f"{b['build_s']} | {b['cpu_s']} | {b['mb_per_cpu_s']} | {b['tree_peak_pss_mib']} |")
        lines += ["", f"Dask overhead on the count (best of each): {res['overhead_count_pct']:+.1f} % "
                      f"(target <= 20 %); on the whole build {res['overhead_build_pct']:+.1f} %; "
                      f"arrays byte-identical: {res['identical']}",
                  f"Count alone, one core (first shard, in-process): {res['per_core']['text_mb']} MB in "
                  f"{res['per_core']['cpu_s']} CPU s = {res['per_core']['mb_per_cpu_s']} MB per CPU second"]
    if "reduce" in res:
        i = res["reduce"]["input"]
        lines += ["", f"Reduce alone: {i['shards']} shards, {i['directed_entries']:,} directed pair entries "
                      f"({i['partial_pair_mb']} MB of pair partials; {i['one_direction_pair_mb']} MB as shards "
                      f"wrote them before, each pair once at 24 bytes), {i['n_entities']:,} entities; load "
                      f"{res['reduce']['load']}", "",
                  "| reduce | K | processes | wall s | tasks s | assemble s | largest bucket (entries) | "
                  "peak above base MiB | largest worker MiB | CPU s |", "|---" * 10 + "|"]
        for r in res["reduce"]["runs"]:
            what = "single merge" if r["k"] == "single" else f"bucketed, {r['executor']}"
            lines.append(f"| {what} | {r.get('buckets', '-')} | "
                         f"{r['workers']} | {r['wall_s']} | {r.get('tasks_s', '-')} | {r.get('assemble_s', '-')} | "
                         f"{r.get('largest_bucket_entries', '-')} | {r['peak_above_base_mib']} | "
                         f"{r['maxrss_children_mib'] if r['executor'] == 'local' and r['workers'] > 1 else '-'} | "
                         f"{r['cpu_s'] if r['executor'] == 'local' else '-'} |")
        lines += ["", f"reduce outputs byte-identical (all K, and the single merge): {res['reduce']['identical']}"]
    if "full" in res:
        f = res["full"]
        lines += ["", f"Full build through Dask: {f['text_mb']} MB in {f['build_s']} s ({f['build_mb_s']} MB/s; "
                      f"count {f['count_mb_s']} MB/s), {f['shards']} shards, peak PSS of the process tree "
                      f"{f['tree_peak_pss_mib']} MiB, index {f['index_mb']} MB; stages {f['timing_s']}"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", nargs="*", help="input files (default: the first shard of wiki2015)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--full", action="store_true", help="also build all of wiki2015 through Dask")
    ap.add_argument("--full-only", action="store_true", help="only the full build")
    ap.add_argument("--work", default=str(OUT_DIR / "executors"))
    ap.add_argument("--reduce-files", type=int, default=1, help="wiki2015 files whose partials the reduce sums")
    ap.add_argument("--ks", default="1,2,4,8,16", help="the K of the reduce runs")
    ap.add_argument("--reduce-only", action="store_true", help="only the reduce by K")
    ap.add_argument("--no-reduce", action="store_true", help="skip the reduce by K")
    ap.add_argument("--reduce-no-dask", action="store_true", help="the reduce by K without the Dask runs")
    args = ap.parse_args()
    files = [Path(c) for c in args.corpus] if args.corpus else [sorted(WIKI.glob("*.zst"))[0]]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"machine": machine_info(), "load_start": [round(x, 2) for x in load_average()],
                           "corpus": [str(f) for f in files], "builds": []}
    gz = work / "gazetteer.parquet"
    if not (args.full_only or (args.reduce_only and gz.exists())):  # --reduce-only reuses a harvested one
        res["harvest"] = harvest_once(files, gz)
    if not (args.full_only or args.reduce_only):
        res["per_core"] = per_core_count(files[0], gz, work / "per-core")
        print(json.dumps(res["per_core"]), file=sys.stderr, flush=True)
        order = []
        for r in range(args.rounds):
            order += ["local", "dask"] if r % 2 == 0 else ["dask", "local"]
        for i, ex in enumerate(order):
            out = work / f"{ex}-{i}.idx"
            res["builds"].append(one_build(files, out, ex, args.workers, gz))
            print(json.dumps(res["builds"][-1]), file=sys.stderr, flush=True)
            if i >= 2:
                shutil.rmtree(out)
        best = {ex: min((b for b in res["builds"] if b["executor"] == ex), key=lambda b: b["count_s"])
                for ex in ("local", "dask")}
        res["overhead_count_pct"] = round(100 * (best["dask"]["count_s"] / best["local"]["count_s"] - 1), 1)
        res["overhead_build_pct"] = round(100 * (best["dask"]["build_s"] / best["local"]["build_s"] - 1), 1)
        res["identical"] = len({json.dumps(b["digest"]) for b in res["builds"]}) == 1
    if not (args.full_only or args.no_reduce):
        rfiles = files if args.corpus else sorted(WIKI.glob("*.zst"))[:args.reduce_files]
        rgz = gz
        if rfiles != files:  # the dictionary of the reduce's files (titles of all of them), harvested once
            rgz = work / f"gazetteer-{len(rfiles)}-files.parquet"
            if not rgz.exists():
                res["reduce_harvest"] = harvest_once(rfiles, rgz)
        inp = count_partials(rfiles, rgz, work / "reduce-input", args.workers)
        load = [round(x, 2) for x in load_average()]
        runs = reduce_by_k(inp, [int(k) for k in args.ks.split(",")], args.workers, work,
                           dask=not args.reduce_no_dask)
        res["reduce"] = {"input": {k: v for k, v in inp.items() if not isinstance(v, list)}, "runs": runs,
                         "load": [load, [round(x, 2) for x in load_average()]],
                         "identical": len({json.dumps(r["digest"], sort_keys=True) for r in runs}) == 1}
        shutil.rmtree(work / "reduce-input")
    if args.full or args.full_only:
        full = sorted(WIKI.glob("*.zst"))
        res["full"] = full_build(full, work / "full-dask.idx", args.workers)
    res["load_end"] = [round(x, 2) for x in load_average()]
    name = ("bench-executors-full.json" if args.full_only else
            "bench-executors-reduce.json" if args.reduce_only else "bench-executors.json")
    (OUT_DIR / name).write_text(json.dumps(res, indent=1))
    if args.full_only:
        print(json.dumps(res["full"], indent=1))
    else:
        print(render(res))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
