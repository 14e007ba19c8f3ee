"""Candidate spans for the claim steps (:mod:`quco.gate.claims`): cleaning, candidates, overlaps, parts.

A parsed text's candidates are its spaCy NER spans, runs of proper nouns, quoted titles, a title named after "the
song / film / novel ...", common-noun runs (a fallback when nothing is named) and the spans the index itself
matched. :func:`resolve` keeps one of each overlapping group: an explicit title beats a name the index knows,
which beats a longer unknown name, which beats a fragment ("Ivor Dean" stays one name, not the known "Ivor" and
"Dean"). :func:`annotate` fills in what the index says about each span (:class:`TermStats`, through a
:class:`Lexicon`). Pure functions of spaCy ``Doc`` objects and of the statistics passed in.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from quco.cooccur.normalize import key_tokens
from quco.gate.claim_sentences import ABBREVIATION

NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW",
                         "LANGUAGE"})
VALUE_LABELS = frozenset({"DATE", "TIME", "CARDINAL", "QUANTITY", "MONEY", "PERCENT"})

_TITLE_NOUNS = re.compile(r"\b(?:song|single|film|movie|album|novel|book|play|opera|poem|show|series|musical|"
                          r"sitcom|painting|ballet|symphony|game|magazine|newspaper|programme|program)\s+"
                          r"(?:called\s+|titled\s+|entitled\s+|named\s+)?", re.I)
_QUOTED = re.compile(r"\"([^\"]{2,80}?)\"|\u201c([^\u201d]{2,80})\u201d|\u2018([^\u2019]{2,80})\u2019"
                     r"|(?<![\w])'([^']{2,60})'(?![\w])")
_TITLE_SMALL = frozenset({"a", "an", "the", "of", "on", "in", "and", "n", "to", "for", "at", "by", "with", "or",
                          "de", "la", "le", "is", "my", "me", "it", "you", "i", "be", "no", "so", "up", "all",
                          "from", "as", "but", "not", "do", "what", "your", "our", "we", "one", "this", "that"})
_CONNECT = frozenset({"of", "the", "de", "la", "le", "von", "van", "der", "du", "di", "da", "del", "&", "y", "el",
                      "los", "las"})

HONORIFICS = frozenset("""sir dame lord lady king queen prince princess saint st dr mr mrs ms miss president
representative senator general captain admiral marshal field pope emperor empress sultan sheikh reverend rev
professor prof judge justice chancellor governor mayor colonel major lieutenant sergeant adm gen col capt lt sgt
gov sen rep hon fr cdr cmdr maj supt""".split())
_FOOTNOTE = re.compile(r"(?<=[a-z)\]\"'\u201d])\d{1,2}(?=[\s.,;:!?)]|$)|^[ \t]*(?:\d{1,2}[.)]|[-*\u2022])(?=\s)",
                       re.M)
# a function word glued to the next name where a non-breaking space was lost ("wasMark Mothersbaugh")
_GLUED = re.compile(r"\b(?:was|is|are|were|by|to|as|the|of|in|and|at|from|on|for|with|called|named)(?=[A-Z][a-z])")
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")


@dataclass(frozen=True)
class TermStats:
    """What the index says about one span: documents that mention it, whether a document is titled with it
    (``None``: the corpus has no titles), and ``kind``: ``entity`` (an entity of the index), ``phrase`` (counted as
    a phrase, not an entity) or ``absent`` (the corpus never has it)."""

    freq: int
    titled: bool | None = None
    kind: str = "absent"


class Lexicon(Protocol):
    """Index statistics the claim steps read. ``assess`` adapts an ``Index`` to this."""

    n_documents: int

    def stats(self, texts: Sequence[str]) -> list[TermStats]: ...


@dataclass
class Span:
    """A candidate span of the question or the answer, with the index's view of it."""

    text: str
    start: int
    end: int
    label: str  # a spaCy label, YEAR, "" for a proper-noun run / index match without one
    origin: str  # ner | propn | quoted | title | index | answer
    key: str = ""
    freq: int = 0
    titled: bool | None = None
    kind: str = "absent"
    cased: bool = True  # written with a capital letter (or a digit) somewhere
    reason: str = ""  # why it was dropped, if it was
    honorific: bool = False  # the span kept its leading title word: a candidate only if the corpus titles it so
    with_title: int | None = None  # the start of the same span with the title word its trim dropped, if any
    part_of: str = ""  # a question topic inside a longer name the corpus lacks ("Dream" in "Dream with Me")

    @property
    def numeric(self) -> bool:
        return self.label in VALUE_LABELS or self.label == "YEAR"


