"""Passage support, pruned (MaxScore, :mod:`quco.cooccur.maxscore`) against full accumulation, on real questions.

```
python bench/bench_passage_support.py                          # /tmp/wxdef.idx, 300 rows of each realqa dev file
python bench/bench_passage_support.py --index IDX --rows 100 --files evouna_triviaqa_dev
```

The questions and values are what ``assess`` asks of passage support (``mode="factual"``, ``retrieve=False``) on
the rows of ``../shared/data/realqa/*_dev.jsonl`` (question and answer only): the gate's call is wrapped and
recorded. Every recorded call is then timed through ``PassageSupport(prune=True)`` and
``PassageSupport(prune=False)`` (the full accumulation of every posting, as before the pruning) in the same
process, alternating which goes first in each round; a call's time is its best over the rounds. One untimed pass
of the full reader comes first: it maps every page of the memory-mapped postings the calls read, as in a process
that has served for a while. Between two timed calls a 64 MB array is written (untimed), so that each call starts
with cold CPU caches, as in ``assess`` where spaCy's parse runs between two calls (``--hot``: no eviction, a
tight loop in which postings and buffers stay cached). ``cold`` is the pruned reader's first pass, with an empty
bound cache (each term's bound is computed on its first use), ``warm`` its later rounds. Every call's outputs
must be equal (exact ``==``, not approximate). Prints per-call p50/p95/mean and the ratios new/old measured in
this run; writes ``bench/out/passage_support.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import OUT_DIR, load_average, machine_info, read_jsonl  # noqa: E402

REALQA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realqa"
EVICT_BYTES = 64 << 20  # written between timed calls: twice this machine's L3
FILES = ("evouna_triviaqa_dev", "evouna_nq_dev", "songs_performer_dev", "hotpotqa_ircot_llama31_8b_dev",
         "popqa_llama2chat_s2rag_dev")


def record_calls(index: str, files: list[str], rows: int) -> list[tuple[str, list[str]]]:
    """The ``(question, values)`` of every passage-support call ``assess`` makes on the files' first ``rows``."""
    from quco import Index
    from quco.gate import assess as gate

    calls: list[tuple[str, list[str]]] = []
    real = gate.passage_support

    def recording(ix, question, values):
        calls.append((question, list(values)))
        return real(ix, question, values)

    gate.passage_support = recording
    try:
        ix = Index(index)
        for name in files:
            for row in read_jsonl(REALQA / f"{name}.jsonl", limit=rows):
                gate.assess(row["question"], row["answer"], index=ix, mode="factual", retrieve=False)
    finally:
        gate.passage_support = real
    return calls


def _time(reader, calls, scratch: np.ndarray | None) -> tuple[np.ndarray, list]:
    times, outs = np.empty(len(calls)), []
    for i, (q, values) in enumerate(calls):
        if scratch is not None:
            scratch += 1  # untimed: evict the CPU caches, as the parse and lookups between two calls in assess do
        t = time.perf_counter()
        outs.append(reader.support(q, values))
        times[i] = time.perf_counter() - t
    return times, outs


def _stats(ms: np.ndarray) -> dict[str, float]:
    return {"p50": float(np.median(ms)), "p95": float(np.percentile(ms, 95)), "mean": float(ms.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", default="/tmp/wxdef.idx")
    ap.add_argument("--files", nargs="+", default=list(FILES))
    ap.add_argument("--rows", type=int, default=300, help="rows of each file")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hot", action="store_true", help="no cache eviction between calls (a tight loop)")
    args = ap.parse_args()

    from quco.cooccur.bm25 import load_retriever
    from quco.cooccur.passage_support import PassageSupport

    load0 = load_average()
    calls = record_calls(args.index, args.files, args.rows)
    retriever = load_retriever(args.index)
    old, new = PassageSupport(retriever, prune=False), PassageSupport(retriever)
    PassageSupport(retriever).support("numba warm up", ["warm"])
    old.support("numba warm up", ["warm"])
    _time(old, calls, None)  # untimed: every posting page mapped once, as in a process that has served a while
    scratch = None if args.hot else np.zeros(EVICT_BYTES // 8)
    cold, cold_out = _time(new, calls, scratch)
    t_old, t_new = np.full(len(calls), np.inf), np.full(len(calls), np.inf)
    for r in range(args.rounds):
        for reader, best in ((old, t_old), (new, t_new)) if r % 2 == 0 else ((new, t_new), (old, t_old)):
            t, out = _time(reader, calls, scratch)
            np.minimum(best, t, out=best)
            if reader is old:
                want = out
            else:
                got = out
        bad = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
        assert not bad, f"pruned != full on {len(bad)} calls, first {calls[bad[0]]}: {got[bad[0]]} != " \
                        f"{want[bad[0]]}"
    bad = [i for i, (a, b) in enumerate(zip(cold_out, want)) if a != b]
    assert not bad, f"cold pruned != full on {len(bad)} calls, first {calls[bad[0]]}"

    res = {"evict_bytes": 0 if args.hot else EVICT_BYTES, "index": args.index, "files": args.files,
           "rows": args.rows, "calls": len(calls), "values": sum(len(v) for _, v in calls),
           "load": [load0, load_average()], "machine": machine_info()}
    for name, t in (("full", t_old), ("pruned_warm", t_new), ("pruned_cold", cold)):
        res[name] = _stats(t * 1e3)
    for k in ("p50", "p95", "mean"):
        res[f"ratio_warm_{k}"] = res["pruned_warm"][k] / res["full"][k]
        res[f"ratio_cold_{k}"] = res["pruned_cold"][k] / res["full"][k]
    print(f"{len(calls)} calls ({res['values']} values), index {args.index}, load {load0} -> {load_average()}")
    print(f"{'ms per call':<14}{'p50':>8}{'p95':>8}{'mean':>8}")
    for name in ("full", "pruned_warm", "pruned_cold"):
        print(f"{name:<14}" + "".join(f"{res[name][k]:>8.3f}" for k in ("p50", "p95", "mean")))
    for kind in ("warm", "cold"):
        print(f"ratio {kind}/full" + "".join(f"{res[f'ratio_{kind}_{k}']:>8.2f}" for k in ("p50", "p95", "mean")))
    print("outputs equal: yes (every call, exact ==)")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "passage_support.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
