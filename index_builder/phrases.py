"""Capitalized-phrase harvest: gazetteer entries found as capitalized runs over the whole corpus.

The rule set (docs/eval.md, "Build-time change recommended"):

1. In each paragraph a candidate is a maximal run of capitalized tokens separated by single spaces. A token is
   an upper-case letter followed by letters, marks, digits, ``'``, ``’`` or ``-`` ("Beethoven's", "Jean-Paul");
   or an initial ("J.", also chained: "J.R.R.", "U.S."); or one of ``St. Mt. Dr. Jr. Sr. Ft.``. The lower-case
   connectors in :data:`CONNECTORS` may join two capitalized tokens ("Bank of England", "Ludwig van
   Beethoven", "Rogier van der Weyden": one or more connectors in a row). Any other punctuation ends a run, and
   a run never starts right after a token character or a period ("iPhone", "U.S." do not start one inside).
2. A run is split after a possessive token ("Beethoven's Symphony" -> "Beethoven's", "Symphony"); leading and
   trailing English stop words are dropped ("The Beatles" -> "Beatles"); pieces longer than ``max_tokens``
   tokens (space-separated; a connector counts) are dropped. A quote or hyphen ending the last token is not
   part of the surface form ("'Hello World'" -> "Hello World"), except the possessive ``s'``.
3. A key (:func:`~quco.cooccur.normalize.normalize`) is kept if it was found in at least ``min_docs``
   documents (document frequency: once per document), unless all its tokens are stop words. A key whose
   surface form is one word (no space: "Best-known" is one word) is kept only if its one-word forms were seen
   capitalized mid-sentence (not at the paragraph start, and not after ``. ! ? : "`` (or ``“ ”``) and spaces)
   more often than written in lower case anywhere in the corpus (occurrences of the lower-cased form as a
   whole token). This drops "Best-known", "Route" and the first words of sentences ("However" and "Would-be",
   the doc's examples, already go as stop words: a stop word alone, and "would be").
4. An entry is (surface text, ``"PHRASE"``); the surface text of a key is its most frequent surface form
   (ties: the one seen first).

Counting and selecting are split so that shards can be scanned in worker processes: :func:`scan` returns a
:class:`PhraseCounts` (picklable, compact when pickled), :func:`merge_counts` adds shards up (in document order:
the result is the same as one scan over all documents), :func:`select` applies rule 3 and 4.

Lower-case counts cover every lower-case token of the corpus (the rule needs them for words that may turn up as
one-word candidates in another shard), so they are kept compactly: a numba open-addressing table of 64-bit
FNV-1a hashes of the token's code points (:func:`~quco.cooccur.normalize.token_hash_py`) and counts: 16 bytes
a distinct word when pickled, 32 in the table (150 k words in 100 MB of Wikipedia). A 64-bit collision would add
one word's count to another's: negligible at millions of words.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from quco.cooccur.extract import english_stop_words
from quco.cooccur.normalize import char_class, normalize
from quco.cooccur.types import Document
from quco.index_builder.lower_counts import _BMP, TOKEN_PUNCT, LowerCounts, char_tables

LABEL = "PHRASE"
MAX_TOKENS = 7
MIN_DOCS = 2
CONNECTORS = ("of", "de", "du", "da", "del", "della", "der", "den", "des", "van", "von", "la", "le", "y", "di",
              "zu", "al", "bin", "ibn", "el")
ABBREVIATIONS = ("St", "Mt", "Dr", "Jr", "Sr", "Ft")
SENTENCE_END = frozenset('.!?:"\u201c\u201d')  # a word after one of these (and spaces) starts a sentence
_POSSESSIVE = ("'s", "\u2019s", "'S", "\u2019S", "s'", "s\u2019")  # as in normalize._strip_possessive
_BATCH_CHARS = 1 << 20  # text handed to the lower-case counter at a time


# ------------------------------------------------------------------------------------------- character classes


@lru_cache(maxsize=1)
def run_pattern() -> re.Pattern:
    """The compiled candidate-run pattern (rule 1).

    A run may not start inside a token ("iPhone"), right after a period ("U.S.") or after a quote or hyphen that
    follows a word ("Franco-Prussian", "d'Alembert"); after a space, an opening quote or a lone hyphen it may.
    The pattern starts with the upper-case class itself (the lookbehinds come after it) so that ``re`` can skip
    ahead to the next upper-case letter instead of trying every position.
    """
    tok, up, _ = char_tables()
    T, U = char_class(tok), char_class(up)
    punct = np.isin(np.arange(_BMP), [ord(c) for c in TOKEN_PUNCT])
    word = char_class(tok.astype(bool) & ~punct)
    word_or_dot = char_class(tok.astype(bool) & ~punct, ".")
    quote = char_class(punct)
    abbr = "|".join(ABBREVIATIONS)
    abbr_tail = "|".join(f"(?<={a[0]}){a[1:]}" for a in ABBREVIATIONS)
    token = rf"(?:(?:{abbr})\.|(?:{U}\.)+|{U}{T}*)"
    first = rf"{U}(?<!{word_or_dot}.)(?<!{word}{quote}.)(?:(?:{abbr_tail})\.|\.(?:{U}\.)*|{T}*)"
    conn = "|".join(sorted(CONNECTORS, key=len, reverse=True))
    return re.compile(rf"{first}(?: (?:(?:{conn}) )*{token})*")


# --------------------------------------------------------------------------------------------- keys and rules


def _is_possessive(tok: str) -> bool:
    return tok.endswith(_POSSESSIVE)


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    return english_stop_words()


def _is_stop(tok: str, stop: frozenset[str]) -> bool:
    """Whether the token (without a trailing quote or hyphen) is a stop word, also with ``'s`` ("It's")."""
    low = tok.lower()
    if low in stop:
        return True
    if low[-1] in TOKEN_PUNCT:
        low = _clean_last(tok).lower()
        if low in stop:
            return True
    if low.endswith(("'s", "\u2019s")):  # "It's", "That's"
        return low[:-2] in stop
    return False


