"""What fetching a check's evidence passages costs, by way of reading ``passages.parquet``:
``python bench/bench_passage_fetch.py [--index DIR] [--requests 2000] [--distinct] [--regroup 64,128]``.

The fetches are the real ones: the ``/v1/risk`` request mix of ``bench_serve.py`` (EntityQuestions dev rows,
question and answer only) is checked as the server checks it (``run_checks`` in batches of 32, mode factual), and
the evidence queries it sends to the retriever are recorded in order. Each query's top 5 and top 3 (the server's
``evidence_k``) passage ids are then fetched through ``PassageStore`` set up each way below, over the whole
sequence, ``--reps`` times alternating the ways (a fresh store each time, so a cache starts cold), and the median
CPU milliseconds per fetch reported, with the cache's hit rate and the bytes it holds. Every way must return the
same ``Passage`` objects as the first; the script stops otherwise. The mix sends each question twice in a row
(its right and its swapped answer), and a repeated question often repeats its evidence query: ``--distinct``
keeps the first request of each question only, for the cache's hit rate on queries that do not repeat.

Ways: ``pre_buffer`` (the store before this bench: Arrow's default pre-buffered reads, no cache); ``nocache``
(``pre_buffer=False``, no cache); ``passages N`` (the store as shipped: ``pre_buffer=False`` and the last N
passages fetched kept); ``groups N MB`` (the alternative not shipped: the last decoded row groups kept, up to N MB
of Arrow tables). ``--regroup 64,128`` also writes copies of the passages in row groups of that many rows (to a
temporary directory, removed after) and measures ``nocache`` and the default passage cache on them, with the file
size and the time to open each file (its footer grows with the number of groups).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import load_average  # noqa: E402
from bench_serve import DEFAULT_INDEX, risk_bodies  # noqa: E402

from quco.cooccur import bm25  # noqa: E402


def record_queries(index_dir: str, n: int, distinct: bool = False) -> list[str]:
    """The evidence queries the server's checks send to the retriever, in order, for ``n`` bench requests (with
    ``distinct``, only the first request of each question)."""
    from quco.cooccur.index import Index
    from quco.gate.evidence import cached_retriever
    from quco.serve.checks import run_checks

    ix = Index(index_dir)
    retriever = cached_retriever(str(ix.path), "bm25s")
    queries: list[str] = []
    search = retriever.search

    def recording(query: str, k: int = 5):
        queries.append(query)
        return search(query, k)

    retriever.search = recording  # this instance only, for this run
    bodies, seen = risk_bodies(n), set()
    if distinct:
        bodies = [b for b in bodies if not (b["question"] in seen or seen.add(b["question"]))]
    items = [(b["question"], b.get("answer"), "factual", None) for b in bodies]
    for s in range(0, len(items), 32):
        run_checks(ix, items[s:s + 32], lambda *_: None)
    del retriever.search
    return queries


def top_hits(index_dir: str, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
    retriever = bm25.load_retriever(index_dir)
    out = []
    for hashes in bm25.tokenize_for_bm25(queries):
        ids = retriever.term_ids(hashes)
        out.append(retriever._top_k(ids, k) if len(ids) else [])
    return [h for h in out if h]


class PreBuffered(bm25.PassageStore):
    """The store as it was: Arrow's default ``pre_buffer=True`` and no cache."""

    def __init__(self, path: Path):
        super().__init__(path, cache_passages=0)
        self._pf = pq.ParquetFile(path, memory_map=True)


class GroupCached(bm25.PassageStore):
    """The alternative not shipped: keep the last decoded row groups (Arrow tables, up to ``mb`` MB) instead of the
    last passages."""

    def __init__(self, path: Path, mb: float):
        super().__init__(path, cache_passages=0)
        self.budget, self.tables, self.held = int(mb * (1 << 20)), OrderedDict(), 0
        read = self._pf.read_row_group

        def read_cached(g: int, **kw: Any) -> pa.Table:
            self.lookups += 1
            if g in self.tables:
                self.cache_hits += 1
                self.tables.move_to_end(g)
                return self.tables[g]
            table = self.tables[g] = read(g, **kw)
            self.held += table.nbytes
            while self.held > self.budget:
                self.held -= self.tables.popitem(last=False)[1].nbytes
            return table

        self._pf = SimpleNamespace(read_row_group=read_cached)

    def _cached(self, ids: list[int]) -> dict[int, tuple]:
        return {}


def held_mb(store: bm25.PassageStore) -> float:
    if isinstance(store, GroupCached):
        return store.held / (1 << 20)
    return sum(sys.getsizeof(v) for row in store._cache.values() for v in row) / (1 << 20)


def ways(path: Path, cache_passages: list[int], group_mb: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"pre_buffer": lambda: PreBuffered(path), "nocache": lambda: bm25.PassageStore(path, 0)}
    for mb in group_mb:
        out[f"groups {mb:g} MB"] = lambda mb=mb: GroupCached(path, mb)
    for n in cache_passages:
        out[f"passages {n}"] = lambda n=n: bm25.PassageStore(path, n)
    return out


