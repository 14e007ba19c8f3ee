"""The benchmark suite: ``python bench/run.py [--quick] [--index DIR] [--corpus PATH ...]``.

Measures, in one run, build throughput of each extractor, each build stage's share of time, peak memory, index
size against text size, numba kernels against their Python references, pair-lookup latency (numpy against
DuckDB), ``assess`` latency per extractor and BM25 query latency. Prints one markdown table and writes every raw
number to ``bench/out/bench-<mode>.json``. See ``bench/README.md`` for what each row means.

- ``--quick``: a synthetic corpus made on the spot (no ``../shared``), done in under three minutes.
- full mode: ``../shared/data/wiki2015`` (all four shards). With ``--index DIR`` an index already built from it
  is benchmarked and its build figures are read from its manifest (``--time-log`` adds the peak RSS of that build
  from a ``/usr/bin/time -v`` log); without it the corpus is built here, once, in a child process.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import from_manifest, run_build, spacy_path, summarize  # noqa: E402
from bench_common import (EQ_SWAP, OUT_DIR, WIKI, corpus_files, load_average, machine_info,  # noqa: E402
                          synthetic_corpus, take_documents, text_bytes, write_wikiextractor)

MODES = {
    # synthetic corpus bytes, spaCy slice chars, kernel text chars, seconds per Python reference, seconds per
    # latency loop, spaCy comparison repeats and second (warm) bare pass, harvest sample chars (None = default)
    "quick": dict(corpus=6_000_000, spacy_slice=200_000, kernel_chars=10**12, ref_budget=1.5, lat_budget=1.5,
                  spacy_repeats=1, spacy_warm=False, harvest_sample=50_000, questions=300),
    "full": dict(corpus=None, spacy_slice=2_000_000, kernel_chars=32_000_000, ref_budget=8.0, lat_budget=5.0,
                 spacy_repeats=2, spacy_warm=True, harvest_sample=None, questions=600),
}


def _save(res: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1, default=str))
    tmp.replace(path)


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, out_path: Path) -> dict[str, Any]:
    mode = "quick" if args.quick else "full"
    p = MODES[mode]
    res: dict[str, Any] = {"mode": mode, "machine": machine_info(), "load_start": load_average()}
    t_run = time.perf_counter()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix=f"quco-bench-{mode}-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        sections: dict[str, float] = {}
        res["sections_s"] = sections

        def step(key: str, fn, *, required: bool = False) -> Any:
            """Run one section: timed, logged, saved to the JSON at once; a failure is recorded, not fatal."""
            _log(key)
            t = time.perf_counter()
            try:
                res[key] = fn()
            except Exception as e:  # noqa: BLE001 - one broken section must not lose the others' numbers
                if required:
                    raise
                traceback.print_exc()
                res[key] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
            sections[key] = time.perf_counter() - t
            _save(res, out_path)
            return res[key]

        # ---- corpus and gazetteer build ---------------------------------------------------------------------------
        index_dir = Path(args.index).resolve() if args.index else None

        def corpus() -> dict[str, Any]:
            if args.corpus:
                files = corpus_files(args.corpus)
                info: dict[str, Any] = {"kind": "given"}
            elif index_dir is not None:
                manifest = json.loads((index_dir / "manifest.json").read_text())
                files = corpus_files(manifest["build"]["inputs"])
                info = {"kind": "the index's inputs"}
            elif mode == "quick":
                info = {"kind": "synthetic", **synthetic_corpus(work / "synthetic.txt", p["corpus"])}
                files = [work / "synthetic.txt"]
            else:
                files = corpus_files([WIKI])
                info = {"kind": "wiki2015"}
            return {**info, "files": [str(f) for f in files], "text_bytes": text_bytes(files)}

        files = [Path(f) for f in step("corpus", corpus, required=True)["files"]]
        n_bytes = res["corpus"]["text_bytes"]

        def build_gazetteer() -> dict[str, Any]:
            nonlocal index_dir
            if index_dir is not None:
                return summarize(from_manifest(index_dir, Path(args.time_log) if args.time_log else None), n_bytes)
            kw: dict[str, Any] = {"extractor": "gazetteer"}
            if p["harvest_sample"] is not None:
                kw["harvest_sample"] = p["harvest_sample"]
            index_dir = work / "gazetteer.idx"
            return summarize(run_build([str(f) for f in files], index_dir, **kw), n_bytes)

        step("build_gazetteer", build_gazetteer, required=True)

        # ---- spaCy path on a slice ----------------------------------------------------------------------------------
        def build_spacy() -> dict[str, Any]:
            slice_file = work / "spacy_slice.txt"
            write_wikiextractor(take_documents(files[0], p["spacy_slice"]), slice_file)
            return spacy_path(slice_file, work / "spacy.idx", repeats=p["spacy_repeats"], warm=p["spacy_warm"])

        step("build_spacy", build_spacy)

        # ---- kernels ---------------------------------------------------------------------------------------------
        from bench_kernels import run_kernels
        from bench_query import bench_assess, bench_bm25, bench_lookups, bm25_queries, eq_questions, template_questions
        from quco.cooccur.index import Index

        ix = Index(index_dir)
        step("kernels", lambda: run_kernels(take_documents(files[0], p["kernel_chars"]), ix.extractor, ix.window,
                                            p["ref_budget"]))

        # ---- queries ---------------------------------------------------------------------------------------------
        step("lookups", lambda: bench_lookups(ix, p["lat_budget"]))
        if mode == "full" and EQ_SWAP.exists():
            qa, res["questions"] = eq_questions(EQ_SWAP, p["questions"]), f"EntityQuestions swap dev ({EQ_SWAP.name})"
        else:
            qa, res["questions"] = template_questions(ix, p["questions"]), "templates over the index's entities"
        step("assess_gazetteer", lambda: bench_assess(ix, qa, p["lat_budget"]))

        def assess_spacy() -> dict[str, Any]:
            with Index(work / "spacy.idx") as spacy_ix:
                return {**bench_assess(spacy_ix, qa, p["lat_budget"]), "index": "the spaCy build of the slice"}

        step("assess_spacy", assess_spacy)
        bm25_dir = Path(args.bm25_index) if args.bm25_index else index_dir
        step("bm25", lambda: {**bench_bm25(bm25_dir, bm25_queries(qa), p["lat_budget"], work=work),
                              "index": str(bm25_dir)})
        ix.close()

        res["load_end"] = load_average()
        res["run_s"] = time.perf_counter() - t_run
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if args.keep or args.work:
        res["work"] = str(work)
    return res


# ---- the table -------------------------------------------------------------------------------------------------------
def _f(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def _status(ok: bool | None, full_only: bool, mode: str, target: str = "") -> str:
    if ok is None:
        return "not known" if target else ""
    if full_only and mode != "full":
        return "(full-mode target)"
    return "ok" if ok else "**MISS**"


Add = Callable[..., None]


def _rows_gazetteer(g: dict[str, Any], add: Add) -> None:
    mb = g["text_bytes"] / 1e6
    cpu = f" ({_f(g['cpu_s'])} CPU s)" if g.get("cpu_s") else ""
    add(f"build, gazetteer ({g['workers']} workers, harvest incl.): wall", f"{_f(g['wall_s'])} s for {_f(mb)} MB{cpu}",
        "≤ 180 s", g["wall_s"] <= 180, True)
    add("build, gazetteer: throughput", f"{_f(g['mb_per_s'], 2)} MB/s, {_f(g['tokens_per_s'] / 1e3)} k tokens/s; "
        f"count stage alone {_f(g['count_stage_mb_per_s'])} MB/s")
    add("build, gazetteer: stage shares of wall",
        ", ".join(f"{n} {v * 100:.0f}% ({_f(g['stage_seconds'][n])} s)" for n, v in g["stage_share"].items()))
    add("build, gazetteer: shard stage shares (summed over workers)",
        ", ".join(f"{n} {v * 100:.0f}%" for n, v in g["shard_stage_share"].items()))
    if g.get("harvest"):
        h = g["harvest"]
        add("build, gazetteer: harvest", f"{h['entries']:,} entries ({h['titles']:,} titles, {h['ner_entities']:,} "
            f"NER over {h['ner_sample_chars'] / 1e3:,.0f} k chars); "
            + ", ".join(f"{n} {_f(v)} s" for n, v in h["seconds"].items()))
    peak = [v for v in (g.get("tree_peak_pss_mib"), g.get("maxrss_largest_process_mib")) if v is not None]
    mem = []
    if g.get("tree_peak_pss_mib") is not None:
        mem.append(f"all processes {_f(g['tree_peak_pss_mib'])} MiB (PSS, sampled)")
    if g.get("maxrss_largest_process_mib") is not None:
        mem.append(f"largest process {_f(g['maxrss_largest_process_mib'])} MiB (maxrss)")
    if g.get("tree_peak_pss_mib") is not None:
        ok: bool | None = max(peak) <= 4096
    else:  # only the largest single process is known: it can show a miss, not a pass
        ok = False if peak and max(peak) > 4096 else None
        mem.append("sum over the build's processes not measured")
    add("build, gazetteer: peak memory", "; ".join(mem) if peak else "not measured (pass --time-log)",
        "≤ 4,096 MiB", ok)
    add("index size: counts (entities+pairs+arrays+gazetteer)",
        f"{_f(g['index_count_bytes'] / 1e6)} MB = {g['index_count_ratio']:.3f}× text", "≤ 0.3×",
        g["index_count_ratio"] <= 0.3, True)
    add("index size: whole directory (+ passages, retrieval)",
        f"{_f(g['index_bytes'] / 1e6)} MB = {g['index_ratio']:.2f}× text")


def _rows_spacy(s: dict[str, Any], add: Add) -> None:
    add(f"build, spaCy ({_f(s['slice_bytes'] / 1e3, 0)} KB slice, 1 worker, no retrieval): throughput",
        f"{_f(s['mb_per_s'], 3)} MB/s, {_f(s['tokens_per_s'] / 1e3, 2)} k tokens/s "
        f"(bare nlp.pipe {_f(s['bare_spacy_tokens_per_s'] / 1e3, 2)} k spaCy tokens/s)")
    add("build, spaCy: overhead over bare nlp.pipe, CPU time (model load incl. both sides)",
        f"{s['overhead_build_cpu'] * 100:+.1f}% ({_f(s['build_cpu_s'])} vs {_f(s['bare_cpu_s'])} CPU s)",
        "≤ +20%", s["overhead_build_cpu"] <= 0.20)
    add("build, spaCy: overhead over bare nlp.pipe, wall clock",
        f"{s['overhead_build'] * 100:+.1f}% whole build ({_f(s['build_s'])} s vs {_f(s['bare_s'])} s); "
        f"{s['overhead_extract'] * 100:+.1f}% extract stage")


def _rows_kernels(k: dict[str, Any], add: Add) -> None:
    t, m, pr, ms, de = k["tokenize"], k["match"], k["pairs"], k["merge_sum"], k["doc_entities"]
    agree = all(x.get("agree") for x in (t, m, pr, ms, de))
    add(f"kernel tokenize vs tokenize_py ({_f(k['text_bytes'] / 1e6)} MB; kernel rows: CPU time, per core)",
        f"{_f(t['numba_mb_s'])} MB/s vs {_f(t['python_mb_s'], 2)} MB/s = {_f(t['ratio'], 0)}×")
    add(f"kernel match_kernel vs match_py ({m['entries']:,} entries, max_n {m['max_n']})",
        f"{_f(m['numba_mb_s'])} MB/s vs {_f(m['python_mb_s'], 2)} MB/s = {_f(m['ratio'], 0)}×; "
        f"tokenize+match {_f(m['tokenize_plus_match_mb_s'])} MB/s; with max_n 1 (one lookup a token) "
        f"{_f(m['numba_mb_s_one_lookup_per_token'])} MB/s", "≥ 50 MB/s", m["numba_mb_s"] >= 50)
    add(f"kernel emit_pairs+count_keys vs emit_pairs_py+Counter ({pr['pair_instances']:,} pair instances)",
        f"{_f(pr['numba_pairs_s'] / 1e6)} M vs {_f(pr['python_pairs_s'] / 1e6, 2)} M pairs/s = {_f(pr['ratio'], 0)}×",
        "≥ 30×", pr["ratio"] >= 30)
    c = pr["count_only"]
    add("kernel count_keys vs count_keys_py (Counter)", f"{_f(c['numba_pairs_s'] / 1e6)} M vs "
        f"{_f(c['python_pairs_s'] / 1e6, 2)} M pairs/s = {_f(c['ratio'], 0)}×")
    add("kernel merge_sum vs merge_sum_py", f"{_f(ms['numba_keys_s'] / 1e6)} M vs {_f(ms['python_keys_s'] / 1e6, 2)} "
        f"M keys/s = {_f(ms['ratio'], 0)}×")
    add("kernel doc_entities vs doc_entities_py", f"{_f(de['numba_mentions_s'] / 1e6)} M vs "
        f"{_f(de['python_mentions_s'] / 1e6, 2)} M mentions/s = {_f(de['ratio'], 0)}×")
    add("kernels agree with their references on the timed inputs", "yes" if agree else "**NO**", "yes", agree)


def _pct(d: dict, a: str = "p50_us", b: str = "p99_us") -> str:
    return f"{_f(d[a])} / {_f(d[b])} µs"


def _rows_lookups(lk: dict[str, Any], add: Add) -> None:
    add(f"pair lookup, single, Index.cooc(text, text) p50/p99 ({lk['pairs_in_index']:,} pairs)",
        _pct(lk["cooc_text_single"]))
    add("pair lookup, single, cooc_ids(id, id) p50/p99", _pct(lk["cooc_ids_single"]))
    add("pair lookup, batched 100, cooc_ids per pair p50/p99", _pct(lk["cooc_ids_batch100_per_pair"]),
        "p50 ≤ 50 µs", lk["cooc_ids_batch100_per_pair"]["p50_us"] <= 50)
    add("pair lookup, batched 100, cooc_many(texts) per pair p50/p99", _pct(lk["cooc_many_text_batch100_per_pair"]))
    if "doc_cooc_ids_batch100_per_pair" in lk:
        add("document-level pair (postings intersection), batched 100, doc_cooc_ids per pair p50/p99",
            _pct(lk["doc_cooc_ids_batch100_per_pair"]))
    d = lk["duckdb"]
    add("DuckDB over pairs.parquet (Index.sql): single / batch 100 per pair, p50",
        f"{_f(d['parquet_single']['p50_us'])} / {_f(d['parquet_batch100_per_pair']['p50_us'])} µs"
        + ("" if d.get("mismatches") == 0 else f" ({d.get('mismatches')} answers differ from numpy)"))
    if "table_single" in d:
        add("DuckDB in-memory sorted table: single / batch 100 per pair, p50",
            f"{_f(d['table_single']['p50_us'])} / {_f(d['table_batch100_per_pair']['p50_us'])} µs "
            f"(load {_f(d['table_load_s'])} s)")


def _rows_assess(name: str, target_ms: float) -> Callable[[dict[str, Any], Add], None]:
    def rows(a: dict[str, Any], add: Add) -> None:
        add(f"assess, {name} extractor, p50/p95 (no retrieval)", f"{_f(a['p50_ms'], 2)} / {_f(a['p95_ms'], 2)} ms "
            f"(CPU p50 {_f(a['cpu_p50_ms'], 2)} ms; first call {_f(a['cold_ms'])} ms)", f"p50 ≤ {target_ms:g} ms",
            a["p50_ms"] <= target_ms)
    return rows


def _rows_bm25(b: dict[str, Any], add: Add) -> None:
    note = ""
    if b.get("rebuilt"):
        note = f"; the index's saved retrieval is stale, rebuilt here in {_f(b['rebuilt']['seconds'])} s"
    add(f"BM25 query (bm25s, k={b['k']}), p50/p95", f"{_f(b['p50_ms'], 2)} / {_f(b['p95_ms'], 2)} ms "
        f"(load {_f(b['load_s'], 2)} s, first query {_f(b['cold_ms'])} ms{note})")


SECTIONS = (("build_gazetteer", _rows_gazetteer), ("build_spacy", _rows_spacy), ("kernels", _rows_kernels),
            ("lookups", _rows_lookups), ("assess_gazetteer", _rows_assess("gazetteer", 2)),
            ("assess_spacy", _rows_assess("spaCy", 20)), ("bm25", _rows_bm25))


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The table's rows: (measure, value, target, status); a failed section gives one FAILED row."""
    out: list[tuple[str, str, str, str]] = []

    def add(measure: str, value: str, target: str = "", ok: bool | None = None, full_only: bool = False):
        out.append((measure, value, target, _status(ok, full_only, r["mode"], target)))

    for key, fn in SECTIONS:
        v = r.get(key)
        if v is None:
            continue
        if "error" in v:
            out.append((f"{key}", f"failed: {v['error']}", "", "**FAILED**"))
        else:
            fn(v, add)
    return out