def _clean_last(tok: str) -> str:
    """A run's last token without a trailing quote or hyphen (a closing quote, "Anglo-"), possessive s' kept."""
    if tok[-1] in TOKEN_PUNCT and not _is_possessive(tok):
        tok = tok.rstrip(TOKEN_PUNCT)
    return tok


_SPACES = " \t\u00a0"
_NOT_MID = frozenset(SENTENCE_END | {"\n"})


def _mid_sentence(text: str, pos: int) -> bool:
    """Whether the word at ``pos`` of a paragraph-joined text is preceded by neither the paragraph start nor
    ``. ! ? : "`` (spaces skipped)."""
    p = pos - 1
    while p >= 0 and text[p] in _SPACES:
        p -= 1
    return p >= 0 and text[p] not in _NOT_MID


def _single(run: str, stop: frozenset[str]) -> str | None:
    """The surface form of a one-token run, or None for a stop word. Every one-word surface form ``s`` has
    ``_single(s) == s`` (the scan's fast path relies on it)."""
    surface = _clean_last(run)
    return None if _is_stop(surface, stop) else surface


def _pieces(run: str, start: int, text: str, stop: frozenset[str], max_tokens: int) -> list[tuple[str, int, bool]]:
    """Rule 2 on a run of several tokens starting at ``start``: (surface, offset, mid-sentence) of its pieces."""
    out = []
    toks = run.split(" ")
    n = len(toks)
    if "'" in run or "\u2019" in run:  # split after each possessive token
        bounds, lo = [], 0
        for i, t in enumerate(toks):
            if _is_possessive(t):
                bounds.append((lo, i + 1))
                lo = i + 1
        if lo < n:
            bounds.append((lo, n))
    else:
        bounds = ((0, n),)
    for a, b in bounds:
        while a < b and _is_stop(toks[a], stop):
            a += 1
        while b > a and _is_stop(toks[b - 1], stop):
            b -= 1
        if a == b or b - a > max_tokens:
            continue
        pos = start + sum(map(len, toks[:a])) + a if a else start
        if b - a == 1:
            out.append((_clean_last(toks[a]), pos, _mid_sentence(text, pos)))
        elif toks[b - 1][-1] in TOKEN_PUNCT:
            out.append((" ".join(toks[a:b - 1] + [_clean_last(toks[b - 1])]), pos, False))
        else:
            out.append((" ".join(toks[a:b]), pos, False))
    return out


