"""``quco eval``: read a labelled dev file, score every case with ``assess``, summarize with ``quco.evaluation.metrics``.

Formats (``fmt="auto"`` picks from the first row's keys):

- ``swap``: rows ``question``, ``subject`` (optional), ``answer``, ``label`` (0 right, 1 wrong); rows of one
  question (``id`` up to its last ``:``) form a pair.
- ``pairs``: ``question``, ``answer``, ``label``; rows with the same question form a pair.
- ``halueval``: ``question``, ``right_answer``, ``hallucinated_answer``: two cases per row (0 and 1). The
  ``knowledge`` field (the gold evidence) is dropped as the row is read and never looked at.
- ``blends``: entity pairs ``a``, ``b``, ``kind`` (cross_field | near | seen), ``field_a``, ``field_b``.
- ``modes``: prompts with ``label`` factual | creative.

Baselines, computed on the same rows in the same run (see :func:`score_cases`): answer length in words;
answer-entity popularity; QuCo-RAG's binary rule (min co-occurrence < 1) on our own counts. Each case also
carries its evidence kind (:func:`evidence_kind`), by which the JSON summary says where each stratum's AUROC falls
short of 1 (``shortfall``).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from quco.cooccur.index import Index
from quco.errors import BadInputError, ConfigError
from quco.gate.assess import GateConfig, assess
from quco.evaluation.metrics import auroc, summarize, word_count

FORMATS = ("auto", "swap", "pairs", "halueval", "blends", "modes")
PAIRS_SHORT_WORDS = 5  # the length control of free-form answers (realqa): at most five words, as issue #13 asks


def read_rows(path: str | Path, limit: int | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file; a bad line is a BadInputError."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(str(p), "no such file")
    n = 0
    with open(p, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise BadInputError(str(p), f"not JSON ({e.msg})", line=line_no) from None
            if not isinstance(row, dict):
                raise BadInputError(str(p), "expected a JSON object", line=line_no)
            row.pop("knowledge", None)  # HaluEval's gold evidence: never read
            yield line_no, row
            n += 1
            if limit is not None and n >= limit:
                return


def detect_format(row: dict) -> str:
    if "right_answer" in row and "hallucinated_answer" in row:
        return "halueval"
    if {"a", "b", "kind"} <= row.keys():
        return "blends"
    if "prompt" in row and row.get("label") in ("factual", "creative"):
        return "modes"
    if "answer" in row and "label" in row:
        return "swap" if "subject" in row else "pairs"
    raise ConfigError(f"cannot tell the format from keys {sorted(row)}; pass --format")


def _need(path, line, row, keys):
    for k in keys:
        if not isinstance(row.get(k), str if k != "label" else int):
            raise BadInputError(str(path), f"missing or mistyped field {k!r}", line=line)


def load_cases(path: str | Path, fmt: str, limit: int | None = None) -> list[dict]:
    """Cases {question, answer, label, group, subject?} of a detection file."""
    cases: list[dict] = []
    for line, row in read_rows(path, limit):
        if fmt == "halueval":
            _need(path, line, row, ("question", "right_answer", "hallucinated_answer"))
            g = f"halueval:{row.get('id', line)}"
            cases.append({"question": row["question"], "answer": row["right_answer"], "label": 0, "group": g})
            cases.append({"question": row["question"], "answer": row["hallucinated_answer"], "label": 1, "group": g})
        elif fmt in ("swap", "pairs"):
            _need(path, line, row, ("question", "answer", "label"))
            if row["label"] not in (0, 1):
                raise BadInputError(str(path), "label must be 0 or 1", line=line)
            group = str(row["id"]).rsplit(":", 1)[0] if fmt == "swap" and "id" in row else row["question"]
            cases.append({"question": row["question"], "answer": row["answer"], "label": row["label"],
                          "group": group, "subject": row.get("subject"), "id": row.get("id")})
        else:
            raise ConfigError(f"{fmt!r} is not a detection format")
    return cases


def score_cases(cases: list[dict], ix: Index, config: GateConfig | None = None, progress=None,
                subject_hint: bool = False) -> list[dict]:
    """Run ``assess`` (factual mode, no retrieval) on every case and attach score, coverage and baselines.

    Baselines: ``length`` (answer words), ``popularity`` (``-log(1 + freq)`` of the most frequent entity the
    answer adds to the question: rarer answers riskier) and ``quco_binary`` (1 when any question-answer or
    answer-answer pair has co-occurrence below one, an entity the corpus never mentions included; 0 when there is
    no pair to check). By default ``assess`` sees what a user's call sees: question and answer only (the
    headline figures). ``subject_hint=True`` also hands it the row's gold ``subject`` (``assess(subject=...)``),
    which only a caller who knows the question's subject can do: the second, hinted row of docs/eval.md.
    """
    for case in cases:
        t = time.perf_counter()
        rep = assess(case["question"], case["answer"], index=ix, mode="factual", config=config, retrieve=False,
                     subject=case.get("subject") if subject_hint else None)
        case["latency_ms"] = (time.perf_counter() - t) * 1e3
        q_keys = {e.key for e in rep.entities if e.source == "question"}
        answer_freqs = [e.freq for e in rep.entities if e.source == "answer" and e.key not in q_keys]
        case.update(
            score=rep.risk, coverage=rep.coverage, decision=rep.decision,
            entities=[{"text": e.text, "start": e.start, "end": e.end, "source": e.source, "freq": e.freq}
                      for e in rep.entities],
            pairs=[{"a": p.a, "b": p.b, "cooccurrence": p.cooccurrence, "unseen": p.unseen, "kind": p.kind,
                    "association": p.npmi} for p in rep.pairs],
            length=float(word_count(case["answer"])),
            popularity=-math.log1p(max(answer_freqs, default=0)),
            quco_binary=float(any(p.cooccurrence < 1 for p in rep.pairs)),
            evidence=evidence_kind(rep),
        )
        if progress is not None:
            progress.update(1)
    return cases


def evidence_kind(rep) -> str:
    """What a report's strongest question-answer pair (most documents together) shows, as the kind by which
    ``summarize`` splits the AUROC shortfall: "no pair", or "seen" / "unseen" with the pair's article state
    ("seen (linked)"; "unseen (none)": neither side has an article; "n/a": articles not read, or a side the corpus
    never mentions)."""
    qa = [p for p in rep.pairs if p.kind == "question-answer"]
    if not qa:
        return "no pair"
    best = max(qa, key=lambda p: p.cooccurrence)
    return f"{'unseen' if best.unseen else 'seen'} ({best.article or 'n/a'})"


def evaluate_detection(path: str | Path, ix: Index, fmt: str = "auto", limit: int | None = None,
                       config: GateConfig | None = None, progress=None, subject_hint: bool = False,
                       bootstrap: int | None = None) -> tuple[dict, list[dict]]:
    """(summary, scored cases) for a detection dev file; hint-free unless ``subject_hint`` (see
    :func:`score_cases`). ``bootstrap``: resamples for the 95 % intervals (default
    :data:`~quco.evaluation.metrics.BOOTSTRAP_SAMPLES`, 0: none)."""
    if fmt == "auto":
        fmt = detect_format(next(read_rows(path, 1))[1])
    cases = load_cases(path, fmt, limit)
    if not cases:
        raise BadInputError(str(path), "no cases")
    if progress is not None:
        progress.total = len(cases)
    cfg = config or GateConfig()
    score_cases(cases, ix, cfg, progress, subject_hint)
    kw: dict[str, int] = {"short_words": PAIRS_SHORT_WORDS} if fmt == "pairs" else {}
    if bootstrap is not None:
        kw["bootstrap"] = bootstrap
    summary = summarize(cases, **kw)
    summary.update(format=fmt, file=str(path), index=str(ix.path), known_docs=cfg.known_docs(ix),
                   subject_hint=subject_hint,
                   config={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()})
    return summary, cases


def dev_files(path: str | Path) -> list[Path]:
    """The JSONL files a ``quco eval`` argument names: the file itself, or every ``*.jsonl`` of a directory
    (sorted; e.g. all of ``../shared/data/realqa/``)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*.jsonl") if f.is_file())
        if not files:
            raise BadInputError(str(p), "no .jsonl dev file in this directory")
        return files
    if not p.is_file():
        raise BadInputError(str(p), "no such file")
    return [p]