def clean_answer(text: str) -> str:
    """``text`` with footnote digits glued to words ("Il trovatore1." -> "Il trovatore ."), list markers at the
    start of a line ("1. ", "- ") and a function word glued to the name after it ("wasMark" -> "   Mark") blanked:
    same length, so character offsets stay valid."""
    blank = lambda m: " " * len(m.group())  # noqa: E731
    return _GLUED.sub(blank, _FOOTNOTE.sub(blank, text))


def clean_question(text: str) -> str:
    """``text`` with the quoting of a CSV cell undone, same length: a question wrapped in quotes loses them and
    doubled quotes inside become single ("In ""Some Like It Hot"", who..." -> " In  "Some Like It Hot" , who...")."""
    t = text
    stripped = t.strip()
    if len(stripped) > 1 and stripped[0] == '"' and stripped.rstrip("?")[-1:] == '"':
        a = t.index('"')
        b = t.rindex('"')
        t = t[:a] + " " + t[a + 1:b] + " " + t[b + 1:]
    return t.replace('""', ' "')


class _Tok:
    """The token attributes the steps read, copied once out of spaCy (its Token objects are slow to make)."""

    __slots__ = ("text", "lower", "idx", "end", "pos", "tag", "punct", "space", "stop")

    def __init__(self, text: str, lower: str, idx: int, pos: str, tag: str, punct: bool, space: bool, stop: bool):
        self.text, self.lower, self.idx, self.end = text, lower, idx, idx + len(text)
        self.pos, self.tag, self.punct, self.space, self.stop = pos, tag, punct, space, stop


_ATTRS = ("IDX", "LENGTH", "LOWER", "POS", "TAG", "IS_PUNCT", "IS_SPACE", "IS_STOP")


class _View:
    """A parsed text: its string and its tokens (:class:`_Tok`), made once per Doc from one ``Doc.to_array``
    (a spaCy Token object per token and attribute cost ~1 ms a sentence)."""

    __slots__ = ("text", "toks", "starts", "ents", "ner")

    def __init__(self, doc: Any):
        self.text = text = doc.text
        strings = doc.vocab.strings
        rows = doc.to_array(list(_ATTRS)).tolist() if len(doc) else []
        self.toks = [_Tok(text[i:i + n], strings[lo], i, strings[po], strings[tg], bool(pu), bool(sp), bool(st))
                     for i, n, lo, po, tg, pu, sp, st in rows]
        self.starts = [t.idx for t in self.toks]
        self.ents = [(e.start, e.end, e.label_) for e in doc.ents]
        self.ner = doc.user_data.get("quco_ner", True)  # False: parsed without the entity recognizer


def view(doc: Any) -> _View:
    v = doc.user_data.get("quco_view")
    if v is None:
        v = doc.user_data["quco_view"] = _View(doc)
    return v


def _trim(v: _View, i: int, j: int, honorifics: bool = True) -> tuple[int, int]:
    """Token range [i, j) without leading determiners/punctuation and a trailing possessive or punctuation (and,
    with ``honorifics``, without a title before a name: a work's title keeps it, "Dr. Stein" is a song)."""
    t = v.toks
    while i < j and (t[i].punct or t[i].lower in ("the", "a", "an") or t[i].space
                     or honorifics and (t[i].lower.rstrip(".") in HONORIFICS and j - i > 1 and t[i + 1].pos == "PROPN")
                     or honorifics and (j - i > 2 and t[i + 1].lower.rstrip(".") in HONORIFICS
                                        and t[i + 2].pos == "PROPN")):
        i += 1  # "the", and a title before a name: "Sir Paul McCartney", "US President Richard Nixon"
    for k in range(i, j):  # "The Two Towers (2002": a bracket the span does not close ends it
        if t[k].text == "(" and not any(t[m].text == ")" for m in range(k, j)):
            j = k
            break
    while j > i and (t[j - 1].punct or t[j - 1].tag == "POS" or t[j - 1].space):
        if t[j - 1].text == ")" and any(t[m].text == "(" for m in range(i, j)):
            break  # "We Are One (Ole Ola)" keeps its closing bracket
        j -= 1
    return i, j


