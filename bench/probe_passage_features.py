"""Passage-level signals measured beside the shipped passage support, and not adopted (issue #13).

``python bench/probe_passage_features.py --index wikix.idx`` runs ``assess`` with the shipped defaults on the
targeted realqa dev files (factual mode, no retrieval, hint-free: only question and answer are read), then, for
each row the corpus can check, recomputes from the same BM25 postings a few alternatives to the passage support
``s1 = best score of a passage with every term of the value / best score of any passage`` (the question is the
query) for the values and topics the report names:

- ``topic``: the same ratio among passages holding every term of a question topic (the denominator the best
  passage *about the topic*, not the best passage for the question's words);
- ``soft``: the share of a softmax (temperature 3, over the question's top 100 passages) held by passages with
  the value: how much of the question's evidence states it, not only whether the best passage does;
- ``rank``: 1 / rank of the first top-100 passage with the value;
- ``topic if sparse``: ``topic`` for rows whose question coverage is sparse, ``s1`` otherwise.

Each is mixed into the risk exactly as ``s1`` is (``risk = 0.4 * pair risk + 0.6 * (1 - signal) / 2``, the pair
risk recovered from the report) and the table prints AUROC on checked rows per file. A value is scored by its
weakest signal (min over the values). Dev rows: whatever wins here is tuned on them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REALQA = ROOT.parent / "shared" / "data" / "realqa"
FILES = ("evouna_triviaqa_dev", "evouna_nq_dev", "songs_performer_dev")
W = 0.6  # GateConfig.passage_weight


class Probe:
    """The alternatives for one question, from the retriever's postings (scores in the retriever's float32)."""

    def __init__(self, index: str):
        from quco.cooccur.bm25 import load_retriever

        self.r = load_retriever(index, "bm25s")
        self.indptr, self.docs, self.tf, self.idf, self.norm = self.r.postings()
        self.buf = np.zeros(self.norm.shape[0], np.float32)

    def _ids(self, text: str) -> np.ndarray | None:
        from quco.cooccur.bm25 import tokenize_for_bm25

        terms = np.unique(tokenize_for_bm25([text])[0])
        ids = np.unique(self.r.term_ids(terms))
        return ids if len(terms) and len(ids) == len(terms) else None

    def _with_all(self, ids: np.ndarray) -> np.ndarray:
        got = None
        for t in sorted(ids.tolist(), key=lambda t: self.indptr[t + 1] - self.indptr[t]):
            d = self.docs[self.indptr[t]:self.indptr[t + 1]]
            got = d if got is None else np.intersect1d(got, d, assume_unique=True)
        return got if got is not None else np.empty(0, np.int64)

    def features(self, question: str, values: list[str], topics: list[str]) -> dict[str, float] | None:
        from quco.cooccur.bm25 import accumulate_scores, tokenize_for_bm25

        q = np.unique(self.r.term_ids(tokenize_for_bm25([question])[0]))
        touched = np.empty(int((self.indptr[q + 1] - self.indptr[q]).sum()), np.int64)
        n = accumulate_scores(self.indptr, self.docs, self.tf, self.idf, self.norm, q, self.buf, touched)
        touched = touched[:n]
        try:
            sc = self.buf[touched].astype(np.float64)
            if not n or sc.max() <= 0:
                return None
            order = np.argsort(-sc)[:100]
            top_d, top_s = touched[order], sc[order]
            about = [self._with_all(i) for i in map(self._ids, topics) if i is not None]
            about_docs = np.unique(np.concatenate(about)) if about else np.empty(0, np.int64)
            best_about = float(self.buf[about_docs].max()) if len(about_docs) else 0.0
            out = {"s1": 1.0, "topic": 1.0, "soft": 1.0, "rank": 1.0}
            for v in values:
                ids = self._ids(v)
                have = self._with_all(ids) if ids is not None else np.empty(0, np.int64)
                s1 = float(self.buf[have].max()) / sc.max() if len(have) else 0.0
                both = np.intersect1d(about_docs, have, assume_unique=True)
                topic = float(self.buf[both].max()) / best_about if len(both) and best_about > 0 else (
                    s1 if best_about <= 0 else 0.0)
                hit = np.isin(top_d, have)
                e = np.exp((top_s - top_s[0]) / 3.0)
                feats = {"s1": s1, "topic": topic, "soft": float(e[hit].sum() / e.sum()),
                         "rank": 1.0 / (1 + int(np.argmax(hit))) if hit.any() else 0.0}
                out = {k: min(out[k], feats[k]) for k in out}
            return out
        finally:
            self.buf[touched] = 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    from quco import Index
    from quco.evaluation.metrics import auroc
    from quco.gate.assess import assess

    ix, probe = Index(args.index), Probe(args.index)
    names = ("s1 (shipped)", "topic", "soft", "rank", "topic if sparse")
    print("| signal mixed into the risk | " + " | ".join(FILES) + " |")
    print("|---|" + "---:|" * len(FILES))
    table: dict[str, list[str]] = {k: [] for k in names}
    for f in FILES:
        rows = [json.loads(line) for line in open(REALQA / f"{f}.jsonl")][:args.limit]
        ys, pair, feats, sparse = [], [], [], []
        for r in rows:
            rep = assess(r["question"], r["answer"], index=ix, mode="factual", retrieve=False)
            if rep.coverage not in ("known", "sparse") or not rep.passage_support:
                continue
            got = probe.features(r["question"], list(rep.passage_support),
                                 [e.text for e in rep.entities if e.source == "question"])
            if got is None:
                continue
            low = min(rep.passage_support.values())
            ys.append(r["label"])
            pair.append((rep.risk - W * (1 - low) / 2) / (1 - W))
            feats.append(got)
            sparse.append(rep.coverage == "sparse")
        y, pr, sp = np.array(ys), np.array(pair), np.array(sparse)
        col = {k: np.array([g[k] for g in feats]) for k in ("s1", "topic", "soft", "rank")}
        col["s1 (shipped)"] = col.pop("s1")
        col["topic if sparse"] = np.where(sp, col["topic"], col["s1 (shipped)"])
        for k in names:
            table[k].append(f"{auroc((1 - W) * pr + W * (1 - col[k]) / 2, y):.3f}")
    for k in names:
        print(f"| {k} | " + " | ".join(table[k]) + " |")


if __name__ == "__main__":
    main()
