"""``assess``: QuCo-RAG's two checks, with coverage, evidence and blends.

*Before generation* (stage ``pre``): the question's entities are looked up. The question's coverage is its
subject's (when the caller names it) or its weakest entity's: ``unknown`` (never mentioned), ``sparse``
(mentioned, but rarely or never as the title of a document) or ``known`` (see :mod:`quco.gate.scoring`). A model
knows little about what the corpus barely mentions: in factual mode the decision is ``retrieve``.

*After generation* (stage ``post``): each answer entity that the question does not already name is paired with
the attested question entities (the *anchors*); with ``pair_kinds`` including ``answer-answer`` the entities of
one answer sentence are also paired with each other. A pair's support is its association (NPMI by default, -1 for
a pair never seen together); an answer entity's support is its best anchor's; the answer's support is its
best part's when it is one short claim, else the mean of its claims' (``GateConfig.aggregate``).
``risk = (1 - support) / 2`` is in [0, 1] and never rises with more co-occurrence. An answer
with nothing the corpus can check (no entity, only entities the corpus never mentions, or an unknown question)
gets ``no_evidence_risk``: the corpus can say nothing either way. A question that names no entity is
uncheckable in the same way: coverage ``unknown``, risk ``no_evidence_risk``, and in factual mode ``retrieve``
whether or not an answer is given (the CLI exits 1); in creative mode it passes.

Decision in factual mode: ``pass`` only when the question is covered, the answer has at least one checked entity,
none of its entities is unknown to the corpus, and every one is supported by at least ``pass_support`` (and seen
with an anchor in at least ``cooc_threshold`` documents); otherwise ``retrieve``. In creative mode an unseen
combination is a ``sanctioned_blend``, judged by :func:`quco.gate.blend.judge_blend`.

The defaults were chosen on the dev files; ``docs/eval.md`` has the measurements.
"""
from __future__ import annotations

import bisect
import re
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from quco.cooccur.index import Index
from quco.cooccur.normalize import combine, key_hash_of_key, normalize, tokenize, tokenize_py
from quco.errors import ConfigError
from quco.gate.config import GateConfig  # noqa: F401  (re-exported: callers import it from here)
from quco.gate.coverage import question_coverage
from quco.gate.evidence import has_passage_support, passage_support, retrieve_evidence
from quco.gate.report import EntityHit, PairCheck, RiskReport
from quco.gate.scoring import entity_coverage, neighbour_similarity, pair_risk, support_to_risk, title_hashes