def _span(v: _View, i: int, j: int, label: str, origin: str) -> Span | None:
    honorifics = origin not in ("title", "title+", "quoted")
    k = _trim(v, i, j, honorifics=False)[0] if honorifics else None  # where the title word would have stayed
    i, j = _trim(v, i, j, honorifics=honorifics)
    if i >= j:
        return None
    s, e = v.toks[i].idx, v.toks[j - 1].end
    text = v.text[s:e]  # "Queen Victoria", "Captain America": :func:`candidates` offers the title word's form too
    return Span(text, s, e, label, origin, cased=any(c.isupper() or c.isdigit() for c in text),
                with_title=v.toks[k].idx if k is not None and k < i else None)


def _char_span(v: _View, s: int, e: int, label: str, origin: str) -> Span | None:
    """The tokens overlapping chars [s, e) (expanded to whole tokens) as a span."""
    i = bisect.bisect_right(v.starts, s) - 1
    if i < 0 or v.toks[i].end <= s:
        i += 1
    j = bisect.bisect_left(v.starts, e)
    return _span(v, i, j, label, origin) if i < j else None


def _title_after_noun(v: _View) -> list[Span]:
    """"the song Me, Myself and Time", "the film Holiday Inn": a title-cased run after a work noun."""
    out = []
    text = v.text
    for m in _TITLE_NOUNS.finditer(text):
        words = list(re.finditer(r"[^\s?!]+", text[m.end():]))
        end = None
        for k, w in enumerate(words):
            word = w.group().strip(",.;:\"'\u201c\u201d")
            if not word:
                continue
            first = word[0].isupper() or word[0].isdigit()
            if k == 0 and (not first or w.group()[0] in "\"'\u201c\u2018"):
                break  # a quoted title is the quotes' (_QUOTED), not a run that may run past them
            if k and word in ("is", "was", "are", "were"):
                break  # "the album Back in Black is Brian Johnson": a lower-case verb ends the title
            if first or word.lower() in _TITLE_SMALL:
                if first:  # a title ends on a capitalized word, never on "the" ("Oliver!, the first food")
                    end = m.end() + w.end()
                if w.group().endswith((".", ";", ":", "!", "?")) and k + 1 < len(words) \
                        and not ABBREVIATION.search(w.group()):  # "Dr." or "St." does not end the title
                    break
                continue
            break
        if end is not None:
            sp = _char_span(v, m.end(), end, "WORK_OF_ART", "title")
            if sp is not None:
                out.append(sp)
            # "the song Maman a tort?": a title at the end of the text runs on to it (any casing); only if the
            # corpus has it whole, unless the capitalized run is one word ("Maman" alone is another name)
            tail = _TAIL.match(text, end)
            if tail is not None and not _NOT_TITLE.search(tail.group(1)):
                one = len(text[m.end():end].split()) == 1
                sp = _char_span(v, m.end(), tail.end(1), "WORK_OF_ART", "title" if one else "title+")
                if sp is not None:
                    out.append(sp)
    return out


# at most five more words, then the end of the text: a title at the end of a question, in any casing ("the song
# Je te rends ton amour", "La plus belle pour aller danser"; three words before 3 Dec: songs 0.839 -> 0.842), but
# not the rest of a question ("Opera House' is in which European city?": a verb or a question word ends a title)
_TAIL = re.compile(r"((?:\s+[^\s.,;:!?\"\u201d]+){1,5})\s*[?.!]?\s*$")
_NOT_TITLE = re.compile(r"\b(?:is|was|are|were|which|what|who|whom|whose|where|when|why|how)\b", re.I)