def measure(makers: dict[str, Any], fetches: dict[int, list], reps: int) -> dict[str, Any]:
    """Median CPU ms per fetch of each way for each k, alternating the ways in each repetition."""
    cpu: dict[tuple[str, int], list[float]] = {}
    stats: dict[tuple[str, int], dict[str, Any]] = {}
    want: dict[int, list] = {}
    for _ in range(reps):
        for k, hits in fetches.items():
            for name, make in makers.items():
                store = make()
                gc.collect()
                t = time.process_time()
                got = [store.passages(h) for h in hits]
                cpu.setdefault((name, k), []).append((time.process_time() - t) / len(hits) * 1e3)
                if want.setdefault(k, got) != got:
                    raise SystemExit(f"{name} returned other passages than {next(iter(makers))} (k={k})")
                grouped = isinstance(store, GroupCached)
                stats[(name, k)] = {"groups_read_per_fetch": round(
                                        (store.lookups - store.cache_hits if grouped else store.group_reads)
                                        / len(hits), 2),
                                    "hit_rate": round(store.cache_hits / max(1, store.lookups), 3),
                                    "hits_of": "row groups" if grouped else "passages",
                                    "held_mb": round(held_mb(store), 2)}
    return {f"{name} k={k}": {"cpu_ms_per_fetch": round(statistics.median(v), 3),
                              "runs": [round(x, 3) for x in v], **stats[(name, k)]}
            for (name, k), v in cpu.items()}


def regrouped_copy(source: Path, rows: int, out_dir: Path) -> Path:
    target = out_dir / f"passages_{rows}.parquet"
    pf = pq.ParquetFile(source)
    small = [c for c in pf.schema_arrow.names if c != "text"]
    with pq.ParquetWriter(str(target), pf.schema_arrow, compression="zstd", write_statistics=small) as w:
        for batch in pf.iter_batches(batch_size=8192):
            w.write_batch(batch, row_group_size=rows)
    return target


def open_ms(path: Path, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        bm25.PassageStore(path)
        times.append((time.perf_counter() - t) * 1e3)
    return round(statistics.median(times), 1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", default=os.environ.get("QUCO_INDEX", DEFAULT_INDEX))
    ap.add_argument("--requests", type=int, default=2000, help="bench_serve requests whose evidence is fetched")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--distinct", action="store_true",
                    help="only the first request of each question (the mix sends each twice: right and swapped "
                         "answer)")
    ap.add_argument("--cache-passages", default="256,4096", help="passage cache sizes to measure")
    ap.add_argument("--group-mb", default="16", help="sizes of the row-group cache (the alternative) to measure")
    ap.add_argument("--regroup", default="", help="also measure copies in row groups of these many rows")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    source = Path(args.index) / bm25.PASSAGES_FILE
    load = {"start": load_average()}
    queries = record_queries(args.index, args.requests, args.distinct)
    fetches = {k: top_hits(args.index, queries, k) for k in (5, 3)}
    sizes = [int(x) for x in args.cache_passages.split(",") if x]
    group_mb = [float(x) for x in args.group_mb.split(",") if x]
    result: dict[str, Any] = {"index": args.index, "queries": len(queries), "distinct": args.distinct,
                              "file": {"rows_per_group": bm25.PassageStore(source).group_rows,
                                       "mb": round(source.stat().st_size / 1e6, 1), "open_ms": open_ms(source)},
                              "ways": measure(ways(source, sizes, group_mb), fetches, args.reps)}
    if args.regroup:
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            for rows in (int(x) for x in args.regroup.split(",")):
                copy = regrouped_copy(source, rows, Path(tmp))
                makers = {k: v for k, v in ways(copy, [bm25.CACHE_PASSAGES], []).items() if k != "pre_buffer"}
                result[f"regrouped {rows}"] = {"mb": round(copy.stat().st_size / 1e6, 1), "open_ms": open_ms(copy),
                                               "ways": measure(makers, fetches, args.reps)}
                copy.unlink()
    load["end"] = load_average()
    result["load_average"] = load
    if args.json:
        print(json.dumps(result))
        return result
    print(f"{len(queries)} evidence queries of {args.requests} bench_serve requests"
          f"{' (first of each question)' if args.distinct else ''}; index {args.index}; "
          f"load average {load['start']} -> {load['end']}")
    for label, block in [("as built", {**result["file"], "ways": result["ways"]})] + [
            (k, v) for k, v in result.items() if k.startswith("regrouped")]:
        print(f"{label}: file {block['mb']} MB, open {block['open_ms']} ms")
        for name, r in block["ways"].items():
            print(f"  {name:<20} {r['cpu_ms_per_fetch']:>7.3f} ms/fetch cpu (runs {r['runs']}), "
                  f"{r['groups_read_per_fetch']} groups read/fetch, cache hits {r['hit_rate']:.1%} of "
                  f"{r['hits_of']}, holds {r['held_mb']} MB")
    return result


if __name__ == "__main__":
    main()