MODES = ("factual", "creative", "auto")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_NGRAM_MAX = 6


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) char spans of the sentences of ``text`` (a light rule: ., !, ? or a newline ends one)."""
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]


@lru_cache(maxsize=8)
def _cached_index(path: str) -> Index:
    return Index(path)


def resolve_index(index: Index | str | Path | Callable[[], Index] | None) -> Index:
    """An :class:`Index`, its directory, or a callable returning one (called now: ``wrap`` resolves lazily).

    The gate resolves no default: ``quco.assess`` / ``quco.wrap`` (the faces) pass the default index when none is
    given.
    """
    if isinstance(index, Index):
        return index
    if index is None:
        raise ConfigError("no index given: pass index= (an Index or its directory), or call quco.assess / "
                          "quco.wrap, which fall back to $QUCO_INDEX and the bundled sample index")
    if callable(index):
        return resolve_index(index())
    return _cached_index(str(Path(index).resolve()))


# ---- entity matching -------------------------------------------------------------------------------------------
def _ngram_hits(ix: Index, text: str, taken: list[tuple[int, int]], source: str) -> list[EntityHit]:
    """Leftmost-longest n-grams of ``text`` that are index entities and overlap no span in ``taken``."""
    hashes, starts, ends = tokenize(text)
    n = hashes.shape[0]
    if n == 0:
        return []
    cand_h, cand_at = [], []
    hs = hashes.tolist()
    for i in range(n):
        for k in range(1, min(_NGRAM_MAX, n - i) + 1):
            cand_h.append(combine(hs[i:i + k]))
            cand_at.append((i, k))
    ids = ix.ids_of_hashes(np.array(cand_h, dtype=np.uint64))
    best: dict[int, tuple[int, int]] = {}
    for (i, k), e in zip(cand_at, ids.tolist()):
        if e >= 0:
            best[i] = (k, e)  # longer n-grams come later: the longest wins
    out, i = [], 0
    while i < n:
        if i in best:
            k, e = best[i]
            s, t = int(starts[i]), int(ends[i + k - 1])
            if not any(s < b and a < t for a, b in taken):
                key = normalize(text[s:t])
                if key:
                    out.append(EntityHit(text[s:t], key, s, t, source, ix.freq_of_id(e), "NGRAM"))
                    i += k
                    continue
        i += 1
    return out


def _entities(ix: Index, text: str, source: str, cfg: GateConfig) -> list[EntityHit]:
    mentions = ix.extractor.extract(text) if text.strip() else []
    hashes = np.array([key_hash_of_key(m.key) for m in mentions], dtype=np.uint64)
    ids = ix.ids_of_hashes(hashes) if len(mentions) else np.empty(0, np.int64)
    hits = [EntityHit(m.text, m.key, m.start, m.end, source, ix.freq_of_id(int(i)), m.label)
            for m, i in zip(mentions, ids)]
    if cfg.ngram_lookup and ix.build.get("extractor") != "gazetteer" and text.strip():
        hits += _ngram_hits(ix, text, [(h.start, h.end) for h in hits], source)
        hits.sort(key=lambda h: h.start)
    stripped = text.strip().rstrip(".!?")
    n_words = len(tokenize_py(stripped))
    if source == "answer" and 0 < n_words <= cfg.answer_as_entity_words:
        key = normalize(stripped)
        if key and all(h.key != key for h in hits):
            s = text.index(stripped)
            f = ix.freq(stripped)
            if f > 0:
                hits = [h for h in hits if not (s <= h.start and h.end <= s + len(stripped))]
                hits.append(EntityHit(stripped, key, s, s + len(stripped), source, f, "ANSWER"))
            elif cfg.answer_surname and n_words > 1 and not any(h.freq > 0 for h in hits):
                last = tokenize_py(stripped)[-1]
                f = ix.freq(last[0])
                if f > 0:
                    hits = [h for h in hits if not (s <= h.start and h.end <= s + len(stripped))]
                    hits.append(EntityHit(stripped[last[1]:last[2]], last[0], s + last[1], s + last[2], source, f,
                                          "SURNAME"))
    return hits


def _with_subject(ix: Index, q_ents: list[EntityHit], question: str, subject: str,
                  cfg: GateConfig) -> tuple[list[EntityHit], EntityHit]:
    """The question entities with the caller's subject among them, and the subject's hit."""
    key = normalize(subject)
    same = [e for e in q_ents if e.key == key]
    if same:
        return q_ents, same[0]
    s = question.find(subject)
    start, end = (s, s + len(subject)) if s >= 0 else (-1, -1)
    hit = EntityHit(subject, key, start, end, "question", ix.freq(subject), "SUBJECT")
    if hit.freq == 0 and cfg.subject_surname and len(key.split()) > 1:
        last = key.split()[-1]
        if ix.freq(last) > 0:
            hit = EntityHit(subject, last, start, end, "question", ix.freq(last), "SURNAME")
    inside = [e for e in q_ents if not (start >= 0 and start <= e.start and e.end <= end)]
    return inside + [hit], hit


# ---- the check --------------------------------------------------------------------------------------------------
def assess(question: str, answer: str | None = None, *, index: Index | str | Path | None = None,
           mode: str = "factual", config: GateConfig | None = None, router: Any = None,
           retrieve: bool | None = None, subject: str | None = None, **overrides: Any) -> RiskReport:
    """Assess the data-side risk of ``answer`` to ``question`` (or of the question alone, before generation).

    ``mode``: ``factual`` (unsupported claims route to retrieval), ``creative`` (they are sanctioned blends) or
    ``auto`` (decided from the question by the router). ``subject``: the entity the question is about, when the
    caller knows it: it then counts as a question entity even if the extractor missed it, and the question's
    coverage is the subject's. ``overrides`` replace fields of ``config``.
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
    use_claims = cfg.claims and mode != "creative"
    if use_claims:
        from quco.gate.claim_entities import claim_entities, uses_dictionary

        a_hits = _entities(ix, answer, "answer", cfg) if answer and not uses_dictionary(ix) else []
        q_ents, a_claim, found = claim_entities(ix, question, answer, q_ents, a_hits, _claim_steps(cfg),
                                            cfg.answer_as_entity_words)
    subject_hit = None
    if subject and subject.strip():
        q_ents, subject_hit = _with_subject(ix, q_ents, question, subject.strip(), cfg)
    a_ents: list[EntityHit] = []
    sent_spans = sentences(answer) if answer else []
    if answer:
        a_ents = a_claim if use_claims else _entities(ix, answer, "answer", cfg)
        starts = [s for s, _ in sent_spans]
        for e in a_ents:  # binary search: a long answer has many sentences and many mentions
            i = bisect.bisect_right(starts, e.start) - 1
            e.sentence = i if i >= 0 and e.start < sent_spans[i][1] else None
    q_keys = {e.key for e in q_ents}
    # what the answer adds to the question; in creative mode the combinations the answer makes of anything
    claims = a_ents if mode == "creative" else [e for e in a_ents if e.key not in q_keys]
    timing["extract_ms"] = (time.perf_counter() - t) * 1e3

    t = time.perf_counter()
    decisive = [subject_hit] if subject_hit is not None else q_ents
    coverage, stubs = question_coverage(ix, cfg, decisive, known)
    anchors = [e for e in q_ents if e.freq > 0]
    # A short answer is one claim and its entities parts of one name: its best-supported part speaks for it. In
    # a longer answer each entity is a claim of its own (the risk: their mean, see _aggregate; the gate: each).
    one_claim = (answer is not None and len(answer.split()) <= 2 * cfg.answer_as_entity_words
                 and len(tokenize_py(answer)) <= cfg.answer_as_entity_words)
    if use_claims and found.is_list:  # "Warsaw and Ulm": every item is a claim of its own
        one_claim = False
    pairs, pair_keys, support, passed = _check_pairs(ix, cfg, anchors, q_ents, claims, one_claim)
    if use_claims and cfg.unknown_value_support is not None and coverage == "known":
        for e in claims:  # a value the corpus never mentions, about a topic it knows: weak evidence against
            if e.freq == 0 and support[e.key] is None:
                support[e.key] = cfg.unknown_value_support
    timing["lookup_ms"] = (time.perf_counter() - t) * 1e3

    reasons: list[str] = []
    rare_q = [e for e in decisive if entity_coverage(e.freq, known, True) != "known"]
    for e in rare_q:
        reasons.append(f"{e.text!r} is {'never mentioned' if e.freq == 0 else f'rare ({e.freq} documents)'} "
                       f"in the corpus (known from {known})")
    parts = [e for e in decisive if e.part_of and e not in rare_q]
    for e in parts:
        reasons.append(f"{e.text!r} is read inside {e.part_of!r}, which the corpus never mentions: what the "
                       "question asks about may not be covered")
    for e in decisive:
        if e.key in stubs:
            reasons.append(f"the corpus's longest article titled {e.text!r} has {stubs[e.key]} tokens (under "
                           f"{cfg.known_article_tokens}): it may not state what the question asks")
    if coverage == "sparse" and not rare_q and not parts and not stubs:
        reasons.append("no document of the corpus is titled with the question's subject: it is only mentioned")
    if not decisive:  # nothing to look up: uncheckable, which is coverage unknown (risk no_evidence_risk)
        reasons.append("the question names no entity: the corpus cannot check it")
    checked = [k for k in support if support[k] is not None]
    if one_claim:
        failing = [] if any(passed[k] for k in checked) else list(claims)
    elif use_claims and found.is_list:  # each item must have been seen with a question entity (QuCo's rule)
        anchor_keys = {e.key for e in anchors}
        seen = {ks[1] for p, ks in zip(pairs, pair_keys) if p.kind == "question-answer" and not p.unseen
                and p.freq_a > 0 and p.freq_b > 0 and ks[0] in anchor_keys}
        failing = [e for e in claims if e.key not in seen]
    else:
        failing = [e for e in claims if not passed[e.key]]
    if mode == "creative":  # any unseen combination of attested entities is a blend to describe
        unsupported = [p for p in pairs if p.unseen and p.freq_a > 0 and p.freq_b > 0]
        unknown_answer = [e for e in claims if e.freq == 0]
    else:
        failing_keys = {e.key for e in failing}
        unsupported = [p for p, ks in zip(pairs, pair_keys) if p.unseen and p.freq_a > 0 and p.freq_b > 0
                       and p.kind in cfg.pair_kinds and failing_keys & set(ks)]
        unknown_answer = [e for e in failing if e.freq == 0]
    hedged = bool(answer is not None and use_claims and found.hedged and cfg.hedge_risk is not None)
    passage_values: dict[str, float] = {}
    unstated = ""  # a value the question's best passages do not state: the evidence query names it
    # an index built without bm25s retrieval has no passages to ask: its reports say passage_weight 0
    passage_weight = cfg.passage_weight if has_passage_support(ix) else 0.0
    if answer is None:
        risk = max((1.0 if e.freq == 0 else max(0.0, 1.0 - e.freq / known) for e in decisive),
                   default=cfg.no_evidence_risk)
        stage = "pre" if q_ents else "none"
    else:
        agg = _aggregate(cfg.aggregate, one_claim)
        risk = support_to_risk(agg([support[k] for k in checked])) if checked else cfg.no_evidence_risk
        stage = "post"
        if mode == "factual" and passage_weight > 0 and claims and coverage != "unknown":
            t = time.perf_counter()
            passages = passage_support(ix, question, [e.text for e in claims])
            passage_values = {k: round(v, 4) for k, v in passages.items()}
            if passages:
                risk = (1 - passage_weight) * risk + passage_weight * (1 - agg(list(passages.values()))) / 2
                low = (max if one_claim else min)(passages.values())  # the bar: every claim's support
                if low < cfg.pass_passage:  # the claims below the bar fail (a one-claim answer: all its parts)
                    below = [e for e in claims if one_claim or passages.get(e.text, 1.0) < cfg.pass_passage]
                    unstated = below[0].text
                    failing += [e for e in below if e not in failing]
                    reasons.append("the passages that best match the question do not state "
                                   + ", ".join(repr(e.text) for e in below)
                                   + f" (passage support {low:.3f}, below {cfg.pass_passage})")
            timing["passages_ms"] = (time.perf_counter() - t) * 1e3
        if hedged:  # the answer's own words say it is not a checked fact: at least as risky as an uncheckable one
            risk = max(risk, cfg.hedge_risk)
            reasons.append("the answer hedges (\"I'm not sure\", \"as an AI...\"): what it asserts is not stated "
                           "as a fact")
    where = "in any document" if cfg.scope == "document" else f"within {ix.window:,} tokens"
    for p in unsupported:
        reasons.append(f"{p.a!r} and {p.b!r} never appear together {where} "
                       f"({p.cooccurrence} documents; {p.freq_a} and {p.freq_b} alone)")
    for e in unknown_answer:
        reasons.append(f"answer entity {e.text!r} is never mentioned in the corpus")

    decision, blend = "pass", None
    if mode == "factual":
        if answer is None:
            if coverage != "known":  # an entity-less question too: uncheckable is unknown coverage
                decision, stage = "retrieve", "pre"
        elif coverage == "unknown":
            decision, stage = "retrieve", "pre"
        elif not checked:
            decision = "retrieve"
            reasons.append("nothing in the answer can be checked against the corpus")
        elif failing or hedged:
            decision = "retrieve"
            weak = [e.text for e in failing if support[e.key] is not None and support[e.key] > -1.0
                    and not passed[e.key]]
            if weak:
                reasons.append(f"weak support for {', '.join(map(repr, weak))}: seen with the question's entities, "
                               f"but not clearly more often than chance (association below {cfg.pass_support}, "
                               f"in under {cfg.pass_conditional:.0%} of the rarer one's documents)")
    elif unsupported or unknown_answer:  # creative: unseen combinations are the point; say what kind they are
        from quco.gate.blend import judge_blend

        t = time.perf_counter()
        decision, stage = "sanctioned_blend", "post"
        if unknown_answer:
            new = unknown_answer[0]
            partner = next((e.text for e in q_ents + a_ents if e.key != new.key and e.freq > 0), new.text)
            blend = judge_blend(ix, new.text, partner)
        else:
            worst = max(unsupported, key=lambda p: p.risk)
            blend = judge_blend(ix, worst.a, worst.b)
        timing["blend_ms"] = (time.perf_counter() - t) * 1e3

    evidence: list[dict[str, Any]] = []
    do_retrieve = cfg.retrieve_evidence if retrieve is None else retrieve
    if decision == "retrieve" and do_retrieve:
        t = time.perf_counter()
        evidence = retrieve_evidence(ix, question, unsupported, cfg.retriever, cfg.evidence_k, reasons, unstated)
        timing["retrieval_ms"] = (time.perf_counter() - t) * 1e3
    timing["total_ms"] = (time.perf_counter() - t0) * 1e3
    return RiskReport(
        question=question, answer=answer, mode=mode, decision=decision, stage=stage, risk=round(float(risk), 4),
        coverage=coverage, entities=q_ents + a_ents, pairs=pairs, evidence=evidence, passage_support=passage_values,
        blend=blend, reasons=reasons,
        route=route, thresholds={"known_docs": known, "cooc_threshold": cfg.cooc_threshold,
                                 "pass_support": cfg.pass_support, "association": cfg.association,
                                 "known_per_million": cfg.known_per_million,
                                 "known_article_tokens": cfg.known_article_tokens, "passage_weight": passage_weight,
                                 "pass_passage": cfg.pass_passage},
        timing={k: round(v, 3) for k, v in timing.items()},
    )


