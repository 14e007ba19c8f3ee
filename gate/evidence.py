"""Evidence straight from the index: passages in which both entities of a pair are mentioned.

BM25 over the pair's two names proposes candidates (``candidates`` of them); the index's own extractor then keeps
the passages where both keys really occur, so the evidence agrees with the counts: a pair counted as seen has
passages that show it (unless the two mentions fall in different passages of one document, up to the window).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from quco.cooccur.bm25 import load_retriever
from quco.cooccur.index import Index
from quco.cooccur.normalize import normalize


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
