"""``assess``: QuCo-RAG's two checks, with coverage, evidence and blends.

*Before generation* (stage ``pre``): the question's entities are looked up. An entity the corpus never mentions
makes the question's coverage ``unknown``; one mentioned in fewer than ``known_docs`` documents makes it ``sparse``.
A model knows little about such entities: in factual mode the decision is ``retrieve``.

*After generation* (stage ``post``): for each answer sentence, the pairs (question entity x answer entity, and
answer entity x answer entity in the same sentence) are looked up. A pair of two attested entities seen together
in fewer than ``cooc_threshold`` documents is *unsupported*: ``retrieve`` in factual mode, a ``sanctioned_blend``
in creative mode.

Thresholds scale with the corpus (see :class:`GateConfig`). ``risk`` is in [0, 1] and monotone in the evidence:
for a pair, ``(1 - NPMI) / 2`` with add-half smoothing, so more co-occurrence never raises risk and a pair of rare
entities that were unlikely to meet anyway is less suspicious than two popular ones that never meet; the report's
risk is the highest pair risk (the weakest link), or, with no pair to check, the rarity of the rarest question
entity (1 unknown, 0 known).
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from quco.cooccur.index import Index, open_index
from quco.cooccur.normalize import key_hash_of_key, normalize, tokenize_py
from quco.errors import ConfigError
from quco.gate.report import EntityHit, PairCheck, RiskReport

MODES = ("factual", "creative", "auto")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_STOP = frozenset("""a an the of in on at to for from by with and or is was were are be been being who what when
where which why how did does do has have had it its this that these those as into than then he she they his her
their born""".split())


@dataclass(frozen=True)
class GateConfig:
    """Thresholds. Frequencies are in documents; the ``known`` threshold scales with corpus size.

    ``known_per_million``: an entity is *known* when mentioned in at least ``known_per_million`` documents per
    million corpus tokens (and at least ``known_min_docs``). QuCo-RAG's 1,000 occurrences on 4.6 T tokens is
    0.0002 per million tokens: far below one document on a 65 M-token sample, where any mention would count.
    Our default, 0.05 per million tokens (3 documents on the 65 M-token wiki2015 sample), was chosen on the
    EntityQuestions dev set (see README, "Thresholds").
    ``cooc_threshold``: a pair is unseen below this many documents (QuCo-RAG: < 1, never seen together).
    """

    known_per_million: float = 0.05
    known_min_docs: int = 1
    cooc_threshold: float = 1.0
    answer_as_entity_words: int = 6  # a short answer whose whole text is an indexed entity counts as one
    evidence_k: int = 3
    retriever: str = "bm25s"
    retrieve_evidence: bool = True

    def known_docs(self, index: Index) -> int:
        return max(self.known_min_docs, math.ceil(self.known_per_million * index.n_tokens / 1e6))


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) char spans of the sentences of ``text`` (a light rule: ., !, ? or a newline ends one)."""
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def pair_risk(c: int, fa: int, fb: int, n_docs: int) -> tuple[float, float]:
    """(NPMI, risk) of a pair seen together in ``c`` of ``n_docs`` documents, with add-half smoothing."""
    n = max(n_docs, 1) + 1.0
    pa, pb, pab = (fa + 0.5) / n, (fb + 0.5) / n, (c + 0.5) / n
    pmi = math.log(pab / (pa * pb))
    npmi = max(-1.0, min(1.0, pmi / -math.log(pab)))
    return npmi, (1.0 - npmi) / 2.0


@lru_cache(maxsize=8)
def _cached_index(path: str) -> Index:
    return Index(path)


def resolve_index(index: Index | str | Path | None) -> Index:
    if isinstance(index, Index):
        return index
    if index is None:
        return open_index(None)
    return _cached_index(str(Path(index).resolve()))