def _propn_runs(v: _View) -> list[Span]:
    """Maximal runs of proper nouns (joined by "of", "the", "de", "&", ...), e.g. "Holiday Inn", "Bank of England"."""
    t = v.toks
    out, i, n = [], 0, len(t)
    while i < n:
        if t[i].pos != "PROPN":
            i += 1
            continue
        j = i + 1
        while j < n:
            if t[j].pos == "PROPN" and not t[j].punct:
                j += 1
            elif t[j].lower in _CONNECT and j + 1 < n and t[j + 1].pos == "PROPN":
                j += 2
            else:
                break
        sp = _span(v, i, j, "", "propn")
        if sp is not None:
            out.append(sp)
        i = j
    return out


_CAPS_SMALL = frozenset({"a", "an", "the", "of", "on", "in", "to", "for", "at", "by", "with", "from", "de", "la",
                         "le", "du", "des", "von", "van", "der", "y", "'n'", "n'"})  # no "and" / "or": lists


def _caps_runs(v: _View) -> list[Span]:
    """Title-cased runs of a cased text ("Love Like a Fountain", "Bringing It All Back Home", "Miracle in
    Seville"): capitalized words joined by a few lower-case function words, ending on a capitalized word, not
    starting a sentence. spaCy tags many title words as verbs or adjectives, so its proper-noun runs cut such a
    title into a known fragment ("Love"). Only runs of two or more words, and :func:`resolve` keeps one only when
    the corpus has it whole: a run also joins names that merely stand side by side ("Dublin in 1995", "Robin Hood
    in the Disney"). Kept when unknown too, the run turned 1.5 % of TriviaQA's checked rows unknown and cost
    0.005 AUROC there, for +0.02 on EntityQuestions' known rows (docs/eval.md)."""
    t = v.toks
    out, n = [], len(t)
    if not any(c.islower() for c in v.text):  # an all-capitals text says nothing about names
        return out
    i = 0
    while i < n:
        first = t[i].text[:1]
        starts = i == 0 or t[i - 1].text in (".", "!", "?", ":", "\n") or t[i - 1].space and "\n" in t[i - 1].text
        if not (first.isupper() or first.isdigit() and i and t[i - 1].text[:1].isupper()) or t[i].punct or starts:
            i += 1
            continue
        j, last = i + 1, i + 1
        while j < n:
            w = t[j]
            if w.text[:1].isupper() or (w.text[:1].isdigit() and j == last):  # "BioSphere 2", not "in 1949"
                j += 1
                last = j
            elif w.lower in _CAPS_SMALL or w.text in ("'", "-") or (w.tag == "POS" and j + 1 < n
                                                                    and t[j + 1].text[:1].isupper()):
                j += 1
            else:
                break
        if last - i >= 2:
            sp = _span(v, i, last, "", "caps")
            if sp is not None:
                out.append(sp)
        i = max(last, i + 1)
    return out


def _noun_runs(v: _View) -> list[Span]:
    """Common-noun candidates: every suffix of each run of adjectives and nouns ("human body", "body"). Used only
    when nothing named is there ("What kind of organism is a truffle?")."""
    t = v.toks
    out, i, n = [], 0, len(t)
    while i < n:
        if t[i].pos not in ("NOUN", "ADJ") or t[i].stop:
            i += 1
            continue
        j = i
        while j < n and t[j].pos in ("NOUN", "ADJ") and not t[j].stop:
            j += 1
        if t[j - 1].pos == "NOUN":
            for k in range(max(i, j - 3), j):
                if t[k].pos == "NOUN" or k < j - 1:
                    sp = _span(v, k, j, "", "noun")
                    if sp is not None:
                        out.append(sp)
        i = j
    return out


