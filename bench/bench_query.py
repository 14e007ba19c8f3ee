"""Query-side benchmarks: pair lookups (numpy over memory-mapped arrays vs DuckDB), ``assess``, BM25.

Pair lookups are measured at three levels: ``Index.cooc(a, b)`` on entity texts (normalizer + two entity
binary searches + one pair binary search), ``cooc_ids`` on one id pair, and ``cooc_ids`` on batches of 100 id
pairs (reported per pair). Half of the sampled pairs exist in the index, half are random entity pairs (mostly
absent), as in ``assess`` where unseen pairs are the interesting ones. DuckDB answers the same keys through
``Index.sql`` over ``pairs.parquet`` (``WHERE key = ?``, and ``WHERE key IN (...)`` with 100 parameters) and
through a DuckDB table loaded in memory from that file (its best case); every answer is checked against numpy.
"""
from __future__ import annotations

import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_common import percentiles, read_jsonl, timed_loop
from quco.cooccur.index import Index

BATCH = 100


def sample_pairs(ix: Index, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` id pairs: half drawn from the index's pairs, half random entity pairs."""
    rng = np.random.default_rng(seed)
    n_entries, n_ent = ix.nbr_id.shape[0], ix.entity_hash.shape[0]
    half = n // 2
    rows = np.sort(rng.integers(0, n_entries, size=half)) if n_entries else np.empty(0, np.int64)
    first = np.searchsorted(np.asarray(ix.nbr_indptr), rows, side="right") - 1  # the entity whose row holds it
    second = np.asarray(ix.nbr_id[rows], dtype=np.int64)
    perm = rng.permutation(rows.shape[0])
    a = np.concatenate([first[perm], rng.integers(0, n_ent, size=n - half)])
    b = np.concatenate([second[perm], rng.integers(0, n_ent, size=n - half)])
    perm = rng.permutation(n)
    return a[perm].astype(np.int64), b[perm].astype(np.int64)


def _keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return (lo << 32) | hi


def bench_lookups(ix: Index, budget_s: float, with_duckdb_table: bool = True) -> dict[str, Any]:
    a, b = sample_pairs(ix, 20_000)
    texts = ix.entity_info(np.unique(np.concatenate([a[:2000], b[:2000]])).tolist())
    text_of = {t["id"]: t["text"] for t in texts}
    want = ix.cooc_ids(a, b)
    out: dict[str, Any] = {"pairs_in_index": int(ix.n_pairs), "entities": int(ix.entity_hash.shape[0]),
                           "hit_rate": float((want > 0).mean())}
    # warm: touch the arrays the way the loops below will
    ix.cooc_ids(a[:BATCH], b[:BATCH])
    ix.cooc(text_of[int(a[0])], text_of[int(b[0])])

    text_pairs = [(text_of[int(x)], text_of[int(y)]) for x, y in zip(a[:2000], b[:2000])]
    out["cooc_text_single"] = percentiles(timed_loop(lambda p: ix.cooc(*p), text_pairs, budget_s))
    singles = [(a[i : i + 1], b[i : i + 1]) for i in range(5000)]
    out["cooc_ids_single"] = percentiles(timed_loop(lambda p: ix.cooc_ids(*p), singles, budget_s))
    batches = [(a[i : i + BATCH], b[i : i + BATCH]) for i in range(0, a.shape[0] - BATCH + 1, BATCH)]
    per_batch = timed_loop(lambda p: ix.cooc_ids(*p), batches, budget_s)
    out["cooc_ids_batch100"] = percentiles(per_batch)
    out["cooc_ids_batch100_per_pair"] = percentiles([t / BATCH for t in per_batch])
    per_doc = timed_loop(lambda p: ix.doc_cooc_ids(*p), batches, budget_s)
    out["doc_cooc_ids_batch100_per_pair"] = percentiles([t / BATCH for t in per_doc])
    text_batches = [text_pairs[i : i + BATCH] for i in range(0, len(text_pairs) - BATCH + 1, BATCH)]
    per_tb = timed_loop(ix.cooc_many, text_batches, budget_s)
    out["cooc_many_text_batch100_per_pair"] = percentiles([t / BATCH for t in per_tb])
    out["duckdb"] = bench_duckdb(ix, a, b, want, budget_s, with_duckdb_table)
    return out


def bench_duckdb(ix: Index, a: np.ndarray, b: np.ndarray, want: np.ndarray, budget_s: float,
                 with_table: bool) -> dict[str, Any]:
    keys = _keys(a, b).tolist()
    got_of = {k: int(c) for k, c in zip(keys, want.tolist())}
    placeholders = ", ".join("?" * BATCH)
    out: dict[str, Any] = {}
    mismatches = 0

    def single(sql_fn, q):
        def run(k):
            nonlocal mismatches
            rows = sql_fn(q, [k])
            if (rows[0][0] if rows else 0) != got_of[k]:
                mismatches += 1
        return run

    def batch(sql_fn, q):
        def run(ks):
            nonlocal mismatches
            rows = dict(sql_fn(q, ks))
            if any(rows.get(k, 0) != got_of[k] for k in ks):
                mismatches += 1
        return run

    batches = [keys[i : i + BATCH] for i in range(0, len(keys) - BATCH + 1, BATCH)]
    t = time.perf_counter()
    ix.sql("SELECT count(*) FROM pairs").fetchall()
    out["parquet_view_open_s"] = time.perf_counter() - t
    view = lambda q, p: ix.sql(q, p).fetchall()  # noqa: E731
    out["parquet_single"] = percentiles(timed_loop(single(view, "SELECT count FROM pairs WHERE key = ?"),
                                                   keys, budget_s))
    per = timed_loop(batch(view, f"SELECT key, count FROM pairs WHERE key IN ({placeholders})"), batches, budget_s)
    out["parquet_batch100"] = percentiles(per)
    out["parquet_batch100_per_pair"] = percentiles([t / BATCH for t in per])
    if with_table:
        import duckdb

        con = duckdb.connect(":memory:")
        t = time.perf_counter()
        con.execute(f"CREATE TABLE p AS SELECT key, count FROM read_parquet('{ix.root}/pairs.parquet') ORDER BY key")
        out["table_load_s"] = time.perf_counter() - t
        tab = lambda q, p: con.execute(q, p).fetchall()  # noqa: E731
        out["table_single"] = percentiles(timed_loop(single(tab, "SELECT count FROM p WHERE key = ?"), keys,
                                                     budget_s))
        per = timed_loop(batch(tab, f"SELECT key, count FROM p WHERE key IN ({placeholders})"), batches, budget_s)
        out["table_batch100"] = percentiles(per)
        out["table_batch100_per_pair"] = percentiles([t / BATCH for t in per])
        con.close()
    out["mismatches"] = mismatches
    return out


# ---- assess -------------------------------------------------------------------------------------------------
_TEMPLATES = ("Who founded {a}?", "Where is {a} located?", "What is {a} known for?", "When did {a} meet {b}?",
              "Which country is {a} from?")


def template_questions(ix: Index, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(question, answer) pairs written from the index's own entities: an answer is an entity that co-occurs
    with the question's entity (half the time) or a random entity, sometimes inside a short sentence."""
    rng = random.Random(seed)
    a, b = sample_pairs(ix, 2 * n, seed)
    info = {t["id"]: t["text"] for t in ix.entity_info(np.unique(np.concatenate([a, b])).tolist())}
    out = []
    for i in range(n):
        q = rng.choice(_TEMPLATES).format(a=info[int(a[i])], b=info[int(b[n + i])])
        ans = info[int(b[i])]
        if rng.random() < 0.5:
            ans = f"It was {ans}, together with {info[int(a[n + i])]}."
        out.append((q, ans))
    return out


def eq_questions(path: Path, n: int) -> list[tuple[str, str]]:
    """(question, answer) rows of the EntityQuestions swap set (gold and swapped answers alike)."""
    return [(r["question"], r["answer"]) for r in read_jsonl(path, n)]


def bench_assess(index: Index, qa: list[tuple[str, str]], budget_s: float) -> dict[str, Any]:
    """``assess`` latency, retrieval excluded; the first call (extractor load, numba cache) reported apart."""
    from quco.gate.assess import assess

    t = time.perf_counter()
    first = assess(qa[0][0], qa[0][1], index=index, mode="factual", retrieve=False)
    cold = time.perf_counter() - t
    reports: list[Any] = []
    cpu: list[float] = []

    def run(p):
        c = time.process_time()
        reports.append(assess(p[0], p[1], index=index, mode="factual", retrieve=False))
        cpu.append(time.process_time() - c)

    lat = timed_loop(run, qa, budget_s)
    decisions: dict[str, int] = {}
    for r in reports:
        decisions[r.decision] = decisions.get(r.decision, 0) + 1
    extract = [r.timing.get("extract_ms", 0.0) for r in reports]
    lookup = [r.timing.get("lookup_ms", 0.0) for r in reports]
    return {
        "extractor": index.build.get("extractor"), "cold_ms": cold * 1e3, "first_decision": first.decision,
        **{k.replace("_us", "_ms"): v / 1e3 if k.endswith("_us") else v for k, v in percentiles(lat).items()},
        "cpu_p50_ms": float(np.median(cpu)) * 1e3 if cpu else None,
        "extract_p50_ms": float(np.median(extract)) if extract else None,
        "lookup_p50_ms": float(np.median(lookup)) if lookup else None,
        "pairs_checked_mean": float(np.mean([len(r.pairs) for r in reports])) if reports else 0.0,
        "entities_mean": float(np.mean([len(r.entities) for r in reports])) if reports else 0.0,
        "decisions": decisions,
    }


# ---- BM25 ---------------------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+")


def bm25_queries(qa: list[tuple[str, str]]) -> list[str]:
    """Queries like the ones ``assess`` sends for evidence: the question's words and the answer."""
    return [" ".join(_WORD.findall(f"{q} {a}")) for q, a in qa]


def _rebuilt_retrieval(index_dir: Path, work: Path) -> tuple[Path, dict[str, Any]]:
    """A copy of the index's passages with a freshly built bm25s retrieval (for an index whose saved retrieval
    this version of quco no longer reads). The index itself is left untouched."""
    from quco.cooccur.bm25 import PASSAGES_FILE
    from quco.index_builder.bm25_build import build_retrieval

    shadow = work / "retrieval-rebuild"
    shutil.rmtree(shadow, ignore_errors=True)
    shadow.mkdir(parents=True)
    shutil.copyfile(index_dir / PASSAGES_FILE, shadow / PASSAGES_FILE)
    t = time.perf_counter()
    stats = build_retrieval(shadow, ["bm25s"])
    return shadow, {"seconds": time.perf_counter() - t, "stats": stats}


def bench_bm25(index_dir: Path, queries: list[str], budget_s: float, k: int = 5,
               work: Path | None = None) -> dict[str, Any]:
    """Query latency of the index's saved bm25s retrieval. If it is stale (built by an older quco) and ``work``
    is given, the retrieval is rebuilt from a copy of the index's passages and that is measured instead."""
    from quco.errors import IndexCorruptError
    from quco.cooccur.bm25 import load_retriever

    rebuilt = None
    t = time.perf_counter()
    try:
        r = load_retriever(index_dir, "bm25s")
    except IndexCorruptError as e:
        if work is None:
            raise
        shadow, rebuilt = _rebuilt_retrieval(index_dir, work)
        rebuilt["reason"] = str(e)
        t = time.perf_counter()
        r = load_retriever(shadow, "bm25s")
    load = time.perf_counter() - t
    t = time.perf_counter()
    r.search(queries[0], k=k)
    cold = time.perf_counter() - t
    hits: list[int] = []
    lat = timed_loop(lambda q: hits.append(len(r.search(q, k=k))), queries, budget_s)
    return {"backend": "bm25s", "k": k, "load_s": load, "cold_ms": cold * 1e3, "rebuilt": rebuilt,
            **{kk.replace("_us", "_ms"): v / 1e3 if kk.endswith("_us") else v for kk, v in percentiles(lat).items()},
            "empty": sum(1 for h in hits if h == 0)}
