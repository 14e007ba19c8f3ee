"""Phrase counts (suffix array over token ids): construction candidates, size, and query latency.

```
python bench/bench_phrase_index.py                      # one wiki2015 shard, then all four: numba and divsufsort
python bench/bench_phrase_index.py --shards 1 --methods numba
python bench/bench_phrase_index.py --corpus my.jsonl.zst --work /tmp/pw
```

For each corpus and construction method (``numba``: our prefix doubling; ``divsufsort``: libdivsufsort through
pydivsufsort over 3-byte token codes), ``build_phrase_arrays`` runs in a fresh interpreter over the documents
read from the files (reading included in the wall time): wall time per stage, CPU time, peak RSS (the child's
``VmHWM``) and the size of the arrays against the uncompressed text. Both methods' suffix arrays must give the
same interval for every sampled phrase (checked). Queries run on the ``numba`` arrays, in another fresh
interpreter, after one warm-up pass: ``freq`` (documents) and ``occurrences`` from the phrase's text (normalizer
included), and ``cooc`` of two phrases, over phrases sampled from the corpus text (1-5 consecutive tokens of a
random paragraph of a random document: frequent words come up as often as they occur) and absent ones (a corpus
phrase with an invented word), p50/p95/p99 wall time. infini-gram is not run here: its index is over its own
(case-sensitive BPE) tokens rather than our normalizer's, and its AND counts are occurrence counts, approximate
above a cap (``../shared/NOTES.md`` has its build figures on this machine).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import OUT_DIR, WIKI, load_average, machine_info, run_child, text_bytes  # noqa: E402

BUILD = r"""
import time
from pathlib import Path
from quco.index_builder import readers
from quco.index_builder.suffix_build import build_phrase_arrays
def docs():
    for f in ARGS["files"]:
        yield from readers.read_documents(f)
import tempfile
from quco.cooccur.types import Document
with tempfile.TemporaryDirectory() as warm:  # compile (or load numba's cache) before timing
    build_phrase_arrays([Document("w", "a b", ["a b c", "b c"])] * 3, warm, method=ARGS["method"])
t = time.perf_counter()
stats = build_phrase_arrays(docs(), ARGS["out"], method=ARGS["method"])
stats["wall_s"] = time.perf_counter() - t
_report(stats)
"""

QUERY = r"""
import random, time
import numpy as np
from quco.cooccur.normalize import tokenize
from quco.cooccur.phrase_index import PhraseCounts
from quco.index_builder import readers
rng = random.Random(ARGS["seed"])
docs, head = [], []
for f in ARGS["files"]:
    for d in readers.read_documents(f):
        if len(head) < 50:
            head.append(d)
        if rng.random() < ARGS["doc_rate"]:
            docs.append(d)
docs = docs or head  # a corpus too small for the sampling rate
phrases = []
while len(phrases) < ARGS["n"]:
    d = rng.choice(docs)
    seg = rng.choice(d.segments())
    h, s, e = tokenize(seg)
    if len(h) == 0:
        continue
    i = rng.randrange(len(h))
    n = min(rng.randint(1, 5), len(h) - i)
    phrases.append(seg[s[i]:e[i + n - 1]])