def candidates(doc: Any, index_spans: Sequence[tuple[int, int, str]] = (), caps: bool = False) -> list[Span]:
    """Every candidate span of ``doc`` (overlapping ones included): NER, proper-noun runs, quoted titles, titles
    after a work noun, and ``index_spans`` ((start, end, label) char spans the index matched). ``caps``: also
    title-cased runs (:func:`_caps_runs`; for a question, whose named things are its topics)."""
    v = view(doc)
    out: list[Span] = []
    for i, j, label in v.ents:
        if label in NAME_LABELS or label in VALUE_LABELS:
            sp = _span(v, i, j, label, "ner")
            if sp is not None:
                out.append(sp)
    out += _propn_runs(v)
    if caps:
        out += _caps_runs(v)
    for m in _QUOTED.finditer(v.text):
        g = next(k for k in range(1, 5) if m.group(k) is not None)
        inner = m.group(g).strip()
        if inner and len(inner.split()) <= 10 and len(inner) < 0.8 * len(v.text):
            s = m.start(g) + (len(m.group(g)) - len(m.group(g).lstrip()))
            sp = _char_span(v, s, s + len(inner), "WORK_OF_ART", "quoted")
            if sp is not None:
                out.append(sp)
    out += _title_after_noun(v)
    out += _noun_runs(v)
    if not v.ner:
        out += _value_spans(v)
    for s, t, label in index_spans:
        sp = _char_span(v, s, t, label if label in NAME_LABELS else "", "index")
        if sp is not None:
            out.append(sp)
    out += [Span(v.text[sp.with_title:sp.end], sp.with_title, sp.end, sp.label, sp.origin, cased=True,
                 honorific=True) for sp in out if sp.with_title is not None]
    for sp in out:
        if sp.label in ("DATE", "") and YEAR.fullmatch(sp.text.strip()):
            sp.label = "YEAR"  # also without NER (a question is parsed without it): "1984" is a year
        elif not sp.label and _NUMBER.fullmatch(sp.text.strip()):
            sp.label = "CARDINAL"
    return out


_NUMBER = re.compile(r"[\d][\d,.]*(?:s|th|st|nd|rd)?")


_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_ORD = r"\d{1,2}(?:st|nd|rd|th)?"
_SPELLED = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
            "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred")
_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("DATE", re.compile(rf"\b(?:{_ORD} (?:of )?)?{_MONTH} (?:{_ORD},? )?\d{{4}}\b|\b{_MONTH} {_ORD}\b(?:,? \d{{4}}\b)?"
                        rf"|\b(?:(?:early|mid|late)[- ])?(?:{_ORD}|\w+th) century\b"
                        r"|\b(?:(?:early|mid|late)[- ])?(?:1[0-9]|20)?\d0s\b|\b(?:1[0-9]{3}|20[0-9]{2})\b", re.I)),
    ("MONEY", re.compile(r"[$\u00a3\u20ac]\s?\d[\d,]*(?:\.\d+)?(?: (?:million|billion|thousand))?")),
    ("PERCENT", re.compile(r"\b\d+(?:\.\d+)?(?: ?%| percent| per cent)")),
    ("CARDINAL", re.compile(rf"\b\d[\d,]*(?:\.\d+)?(?: (?:million|billion|thousand|hundred))?\b|\b(?:{_SPELLED})\b",
                            re.I)),
)


def _value_spans(v: _View) -> list[Span]:
    """Dates, amounts and numbers found by patterns, for a text parsed without NER (its labels: DATE, MONEY,
    PERCENT, CARDINAL); each character is claimed by the first pattern that matches it."""
    out: list[Span] = []
    taken: list[tuple[int, int]] = []
    for label, rx in _VALUES:
        for m in rx.finditer(v.text):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            sp = _char_span(v, m.start(), m.end(), label, "value")
            if sp is not None:
                taken.append((m.start(), m.end()))
                out.append(sp)
    return out


_EXPLICIT = ("answer", "title+", "title", "quoted")
_ORIGIN_ORDER = {"ner": 0, "value": 1, "index": 2, "propn": 3, "caps": 4, "noun": 5}


_POSSESSIVE = re.compile(r"['\u2019]s\b")


def _name_run(text: str) -> bool:
    """Whether a title-cased run is all capitalized words (digits after the first), with no lower-case word and
    no possessive between them: a name ("Stacey B. Day"), not names side by side ("Moscow to the Caspian Sea",
    "Henry Kissinger's White")."""
    words = text.split()
    return bool(words) and words[0][:1].isalpha() and not _POSSESSIVE.search(text) \
        and all(w[:1].isupper() or w[:1].isdigit() for w in words)


def _known(s: Span) -> bool:
    return s.freq > 0 and s.kind != "absent"