def _claim_steps(cfg: GateConfig):
    from quco.gate.claims import ClaimSteps

    return ClaimSteps(question_form=cfg.claim_form, generic_filter=cfg.claim_generic, answer_span=cfg.claim_span,
                      hedges=cfg.claim_hedges, lists=cfg.claim_lists, generic_share=cfg.generic_share,
                      noun_topics=cfg.claim_noun_topics, query_noun_share=cfg.claim_query_noun_share,
                      unknown_titles=cfg.claim_unknown_titles, part_topics=cfg.claim_part_topics)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _aggregate(name: str, one_claim: bool):
    """How the claims' supports make the answer's (``GateConfig.aggregate``). A short answer is one claim, its
    entities parts of one name: its best-supported part speaks for it. A longer answer makes several claims:
    ``auto`` averages them, ``auto-min`` takes the weakest (the rule before 3 Dec 2026: a single wrongly extracted
    value then decides the whole answer; docs/eval.md has both)."""
    if name in ("auto", "auto-min"):
        return max if one_claim else (_mean if name == "auto" else min)
    return {"min": min, "max": max, "mean": _mean}[name]


def _articles(ix: Index, cfg: GateConfig):
    """The index's article table when the article rules are on and can run (phrase arrays, document scope, a
    corpus with titles), else None."""
    if (cfg.article_support <= -1.0 and cfg.unseen_no_article_support <= -1.0 and cfg.unlinked_penalty <= 0.0) \
            or cfg.scope != "document" \
            or getattr(ix, "phrases", None) is None or not title_hashes(ix).shape[0]:
        return None
    return ix.articles