def candidates(text: str, max_tokens: int = MAX_TOKENS) -> list[tuple[str, int, bool]]:
    """Rules 1-2 on one paragraph (or paragraphs joined by ``\\n``): (surface, char offset, mid-sentence) of each
    candidate piece; ``mid-sentence`` is only computed for one-word pieces (False for the others).
    :meth:`PhraseCounts.add_documents` inlines this loop."""
    out: list[tuple[str, int, bool]] = []
    stop = _stop_words()
    for m in run_pattern().finditer(text):
        run = m.group()
        if " " in run:
            out.extend(_pieces(run, m.start(), text, stop, max_tokens))
        else:
            surface = _single(run, stop)
            if surface is not None:
                out.append((surface, m.start(), _mid_sentence(text, m.start())))
    return out


# ----------------------------------------------------------------------------------------------------- counts


class PhraseCounts:
    """The mergeable state of a scan.

    Keys and surface forms are kept in first-seen order: ``keys[k]`` was found in ``key_docs[k]`` documents;
    ``surfaces[s]`` (a form of ``keys[surf_key[s]]``) occurred ``surf_count[s]`` times, ``surf_mid[s]`` of them
    mid-sentence (counted for one-word forms only); ``lower`` holds the lower-case word counts. Pickling stores
    the strings as one string each and the numbers as arrays.
    """

    def __init__(self, max_tokens: int = MAX_TOKENS):
        self.max_tokens = max_tokens
        self.n_docs = 0
        self.n_chars = 0
        self.keys: list[str] = []
        self.key_docs: list[int] = []
        self.surfaces: list[str] = []
        self.surf_key: list[int] = []
        self.surf_count: list[int] = []
        self.surf_mid: list[int] = []
        self.lower = LowerCounts()
        self._key_index: dict[str, int] | None = {}
        self._surf_index: dict[str, int] | None = {}

    def __repr__(self) -> str:
        return (f"PhraseCounts({self.n_docs} docs, {len(self.keys)} keys, {len(self.surfaces)} surface forms, "
                f"{len(self.lower)} lower-case words)")

    # -- building
    def _indexes(self) -> tuple[dict[str, int], dict[str, int]]:
        if self._key_index is None:
            self._key_index = {k: i for i, k in enumerate(self.keys)}
        if self._surf_index is None:
            self._surf_index = {s: i for i, s in enumerate(self.surfaces)}
        return self._key_index, self._surf_index

    def _key_id(self, key: str, key_index: dict[str, int]) -> int:
        k = key_index.get(key)
        if k is None:
            k = key_index[key] = len(self.keys)
            self.keys.append(key)
            self.key_docs.append(0)
        return k

    def _surface_id(self, surface: str, key: str, key_index: dict[str, int], surf_index: dict[str, int]) -> int:
        s = surf_index[surface] = len(self.surfaces)
        self.surfaces.append(surface)
        self.surf_key.append(self._key_id(key, key_index))
        self.surf_count.append(0)
        self.surf_mid.append(0)
        return s

    def add_documents(self, documents: Iterable[Document]) -> "PhraseCounts":
        """Count the documents' paragraphs (the title is not scanned), after those counted so far."""
        key_index, surf_index = self._indexes()
        surf_get = surf_index.get
        surf_key, surf_count, surf_mid, key_docs = self.surf_key, self.surf_count, self.surf_mid, self.key_docs
        last_doc = [-1] * len(self.keys)  # the document that last counted each key
        dropped: set[str] = set()  # one-token runs that are stop words (or have no key)
        stop = _stop_words()
        finditer = run_pattern().finditer
        spaces, not_mid = _SPACES, _NOT_MID
        max_tokens = self.max_tokens
        batch: list[str] = []
        batch_chars = 0

        def new_surface(surface: str) -> int:
            key = normalize(surface)
            if not key:
                return -1
            s = self._surface_id(surface, key, key_index, surf_index)
            if len(last_doc) < len(self.keys):
                last_doc.append(-1)
            return s

        for doc in documents:
            d = self.n_docs
            self.n_docs += 1
            if not doc.paragraphs:
                continue
            text = "\n".join(doc.paragraphs)
            self.n_chars += len(text)
            for m in finditer(text):
                run = m.group()
                if " " not in run:  # the common case, inlined: one token
                    s = surf_get(run)
                    if s is None:
                        if run in dropped:
                            continue
                        surface = _single(run, stop)
                        s = -1 if surface is None else surf_get(surface, -2)
                        if s == -2:
                            s = new_surface(surface)
                        if s < 0:
                            dropped.add(run)
                            continue
                    surf_count[s] += 1
                    p = m.start() - 1
                    while p >= 0 and text[p] in spaces:
                        p -= 1
                    if p >= 0 and text[p] not in not_mid:
                        surf_mid[s] += 1
                    k = surf_key[s]
                    if last_doc[k] != d:
                        last_doc[k] = d
                        key_docs[k] += 1
                    continue
                for surface, _, mid in _pieces(run, m.start(), text, stop, max_tokens):
                    s = surf_get(surface)
                    if s is None:
                        s = new_surface(surface)
                        if s < 0:
                            continue
                    surf_count[s] += 1
                    if mid:
                        surf_mid[s] += 1
                    k = surf_key[s]
                    if last_doc[k] != d:
                        last_doc[k] = d
                        key_docs[k] += 1
            batch.append(text)
            batch_chars += len(text)
            if batch_chars >= _BATCH_CHARS:
                self.lower.add_text("\n".join(batch))
                batch, batch_chars = [], 0
        if batch:
            self.lower.add_text("\n".join(batch))
        return self

    def merge(self, other: "PhraseCounts") -> "PhraseCounts":
        """Add ``other``'s counts (documents after this one's) to this one, in place; returns self."""
        if other.max_tokens != self.max_tokens:
            raise ValueError(f"cannot merge counts scanned with max_tokens={other.max_tokens} into "
                             f"max_tokens={self.max_tokens}")
        key_index, surf_index = self._indexes()
        kmap = [self._key_id(k, key_index) for k in other.keys]
        for k, n in zip(kmap, other.key_docs):
            self.key_docs[k] += n
        for surface, k, n, mid in zip(other.surfaces, other.surf_key, other.surf_count, other.surf_mid):
            s = surf_index.get(surface)
            if s is None:
                s = surf_index[surface] = len(self.surfaces)
                self.surfaces.append(surface)
                self.surf_key.append(kmap[k])
                self.surf_count.append(0)
                self.surf_mid.append(0)
            self.surf_count[s] += n
            self.surf_mid[s] += mid
        self.lower.add_pairs(*other.lower.pairs())
        self.n_docs += other.n_docs
        self.n_chars += other.n_chars
        return self

    # -- pickling: strings joined by "\n" (no surface form or key holds one), numbers as arrays
    def __getstate__(self):
        return {
            "max_tokens": self.max_tokens, "n_docs": self.n_docs, "n_chars": self.n_chars,
            "keys": "\n".join(self.keys), "n_keys": len(self.keys),
            "key_docs": np.asarray(self.key_docs, dtype=np.int64),
            "surfaces": "\n".join(self.surfaces), "n_surfaces": len(self.surfaces),
            "surf_key": np.asarray(self.surf_key, dtype=np.int64),
            "surf_count": np.asarray(self.surf_count, dtype=np.int64),
            "surf_mid": np.asarray(self.surf_mid, dtype=np.int64),
            "lower": self.lower,
        }

    def __setstate__(self, st):
        self.max_tokens, self.n_docs, self.n_chars = st["max_tokens"], st["n_docs"], st["n_chars"]
        self.keys = st["keys"].split("\n") if st["n_keys"] else []
        self.surfaces = st["surfaces"].split("\n") if st["n_surfaces"] else []
        self.key_docs = st["key_docs"].tolist()
        self.surf_key = st["surf_key"].tolist()
        self.surf_count = st["surf_count"].tolist()
        self.surf_mid = st["surf_mid"].tolist()
        self.lower = st["lower"]
        self._key_index = self._surf_index = None  # rebuilt when needed (merging, scanning more)