absent = [p + " zorblaxian" for p in phrases[: ARGS["n"] // 10]]
pc = PhraseCounts.open(ARGS["dir"])
others = {}
for name in ARGS.get("compare", []):
    others[name] = PhraseCounts.open(ARGS["compare_dirs"][name])
def span(c, p):
    h = c.hits(p)
    return h.lo, h.hi
mismatch = {name: sum(span(o, p) != span(pc, p) for p in phrases + absent) for name, o in others.items()}
def timed(fn, items):
    for x in items[:200]:
        fn(x)
    out = []
    for x in items:
        t = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t)
    a = np.asarray(out) * 1e6
    return {"p50_us": float(np.percentile(a, 50)), "p95_us": float(np.percentile(a, 95)),
            "p99_us": float(np.percentile(a, 99)), "max_us": float(a.max()), "n": len(out)}
pairs = [(phrases[i], phrases[(i * 7 + 3) % len(phrases)]) for i in range(len(phrases))]
occ = np.array([pc.occurrences(p) for p in phrases])
res = {
    "freq": timed(pc.freq, phrases), "freq_absent": timed(pc.freq, absent),
    "occurrences": timed(pc.occurrences, phrases),
    "cooc": timed(lambda ab: pc.cooc(ab[0], ab[1]), pairs),
    "occurrences_p50": float(np.median(occ)), "occurrences_p95": float(np.percentile(occ, 95)),
    "heavy_share": float(np.mean([pc.hits(p).heavy >= 0 for p in phrases])),
    "absent_found": int(sum(pc.freq(p) > 0 for p in absent)), "n_absent": len(absent),
    "interval_mismatches": mismatch,
    "by_method": {name: {"freq": timed(o.freq, phrases), "cooc": timed(lambda ab: o.cooc(ab[0], ab[1]), pairs)}
                  for name, o in others.items()},
}
_report(res)
"""


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.npy"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", nargs="*", default=None, help="corpus files (default: the wiki2015 shards)")
    ap.add_argument("--shards", nargs="*", type=int, default=[1, 4], help="first N files of the corpus, per run")
    ap.add_argument("--methods", default="numba,divsufsort")
    ap.add_argument("--work", default="/tmp/bench_phrase")
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args(argv)
    files = [Path(f) for f in args.corpus] if args.corpus else sorted(WIKI.glob("*.zst"))
    methods = args.methods.split(",")
    results = {"machine": machine_info(), "load_start": load_average(), "runs": []}
    for k in args.shards:
        part = [str(f) for f in files[:k]]
        size = text_bytes([Path(f) for f in part])
        dirs = {}
        for m in methods:
            out = Path(args.work) / f"{k}-{m}"
            r = run_child(BUILD, {"files": part, "out": str(out), "method": m})
            r.update(method=m, files=len(part), text_bytes=size, array_bytes=dir_size(out),
                     x_text=dir_size(out) / size)
            results["runs"].append(r)
            dirs[m] = str(out)
            tm = r["timing"]
            print(f"{k} file(s) {size / 1e6:.1f} MB, {m}: wall {r['wall_s']:.1f} s (sa {tm['suffix_array']:.1f}"
                  f" s, tokenize {tm['tokenize']:.1f} s, heavy {tm['heavy']:.1f} s), CPU {r['cpu_self_s']:.1f} s, peak "
                  f"{r['maxrss_self_mib']:.0f} MiB, {r['array_bytes'] / 1e6:.0f} MB = {r['x_text']:.2f}x text, "
                  f"{r['heavy_intervals']} heavy intervals ({r['heavy_sets']} bitmaps)", flush=True)
        main_m = methods[0]
        q = run_child(QUERY, {"files": part, "dir": dirs[main_m], "seed": 7, "n": args.queries,
                              "doc_rate": 0.05, "compare": methods[1:], "compare_dirs": dirs})
        q.update(files=len(part), method=main_m)
        results["runs"].append({"queries": q})
        print(f"  queries ({main_m} arrays): freq p50/p95 {q['freq']['p50_us']:.1f}/{q['freq']['p95_us']:.1f} us "
              f"(absent {q['freq_absent']['p50_us']:.1f}), occurrences {q['occurrences']['p50_us']:.1f}/"
              f"{q['occurrences']['p95_us']:.1f} us, cooc {q['cooc']['p50_us']:.1f}/{q['cooc']['p95_us']:.1f}/"
              f"{q['cooc']['p99_us']:.1f} us (p50/p95/p99); median phrase {q['occurrences_p50']:.0f} occurrences, "
              f"{q['heavy_share']:.0%} precomputed; interval mismatches {q['interval_mismatches']}", flush=True)
        for name, r in q.get("by_method", {}).items():
            print(f"  queries ({name} arrays): freq p50/p95 {r['freq']['p50_us']:.1f}/{r['freq']['p95_us']:.1f} us, "
                  f"cooc p50/p95 {r['cooc']['p50_us']:.1f}/{r['cooc']['p95_us']:.1f} us", flush=True)
    results["load_end"] = load_average()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "bench-phrase.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
