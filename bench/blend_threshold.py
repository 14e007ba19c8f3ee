"""The blend ``kind`` threshold: accuracy by threshold on the dev pairs, and a split-half check of its choice.

    python bench/blend_threshold.py --index wiki.idx [--data ../shared/data/blends/blends_dev.jsonl] [--halves 500]

``wiki.idx`` is a default build of wiki2015 (``quco build ../shared/data/wiki2015/ --out wiki.idx --workers 2``).
Reads the blend distance of every ``cross_field`` / ``near`` pair as ``quco eval --format blends`` computes it
(pairs without a distance are left out), then prints:

1. accuracy (distance >= t means ``cross_field``) over thresholds 0.20-1.00 in steps of 0.005: the best value and
   the plateau within 0.01 of it, and the accuracy at the shipped threshold of the index's method
   (``quco.gate.blend.CROSS_FIELD_DISTANCE``: ``context-svd``, or ``ppmi-cosine`` on a ``--no-blend`` build);
2. the split-half check: over ``--halves`` random halves stratified by kind, the threshold chosen on one half
   (the middle of the thresholds reaching that half's best accuracy) and its accuracy on the other half, as
   mean ± sd and 5th percentile.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from quco.cooccur.index import Index
from quco.evaluation.evaluate import evaluate_blends
from quco.gate import blend as blend_mod

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "blends" / "blends_dev.jsonl"
GRID = np.round(np.arange(0.20, 1.0 + 1e-9, 0.005), 3)


def accuracy_by_threshold(distance: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """Accuracy of ``distance >= t`` as the cross_field call, for every ``t`` of :data:`GRID`."""
    return ((distance[None, :] >= GRID[:, None]) == cross[None, :]).mean(axis=1)


def choose(distance: np.ndarray, cross: np.ndarray) -> float:
    """The middle of the thresholds that reach the best accuracy on these pairs."""
    acc = accuracy_by_threshold(distance, cross)
    best = np.flatnonzero(acc == acc.max())
    return float(GRID[best[len(best) // 2]])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--halves", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    ix = Index(args.index)
    _, rows = evaluate_blends(args.data, ix)
    pairs = [r for r in rows if r["kind"] in ("cross_field", "near") and r["distance"] is not None]
    distance = np.array([r["distance"] for r in pairs], dtype=np.float64)
    cross = np.array([r["kind"] == "cross_field" for r in pairs])
    first = pairs[0] if pairs else None
    method = blend_mod.judge_blend(ix, first["a"], first["b"])["method"] if first else "context-svd"
    shipped = blend_mod.CROSS_FIELD_DISTANCE[method]
    acc = accuracy_by_threshold(distance, cross)
    plateau = GRID[acc >= acc.max() - 0.01]
    at_shipped = float(((distance >= shipped) == cross).mean())
    print(f"{len(pairs)} pairs with a distance ({int(cross.sum())} cross_field, {int((~cross).sum())} near), "
          f"method {method}")
    print(f"best accuracy {acc.max():.3f} at {GRID[int(np.argmax(acc))]:.3f}; within 0.01 of it from "
          f"{plateau.min():.3f} to {plateau.max():.3f}; at the shipped {shipped:.3f}: {at_shipped:.3f}")

    rng = np.random.default_rng(args.seed)
    chosen, held_out = [], []
    for _ in range(args.halves):
        half = np.zeros(len(pairs), dtype=bool)
        for cls in (True, False):
            idx = np.flatnonzero(cross == cls)
            half[rng.choice(idx, size=len(idx) // 2, replace=False)] = True
        t = choose(distance[half], cross[half])
        chosen.append(t)
        held_out.append(float(((distance[~half] >= t) == cross[~half]).mean()))
    print(f"split-half x {args.halves}: threshold chosen {statistics.mean(chosen):.3f} ± "
          f"{statistics.pstdev(chosen):.3f}; held-out accuracy {statistics.mean(held_out):.3f} ± "
          f"{statistics.pstdev(held_out):.3f} (5th percentile {np.percentile(held_out, 5):.3f}), "
          f"in-sample at {shipped:.3f}: {at_shipped:.3f}")


if __name__ == "__main__":
    main()