def scan(documents: Iterable[Document], max_tokens: int = MAX_TOKENS) -> PhraseCounts:
    """Rules 1-2 over ``documents``: their candidate counts (pieces longer than ``max_tokens`` are dropped)."""
    return PhraseCounts(max_tokens).add_documents(documents)


def merge_counts(counts: Iterable[PhraseCounts]) -> PhraseCounts:
    """The sum of shard counts, in the given (document) order; the inputs are left as they are.

    ``counts`` may be a generator (e.g. ``pool.imap(scan_one_file, files)``): each shard is merged as it comes
    and can then be freed, so only the sum and one shard are held at a time.
    """
    out: PhraseCounts | None = None
    for c in counts:
        if out is None:
            out = PhraseCounts(c.max_tokens)
        out.merge(c)
        del c  # let a generator's shard go before the next one arrives
    if out is None:
        return PhraseCounts()
    out._key_index = out._surf_index = None  # ~80 bytes a key and a surface form; rebuilt if merged into again
    return out


def _surface_choice(counts: PhraseCounts) -> tuple[np.ndarray, np.ndarray]:
    """Per key: the index of its most frequent surface form (ties: the first seen); and each form's key."""
    surf_key = np.asarray(counts.surf_key, dtype=np.int64)
    surf_count = np.asarray(counts.surf_count, dtype=np.int64)
    n_keys = len(counts.keys)
    # sort by key, then count descending, then first seen: the first row of each key is its choice
    order = np.lexsort((np.arange(surf_key.shape[0]), -surf_count, surf_key))
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = surf_key[order][1:] != surf_key[order][:-1]
    best = np.full(n_keys, -1, dtype=np.int64)
    best[surf_key[order][first]] = order[first]
    return best, surf_key


