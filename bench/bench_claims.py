"""The claim parse's matrix products: thinc's BLIS kernel vs numpy's OpenBLAS on one thread.

``python bench/bench_claims.py [--rows 600]`` parses the question and the first answer sentence of the first
``--rows`` TriviaQA dev rows (``../shared/data/realqa``; a built-in list of sentences without it) the way
``assess`` does (:func:`quco.gate.claim_entities.parse_docs`: one batch of two), alternating the two kinds of
thinc ops on the same loaded pipeline three times, and prints the milliseconds per pair of each, their ratio
measured in this run, and whether every token's tag and part of speech came out the same.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from quco.gate import claim_entities as ce

REALQA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realqa" / "evouna_triviaqa_dev.jsonl"
FALLBACK = ["Who was the next British Prime Minister after Arthur Balfour?",
            "The next British Prime Minister after Arthur Balfour was Henry Campbell-Bannerman.",
            "Which country is Ab Zaminu located in?", "Ab Zaminu is a village in Iran.",
            "Who performed Love Like a Fountain?", "It was recorded by Ian Brown in 2007."]


def texts(rows: int) -> list[str]:
    if not REALQA.exists():
        return FALLBACK * max(1, rows // 3)
    out: list[str] = []
    with open(REALQA) as f:
        for line in list(f)[:rows]:
            r = json.loads(line)
            out += [r["question"], r["answer"].split(". ")[0][:300]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=600)
    args = ap.parse_args()
    from thinc.api import NumpyOps

    nlp = ce.parser()  # loaded with the matmul ops
    models = [p.model for _, p in nlp.pipeline if getattr(p, "model", None) is not None]
    ops = {"blis": NumpyOps(), "matmul": models[0].ops}
    data = texts(args.rows)

    def run(name: str) -> tuple[float, list]:
        for m in models:
            for node in m.walk():
                node.ops = ops[name]
        t = time.perf_counter()
        tags = []
        for i in range(0, len(data), 2):
            tags += [[(tok.tag_, tok.pos_) for tok in d] for d in ce.parse_docs(data[i:i + 2], False)]
        return (time.perf_counter() - t) / len(data) * 2e3, tags

    run("matmul")  # warm-up
    times: dict[str, list[float]] = {"blis": [], "matmul": []}
    same = True
    for _ in range(3):
        tb, a = run("blis")
        tm, b = run("matmul")
        times["blis"].append(tb)
        times["matmul"].append(tm)
        same = same and a == b
    run("matmul")  # leave the pipeline as the product uses it
    print(f"load average {os.getloadavg()[0]:.2f}; {len(data) // 2} pairs (question + answer sentence), "
          f"{'realqa TriviaQA dev' if REALQA.exists() else 'built-in sentences'}")
    for k, v in times.items():
        print(f"{k:7s} ms per pair: " + " / ".join(f"{x:.2f}" for x in v))
    ratio = min(times["blis"]) / min(times["matmul"])
    print(f"blis / matmul (best of 3 each): {ratio:.2f}x; identical tags and POS: {same}")


if __name__ == "__main__":
    main()
