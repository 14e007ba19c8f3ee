"""How strongly the corpus supports a pair of entities, and how well it knows an entity.

Pure functions of counts, plus two small lookups cached per open index (document titles, neighbour similarity).
``assess`` combines them; ``docs/eval.md`` records how each choice was measured on the dev files.

**Association** of a pair seen together in ``c`` of ``n`` documents, the entities alone in ``fa`` and ``fb``:

- ``npmi`` (default): normalized PMI ``log(p(ab) / (p(a) p(b))) / -log p(ab)`` with no smoothing, and ``-1`` for a
  pair never seen together (the definition's limit). A pair seen together is ranked by how much more often it
  meets than chance would have it; a pair never seen together gets the lowest support.
- ``npmi_smoothed``: the same with add-half smoothing of every count. It lifts unseen pairs of rare entities
  towards 0 ("they were unlikely to meet anyway"); on EntityQuestions the opposite holds (an unseen pair of rare
  entities is wrong 76% of the time), so it is kept for the ablation only.
- ``pmi``: ``tanh`` of unsmoothed PMI (unseen: -1); ``count``: ``1 - 2 / (1 + c)``; ``binary``: QuCo-RAG's rule,
  -1 below one document, else 1; ``conditional``: ``2 c / min(fa, fb) - 1``, the share of the rarer entity's
  documents that also mention the other.

Every association is in ``[-1, 1]`` and non-decreasing in ``c`` with the frequencies fixed, so more
co-occurrence never raises :func:`pair_risk` ``= (1 - association) / 2``.

**Coverage** of an entity: ``unknown`` (never mentioned), ``sparse`` (mentioned), ``known``: mentioned in at least
``known_docs`` documents *and*, when the corpus has document titles, the title of one of them. Frequency alone is
a poor sign that the corpus describes an entity: ambiguous names ("Busby", "Clay County") are frequent because
they name other things. A document titled with the entity is the corpus's own statement that it covers it.
"""
from __future__ import annotations

import math
import re
import weakref

import numpy as np

from quco.cooccur.index import Index
from quco.cooccur.normalize import ARTICLES, FNV_OFFSET, FNV_PRIME, token_hash_py, tokenize
from quco.errors import ConfigError, IndexCorruptError

ASSOCIATIONS = ("npmi", "npmi_smoothed", "pmi", "count", "binary", "conditional")
COVERAGE = ("unknown", "sparse", "known")  # in increasing order
_DISAMBIGUATOR = re.compile(r"\s*\([^)]*\)\s*$")
_ARTICLE_HASHES = frozenset(token_hash_py(a) for a in ARTICLES)


def npmi(c: float, fa: float, fb: float, n: float) -> float:
    """Unsmoothed normalized PMI in ``[-1, 1]``; -1 when the pair was never seen together (or a side never)."""
    if c <= 0 or fa <= 0 or fb <= 0 or n <= 0:
        return -1.0
    c = min(c, fa, fb, n)
    if c >= n:
        return 1.0
    pab, pa, pb = c / n, fa / n, fb / n
    return max(-1.0, min(1.0, math.log(pab / (pa * pb)) / -math.log(pab)))


def npmi_smoothed(c: float, fa: float, fb: float, n: float) -> float:
    """Normalized PMI with add-half smoothing of every count (the first version of the gate)."""
    m = max(n, 1) + 1.0
    pa, pb, pab = (fa + 0.5) / m, (fb + 0.5) / m, (min(c, fa, fb) + 0.5) / m
    return max(-1.0, min(1.0, math.log(pab / (pa * pb)) / -math.log(pab)))


def association(kind: str, c: float, fa: float, fb: float, n: float) -> float:
    """Support for the pair in ``[-1, 1]`` under the measure ``kind`` (see the module docstring)."""
    if kind == "npmi":
        return npmi(c, fa, fb, n)
    if kind == "npmi_smoothed":
        return npmi_smoothed(c, fa, fb, n)
    if kind == "pmi":
        if c <= 0 or fa <= 0 or fb <= 0:
            return -1.0
        return math.tanh(math.log(min(c, fa, fb) * n / (fa * fb)))
    if kind == "count":
        return 1.0 - 2.0 / (1.0 + max(c, 0.0))
    if kind == "binary":
        return -1.0 if c < 1 else 1.0
    if kind == "conditional":
        lo = min(fa, fb)
        return -1.0 if lo <= 0 else 2.0 * min(c, lo) / lo - 1.0
    raise ConfigError(f"association must be one of {', '.join(ASSOCIATIONS)}, not {kind!r}")