def headline(summary: dict) -> dict[str, Any]:
    """The per-file figures of issue #13's table: checked share (question coverage known or sparse), AUROC on
    checked rows with its interval, QuCo's binary rule on the same rows and our margin over it, the factual gate,
    the length-controlled AUROC and latency."""
    checked = summary["strata"]["known+sparse"]
    binary = summary["baselines"].get("quco_binary", {}).get("strata", {}).get("known+sparse", {}).get("auroc")
    ours = checked["auroc"]
    lc, g = summary["length_control"], summary["gate"]
    return {"file": Path(summary["file"]).name, "n": summary["n"], "checked": checked["fraction"],
            "auroc_checked": ours, "auroc_checked_ci95": checked.get("auroc_ci95"), "quco_binary_checked": binary,
            "margin": None if ours is None or binary is None else ours - binary,
            "pass_rate": g["pass_rate"], "error_among_passed": g["error_among_passed"],
            "error_among_passed_ci95": g.get("error_among_passed_ci95"), "short_words": lc.get("words"),
            "n_short": lc["n_short"], "auroc_short": lc["auroc_short"], "p50_ms": summary["latency_ms"]["p50"]}


ABLATION_COLUMNS = ("known", "sparse", "known+sparse", "all", "pass_rate", "error_among_passed", "auroc_short",
                    "p50_ms")


