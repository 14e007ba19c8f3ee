"""One tokenizer and one normalizer, used identically at build time and at query time.

Text is tokenized on code points: a token is a maximal run of *word characters* (Unicode letters, marks and
digits); everything else separates tokens. Each code point is folded to a single code point (NFKC then case-fold,
kept only when that gives exactly one character, else plain lower-casing), so character offsets into the original
text survive folding. A token's identity is a 64-bit FNV-1a hash of its folded code points; an entity *key* is the
space-joined folded tokens of its surface form, with a leading article ("the", "a", "an") and a trailing
possessive ("'s", "s'") dropped, and its identity is ``key_hash`` = the token hashes combined in order. The
gazetteer computes the same combination incrementally over token n-grams, so a dictionary key and a run of
tokens in a document meet on the same 64-bit number.

``tokenize`` (numba) and ``tokenize_py`` (plain Python, the reference) give identical results; a property test
checks it on random strings.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

import numba as nb
import numpy as np

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_MASK = (1 << 64) - 1
_OFF, _PRIME = int(FNV_OFFSET), int(FNV_PRIME)
ARTICLES = frozenset({"the", "a", "an"})
_TABLE_SIZE = 0x10000  # the Basic Multilingual Plane; code points above it are separators and fold to themselves


@lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray]:
    """(fold, is_word) lookup tables over the BMP, computed once per process (~0.1 s)."""
    fold = np.arange(_TABLE_SIZE, dtype=np.uint32)
    is_word = np.zeros(_TABLE_SIZE, dtype=np.uint8)
    for cp in range(_TABLE_SIZE):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat[0] in "LMN":
            is_word[cp] = 1
        if cp < 128:
            if 65 <= cp <= 90:
                fold[cp] = cp + 32
            continue
        if 0xD800 <= cp <= 0xDFFF:
            continue
        f = unicodedata.normalize("NFKC", ch).casefold()
        if len(f) != 1:
            f = ch.lower()
        if len(f) == 1:
            fold[cp] = ord(f)
    return fold, is_word


def codepoints(text: str) -> np.ndarray:
    """The text as a uint32 array of code points (a zero-copy view of its UTF-32 encoding)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@nb.njit(cache=True, nogil=True)
def _count_tokens(cps, is_word):
    n, k, inside = cps.shape[0], 0, False
    for i in range(n):
        c = cps[i]
        w = c < 0x10000 and is_word[c] != 0
        if w and not inside:
            k += 1
        inside = w
    return k


@nb.njit(cache=True, nogil=True)
def _tokenize_kernel(cps, fold, is_word):
    n = cps.shape[0]
    m = _count_tokens(cps, is_word)  # exact sizes: 24 bytes a token, not 12 bytes a character
    hashes = np.empty(m, dtype=np.uint64)
    starts = np.empty(m, dtype=np.int64)
    ends = np.empty(m, dtype=np.int64)
    k = 0
    i = 0
    while i < n:
        c = cps[i]
        if c >= 0x10000 or is_word[c] == 0:
            i += 1
            continue
        h = FNV_OFFSET
        s = i
        while i < n:
            c = cps[i]
            if c >= 0x10000 or is_word[c] == 0:
                break
            h = (h ^ np.uint64(fold[c])) * FNV_PRIME
            i += 1
        hashes[k] = h
        starts[k] = s
        ends[k] = i
        k += 1
    return hashes, starts, ends


def tokenize(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token hashes (uint64) and char start/end offsets (int64) of ``text``."""
    fold, is_word = tables()
    return _tokenize_kernel(codepoints(text), fold, is_word)


def _is_word_py(ch: str) -> bool:
    return ord(ch) < _TABLE_SIZE and unicodedata.category(ch)[0] in "LMN"


def _fold_py(ch: str) -> str:
    if ord(ch) >= _TABLE_SIZE or 0xD800 <= ord(ch) <= 0xDFFF:
        return ch
    if ord(ch) < 128:
        return ch.lower()
    f = unicodedata.normalize("NFKC", ch).casefold()
    if len(f) != 1:
        f = ch.lower()
    return f if len(f) == 1 else ch


def token_hash_py(folded: str) -> int:
    h = _OFF
    for ch in folded:
        h = ((h ^ ord(ch)) * _PRIME) & _MASK
    return h


def tokenize_py(text: str) -> list[tuple[str, int, int]]:
    """Reference tokenizer: (folded token, start, end) triples, one code point at a time."""
    out, i, n = [], 0, len(text)
    while i < n:
        if not _is_word_py(text[i]):
            i += 1
            continue
        s = i
        while i < n and _is_word_py(text[i]):
            i += 1
        out.append(("".join(_fold_py(c) for c in text[s:i]), s, i))
    return out


def combine(hashes) -> int:
    """Hash of a token sequence (an entity key) from its token hashes; the gazetteer does the same incrementally."""
    h = _OFF
    for t in hashes:
        h = ((h ^ int(t)) * _PRIME) & _MASK
    return h


def combine_hashes(h: int, t: int) -> int:
    """One step of :func:`combine`: extend the hash ``h`` of a token sequence by a token hash ``t``."""
    return ((h ^ t) * _PRIME) & _MASK


def _strip_possessive(text: str) -> str:
    t = text.rstrip()
    for suffix in ("'s", "\u2019s", "'S", "\u2019S"):
        if t.endswith(suffix):
            return t[: -len(suffix)]
    if t.endswith(("s'", "s\u2019")):
        return t[:-1]
    return t


def key_tokens(text: str) -> list[str]:
    """Folded tokens of an entity surface form, leading article and possessive dropped."""
    toks = [t for t, _, _ in tokenize_py(_strip_possessive(text))]
    if len(toks) > 1 and toks[0] in ARTICLES:
        toks = toks[1:]
    return toks


def normalize(text: str) -> str:
    """The key of an entity surface form: ``normalize("The Nobel Prize's") == "nobel prize"``."""
    return " ".join(key_tokens(text))


def key_hash(text: str) -> int:
    """64-bit identity of an entity surface form (equal for all surface forms with the same key)."""
    return combine(token_hash_py(t) for t in key_tokens(text))


def key_hash_of_key(key: str) -> int:
    """64-bit identity of an already-normalized key (tokens separated by single spaces)."""
    return combine(token_hash_py(t) for t in key.split(" ") if t)