def _article_support(articles, cfg: GateConfig, a: str, b: str, c: int, assoc: float, one_document,
                     together, unseen):
    """A question-answer pair's support after the article rules, its support for the gate, and what the articles
    said. An article of one that mentions the other lifts a seen pair to ``article_support``. A pair seen together
    only where neither one's article mentions the other (one of them has an article) loses ``unlinked_penalty``
    in the risk, not in the gate: it met in a list or a passing mention; when it never met inside one paragraph
    either (``together(a, b)`` is False: the names only share a long document, as a discography's entries do) it
    loses ``apart_penalty`` instead, never below ``unseen()`` (what the pair would get never seen together). An
    unseen pair where neither has an
    article gets ``unseen_no_article_support``, never above ``one_document()`` (the support of one document
    together). More co-occurrence still never raises the risk: an unlinked pair stays at or above an unseen one's
    -1, and a link only adds."""
    has, linked = articles.link(a, b)
    if c >= cfg.cooc_threshold and linked:
        lifted = max(assoc, cfg.article_support)
        return lifted, lifted, "linked"
    if c == 0 and not has:
        lifted = max(assoc, min(cfg.unseen_no_article_support, one_document()))
        return lifted, lifted, "none"
    if c >= cfg.cooc_threshold and has:
        if cfg.apart_penalty > cfg.unlinked_penalty and together is not None and together(a, b) is False:
            return max(unseen(), min(assoc, assoc - cfg.apart_penalty)), assoc, "apart"
        return max(-1.0, assoc - cfg.unlinked_penalty), assoc, "unlinked"
    return assoc, assoc, ("linked" if linked else "unlinked") if has else "none"


