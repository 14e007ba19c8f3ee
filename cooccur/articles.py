"""Articles: the documents whose title names a phrase, read from the phrase arrays.

A document's title is its first segment in ``phrase_tokens`` (the tokens before the first ``SEP``), as the index
builder writes it for a corpus with titles (WikiExtractor, JSONL or Parquet with a title field). The document
titled ``T`` is *T's article*; "the article of one mentions the other" is a sharper relation than "some document
mentions both" (a song title and a singer both listed in one long discography), and the gate reads it as support
(``quco.gate.assess``).

Which documents have a title at all is the builder's ``phrase_doc_titled`` (1 per document whose first segment
is its title): in a corpus that mixes titled documents with plain text, a text whose first paragraph is short
("Joan Baez") is no article. An index built before that array reads every short first segment as a title.

A title matches a phrase when, leading article dropped as in an entity key, the title starts with the phrase's
tokens and has at most ``EXTRA`` tokens more: "Thriller (song)" and "Madonna (entertainer)" are articles of
"Thriller" and "Madonna" (the parentheses are gone from the token stream, so a disambiguator cannot be told from
other trailing words; "Paul McCartney and Wings" is an article of "Paul McCartney" too). A first segment longer
than ``MAX_TITLE`` tokens is a paragraph, not a title (a corpus without titles), and names nothing.

The table is built on first use from the memory-mapped arrays: for every document, the key hash
(``quco.cooccur.normalize.combine`` of the token hashes, which ``phrase_vocab`` stores) of each admissible title
prefix, sorted with its document. Measured on the wiki2015 + wiki_extra default index (250,570 documents): 581,247
rows (9.3 MB), built in 90 ms once numba's cache is warm (0.7 s with the compile); :meth:`Articles.link` of two
phrases 39 us (two binary searches and two document-list intersections).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from quco.cooccur.normalize import ARTICLES, FNV_OFFSET, FNV_PRIME, combine, key_hash

EXTRA = 3  # title tokens allowed after the phrase
MAX_TITLE = 16  # a longer first segment is a paragraph: the corpus has no titles there


@nb.njit(cache=True, nogil=True)
def _title_rows(tokens, doc_start, vocab, articles, titled, extra, max_title):
    """(hash, document) of every admissible title prefix, unsorted; ``articles`` = token ids of ARTICLES,
    ``titled`` = 1 per document that has a title (its first segment)."""
    n_docs = doc_start.shape[0] - 1
    hashes = np.empty(n_docs * (extra + 1), np.uint64)
    docs = np.empty(n_docs * (extra + 1), np.int64)
    k = 0
    for d in range(n_docs):
        if titled[d] == 0:
            continue
        s = doc_start[d]
        end = doc_start[d + 1]
        e = s
        while e < end and tokens[e] != 0:
            e += 1
        if e == s or e - s > max_title:
            continue
        if e - s > 1:
            for a in articles:
                if tokens[s] == a:
                    s += 1
                    break
        h = FNV_OFFSET
        for j in range(s, e):
            h = (h ^ vocab[tokens[j] - 1]) * FNV_PRIME
            if j + 1 >= e - extra:
                hashes[k] = h
                docs[k] = d
                k += 1
    return hashes[:k], docs[:k]


def title_rows_py(tokens, doc_start, vocab, articles, titled=None, extra=EXTRA, max_title=MAX_TITLE
                  ) -> set[tuple[int, int]]:
    """Reference of :func:`_title_rows`, as a set of (hash, document); ``titled`` None: every document may have one."""
    out = set()
    for d in range(len(doc_start) - 1):
        if titled is not None and not titled[d]:
            continue
        seg = []
        for p in range(int(doc_start[d]), int(doc_start[d + 1])):
            if tokens[p] == 0:
                break
            seg.append(int(tokens[p]))
        if not seg or len(seg) > max_title:
            continue
        if len(seg) > 1 and seg[0] in set(int(a) for a in articles):
            seg = seg[1:]
        for k in range(max(1, len(seg) - extra), len(seg) + 1):
            out.add((combine(int(vocab[t - 1]) for t in seg[:k]), d))
    return out


class Articles:
    """Which documents are titled with a phrase, over one :class:`~quco.cooccur.phrase_index.PhraseCounts`."""

    def __init__(self, phrases):
        self.phrases = phrases
        ids = [phrases.token_ids([w]) for w in sorted(ARTICLES)]
        articles = np.array([int(i[0]) for i in ids if i is not None], np.uint32)
        titled = phrases.doc_titled  # None: an index older than the array, every document may have a title
        titled = np.ones(phrases.n_documents, np.uint8) if titled is None else np.asarray(titled, np.uint8)
        h, d = _title_rows(phrases.tokens, np.asarray(phrases.doc_start, np.int64),
                           np.asarray(phrases.vocab, np.uint64), articles, titled, EXTRA, MAX_TITLE)
        order = np.lexsort((d, h))
        self.hashes, self.docs = h[order], d[order]

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def docs_titled(self, phrase: str) -> np.ndarray:
        """The documents (ascending, int64) whose title is ``phrase``, possibly followed by up to EXTRA tokens."""
        h = key_hash(phrase)
        if h == int(FNV_OFFSET):  # no token: the hash of the empty key
            return np.empty(0, np.int64)
        h = np.uint64(h)
        lo, hi = np.searchsorted(self.hashes, h, "left"), np.searchsorted(self.hashes, h, "right")
        return np.unique(self.docs[lo:hi])

    def longest(self, phrase: str) -> int:
        """Tokens of the longest document titled with ``phrase`` (as :meth:`docs_titled` reads titles), title and
        separators included; 0 when none is."""
        docs = self.docs_titled(phrase)
        if not docs.shape[0]:
            return 0
        start = self.phrases.doc_start
        return int((np.asarray(start[docs + 1], np.int64) - np.asarray(start[docs], np.int64)).max())

    def link(self, a: str, b: str) -> tuple[bool, bool]:
        """``(articles, linked)``: whether ``a`` or ``b`` has an article, and whether the article of one mentions
        the other (anywhere in it, its title included)."""
        da, db = self.docs_titled(a), self.docs_titled(b)
        linked = bool((da.shape[0] and self.phrases.cooc_docs(b, da) > 0)
                      or (db.shape[0] and self.phrases.cooc_docs(a, db) > 0))
        return bool(da.shape[0] or db.shape[0]), linked
