"""Benchmark passage retrieval: build time, index size, query latency and memory of each backend.

    python bench/bench_retrieval.py --quick             # 2,000 passages, both backends
    python bench/bench_retrieval.py                     # the whole shard (~165 k passages); rank_bm25 skipped
    python bench/bench_retrieval.py --with-rank-bm25    # ... unless asked for
    python bench/bench_retrieval.py --parquet IDX/passages.parquet   # an index's passages (copied, never changed)

Passages are ~100-word windows over each document's paragraphs of ``wiki2015_AA.txt.zst`` (read here with a
small streaming reader, not the project's readers), or an index's ``passages.parquet`` (``--parquet``, copied into
the work directory first: the build regroups its copy). Each backend is built and queried in a fresh process, so
its peak RSS is its own; the machine may be shared, so CPU seconds are reported beside wall seconds. Queries are
entity-pair style: a word of one document's title, a word of another's, and a content word of a passage of the
first. Latency is per ``search(query, k)`` call, passage texts included; ``score`` is the ranking alone.
``fetch`` compares reading the top-k passages through ``PassageStore`` (row groups of ``passages.parquet``) against
reading them with duckdb. Results go to ``bench/out/retrieval.json`` (one key per mode).

    python bench/bench_retrieval.py --kernel [--index /tmp/w15def.idx] [--k 5]   # the top-k kernel alone

``--kernel`` times the bm25s ranking on a built index with the realqa questions (each question, and question plus
answer, as ``retrieve_evidence`` queries), old against new in one run: ``_top_k`` (a fresh passage-sized score
array per query; as the retriever called it before, with memory-mapped arguments) against the retriever's
``_top_k`` (``_top_k_buffered`` in a per-thread buffer), runs alternated per query, best of ``--repeat``; every
result must be identical (ids, float32 scores, order).
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SHARD = ROOT.parent / "shared" / "data" / "wiki2015" / "wiki2015_AA.txt.zst"
OUT = ROOT / "bench" / "out" / "retrieval.json"
REALQA = ROOT.parent / "shared" / "data" / "realqa"
WORDS_PER_PASSAGE = 100
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def read_docs(path: Path):
    """Yield ``(doc_id, title, paragraphs)`` from a WikiExtractor file compressed with zstd, streaming."""
    import zstandard

    with open(path, "rb") as raw:
        text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), encoding="utf-8")
        doc = None
        for line in text:
            if line.startswith("<doc "):
                attrs = dict(_ATTR.findall(line))
                doc = (attrs.get("id", ""), attrs.get("title", ""), [])
            elif line.startswith("</doc>"):
                if doc is not None:
                    yield doc
                doc = None
            elif doc is not None and line.strip():
                if not doc[2] and line.strip() == doc[1]:
                    continue  # the title repeated on the first line
                doc[2].append(line.strip())


def write_passages(path: Path, shard: Path, limit: int | None) -> int:
    """Cut each document into consecutive ~100-word passages; write ``passages.parquet``; return the count."""
    cols: dict[str, list] = {"passage_id": [], "doc_id": [], "title": [], "text": []}
    for doc_id, title, paragraphs in read_docs(shard):
        words = " ".join(paragraphs).split()
        for start in range(0, len(words), WORDS_PER_PASSAGE):
            if limit is not None and len(cols["passage_id"]) >= limit:
                break
            cols["passage_id"].append(len(cols["passage_id"]))
            cols["doc_id"].append(doc_id)
            cols["title"].append(title)
            cols["text"].append(" ".join(words[start:start + WORDS_PER_PASSAGE]))
        if limit is not None and len(cols["passage_id"]) >= limit:
            break
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({**cols, "passage_id": pa.array(cols["passage_id"], pa.int64())}),
                   path / "passages.parquet")
    return len(cols["passage_id"])


def make_queries(path: Path, n: int, seed: int = 0) -> list[str]:
    """Entity-pair queries: a title word of document A, one of document B, a content word of A's passage."""
    from quco.cooccur.normalize import tokenize_py
    from quco.cooccur.bm25 import STOPWORDS

    def words(text: str) -> list[str]:
        return [w for w, _, _ in tokenize_py(text or "") if w not in STOPWORDS]

    pf = pq.ParquetFile(path / "passages.parquet")
    rng = random.Random(seed)
    rows = sorted(rng.sample(range(pf.metadata.num_rows), min(pf.metadata.num_rows, 20 * n)))
    table = pq.read_table(path / "passages.parquet", columns=["title", "text"]).take(rows)
    titles, texts = table.column("title").to_pylist(), table.column("text").to_pylist()
    queries = []
    while len(queries) < n:
        a, b = rng.randrange(len(titles)), rng.randrange(len(titles))
        ta, tb = words(titles[a]), words(titles[b])
        content = [w for w in words(texts[a]) if len(w) >= 5 and w not in ta]
        if ta and tb and content:
            queries.append(f"{rng.choice(ta)} {rng.choice(tb)} {rng.choice(content)}")
    return queries