def resolve(cands: list[Span], noun_phrases: bool = False, unknown_caps: bool = False) -> list[Span]:
    """Non-overlapping spans, in text order. An explicit title (or the whole short answer) wins; otherwise the
    longer span, except that an unknown span gives way to a known one inside it holding more than half its words
    ("iHeartRadio Music Awards" in "the 2021 iHeartRadio Music Awards"). So an unknown full name is kept whole
    rather than split into known fragments ("Ivor Dean", not "Ivor" and "Dean")."""
    def words(s: Span) -> int:
        return len(s.key.split()) or 1

    pool = []
    for s in cands:
        if s.honorific and not s.titled:
            continue  # "Sir Paul McCartney" is Paul McCartney; "Queen Victoria" and "King Crimson" are titles
        if s.origin == "noun" and not (_known(s) and (s.kind == "entity" or noun_phrases)):
            continue  # a common noun counts only as an entity of the index (a title), not as any phrase
        if (s.origin == "title+" or s.origin == "caps" and not (unknown_caps and _name_run(s.text))) \
                and not _known(s):
            continue  # a title run on to the end of the text, or a title-cased run, only if the corpus has it whole
        if s.origin not in _EXPLICIT and not _known(s) and any(
                _known(t) and s.start <= t.start and t.end <= s.end and 2 * words(t) > words(s) for t in cands):
            continue
        pool.append(s)

    def rank(s: Span) -> tuple:
        return (_EXPLICIT.index(s.origin) if s.origin in _EXPLICIT else len(_EXPLICIT), -(s.end - s.start),
                -_known(s), _ORIGIN_ORDER.get(s.origin, 9))

    taken: list[Span] = []
    for s in sorted(pool, key=rank):
        if any(s.start < t.end and t.start < s.end for t in taken):
            continue
        taken.append(s)
    return sorted(taken, key=lambda s: s.start)


def annotate(spans: list[Span], lexicon: Lexicon, noun_phrases: bool = True) -> list[Span]:
    """Fill ``key``, ``freq``, ``titled`` and ``kind`` of each span from the index (one batched lookup).
    ``noun_phrases=False``: common-noun runs count only as entities (:func:`resolve`), so a lexicon with an
    ``entity_stats`` method is asked only that for them (no phrase search)."""
    for s in spans:
        s.key = " ".join(key_tokens(s.text))
    todo = [s for s in spans if s.key]
    light = getattr(lexicon, "entity_stats", None) if not noun_phrases else None
    texts = list(dict.fromkeys(s.text for s in todo))  # NER, proper-noun run and index match are often one text
    named = {s.text for s in todo if s.origin != "noun" or not light}
    full = [t for t in texts if t in named]
    only = [t for t in texts if t not in named]
    got = dict(zip(full, lexicon.stats(full))) if full else {}
    if only:
        got.update(zip(only, light(only)))
    for s in todo:
        st = got[s.text]
        s.freq, s.titled, s.kind = st.freq, st.titled, st.kind
    return todo


def mark_parts(spans: list[Span], cands: list[Span]) -> None:
    """Set ``part_of`` of a named span of ``spans`` read inside a longer run of names among ``cands`` that the
    corpus never mentions ("Dream" of "Who performed Dream with Me?", "B. Day" of "Stacey B. Day"): the corpus
    knowing the part says nothing about whether it covers the whole. Not when another span lies in the same run
    (names side by side, "Moscow to the Caspian Sea", and so also "Miracle in Seville"), the run is a possessive
    ("Henry Kissinger's White"), starts or ends with a number ("1171 Henry II"), or adds a title word only ("Dame
    Laura Knight")."""
    for s in spans:
        if s.origin == "noun" or s.numeric:
            continue
        for c in cands:
            if c.origin not in ("caps", "propn", "quoted", "title", "title+") or _known(c) \
                    or not (c.start <= s.start and s.end <= c.end) or len(c.key.split()) <= len(s.key.split()):
                continue
            words = c.text.split()
            rest = (c.text[:s.start - c.start] + " " + c.text[s.end - c.start:]).split()
            if words[0][:1].isdigit() or words[-1][:1].isdigit() or _POSSESSIVE.search(c.text) \
                    or all(w.lower().rstrip(".") in HONORIFICS for w in rest) \
                    or any(t is not s and c.start <= t.start and t.end <= c.end for t in spans):
                continue
            s.part_of = c.text
            break