def select(counts: PhraseCounts, min_docs: int = MIN_DOCS, max_tokens: int = MAX_TOKENS,
           stats: dict | None = None) -> list[tuple[str, str]]:
    """Rules 3-4: (surface text, ``"PHRASE"``) entries, in first-seen order of their keys.

    ``max_tokens`` can only tighten the cap the scan applied (pieces longer than the scan's ``max_tokens`` were
    never counted): a key whose chosen surface form has more tokens is dropped. ``stats``, when given, receives
    counts of what each rule dropped and ``dropped_case``: the one-word surface forms dropped by the case rule
    with their (mid-sentence, lower-case) counts.
    """
    if max_tokens > counts.max_tokens:
        raise ValueError(f"max_tokens={max_tokens} exceeds the scan's cap ({counts.max_tokens}): scan again")
    stop = _stop_words()
    best, surf_key = _surface_choice(counts)
    docs = np.asarray(counts.key_docs, dtype=np.int64)
    frequent = np.flatnonzero(docs >= min_docs)
    # the one-word forms of frequent keys: mid-sentence counts and lower-case counts of their lower-cased forms
    one_word: dict[int, list[int]] = {}
    is_frequent = np.zeros(len(counts.keys), dtype=bool)
    is_frequent[frequent] = True
    for s in np.flatnonzero(is_frequent[surf_key]).tolist():
        if " " not in counts.surfaces[s]:
            one_word.setdefault(int(surf_key[s]), []).append(s)
    words = sorted({counts.surfaces[s].lower() for ss in one_word.values() for s in ss})
    lower_of = dict(zip(words, counts.lower.count(words).tolist()))
    out: list[tuple[str, str]] = []
    n_stop = n_long = n_case = 0
    dropped_case = []
    for k in frequent.tolist():
        key = counts.keys[k]
        if all(t in stop for t in key.split(" ")):
            n_stop += 1
            continue
        surface = counts.surfaces[best[k]]
        if surface.count(" ") + 1 > max_tokens:
            n_long += 1
            continue
        if " " not in surface:
            forms = one_word[k]
            mid = sum(counts.surf_mid[s] for s in forms)
            low = sum(lower_of[w] for w in {counts.surfaces[s].lower() for s in forms})
            if mid <= low:
                n_case += 1
                if stats is not None:
                    dropped_case.append((surface, mid, low))
                continue
        out.append((surface, LABEL))
    if stats is not None:
        stats.update({"keys": len(counts.keys), "surface_forms": len(counts.surfaces),
                      "below_min_docs": len(counts.keys) - len(frequent), "all_stop_words": n_stop,
                      "too_long": n_long, "case": n_case, "entries": len(out), "dropped_case": dropped_case})
    return out
