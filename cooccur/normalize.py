"""One tokenizer and one normalizer, used identically at build time and at query time.

Text is tokenized on code points: a token is a maximal run of *word characters* (Unicode letters, marks and
digits); everything else separates tokens. Each code point is folded to a single code point (NFKC then case-fold,
kept only when that gives exactly one character, else plain lower-casing), so character offsets into the original
text survive folding. A token's identity is a 64-bit FNV-1a hash of its folded code points; an entity *key* is the
space-joined folded tokens of its surface form, with a leading article ("the", "a", "an") and a trailing
possessive ("'s", "s'") dropped, and its identity is ``key_hash`` = the token hashes combined in order. The
gazetteer computes the same combination incrementally over token n-grams, so a dictionary key and a run of
tokens in a document meet on the same 64-bit number.

``tokenize`` (numba) and ``tokenize_py`` (plain Python, the reference) give identical results; so do
``key_tokens`` (a regex and ``str.translate`` over the same tables: 1.4 µs a short surface form) and
``key_tokens_py`` (``tokenize_py``, one code point at a time: 8.7 µs). Property tests check both on random strings.
"""
from __future__ import annotations

import re
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


def char_class(table: np.ndarray, extra: str = "") -> str:
    """A regex character class of the code points where ``table`` is set (as ranges), plus the ``extra`` ones."""
    cps = np.flatnonzero(table)
    parts = []
    if cps.size:
        breaks = np.flatnonzero(np.diff(cps) != 1)
        starts = np.concatenate([[cps[0]], cps[breaks + 1]])
        ends = np.concatenate([cps[breaks], [cps[-1]]])
        for a, b in zip(starts.tolist(), ends.tolist()):
            parts.append(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}")
    return "[" + "".join(parts) + "".join(re.escape(c) for c in extra) + "]"


_ASCII_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _key_tables() -> tuple[re.Pattern, dict[int, int]]:
    """The word characters as a pattern and the fold table as a ``str.translate`` map."""
    fold, is_word = tables()
    changed = np.flatnonzero(fold != np.arange(fold.shape[0], dtype=fold.dtype))
    return re.compile(char_class(is_word) + "+"), {int(c): int(fold[c]) for c in changed}


def _drop_article(toks: list[str]) -> list[str]:
    return toks[1:] if len(toks) > 1 and toks[0] in ARTICLES else toks


def key_tokens(text: str) -> list[str]:
    """Folded tokens of an entity surface form, leading article and possessive dropped."""
    t = _strip_possessive(text)
    if t.isascii():  # the only ASCII word characters are letters and digits, and folding them is lower-casing
        return _drop_article(_ASCII_WORD.findall(t.lower()))
    word, fold = _key_tables()
    return _drop_article([w.translate(fold) for w in word.findall(t)])


def key_tokens_py(text: str) -> list[str]:
    """Reference of :func:`key_tokens`, on :func:`tokenize_py`."""
    return _drop_article([t for t, _, _ in tokenize_py(_strip_possessive(text))])


def normalize(text: str) -> str:
    """The key of an entity surface form: ``normalize("The Nobel Prize's") == "nobel prize"``."""
    return " ".join(key_tokens(text))


def key_hash(text: str) -> int:
    """64-bit identity of an entity surface form (equal for all surface forms with the same key)."""
    return combine(token_hash_py(t) for t in key_tokens(text))


def key_hash_of_key(key: str) -> int:
    """64-bit identity of an already-normalized key (tokens separated by single spaces)."""
    return combine(token_hash_py(t) for t in key.split(" ") if t)