def _rss_mb() -> dict:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    kb = lambda key: int(status.get(key, "0 kB").split()[0])  # noqa: E731
    # VmHWM, not ru_maxrss: a spawned child's ru_maxrss starts from its forking parent's peak
    return {"rss_mb": kb("VmRSS") / 1024, "rss_anon_mb": kb("RssAnon") / 1024, "peak_rss_mb": kb("VmHWM") / 1024}


def _build_child(index_dir: str, backend: str) -> dict:
    from quco.index_builder.bm25_build import build_retrieval

    t0, c0 = time.perf_counter(), time.process_time()
    stats = build_retrieval(index_dir, [backend])
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "passages": stats["passages"],
            backend: stats[backend], **_rss_mb()}


def _query_child(index_dir: str, backend: str, queries: list[str], k: int) -> dict:
    from quco.cooccur.bm25 import load_retriever, tokenize_for_bm25

    t0 = time.perf_counter()
    retriever = load_retriever(index_dir, backend)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    retriever.search(queries[0], k)  # cold: numba cache load, first page faults
    cold_ms = (time.perf_counter() - t0) * 1000
    latency, top = [], []
    c0 = time.process_time()
    for q in queries:
        t0 = time.perf_counter()
        hits = retriever.search(q, k)
        latency.append(time.perf_counter() - t0)
        top.append([p.passage_id for p in hits])
    cpu_ms = (time.process_time() - c0) / len(queries) * 1000
    score = []
    for hashes in tokenize_for_bm25(queries):
        ids = retriever.term_ids(hashes)
        t0 = time.perf_counter()
        if len(ids):
            retriever._top_k(ids, k)
        score.append(time.perf_counter() - t0)
    ms = lambda xs, p: float(np.percentile(xs, p) * 1000)  # noqa: E731
    return {"load_s": load_s, "cold_ms": cold_ms, "p50_ms": ms(latency, 50), "p95_ms": ms(latency, 95),
            "mean_ms": float(np.mean(latency) * 1000), "cpu_mean_ms": cpu_ms, "score_p50_ms": ms(score, 50),
            "score_p95_ms": ms(score, 95), "empty": sum(not t for t in top), "top": top, **_rss_mb()}


def _fetch_child(index_dir: str, tops: list[list[int]]) -> dict:
    """Time reading the same top-k rows through ``PassageStore`` and with duckdb, both from passages.parquet."""
    import duckdb

    from quco.cooccur.bm25 import PassageStore

    source = Path(index_dir) / "passages.parquet"
    t0 = time.perf_counter()
    store = PassageStore(source, cache_passages=0)  # the row-group reads, not the cache's hits
    open_ms = (time.perf_counter() - t0) * 1000
    con = duckdb.connect()
    sql = "SELECT passage_id, doc_id, title, text FROM read_parquet(?) WHERE passage_id IN ({})"
    tops = [t for t in tops if t]
    timings = {}
    for _ in range(2):  # the second, warm pass counts
        latency = []
        c0 = time.process_time()
        for ids in tops:
            t0 = time.perf_counter()
            store.passages([(i, 1.0) for i in ids])
            latency.append(time.perf_counter() - t0)
        timings["store_cpu"] = (time.process_time() - c0) / len(tops) * 1000
        timings["store_p50"], timings["store_p95"] = (float(np.percentile(latency, p) * 1000) for p in (50, 95))
        t0 = time.perf_counter()
        for ids in tops[:50]:
            con.execute(sql.format(", ".join(map(str, ids))), [str(source)]).fetchall()
        timings["duckdb"] = (time.perf_counter() - t0) / len(tops[:50]) * 1000
    return {"store_open_ms": open_ms, "store_p50_ms": timings["store_p50"], "store_p95_ms": timings["store_p95"],
            "store_cpu_ms": timings["store_cpu"], "parquet_duckdb_ms": timings["duckdb"], "queries": len(tops),
            "parquet_row_groups": len(store.group_starts) - 1, "parquet_group_rows": store.group_rows,
            "groups_per_query": float(np.mean([len(set(np.searchsorted(store.group_starts, t, side="right")))
                                               for t in tops]))}