def _entities(ix: Index, text: str, source: str, cfg: GateConfig) -> list[EntityHit]:
    mentions = ix.extractor.extract(text) if text.strip() else []
    hashes = np.array([key_hash_of_key(m.key) for m in mentions], dtype=np.uint64)
    ids = ix.ids_of_hashes(hashes) if len(mentions) else np.empty(0, np.int64)
    hits = [EntityHit(m.text, m.key, m.start, m.end, source, ix.freq_of_id(int(i)), m.label)
            for m, i in zip(mentions, ids)]
    stripped = text.strip().rstrip(".!?")
    n_words = len(tokenize_py(stripped))
    if source == "answer" and 0 < n_words <= cfg.answer_as_entity_words:
        key = normalize(stripped)
        if key and all(h.key != key for h in hits):
            f = ix.freq(stripped)
            if f > 0:
                s = text.index(stripped)
                hits = [h for h in hits if not (s <= h.start and h.end <= s + len(stripped))]
                hits.append(EntityHit(stripped, key, s, s + len(stripped), source, f, "ANSWER"))
    return hits


def _with_subject(ix: Index, q_ents: list[EntityHit], question: str, subject: str) -> list[EntityHit]:
    key = normalize(subject)
    if not key or any(e.key == key for e in q_ents):
        return q_ents
    s = question.find(subject)
    start, end = (s, s + len(subject)) if s >= 0 else (-1, -1)
    inside = [e for e in q_ents if not (start >= 0 and start <= e.start and e.end <= end)]
    return inside + [EntityHit(subject, key, start, end, "question", ix.freq(subject), "SUBJECT")]


def _coverage(q_ents: list[EntityHit], known: int) -> str:
    if not q_ents:
        return "unknown"
    fmin = min(e.freq for e in q_ents)
    return "unknown" if fmin == 0 else ("sparse" if fmin < known else "known")


