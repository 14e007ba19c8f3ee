"""How well the corpus covers what a question asks about: ``unknown`` | ``sparse`` | ``known``.

A deciding entity (the caller's subject, or every question entity) is *known* when the corpus mentions it often
enough (``GateConfig.known_per_million``), titles a document with it (``known_needs_title``, when the corpus has
titles) and that article is more than a stub (``known_article_tokens``, when the index has its phrase arrays); a
topic read inside a longer name the corpus lacks (``EntityHit.part_of``) is at most *sparse*. The question's
coverage is its weakest deciding entity's (``coverage_of="best"``: its best). ``quco.gate.assess`` says why in
its reasons.
"""
from __future__ import annotations

import numpy as np

from quco.cooccur.index import Index
from quco.cooccur.normalize import key_hash_of_key
from quco.gate.config import GateConfig
from quco.gate.report import EntityHit
from quco.gate.scoring import COVERAGE, entity_coverage, is_titled, title_hashes, weakest


def stub_subjects(ix: Index, cfg: GateConfig, candidates: list[EntityHit]) -> dict[str, int]:
    """Those of ``candidates`` (entities otherwise known) whose longest article is shorter than
    ``known_article_tokens``, with its length. Empty when the rule is off or cannot run (no phrase arrays), and in
    a corpus whose documents are shorter than that on average: there a short article is the norm, not a stub."""
    phrases = getattr(ix, "phrases", None)
    if cfg.known_article_tokens <= 0 or not candidates or phrases is None or not phrases.n_documents:
        return {}
    if int(phrases.doc_start[-1]) / phrases.n_documents < cfg.known_article_tokens:
        return {}  # a corpus of short documents (snippets, a toy corpus): every article is short, length says nothing
    out: dict[str, int] = {}
    for e in candidates:
        n = ix.articles.longest(e.text)
        if 0 < n < cfg.known_article_tokens:  # 0: no article the phrase arrays can see; the title rule decided
            out[e.key] = n
    return out


def question_coverage(ix: Index, cfg: GateConfig, decisive: list[EntityHit], known: int
                      ) -> tuple[str, dict[str, int]]:
    """The weakest coverage among the deciding entities (the subject, or every question entity), and the stubs:
    the entities known by frequency and title but whose articles are all stubs (:func:`stub_subjects`, key ->
    tokens of the longest), which count as sparse."""
    titles = title_hashes(ix) if cfg.known_needs_title else np.empty(0, np.uint64)
    if titles.shape[0]:
        titled = is_titled(titles, np.array([key_hash_of_key(e.key) for e in decisive], dtype=np.uint64)).tolist()
    else:
        titled = [None] * len(decisive)  # no titles in this corpus: frequency alone, and no articles to measure
    levels = [entity_coverage(e.freq, known, ti) for e, ti in zip(decisive, titled)]
    # a part of a name the corpus lacks ("Dream" of "Dream with Me") does not show the whole is covered
    levels = ["sparse" if lv == "known" and e.part_of else lv for lv, e in zip(levels, decisive)]
    stubs = stub_subjects(ix, cfg, [e for lv, e, ti in zip(levels, decisive, titled) if lv == "known" and ti])
    levels = ["sparse" if e.key in stubs else lv for lv, e in zip(levels, decisive)]
    if cfg.coverage_of == "best" and levels:
        return max(levels, key=COVERAGE.index), stubs
    return weakest(levels), stubs
