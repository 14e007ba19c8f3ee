"""Pair signals measured beside the shipped risk on real answers, and not adopted (issue #13, docs/eval.md).

``python bench/probe_pair_features.py --index wikix.idx`` runs ``assess`` with the shipped defaults on the targeted
realqa dev files (factual mode, no retrieval, hint-free: only question and answer are read; ``--set FIELD=VALUE``
changes a ``GateConfig`` field, as for ``quco eval``) and, on the rows the
corpus can check, measures what else the index could add:

- **groups**: answers by label, by whether a question-answer pair was seen in one document, in one paragraph (the
  two names as exact phrases between two separators of the phrase arrays: ``PhraseCounts.together``), and linked
  by an article (the report's ``article`` field);
- **paragraph**: the risk raised by ``d`` when the pairs were seen in one document but never in one paragraph,
  or lowered by ``d`` when they were seen in one paragraph;
- **answer query**: the passage support recomputed with the question plus the answer (its values removed) as the
  BM25 query, mixed into the risk as the shipped support is;
- **logistic**: a logistic regression (``quco.evaluation.train_router.fit_head``) over the risk, passage support,
  best NPMI, seen, the log document frequencies of topic and value and the log pair count, five folds by
  question, trained on the file itself or on the three files pooled (the file's own test fold left out).

Every figure is AUROC on the checked rows; dev rows: whatever wins here is tuned on them.
"""
from __future__ import annotations

import argparse
import json
import math
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REALQA = ROOT.parent / "shared" / "data" / "realqa"
FILES = ("evouna_triviaqa_dev", "evouna_nq_dev", "songs_performer_dev")
W = 0.6  # GateConfig.passage_weight
CAP = 200_000  # occurrences of the rarer phrase scanned at most


def _row(rep, phrases) -> dict:
    qa = [p for p in rep.pairs if p.kind == "question-answer"]
    ps = list(rep.passage_support.values())
    seen = any(not p.unseen for p in qa)
    return {"risk": rep.risk, "ps": min(ps) if ps else None, "seen": seen,
            "par": any(phrases.together(p.a, p.b, cap=CAP) for p in qa if not p.unseen),
            "linked": any(p.article == "linked" for p in qa),
            "npmi": max([p.npmi for p in qa if p.npmi is not None], default=-1.0),
            "lfa": math.log1p(max([p.freq_a for p in qa], default=0)),
            "lfb": math.log1p(min([p.freq_b for p in qa], default=0)),
            "lc": math.log1p(max([p.cooccurrence for p in qa], default=0))}


def _pair_risk(r: dict) -> float:
    return (r["risk"] - W * (1 - r["ps"]) / 2) / (1 - W) if r["ps"] is not None else r["risk"]


def _cv_logistic(data: dict, f: str, pooled: bool) -> float:
    from quco.evaluation.metrics import auroc
    from quco.evaluation.train_router import fit_head

    def matrix(rows):
        return np.array([[r["risk"], r["ps"] if r["ps"] is not None else 0.5, r["npmi"], float(r["seen"]), r["lfa"],
                          r["lfb"], r["lc"]] for r in rows])

    rows, y, fold = data[f]
    X = matrix(rows)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    pred = np.zeros(len(y))
    for k in range(5):
        tr, te = fold != k, fold == k
        Xt, yt = [X[tr]], [y[tr]]
        if pooled:
            for o in data:
                if o != f:
                    Xt.append(matrix(data[o][0]))
                    yt.append(data[o][1])
        head = fit_head((np.vstack(Xt) - mu) / sd, np.concatenate(yt), l2=1.0, balanced=False)
        pred[te] = ((X[te] - mu) / sd) @ head.coef + head.intercept
    return auroc(pred.tolist(), y.tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="FIELD=VALUE",
                    help="a GateConfig field for the reports (as quco eval --set)")
    args = ap.parse_args()
    from probe_passage_features import Probe

    from quco import Index
    from quco.evaluation.metrics import auroc
    from quco.gate.assess import assess
    from quco.gate.config import config_from_settings

    config = config_from_settings(args.settings)

    ix = Index(args.index)
    probe = Probe(args.index)
    data, out = {}, {}
    for f in FILES:
        rows, ys, folds, qa_support = [], [], [], []
        for r in [json.loads(line) for line in open(REALQA / f"{f}.jsonl")][:args.limit]:
            rep = assess(r["question"], r["answer"], index=ix, mode="factual", retrieve=False, config=config)
            if rep.coverage not in ("known", "sparse"):
                continue
            row = _row(rep, ix.phrases)
            s2 = None
            if rep.passage_support:
                rest = r["answer"]
                for v in rep.passage_support:
                    rest = rest.replace(v, " ")
                got = probe.features(r["question"] + " " + rest, list(rep.passage_support), [])
                s2 = got["s1"] if got else None
            rows.append(row)
            ys.append(r["label"])
            folds.append(zlib.crc32(r["question"].encode()) % 5)
            qa_support.append(s2)
        y = np.array(ys)
        data[f] = (rows, y, np.array(folds))
        risk = np.array([r["risk"] for r in rows])
        res = {"rows": len(rows), "shipped": auroc(risk.tolist(), ys)}
        groups: dict[str, list[int]] = {}
        for r, lab in zip(rows, ys):
            key = ("paragraph" if r["par"] else "document") if r["seen"] else "unseen"
            key += ", linked" if r["linked"] else ""
            groups.setdefault(key, [0, 0])[lab] += 1
        res["groups (right, wrong)"] = groups
        for d in (0.05, 0.1, 0.2):
            doc_only = np.array([r["seen"] and not r["par"] for r in rows])
            in_par = np.array([r["par"] for r in rows])
            res[f"paragraph: doc-only +{d}"] = auroc((risk + d * doc_only).tolist(), ys)
            res[f"paragraph: in-paragraph -{d}"] = auroc((risk - d * in_par).tolist(), ys)
        keep = [i for i, (r, s2) in enumerate(zip(rows, qa_support)) if r["ps"] is not None and s2 is not None]
        pr = np.array([_pair_risk(rows[i]) for i in keep])
        yk = [ys[i] for i in keep]
        res["answer query: rows"] = len(keep)
        res["answer query: question alone"] = auroc(risk[keep].tolist(), yk)
        res["answer query: question + answer"] = auroc(
            ((1 - W) * pr + W * (1 - np.array([qa_support[i] for i in keep])) / 2).tolist(), yk)
        out[f] = res
    for f in FILES:
        out[f]["logistic, own file"] = _cv_logistic(data, f, pooled=False)
        out[f]["logistic, pooled"] = _cv_logistic(data, f, pooled=True)
    for f, res in out.items():
        print(f)
        for k, v in res.items():
            print(f"  {k:40s} {v:.4f}" if isinstance(v, float) else f"  {k:40s} {v}")


if __name__ == "__main__":
    main()
