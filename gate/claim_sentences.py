"""Sentence bounds of an answer: the claim steps read its first sentences one by one."""

from __future__ import annotations

import re

# a word ending so does not end a sentence ("Mr.", "St.", an initial)
ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|Ft|No|vs|Vol|Gen|Col|Capt|Lt|Sgt|Rev|Prof|Inc|Ltd|"
                          r"Co|Corp|Bros|approx|ca|c|e\.g|i\.e|U\.S|U\.K)|\b[A-Z])\.$")
_SPLIT = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) char spans of the sentences of ``text``: ., ! or ? then white space, or a line break; never
    after an initial or a common abbreviation ("J. R. R. Tolkien", "Mr. Chips", "St. Louis")."""
    out, start = [], 0
    for m in _SPLIT.finditer(text):
        if m.group()[0] == "." and ABBREVIATION.search(text[max(start, m.start() - 8):m.start() + 1]):
            continue
        if text[start:m.start()].strip():
            out.append((start, m.end()))
        start = m.end()
    if text[start:].strip():
        out.append((start, len(text)))
    merged: list[tuple[int, int]] = []
    listing = False
    for a, b in out:  # "The books are:" and the short lines after it are one list
        after_colon = bool(merged) and text[merged[-1][0]:merged[-1][1]].rstrip().endswith(":")
        item = text[a:a + 1].isspace()  # a list marker ("1.", "-") blanked by clean_answer
        if merged and (after_colon or (listing and item)) and len(text[a:b].split()) <= 10 \
                and "\n" in text[merged[-1][1] - 1:a + 1]:
            merged[-1] = (merged[-1][0], b)
            listing = True
            continue
        listing = item
        merged.append((a, b))
    return merged