def ablation_row(summary: dict) -> dict[str, Any]:
    """The figures one line of an ablation table shows: AUROC per stratum, the gate view, latency."""
    st = summary["strata"]
    return {"known": st["known"]["auroc"], "sparse": st["sparse"]["auroc"],
            "known+sparse": st["known+sparse"]["auroc"], "all": summary["auroc"],
            "fraction_known": st["known"]["fraction"], "fraction_sparse": st["sparse"]["fraction"],
            "pass_rate": summary["gate"]["pass_rate"], "error_among_passed": summary["gate"]["error_among_passed"],
            "auroc_short": summary["length_control"]["auroc_short"],
            "quco_binary_known": summary["baselines"]["quco_binary"]["strata"]["known"]["auroc"],
            "p50_ms": summary["latency_ms"]["p50"]}


def compare_configs(path: str | Path, ix: Index, configs: dict[str, GateConfig | tuple[GateConfig, bool]],
                    fmt: str = "auto", limit: int | None = None) -> dict[str, dict[str, Any]]:
    """:func:`ablation_row` of each named config on the same rows (a value may be ``(config, subject_hint)``;
    hint-free by default)."""
    out = {}
    for name, spec in configs.items():
        cfg, hint = spec if isinstance(spec, tuple) else (spec, False)
        summary, _ = evaluate_detection(path, ix, fmt, limit, config=cfg, subject_hint=hint, bootstrap=0)
        out[name] = ablation_row(summary)
    return out


# ---- blends ---------------------------------------------------------------------------------------------------
def evaluate_blends(path: str | Path, ix: Index, limit: int | None = None, config: GateConfig | None = None
                    ) -> tuple[dict, list[dict]]:
    """Blend judgement on labelled pairs: distance AUROC (cross_field vs near), kind accuracy, seen pass rate."""
    from quco.gate.blend import judge_blend

    cfg = config or GateConfig()
    rows = []
    for line, row in read_rows(path, limit):
        _need(path, line, row, ("a", "b", "kind"))
        t = time.perf_counter()
        c = ix.cooc(row["a"], row["b"], scope=cfg.scope)
        seen = c >= cfg.cooc_threshold
        rep = judge_blend(ix, row["a"], row["b"])
        rows.append({**row, "cooccurrence": c, "passed": seen, "predicted_kind": "seen" if seen else rep["kind"],
                     "blend_kind": rep["kind"], "distance": rep["distance"],
                     "bridges": [b["text"] for b in rep["bridges"]], "latency_ms": (time.perf_counter() - t) * 1e3})
    blends = [r for r in rows if r["kind"] in ("cross_field", "near")]
    scored = [r for r in blends if r["distance"] is not None]
    summary: dict[str, Any] = {"n": len(rows), "format": "blends"}
    summary["auroc"] = auroc([r["distance"] for r in scored], [int(r["kind"] == "cross_field") for r in scored])
    summary["distance_coverage"] = len(scored) / max(len(blends), 1)
    summary["kind_accuracy"] = (sum(r["predicted_kind"] == r["kind"] for r in blends) / len(blends)) if blends else None
    seen_rows = [r for r in rows if r["kind"] == "seen"]
    summary["seen_pass_rate"] = (sum(r["passed"] for r in seen_rows) / len(seen_rows)) if seen_rows else None
    fields = sorted(({r.get("field_a") for r in blends} | {r.get("field_b") for r in blends}) - {None})
    summary["per_field_auroc"] = {
        f: auroc([r["distance"] for r in scored if f in (r.get("field_a"), r.get("field_b"))],
                 [int(r["kind"] == "cross_field") for r in scored if f in (r.get("field_a"), r.get("field_b"))])
        for f in fields}
    lat = sorted(r["latency_ms"] for r in rows)
    summary["latency_ms"] = {"p50": lat[len(lat) // 2], "p95": lat[int(len(lat) * 0.95)]} if lat else {}
    return summary, rows