def pair_risk(c: int, fa: int, fb: int, n_docs: int, kind: str = "npmi") -> tuple[float, float]:
    """(association, risk) of a pair seen together in ``c`` of ``n_docs`` documents; risk = (1 - assoc) / 2."""
    a = association(kind, c, fa, fb, n_docs)
    return a, (1.0 - a) / 2.0


def support_to_risk(support: float) -> float:
    return (1.0 - max(-1.0, min(1.0, support))) / 2.0


# ---- coverage ------------------------------------------------------------------------------------------------
_TITLES: "weakref.WeakKeyDictionary[Index, np.ndarray]" = weakref.WeakKeyDictionary()


def title_hashes(ix: Index) -> np.ndarray:
    """Sorted key hashes of the corpus's document titles, with and without a trailing "(disambiguator)".

    Read once per open index from its passages table (under a second for 30 k documents); empty when the corpus
    has no titles (plain text, JSONL without a title field).
    """
    got = _TITLES.get(ix)
    if got is None:
        titles = [t for t in _distinct_titles(ix) if t and t.strip()]
        titles += [_DISAMBIGUATOR.sub("", t) for t in titles if _DISAMBIGUATOR.search(t)]
        got = np.unique(_key_hashes(titles)) if titles else np.empty(0, np.uint64)
        _TITLES[ix] = got
    return got


def _distinct_titles(ix: Index) -> list[str]:
    """The distinct document titles of the passages table; empty when the index has no passages table or the
    table has no ``title`` column (a corpus without titles). A table that exists but cannot be read is a damaged
    index (IndexCorruptError), never a quieter gate: without titles no subject would count as known."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = ix.root / "passages.parquet"
    if "passages.parquet" not in ix.manifest.get("artifacts", {}) and not path.exists():
        return []
    try:
        if "title" not in pq.read_schema(path).names:
            return []
        column = pq.read_table(path, columns=["title"]).column("title")
    except (OSError, pa.ArrowException) as e:
        raise IndexCorruptError(f"{ix.path}/passages.parquet: cannot be read ({e}); "
                                f"run `quco verify --index {ix.path}`") from None
    return [t for t in pc.unique(column).to_pylist() if t is not None]


def _key_hashes(texts: list[str]) -> np.ndarray:
    """``key_hash`` of many short texts at once (numba tokenizer; a leading article is dropped as in keys)."""
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    hashes, tok_start, _ = tokenize("\n".join(texts))
    owner = np.searchsorted(starts, tok_start, side="right") - 1
    bounds = np.searchsorted(owner, np.arange(len(texts) + 1))
    lo, hi = bounds[:-1].copy(), bounds[1:]
    if hashes.shape[0]:
        first = hashes[np.minimum(lo, hashes.shape[0] - 1)]
        lo += (hi - lo > 1) & np.isin(first, np.array(sorted(_ARTICLE_HASHES), dtype=np.uint64))
    out = np.full(len(texts), FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(int((hi - lo).max(initial=0))):
            m = lo + k < hi
            out[m] = (out[m] ^ hashes[lo[m] + k]) * FNV_PRIME
    return out


def is_titled(titles: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """For each key hash, whether it is a document title."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if titles.shape[0] == 0 or hashes.shape[0] == 0:
        return np.zeros(hashes.shape[0], dtype=bool)
    i = np.minimum(np.searchsorted(titles, hashes), titles.shape[0] - 1)
    return titles[i] == hashes


def entity_coverage(freq: int, known_docs: int, titled: bool | None) -> str:
    """``unknown`` | ``sparse`` | ``known`` for an entity; ``titled=None`` means the corpus has no titles."""
    if freq <= 0:
        return "unknown"
    if freq >= known_docs and titled is not False:
        return "known"
    return "sparse"


def weakest(levels: list[str]) -> str:
    """The lowest coverage of ``levels`` (``unknown`` for none)."""
    return min(levels, key=COVERAGE.index) if levels else "unknown"


# ---- second-order evidence ------------------------------------------------------------------------------------
def neighbour_similarity(ix: Index, a: int, b: int) -> float:
    """Cosine of the PPMI co-occurrence rows of entity ids ``a`` and ``b`` (0 when either row is empty).

    Two entities that never meet can still share the company they keep ("Mullingar" and "County Westmeath" both
    meet "Ireland"). Costly on a large index (it reads both neighbour lists): off by default.
    """
    from quco.gate.blend import ppmi_distance

    if a < 0 or b < 0 or a == b:
        return 0.0
    dist = ppmi_distance(ix, a, b)
    return 0.0 if dist is None else max(0.0, 1.0 - dist)