def render(r: dict[str, Any]) -> str:
    mi = r["machine"]
    corpus = r["corpus"]
    what = corpus["kind"] if corpus["kind"] == "synthetic" else ", ".join(Path(f).name for f in corpus["files"])
    lines = [
        f"### quco-gate benchmarks, {r['mode']} mode, {mi['date']}",
        "",
        f"Machine: {mi['nproc']} CPUs ({mi['cpu']}), {mi['ram_gib']} GiB RAM; load average "
        f"{' / '.join(map(str, r['load_start']))} at start, {' / '.join(map(str, r['load_end']))} at end "
        f"(1 / 5 / 15 min). Python {mi['python']}, numba {mi['numba']}, numpy {mi['numpy']}, spaCy {mi['spacy']}, "
        f"DuckDB {mi['duckdb']}, bm25s {mi['bm25s']}; quco {mi['quco']} at {mi['commit']}.",
        f"Corpus: {what}, {r['corpus']['text_bytes'] / 1e6:,.1f} MB of text. Build figures: "
        f"{r['build_gazetteer']['source']}. Questions: {r['questions']}. Wall-clock times; whole run "
        f"{r['run_s']:.0f} s.",
        "",
        "| measure | value | target | status |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(r)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="synthetic corpus, CI-sized, < 3 minutes")
    ap.add_argument("--index", help="benchmark this already-built index (build figures from its manifest)")
    ap.add_argument("--time-log", help="a `/usr/bin/time -v` log of the --index build, for its peak RSS")
    ap.add_argument("--bm25-index", help="measure BM25 on this directory's retrieval (default: the index's); "
                    "a stale saved retrieval is rebuilt from a copy of the passages")
    ap.add_argument("--corpus", nargs="+", help="corpus files or directories (default: wiki2015 or synthetic)")
    ap.add_argument("--work", help="working directory for corpora and indexes (kept); default: a temp dir")
    ap.add_argument("--keep", action="store_true", help="keep the temporary working directory")
    ap.add_argument("--out", help="JSON output path (default bench/out/bench-<mode>.json)")
    ap.add_argument("--render", metavar="JSON", help="print the table of a saved run and exit (no measuring)")
    args = ap.parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return 0
    if args.time_log and not args.index:
        ap.error("--time-log goes with --index")
    if not args.quick and not args.index and not args.corpus and not WIKI.exists():
        ap.error(f"{WIKI} not found: run with --quick, or give --corpus / --index")
    out = Path(args.out) if args.out else OUT_DIR / f"bench-{'quick' if args.quick else 'full'}.json"
    res = run(args, out)
    table = render(res)
    res["table"] = table
    _save(res, out)
    print(table)
    print(f"\n(raw numbers: {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
