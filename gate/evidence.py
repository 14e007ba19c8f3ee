"""Evidence straight from the index's passages: passages in which both entities of a pair are mentioned, the top
passages for a failing check (:func:`retrieve_evidence`), and passage support of answer values
(:func:`passage_support`, :mod:`quco.cooccur.passage_support`).

BM25 over the pair's two names proposes candidates (``candidates`` of them); the index's own extractor then keeps
the passages where both keys really occur, so the evidence agrees with the counts: a pair counted as seen has
passages that show it (unless the two mentions fall in different passages of one document, up to the window).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from quco.cooccur.bm25 import load_retriever
from quco.cooccur.index import Index
from quco.cooccur.normalize import normalize, tokenize_py
from quco.cooccur.passage_support import PassageSupport
from quco.errors import QucoError
from quco.gate.report import PairCheck


@lru_cache(maxsize=8)
def cached_retriever(path: str, backend: str):
    """The retriever of the index at ``path``, loaded once per process (assess and evidence share it)."""
    return load_retriever(path, backend)


def passages_with_both(ix: Index, a: str, b: str, k: int = 3, *, candidates: int = 50,
                       backend: str = "bm25s") -> list[dict[str, Any]]:
    """Up to ``k`` passages (dicts with passage_id, doc_id, title, text, score) that mention both ``a`` and ``b``."""
    ka, kb = normalize(a), normalize(b)
    if not ka or not kb:
        return []
    hits = cached_retriever(str(ix.path), backend).search(f"{a} {b}", k=candidates)
    out = []
    for hit in hits:
        keys = {m.key for m in ix.extractor.extract(f"{hit.title}\n\n{hit.text}")}
        if ka in keys and kb in keys:
            out.append(hit.to_dict())
            if len(out) >= k:
                break
    return out


_STOP = frozenset("""a an the of in on at to for from by with and or is was were are be been being who what when
where which why how did does do has have had it its this that these those as into than then he she they his her
their born""".split())


def _content_words(text: str) -> list[str]:
    return [t for t, _, _ in tokenize_py(text) if t not in _STOP and len(t) > 1]


def retrieve_evidence(ix: Index, question: str, unsupported: list[PairCheck], backend: str, k: int,
                      reasons: list[str], value: str = "") -> list[dict[str, Any]]:
    """Top ``k`` passages for the failing check: the unsupported pair plus the question's other content words;
    else the question and the ``value`` its best passages do not state (what the corpus says about both); else
    the question (a pre-generation check). An index without retrieval adds a reason instead."""
    if unsupported:
        query = " ".join([unsupported[0].a, unsupported[0].b] + _content_words(question))
    else:
        query = f"{question} {value}".strip()
    try:
        retriever = cached_retriever(str(ix.path), backend)
    except QucoError as e:
        reasons.append(f"no evidence: {e}")
        return []
    return [hit.to_dict() for hit in retriever.search(query, k=k)]


@lru_cache(maxsize=8)
def _cached_support(path: str) -> PassageSupport:
    return PassageSupport(cached_retriever(path, "bm25s"))


def has_passage_support(ix: Index) -> bool:
    """Whether the index was built with the bm25s retrieval that passage support reads (``quco build`` builds it
    by default; ``--retrieval none`` and some merged indexes have none)."""
    return "bm25s" in (ix.build.get("retrieval") or ())


def passage_support(ix: Index, question: str, values: Sequence[str]) -> dict[str, float]:
    """Each distinct value's :meth:`quco.cooccur.passage_support.PassageSupport.support` for ``question`` over
    the index's bm25s postings, by its text (values without a term left out); ``{}`` when the question has no term
    the passages know. Call it on indexes with :func:`has_passage_support`: a missing or damaged retrieval of such
    an index raises :class:`~quco.errors.IndexCorruptError` (a damaged index is an error, never a quieter gate)."""
    texts = list(dict.fromkeys(values))
    got = _cached_support(str(ix.path)).support(question, texts)
    return {t: v for t, v in zip(texts, got) if v is not None} if got else {}
