"""Ablation of the claim steps (issue #13, part 2) on the real-LLM-answer dev files.

For each dev file of ``../shared/data/realqa`` and each configuration, ``assess`` (factual mode, no retrieval,
hint-free: only question and answer are read, never ``id``, ``source`` or ``gold``) scores every row, and the
table shows: the share of rows the corpus can check (question coverage ``known`` or ``sparse``), AUROC of the
risk on those rows with a bootstrap 95 % interval, QuCo-RAG's binary rule on the same rows (any checked pair
never seen together) and our margin over it with its paired bootstrap interval, and the factual gate's pass rate
and error among passed answers over all rows.

Rows are cumulative steps, then single changes on top of the full configuration::

    python bench/ablate_claims.py --index /tmp/wikix.idx                 # TriviaQA, NQ, songs
    python bench/ablate_claims.py --index /tmp/wikix.idx --all --json bench/out/ablate_claims.json
    python bench/ablate_claims.py --index /tmp/wikix.idx --latency --limit 300   # per-call time, wall and CPU

Measured 2 Dec 2026 (dev rows, tuned on them) on a default ``quco build`` of wiki2015 + wiki_extra with phrase
counts (250,570 documents), ``--boot 1000 --set passage_weight=0`` (pair counts alone), AUROC on checked rows
[95 % CI], checked share:

| step (cumulative) | TriviaQA | NQ | songs |
|---|---:|---:|---:|
| all entities (before #13) | 0.626 [0.58, 0.67] (0.45) | 0.570 [0.53, 0.61] (0.72) | 0.862 [0.82, 0.90] (0.25) |
| claims: candidates only | 0.596 (0.85) | 0.557 (0.97) | 0.794 (0.66) |
| + answer span | 0.641 (0.85) | 0.565 (0.97) | 0.793 (0.66) |
| + question form | 0.647 (0.85) | 0.581 (0.97) | 0.794 (0.66) |
| + hedges | 0.649 (0.85) | 0.586 (0.97) | 0.794 (0.66) |
| + generic terms (default) | 0.648 [0.61, 0.68] (0.85) | 0.595 [0.57, 0.63] (0.97) | 0.815 [0.78, 0.84] (0.66) |
| QuCo binary, same rows as default | 0.562 | 0.545 | 0.785 |

The ``ClaimSteps`` refinements (``--steps``, rows "default, ...") stay on in the cumulative rows; docs/eval.md has
the single-change rows and the latency table.

Latency is that of the first configuration with claims (answers parsed for the first time; the machine's load
average is printed beside it: on a shared machine it scales every time); later rows reuse the parses (marked
"cached"). Thresholds and defaults chosen from this table are tuned on these dev rows.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REALQA = ROOT.parent / "shared" / "data" / "realqa"
TARGETED = ("evouna_triviaqa_dev", "evouna_nq_dev", "songs_performer_dev")
REPORTED = ("hotpotqa_ircot_llama31_8b_dev", "popqa_llama2chat_s2rag_dev")


def configs() -> dict[str, dict]:
    """Named GateConfig overrides: cumulative steps first, then variants of the full configuration."""
    off = dict(claims=True, claim_form=False, claim_generic=False, claim_span=False, claim_hedges=False,
               claim_lists=True)
    steps = {
        "all entities (before #13)": dict(claims=False),
        "claims: candidates (proper nouns, titles, index, dates and numbers), whole names": off,
        "+ answer span (claim sentence, no restated question)": {**off, "claim_span": True},
        "+ question form (who/when/where/how many/which)": {**off, "claim_span": True, "claim_form": True},
        "+ hedges dropped": {**off, "claim_span": True, "claim_form": True, "claim_hedges": True},
        "+ generic terms dropped (= default)": {},
    }
    variants = {
        "  default, names completing the question's words kept as values": dict(steps={"partial_restate": False}),
        "  default, no topics restated by the answer": dict(steps={"answer_topics": False}),
        "  default, no first-choice kind (any fitting value)": dict(steps={"primary_kind": False}),
        "  default, every common-noun topic (not only the rarest)": dict(steps={"max_noun_topics": 0}),
        "  default, answers parsed with NER (person / place questions)": dict(steps={"ner_forms": ("person", "place")}),
        "  default, lists: first item only": dict(claim_lists=False),
        "  default, no common-noun topics": dict(claim_noun_topics=False),
        "  default, coverage of the best topic": dict(coverage_of="best"),
        "  default, a longer answer its weakest claim (aggregate auto-min)": dict(aggregate="auto-min"),
        "  default, aggregate min": dict(aggregate="min"),
        "  default, aggregate max": dict(aggregate="max"),
        "  default, aggregate mean": dict(aggregate="mean"),
        "  default, unknown value = unseen (-1)": dict(unknown_value_support=-1.0),
        "  default, generic share 1 %": dict(generic_share=0.01),
        "  default, generic share 10 %": dict(generic_share=0.10),
    }
    return {**steps, **variants}


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """:func:`quco.evaluation.metrics.auroc`, NaN (not ``None``) when a class is empty, for the percentiles."""
    from quco.evaluation.metrics import auroc

    a = auroc(scores, labels)
    return float("nan") if a is None else a


def bootstrap(scores: np.ndarray, base: np.ndarray, labels: np.ndarray, n_boot: int, seed: int = 0) -> dict:
    """AUROC of ``scores`` and of ``base`` with percentile 95 % intervals, and of their paired difference."""
    rng = np.random.default_rng(seed)
    n = labels.shape[0]
    ours, theirs, diff = [], [], []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        a, b = _auc(scores[i], labels[i]), _auc(base[i], labels[i])
        ours.append(a)
        theirs.append(b)
        diff.append(a - b)

    def ci(xs: list[float]) -> tuple[float, float]:
        x = np.asarray(xs)
        x = x[~np.isnan(x)]
        return (float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))) if x.size else (np.nan, np.nan)

    a, b = _auc(scores, labels), _auc(base, labels)
    return {"auroc": a, "auroc_ci": ci(ours), "binary": b, "binary_ci": ci(theirs), "margin": a - b,
            "margin_ci": ci(diff)}


def parse_sets(items: list[str] | None) -> dict:
    """``["passage_weight=0", "claims=false"]`` as GateConfig overrides (numbers, booleans, else strings)."""
    out: dict = {}
    for item in items or []:
        k, _, v = item.partition("=")
        low = v.strip().lower()
        if low in ("true", "false"):
            out[k.strip()] = low == "true"
            continue
        try:
            out[k.strip()] = int(v) if re.fullmatch(r"-?\d+", v.strip()) else float(v)
        except ValueError:
            out[k.strip()] = v
    return out


def with_steps(fields: dict) -> None:
    """Make ``assess`` build its :class:`~quco.gate.claims.ClaimSteps` with ``fields`` replaced: the claim steps
    that have no ``GateConfig`` field of their own are switched here (a bench-only hook; the product uses the
    defaults)."""
    from quco.gate import assess as assess_mod

    from quco.gate.claims import ClaimSteps

    for k, v in list(fields.items()):  # a tuple field from the command line: "person,place" ("" for none)
        if isinstance(getattr(ClaimSteps(), k, None), tuple) and isinstance(v, str):
            fields[k] = tuple(x for x in v.split(",") if x)
    orig = getattr(assess_mod, "_quco_orig_claim_steps", assess_mod._claim_steps)
    assess_mod._quco_orig_claim_steps = orig
    assess_mod._claim_steps = (lambda cfg: replace(orig(cfg), **fields)) if fields else orig


def run(index: str, files: list[Path], names: list[str] | None, limit: int | None, n_boot: int,
        base: dict | None = None, steps: dict | None = None) -> dict:
    from quco.cooccur.index import Index
    from quco.evaluation.evaluate import load_cases, score_cases
    from quco.evaluation.metrics import gate_view
    from quco.gate import claim_entities
    from quco.gate.assess import GateConfig

    claim_entities.set_parse_cache(None)
    ix = Index(index)
    table: dict[str, dict] = {}
    cfgs = configs()
    order = list(cfgs)
    # the full configuration runs first (after the old one), so that its latency is measured on fresh parses
    order.remove("+ generic terms dropped (= default)")
    order.insert(1, "+ generic terms dropped (= default)")
    if names:
        order = [n for n in order if any(s in n for s in names)]
    for path in files:
        rows = load_cases(path, "pairs", limit)
        for c in rows:  # never read these when scoring
            c.pop("id", None)
            c.pop("source", None)
            c.pop("gold", None)
        table[path.stem] = {}
        fresh = True
        for name in order:
            over = dict(cfgs[name])
            with_steps({**(steps or {}), **over.pop("steps", {})})
            cfg = replace(GateConfig(retrieve_evidence=False, **(base or {})), **over)
            cases = [dict(c) for c in rows]
            t = time.perf_counter()
            score_cases(cases, ix, cfg, subject_hint=False)
            wall = time.perf_counter() - t
            labels = np.array([c["label"] for c in cases])
            checked = np.array([c["coverage"] != "unknown" for c in cases])
            scores = np.array([c["score"] for c in cases])
            binary = np.array([c["quco_binary"] for c in cases])
            gate = gate_view([c["decision"] for c in cases], labels.tolist())
            lat = np.array([c["latency_ms"] for c in cases])
            res = {"n": len(cases), "checked": float(checked.mean()),
                   **bootstrap(scores[checked], binary[checked], labels[checked], n_boot),
                   "pass_rate": gate["pass_rate"], "error_among_passed": gate["error_among_passed"],
                   "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
                   "cached": not fresh and cfgs[name].get("claims", True), "wall_s": wall,
                   "load_average": os.getloadavg()[0]}
            if cfgs[name].get("claims", True):
                fresh = False
            table[path.stem][name] = res
            print(_line(path.stem, name, res), flush=True)
    return table


def latency(index: str, path: Path, limit: int | None, base: dict | None = None, steps: dict | None = None) -> dict:
    """Per-call ``assess`` time on fresh caches (no parse reused), wall clock and this process's CPU time.

    On a shared machine the wall clock includes waiting for a core; the CPU time does not, and is close to what an
    idle machine's wall clock would show. Both are printed, with the load average.
    """
    from quco.cooccur.index import Index
    from quco.evaluation.evaluate import load_cases
    from quco.gate import claim_entities
    from quco.gate.assess import GateConfig, assess

    ix = Index(index)
    rows = load_cases(path, "pairs", limit)
    with_steps(steps or {})
    out = {}
    base = base or {}
    for name, cfg in (("before #13", GateConfig(claims=False, **base)), ("claims (default)", GateConfig(**base))):
        assess(rows[0]["question"], rows[0]["answer"], index=ix, config=cfg, retrieve=False)  # loads, compiles
        claim_entities.set_parse_cache(512)  # empty: every question and answer parsed afresh
        wall, cpu = [], []
        for r in rows:
            t, c = time.perf_counter(), time.process_time()
            assess(r["question"], r["answer"], index=ix, config=cfg, retrieve=False)
            cpu.append((time.process_time() - c) * 1e3)
            wall.append((time.perf_counter() - t) * 1e3)
        out[name] = {"wall_p50": float(np.percentile(wall, 50)), "wall_p95": float(np.percentile(wall, 95)),
                     "cpu_p50": float(np.percentile(cpu, 50)), "cpu_p95": float(np.percentile(cpu, 95)),
                     "load_average": os.getloadavg()[0], "n": len(rows)}
        o = out[name]
        print(f"| {path.stem} | {name} | {o['wall_p50']:.1f} / {o['wall_p95']:.1f} | {o['cpu_p50']:.1f} / "
              f"{o['cpu_p95']:.1f} | {o['load_average']:.1f} |", flush=True)
    return out


def _fmt(x: float | None, nd: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def _line(file: str, name: str, r: dict) -> str:
    lat = f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f}" + (" (cached)" if r["cached"] else f" (load {r['load_average']:.1f})")
    return (f"| {file} | {name.strip()} | {r['checked']:.2f} | {_fmt(r['auroc'])} [{_fmt(r['auroc_ci'][0], 2)}, "
            f"{_fmt(r['auroc_ci'][1], 2)}] | {_fmt(r['binary'])} | {r['margin']:+.3f} [{r['margin_ci'][0]:+.2f}, "
            f"{r['margin_ci'][1]:+.2f}] | {_fmt(r['pass_rate'], 2)} / {_fmt(r['error_among_passed'], 2)} | {lat} |")


HEADER = ("| file | configuration | checked | AUROC checked [95 % CI] | binary, same rows | margin [95 % CI] | "
          "gate pass / error | assess ms p50 / p95 |\n|---|---|---:|---:|---:|---:|---:|---:|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True, help="index directory (e.g. a default build of wiki2015 + wiki_extra)")
    ap.add_argument("--all", action="store_true", help="also the reported-only files (HotpotQA RAG, PopQA)")
    ap.add_argument("--files", nargs="*", help="dev file stems (default: the three targeted ones)")
    ap.add_argument("--only", nargs="*", help="run only configurations whose name contains one of these")
    ap.add_argument("--limit", type=int, help="first N rows of each file")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    ap.add_argument("--json", help="also write the table as JSON here")
    ap.add_argument("--set", nargs="*", metavar="FIELD=VALUE",
                    help="GateConfig fields for every row (e.g. passage_weight=0 to measure the claim steps alone)")
    ap.add_argument("--steps", nargs="*", metavar="FIELD=VALUE",
                    help="ClaimSteps fields for every row (e.g. partial_restate=false)")
    ap.add_argument("--latency", action="store_true", help="only time assess per call (wall and CPU, fresh caches)")
    a = ap.parse_args(argv)
    stems = a.files or list(TARGETED) + (list(REPORTED) if a.all else [])
    files = [REALQA / f"{s}.jsonl" for s in stems]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"missing dev files: {', '.join(missing)}", file=sys.stderr)
        return 2
    if a.latency:
        print("| file | configuration | wall ms p50 / p95 | CPU ms p50 / p95 | load average |\n|---|---|---:|---:|---:|")
        table = {f.stem: latency(a.index, f, a.limit, parse_sets(a.set), parse_sets(a.steps)) for f in files}
    else:
        print(HEADER, flush=True)
        table = run(a.index, files, a.only, a.limit, a.boot, parse_sets(a.set), parse_sets(a.steps))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