def _run(fn, *args):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def realqa_queries(limit: int) -> list[str]:
    """Distinct evidence-style queries from the realqa files: each question, and the question with its answer."""
    queries: dict[str, None] = {}
    for path in sorted(REALQA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            queries.update({row["question"]: None, f"{row['question']} {row.get('answer') or ''}".strip(): None})
    return list(queries)[:limit]


def kernel_bench(index: Path, queries: list[str], k: int, repeat: int, evict_mb: int = 0) -> dict:
    """Old (allocating ``_top_k``, memory-mapped arguments) against new (the retriever's buffered ``_top_k``) per
    query, alternated, best of ``repeat``; asserts identical results. ``evict_mb``: before each timed call, write
    that much scratch memory (untimed), as the parse and lookups between two evidence queries in ``assess`` do."""
    from quco.cooccur import bm25

    r = bm25.load_retriever(index, "bm25s")
    mapped = bm25._load_arrays(index / bm25.RETRIEVAL_DIR / "bm25s", bm25.Bm25sRetriever.ARRAYS[:4])
    old_args = (*(mapped[a] for a in bm25.Bm25sRetriever.ARRAYS[:4]), r._norm)

    def old(ids):  # the retriever's _top_k before the buffer
        docs, scores = bm25._top_k(*old_args, ids, k)
        return [(int(d), float(s)) for d, s in zip(docs, scores)]

    ids = [i for i in (r.term_ids(h) for h in bm25.tokenize_for_bm25(queries)) if len(i)]
    for q in ids[:20]:  # numba cache loads, first page faults
        old(q), r._top_k(q, k)
    runs = (old, lambda q: r._top_k(q, k))
    scratch = np.zeros(evict_mb << 20, np.uint8) if evict_mb else None
    best = np.full((2, len(ids)), np.inf)
    for rep in range(repeat):
        for i, q in enumerate(ids):
            got = [None, None]
            for which in ((0, 1) if (i + rep) % 2 else (1, 0)):
                if scratch is not None:
                    scratch += 1
                t0 = time.perf_counter()
                got[which] = runs[which](q)
                best[which, i] = min(best[which, i], time.perf_counter() - t0)
            assert got[0] == got[1], (i, got)
    ms = best * 1000
    quartiles = np.array_split(np.argsort(ms[0]), 4)  # by the old time: short queries to long ones
    return {"by_old_quartile": [(float(ms[0][q].mean()), float(ms[1][q].mean())) for q in quartiles],
            "index": str(index), "passages": r._store.n, "queries": len(ids), "k": k, "repeat": repeat,
            "evict_mb": evict_mb,
            "old_mean_ms": float(ms[0].mean()), "new_mean_ms": float(ms[1].mean()),
            "old_p50_ms": float(np.median(ms[0])), "new_p50_ms": float(np.median(ms[1])),
            "ratio_mean": float(ms[1].mean() / ms[0].mean()), "ratio_p50": float(np.median(ms[1] / ms[0])),
            "identical": True}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 passages instead of the whole shard")
    ap.add_argument("--passages", type=int, help="passage limit (default: 2,000 with --quick, else all)")
    ap.add_argument("--with-rank-bm25", action="store_true", help="run rank_bm25 above --rank-bm25-max too")
    ap.add_argument("--rank-bm25-max", type=int, default=50_000)
    ap.add_argument("--queries", type=int, help="queries (default: 200; with --kernel, every realqa query)")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--shard", type=Path, default=SHARD)
    ap.add_argument("--parquet", type=Path, help="use this passages.parquet (copied) instead of cutting the shard")
    ap.add_argument("--workdir", type=Path, help="where the index is built (default: a fresh dir under /tmp)")
    ap.add_argument("--kernel", action="store_true", help="time the top-k kernel alone, old against new")
    ap.add_argument("--index", type=Path, default=Path("/tmp/w15def.idx"), help="--kernel: a built index")
    ap.add_argument("--repeat", type=int, default=3, help="--kernel: runs per query (the best counts)")
    ap.add_argument("--evict-mb", type=int, default=0, help="--kernel: scratch MB written before each call")
    args = ap.parse_args(argv)
    if args.kernel:
        res = kernel_bench(args.index, realqa_queries(args.queries or 10**9), args.k, args.repeat, args.evict_mb)
        print(f"{res['passages']} passages, {res['queries']} realqa queries, k={res['k']}, best of {res['repeat']}, "
              f"{res['evict_mb']} MB evicted before each call: "
              f"old {res['old_mean_ms']:.4f} ms/query (p50 {res['old_p50_ms']:.4f}), new {res['new_mean_ms']:.4f} "
              f"(p50 {res['new_p50_ms']:.4f}); new/old {res['ratio_mean']:.3f} in the mean, "
              f"{res['ratio_p50']:.3f} at the p50 of per-query ratios; results identical on every query")
        print("by quartile of the old time, mean ms old -> new (new/old): " + ", ".join(
            f"{o:.3f} -> {n:.3f} ({n / o:.2f})" for o, n in res["by_old_quartile"]))
        return res
    if args.parquet is None and not args.shard.is_file():
        sys.exit(f"no corpus at {args.shard}; pass --shard or --parquet")
    mode = "quick" if args.quick else "parquet" if args.parquet else "full"
    limit = args.passages or (2_000 if args.quick else None)
    workdir = args.workdir or Path(f"/tmp/quco-bench-retrieval-{mode}")
    shutil.rmtree(workdir / "retrieval", ignore_errors=True)

    t0 = time.perf_counter()
    if args.parquet:
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.parquet, workdir / "passages.parquet")
        n = pq.ParquetFile(workdir / "passages.parquet").metadata.num_rows
    else:
        n = write_passages(workdir, args.shard, limit)
    print(f"{n} passages from {args.parquet or args.shard.name} in {time.perf_counter() - t0:.1f}s -> {workdir}",
          flush=True)
    queries = make_queries(workdir, args.queries or 200)
    backends = ["bm25s"]
    if n <= args.rank_bm25_max or args.with_rank_bm25:
        backends.append("rank_bm25")
    results: dict = {"mode": mode, "passages": n, "queries": len(queries), "k": args.k,
                     "query_examples": queries[:5], "backends": {}}
    for backend in backends:
        build = _run(_build_child, str(workdir), backend)
        print(f"{backend}: built in {build['wall_s']:.1f}s", flush=True)
        query = _run(_query_child, str(workdir), backend, queries, args.k)
        results["backends"][backend] = {"build": build, "query": query}
    results["fetch"] = _run(_fetch_child, str(workdir), results["backends"]["bm25s"]["query"]["top"])
    if "rank_bm25" in results["backends"]:
        a, b = (results["backends"][x]["query"]["top"] for x in ("bm25s", "rank_bm25"))
        results["agreement"] = {"same_top_k": float(np.mean([x == y for x, y in zip(a, b)])),
                                "same_top_k_set": float(np.mean([set(x) == set(y) for x, y in zip(a, b)])),
                                "same_top_1": float(np.mean([x[:1] == y[:1] for x, y in zip(a, b)]))}
    for part in results["backends"].values():
        part["query"].pop("top")
    _print(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    saved[mode] = results
    OUT.write_text(json.dumps(saved, indent=2))
    print(f"wrote {OUT}")
    return results


def _print(r: dict) -> None:
    print(f"\n{r['passages']} passages, {r['queries']} queries, k={r['k']}; e.g. {r['query_examples'][:3]}")
    head = (f"{'backend':<10} {'pass s':>7} {'pass cpu':>8} {'build s':>8} {'b. cpu':>7} {'index MB':>9} "
            f"{'parquet MB':>10} {'build peak MB':>13} {'load s':>7} {'cold ms':>8} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'cpu ms':>7} {'score p50':>9} {'score p95':>9} {'RSS MB':>7} {'anon MB':>8}")
    print(head)
    print("-" * len(head))
    for name, part in r["backends"].items():
        b, q = part["build"], part["query"]
        print(f"{name:<10} {b['passages']['seconds']:>7.1f} {b['passages']['cpu_seconds']:>8.1f} "
              f"{b[name]['seconds']:>8.1f} {b[name]['cpu_seconds']:>7.1f} {b[name]['bytes'] / 1e6:>9.1f} "
              f"{b['passages']['bytes'] / 1e6:>10.1f} {b['peak_rss_mb']:>13.0f} {q['load_s']:>7.2f} "
              f"{q['cold_ms']:>8.1f} {q['p50_ms']:>8.3f} {q['p95_ms']:>8.3f} {q['cpu_mean_ms']:>7.3f} "
              f"{q['score_p50_ms']:>9.3f} {q['score_p95_ms']:>9.3f} {q['rss_mb']:>7.0f} {q['rss_anon_mb']:>8.0f}")
    f = r["fetch"]
    print(f"fetch top-{r['k']} texts ({f['groups_per_query']:.1f} row groups of <= {f['parquet_group_rows']} rows "
          f"per query, {f['parquet_row_groups']} groups): PassageStore p50 {f['store_p50_ms']:.2f} ms, "
          f"p95 {f['store_p95_ms']:.2f} ms, CPU {f['store_cpu_ms']:.2f} ms (open {f['store_open_ms']:.1f} ms); "
          f"duckdb {f['parquet_duckdb_ms']:.1f} ms")
    if "agreement" in r:
        a = r["agreement"]
        print(f"bm25s vs rank_bm25: identical top-{r['k']} {a['same_top_k']:.1%} (as sets {a['same_top_k_set']:.1%}), "
              f"identical top-1 {a['same_top_1']:.1%}")


if __name__ == "__main__":
    main()