def assess(question: str, answer: str | None = None, *, index: Index | str | Path | None = None,
           mode: str = "factual", config: GateConfig | None = None, router: Any = None,
           retrieve: bool | None = None, subject: str | None = None, **overrides: Any) -> RiskReport:
    """Assess the data-side risk of ``answer`` to ``question`` (or of the question alone, before generation).

    ``mode``: ``factual`` (unsupported claims route to retrieval), ``creative`` (they are sanctioned blends) or
    ``auto`` (decided from the question by the router). ``subject``: the entity the question is about, when the
    caller knows it (it then counts as a question entity even if the extractor missed it). ``overrides`` replace
    fields of ``config``.
    """
    t0 = time.perf_counter()
    if not isinstance(question, str) or (answer is not None and not isinstance(answer, str)):
        raise ConfigError("question and answer must be strings")
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    cfg = replace(config or GateConfig(), **overrides)
    ix = resolve_index(index)
    timing: dict[str, float] = {}
    route = None
    if mode == "auto":
        from quco.gate.router import route as _route

        r = _route(question, router)
        route, mode = r.to_dict(), r.mode
    known = cfg.known_docs(ix)
    t = time.perf_counter()
    q_ents = _entities(ix, question, "question", cfg)
    if subject and subject.strip():
        q_ents = _with_subject(ix, q_ents, question, subject.strip())
    a_ents: list[EntityHit] = []
    sent_spans = sentences(answer) if answer else []
    if answer:
        a_ents = _entities(ix, answer, "answer", cfg)
        for e in a_ents:
            e.sentence = next((i for i, (s, t_) in enumerate(sent_spans) if s <= e.start < t_), None)
    timing["extract_ms"] = (time.perf_counter() - t) * 1e3

    t = time.perf_counter()
    coverage = _coverage(q_ents, known)
    cand: dict[tuple[str, str], tuple[EntityHit, EntityHit, str, int | None]] = {}
    for a in a_ents:
        for q in q_ents:
            if q.key != a.key:
                cand.setdefault(tuple(sorted((q.key, a.key))), (q, a, "question-answer", a.sentence))
        for b in a_ents:
            if b.key > a.key and b.sentence == a.sentence:
                cand.setdefault((a.key, b.key), (a, b, "answer-answer", a.sentence))
    pairs: list[PairCheck] = []
    if cand:
        ids = ix.ids_of_hashes(np.array([key_hash_of_key(k) for ab in cand for k in ab], dtype=np.uint64))
        counts = ix.cooc_ids(ids[0::2], ids[1::2])
        for (x, y, kind, sent), c in zip(cand.values(), counts.tolist()):
            npmi, risk = pair_risk(c, x.freq, y.freq, ix.n_documents)
            pairs.append(PairCheck(x.text, y.text, int(c), c < cfg.cooc_threshold, kind, x.freq, y.freq,
                                   round(npmi, 4), round(risk, 4), sent))
    timing["lookup_ms"] = (time.perf_counter() - t) * 1e3

    reasons: list[str] = []
    unsupported = [p for p in pairs if p.unseen and p.freq_a > 0 and p.freq_b > 0]
    unknown_answer = [e for e in a_ents if e.freq == 0]
    rare_q = [e for e in q_ents if e.freq < known]
    if pairs:
        risk, stage = max(p.risk for p in pairs), "post"
    else:
        risk = max((1.0 if e.freq == 0 else max(0.0, 1.0 - e.freq / known) for e in q_ents), default=0.0)
        stage = "pre" if q_ents else "none"
    decision, blend = "pass", None
    for e in rare_q:
        reasons.append(f"{e.text!r} is {'never mentioned' if e.freq == 0 else f'rare ({e.freq} documents)'} "
                       f"in the corpus (known from {known})")
    for p in unsupported:
        reasons.append(f"{p.a!r} and {p.b!r} never appear together within the window "
                       f"({p.cooccurrence} documents; {p.freq_a} and {p.freq_b} alone)")
    for e in unknown_answer:
        reasons.append(f"answer entity {e.text!r} is never mentioned in the corpus")
    if mode == "factual":
        if unsupported or unknown_answer:
            decision, stage = "retrieve", "post"
        elif coverage != "known" and q_ents and (answer is None or not pairs or coverage == "unknown"):
            decision, stage = "retrieve", "pre"
    else:  # creative: unseen combinations are the point, but say what kind they are
        if unsupported or unknown_answer:
            from quco.gate.blend import judge_blend

            t = time.perf_counter()
            decision, stage = "sanctioned_blend", "post"
            if unknown_answer:
                blend = judge_blend(ix, unknown_answer[0].text, (q_ents or a_ents)[0].text)
            else:
                worst = max(unsupported, key=lambda p: p.risk)
                blend = judge_blend(ix, worst.a, worst.b)
            timing["blend_ms"] = (time.perf_counter() - t) * 1e3

    evidence: list[dict[str, Any]] = []
    do_retrieve = cfg.retrieve_evidence if retrieve is None else retrieve
    if decision == "retrieve" and do_retrieve:
        t = time.perf_counter()
        evidence = retrieve_evidence(ix, question, answer, unsupported or [], rare_q, cfg, reasons)
        timing["retrieval_ms"] = (time.perf_counter() - t) * 1e3
    timing["total_ms"] = (time.perf_counter() - t0) * 1e3
    return RiskReport(
        question=question, answer=answer, mode=mode, decision=decision, stage=stage, risk=round(float(risk), 4),
        coverage=coverage, entities=q_ents + a_ents, pairs=pairs, evidence=evidence, blend=blend, reasons=reasons,
        route=route, thresholds={"known_docs": known, "cooc_threshold": cfg.cooc_threshold,
                                 **{k: v for k, v in asdict(cfg).items() if k in ("known_per_million",)}},
        timing={k: round(v, 3) for k, v in timing.items()},
    )


def _content_words(text: str) -> list[str]:
    return [t for t, _, _ in tokenize_py(text) if t not in _STOP and len(t) > 1]


def retrieve_evidence(ix: Index, question: str, answer: str | None, unsupported: list[PairCheck],
                      rare: list[EntityHit], cfg: GateConfig, reasons: list[str]) -> list[dict[str, Any]]:
    """Top passages for the failing check: the unsupported pair plus the sentence's other content words, or the
    question for a pre-generation check."""
    from quco.gate.retrieval import load_retriever
    from quco.errors import QucoError

    if unsupported:
        p = unsupported[0]
        query = " ".join([p.a, p.b] + _content_words(question))
    else:
        query = question
    try:
        retriever = _retriever(str(ix.path), cfg.retriever)
    except QucoError as e:
        reasons.append(f"no evidence: {e}")
        return []
    return [hit.to_dict() for hit in retriever.search(query, k=cfg.evidence_k)]


@lru_cache(maxsize=8)
def _retriever(path: str, backend: str):
    from quco.gate.retrieval import load_retriever

    return load_retriever(path, backend)