def _check_pairs(ix: Index, cfg: GateConfig, anchors: list[EntityHit], q_ents: list[EntityHit],
                 claims: list[EntityHit], one_claim: bool = True) -> tuple[list[PairCheck], list[tuple[str, str]], dict, dict]:
    """Look up every question-answer pair and every same-sentence answer-answer pair.

    Returns the pair checks, their (key, key), and for each claim (answer entity) its support, the best
    association of its pairs of the counted ``pair_kinds`` (``None`` when no such pair has two attested
    entities), and whether one of those pairs passes: seen together in at least ``cooc_threshold`` documents,
    with association at least ``pass_support`` or in at least ``pass_conditional`` of the rarer one's documents.
    """
    cand: dict[tuple[str, str], tuple[EntityHit, EntityHit, str]] = {}
    first_of_key = {}
    by_sentence: dict[int | None, dict[str, EntityHit]] = {}
    for a in claims:  # repeated mentions add no pair: work on distinct keys (per sentence), not on mentions
        first_of_key.setdefault(a.key, a)
        by_sentence.setdefault(a.sentence, {}).setdefault(a.key, a)
    q_first = {q.key: q for q in q_ents}
    for a in first_of_key.values():
        for q in q_first.values():
            if q.key != a.key:
                cand.setdefault(tuple(sorted((q.key, a.key))), (q, a, "question-answer"))
    for group in by_sentence.values():
        members = sorted(group.values(), key=lambda e: e.key)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                cand.setdefault((a.key, b.key), (a, b, "answer-answer"))
    support: dict[str, float | None] = {a.key: None for a in claims}
    passed: dict[str, bool] = {a.key: False for a in claims}
    if not cand:
        return [], [], support, passed
    ids = ix.ids_of_hashes(np.array([key_hash_of_key(k) for ab in cand for k in ab], dtype=np.uint64))
    counts = ix.cooc_ids(ids[0::2], ids[1::2], cfg.scope).tolist()
    if cfg.scope == "document" and getattr(ix, "phrases", None) is not None:  # a phrase that is no entity
        for k, ((x, y, _), ia, ib) in enumerate(zip(cand.values(), ids[0::2].tolist(), ids[1::2].tolist())):
            if (ia < 0 or ib < 0) and x.freq > 0 and y.freq > 0:
                counts[k] = ix.cooc(x.text, y.text, scope="document")
    anchor_keys = {e.key for e in anchors}
    n = ix.n_documents
    articles = _articles(ix, cfg)
    # the paragraph check of the apart rule (``apart_short_only``: for one-claim answers only)
    together = ix.phrases.together if one_claim or not cfg.apart_short_only else None
    pairs, keys = [], []
    for (x, y, kind), c, ia, ib in zip(cand.values(), counts, ids[0::2].tolist(), ids[1::2].tolist()):
        assoc, risk = pair_risk(c, x.freq, y.freq, n, cfg.association)
        neighbours = bool(cfg.neighbour_weight) and x.freq > 0 and y.freq > 0

        def one_document() -> float:  # the pair's support were it seen together in one document
            return pair_risk(1, x.freq, y.freq, n, cfg.association)[0]

        def unseen() -> float:
            """The pair's support were it never seen together: -1, or with neighbours its second-order support,
            never above one document's (risk stays monotone). Computed only when asked."""
            if not neighbours:
                return -1.0
            return min(-1.0 + cfg.neighbour_weight * neighbour_similarity(ix, ia, ib), one_document())

        if c == 0 and neighbours:
            assoc = unseen()
        article, gate_assoc = None, assoc
        if articles is not None and kind == "question-answer" and x.freq > 0 and y.freq > 0:
            assoc, gate_assoc, article = _article_support(articles, cfg, x.text, y.text, c, assoc, one_document,
                                                          together, unseen)
        risk = support_to_risk(assoc)
        pairs.append(PairCheck(x.text, y.text, int(c), c < cfg.cooc_threshold, kind, x.freq, y.freq,
                               round(assoc, 4), round(risk, 4), y.sentence, article))
        keys.append((x.key, y.key))
        if kind not in cfg.pair_kinds or x.freq == 0 or y.freq == 0:
            continue
        if kind == "question-answer" and x.key not in anchor_keys:
            continue
        good = c >= cfg.cooc_threshold and (gate_assoc >= cfg.pass_support
                                            or c >= cfg.pass_conditional * min(x.freq, y.freq))
        for e in ((y,) if kind == "question-answer" else (x, y)):
            prev = support[e.key]
            support[e.key] = assoc if prev is None else max(prev, assoc)
            passed[e.key] = passed[e.key] or good
    return pairs, keys, support, passed
