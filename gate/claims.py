"""Claims: which spans of a question and of a free-form answer carry the answer's claim.

A real LLM answer is rarely a bare entity: "The voice of Basil Brush was provided by Ivor Dean." restates the
question, then asserts one thing. Checking every entity against every other checks mostly the restatement, side
remarks and generic words ("TV", "Greek", "human body"). This module turns a parsed question and a parsed answer
into the question's *topics* (the entities the question is about) and the answer's *values* (what it asserts):

1. **Question form** (:func:`question_form`): who / when / where / how many / which-X, from the question's words.
   It says which kind of value answers it (a person, a date, a place, a number, a named thing).
2. **Candidates** (:func:`candidates`): spaCy NER spans, runs of proper nouns, quoted titles, a title named after
   "the song / film / novel ...", and the spans the index itself matched (its gazetteer or n-gram lookup). Where
   they overlap, an explicit title beats a name the index knows, which beats a longer unknown name, which beats a
   fragment: "Ivor Dean" stays one (unknown) name instead of the known "Ivor" and "Dean".
3. **Generic terms** (:func:`generic_reason`): demonyms and languages used as adjectives, lower-case common nouns
   in cased text, spans without a real word, and entities in a large share of the corpus's documents. A generic
   span is dropped only when something more specific remains.
4. **Answer span**: hedging sentences ("As an AI...", "I'm not sure") are dropped; the claim sentence is the first
   remaining one that adds a candidate of the expected kind; candidates that restate the question are not claims.
5. **Lists**: every item of the claim sentence that fits the question form is a value; without the step, only
   the first.

Everything here is a pure function of spaCy ``Doc`` objects and of index statistics passed in as a
:class:`Lexicon` (``assess`` adapts its :class:`~quco.cooccur.index.Index` to it), so the steps are testable on
hand-written answers and each can be switched off (:class:`ClaimSteps`) for the ablation in
``bench/ablate_claims.py``.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from quco.cooccur.normalize import key_tokens

NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW",
                         "LANGUAGE"})
VALUE_LABELS = frozenset({"DATE", "TIME", "CARDINAL", "QUANTITY", "MONEY", "PERCENT"})
FORMS = ("person", "place", "date", "number", "entity", "other")
_FITS: dict[str, frozenset[str]] = {
    "person": frozenset({"PERSON", "ORG", "NORP", ""}),
    "place": frozenset({"GPE", "LOC", "FAC", "ORG", ""}),
    "date": frozenset({"DATE", "TIME", "YEAR"}),
    "number": frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "DATE", "TIME", "YEAR"}),
    "entity": NAME_LABELS | {""},
    "other": NAME_LABELS | VALUE_LABELS | {"", "YEAR"},
}
_PERSON_NOUNS = ("person|man|woman|men|women|king|queen|actor|actress|singer|composer|author|writer|poet|painter|"
                 "artist|player|footballer|manager|president|prime minister|leader|scientist|inventor|explorer|"
                 "character|band|group|duo|director|presenter|musician|comedian|architect|emperor|pope|chancellor|"
                 "wife|husband|son|daughter|mother|father|brother|sister|boxer|golfer|jockey|horse|apostle|saint|"
                 "god|goddess|novelist|philosopher|sculptor|designer|rapper|performer|drummer|guitarist|vocalist")
_PLACE_NOUNS = ("country|city|town|county|state|island|islands|river|continent|capital|place|region|province|"
                "mountain|lake|sea|ocean|port|village|nation|district|desert|stadium|ground|venue|airport|bay|"
                "peninsula|street|building|palace|castle|church|cathedral|university|college|kingdom|republic")
_FORM_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"\bwhen\b|\b(?:what|which|in what|in which) (?:year|date|century|decade|month|day|era)\b"
                        r"|\bhow long ago\b", re.I)),
    ("number", re.compile(r"\bhow (?:many|much|long|old|far|tall|big|high|deep|fast|heavy|wide)\b|^(?:the )?number of\b"
                          r"|\bwhat (?:number|percentage|percent|age|height|length|distance|speed|score)\b", re.I)),
    ("place", re.compile(rf"\bwhere\b|\b(?:what|which|in what|in which|name the) (?:\w+ )?(?:{_PLACE_NOUNS})\b",
                         re.I)),
    ("person", re.compile(rf"\bwho(?:m|se)?\b|\b(?:what|which|name the) (?:\w+ )?(?:{_PERSON_NOUNS})\b", re.I)),
    ("entity", re.compile(r"\b(?:what|which|name)\b", re.I)),
)
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
_HEDGE = re.compile(
    r"\b(?:I'?m sorry|I am sorry|as an AI|AI language model|I (?:do not|don't|cannot|can't|couldn't|could not|"
    r"am unable to|was unable to) (?:have|know|find|determine|provide|say|be sure|verify|access|browse)|"
    r"I'?m not (?:entirely |completely |100% )?sure|I am not (?:entirely |completely )?sure|not (?:entirely )?certain|"
    r"(?:it is|it's) (?:unclear|not clear|difficult to|hard to|not possible|impossible to)|there (?:is|are) "
    r"(?:no|not enough) (?:information|record|records|evidence|data|reliable)|my (?:knowledge|training)|"
    r"knowledge cutoff|as of (?:my|the time)|I would need|please (?:provide|clarify|specify)|could you (?:please )?"
    r"(?:provide|clarify|specify)|(?:it|this) depends on|more context|I (?:think|believe) you (?:mean|are referring))",
    re.I)
_HONORIFICS = frozenset("""sir dame lord lady king queen prince princess saint st dr mr mrs ms miss president
representative senator general captain admiral marshal field pope emperor empress sultan sheikh reverend rev
professor prof judge justice chancellor governor mayor colonel major lieutenant sergeant""".split())
_FOOTNOTE = re.compile(r"(?<=[a-z)\]\"'\u201d])\d{1,2}(?=[\s.,;:!?)]|$)|^[ \t]*(?:\d{1,2}[.)]|[-*\u2022])(?=\s)",
                       re.M)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")


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


@dataclass(frozen=True)
class ClaimSteps:
    """Switches of the claim steps (all on by default; the ablation turns them off one at a time).

    ``generic_share``: an entity mentioned in more than this share of the corpus's documents is generic.
    ``max_sentences``: how many answer sentences are read at most (the claim is nearly always in the first few).
    """

    question_form: bool = True
    generic_filter: bool = True
    answer_span: bool = True
    hedges: bool = True
    lists: bool = True
    generic_share: float = 0.03
    max_sentences: int = 4


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

    @property
    def numeric(self) -> bool:
        return self.label in VALUE_LABELS or self.label == "YEAR"


@dataclass
class Claims:
    """The question's topics and the answer's values; ``dropped`` says what was left out and why."""

    form: str
    topics: list[Span]
    values: list[Span]
    sentence: tuple[int, int] | None = None  # char span of the claim sentence in the answer
    is_list: bool = False
    hedged: bool = False
    dropped: list[Span] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def d(s: Span) -> dict[str, Any]:
            return {"text": s.text, "label": s.label, "freq": s.freq, **({"reason": s.reason} if s.reason else {})}

        return {"form": self.form, "topics": [d(s) for s in self.topics], "values": [d(s) for s in self.values],
                "is_list": self.is_list, "hedged": self.hedged, "dropped": [d(s) for s in self.dropped]}


# ---- question form -------------------------------------------------------------------------------------------------
def question_form(question: str) -> str:
    """``person`` | ``place`` | ``date`` | ``number`` | ``entity`` | ``other``: the kind of value that answers it."""
    for form, rx in _FORM_RULES:
        if rx.search(question):
            return form
    return "other"


def fits(span: Span, form: str) -> bool:
    """Whether ``span`` is the kind of value a question of ``form`` asks for."""
    label = span.label if span.label in NAME_LABELS or span.numeric else ""
    return label in _FITS[form]


# ---- candidates ----------------------------------------------------------------------------------------------------
def clean_answer(text: str) -> str:
    """``text`` with footnote digits glued to words ("Il trovatore1." -> "Il trovatore .") and list markers at the
    start of a line ("1. ", "- ") blanked: same length, so character offsets stay valid."""
    return _FOOTNOTE.sub(lambda m: " " * len(m.group()), text)


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

    def __init__(self, t: Any):
        self.text, self.lower, self.idx = t.text, t.lower_, t.idx
        self.end = t.idx + len(t.text)
        self.pos, self.tag, self.punct, self.space, self.stop = t.pos_, t.tag_, t.is_punct, t.is_space, t.is_stop


class _View:
    """A parsed text: its string and its tokens (:class:`_Tok`), made once per Doc."""

    __slots__ = ("text", "toks", "starts", "ents")

    def __init__(self, doc: Any):
        self.text = doc.text
        self.toks = [_Tok(t) for t in doc]
        self.starts = [t.idx for t in self.toks]
        self.ents = [(e.start, e.end, e.label_) for e in doc.ents]


def _view(doc: Any) -> _View:
    v = doc.user_data.get("quco_view")
    if v is None:
        v = doc.user_data["quco_view"] = _View(doc)
    return v


def _trim(v: _View, i: int, j: int) -> tuple[int, int]:
    """Token range [i, j) without leading determiners/punctuation and a trailing possessive or punctuation."""
    t = v.toks
    while i < j and (t[i].punct or t[i].lower in ("the", "a", "an") or t[i].space
                     or (t[i].lower.rstrip(".") in _HONORIFICS and j - i > 1 and t[i + 1].pos == "PROPN")):
        i += 1  # "the", and a title before a name: "Sir Paul McCartney" is Paul McCartney
    for k in range(i, j):  # "The Two Towers (2002": a bracket the span does not close ends it
        if t[k].text == "(" and not any(t[m].text == ")" for m in range(k, j)):
            j = k
            break
    while j > i and (t[j - 1].punct or t[j - 1].tag == "POS" or t[j - 1].space):
        j -= 1
    return i, j


def _span(v: _View, i: int, j: int, label: str, origin: str) -> Span | None:
    i, j = _trim(v, i, j)
    if i >= j:
        return None
    s, e = v.toks[i].idx, v.toks[j - 1].end
    text = v.text[s:e]
    return Span(text, s, e, label, origin, cased=any(c.isupper() or c.isdigit() for c in text))


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
            if k == 0 and not first:
                break
            if first or word.lower() in _TITLE_SMALL:
                end = m.end() + w.end()
                if w.group().endswith((".", ";", ":")) and k + 1 < len(words):
                    break
                continue
            break
        if end is not None:
            sp = _char_span(v, m.end(), end, "WORK_OF_ART", "title")
            if sp is not None:
                out.append(sp)
    return out


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


def candidates(doc: Any, index_spans: Sequence[tuple[int, int, str]] = ()) -> list[Span]:
    """Every candidate span of ``doc`` (overlapping ones included): NER, proper-noun runs, quoted titles, titles
    after a work noun, and ``index_spans`` ((start, end, label) char spans the index matched)."""
    v = _view(doc)
    out: list[Span] = []
    for i, j, label in v.ents:
        if label in NAME_LABELS or label in VALUE_LABELS:
            sp = _span(v, i, j, label, "ner")
            if sp is not None:
                out.append(sp)
    out += _propn_runs(v)
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
    for s, t, label in index_spans:
        sp = _char_span(v, s, t, label if label in NAME_LABELS else "", "index")
        if sp is not None:
            out.append(sp)
    for sp in out:
        if sp.label == "DATE" and _YEAR.fullmatch(sp.text.strip()):
            sp.label = "YEAR"
    return out


_EXPLICIT = ("answer", "title", "quoted")
_ORIGIN_ORDER = {"ner": 0, "index": 1, "propn": 2, "noun": 3}


def _known(s: Span) -> bool:
    return s.freq > 0 and s.kind != "absent"


def resolve(cands: list[Span]) -> list[Span]:
    """Non-overlapping spans, in text order. An explicit title (or the whole short answer) wins; otherwise the
    longer span, except that an unknown span gives way to a known one inside it holding more than half its words
    ("iHeartRadio Music Awards" in "the 2021 iHeartRadio Music Awards"). So an unknown full name is kept whole
    rather than split into known fragments ("Ivor Dean", not "Ivor" and "Dean")."""
    def words(s: Span) -> int:
        return len(s.key.split()) or 1

    pool = []
    for s in cands:
        if s.origin == "noun" and not (_known(s) and s.kind == "entity"):
            continue  # a common noun counts only as an entity of the index (a title), not as any phrase
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


def annotate(spans: list[Span], lexicon: Lexicon) -> list[Span]:
    """Fill ``key``, ``freq``, ``titled`` and ``kind`` of each span from the index (one batched lookup)."""
    for s in spans:
        s.key = " ".join(key_tokens(s.text))
    todo = [s for s in spans if s.key]
    for s, st in zip(todo, lexicon.stats([s.text for s in todo]) if todo else []):
        s.freq, s.titled, s.kind = st.freq, st.titled, st.kind
    return [s for s in spans if s.key]


# ---- generic terms --------------------------------------------------------------------------------------------------
def generic_reason(span: Span, doc: Any, n_documents: int, steps: ClaimSteps, cased_text: bool,
                   by_share: bool = True) -> str:
    """Why ``span`` is too generic to carry a claim ("" when it is not). ``by_share``: also when the corpus
    mentions it in more than ``steps.generic_share`` of its documents (for topics; a frequent answer value such
    as "China" is still a claim)."""
    words = [w for w in span.key.split() if len(w) > 1 or w.isdigit()]
    if not words:
        return "no word"
    if span.numeric:
        return ""
    if span.origin in ("title", "quoted"):
        return ""
    v = _view(doc)
    lo, hi = bisect.bisect_left(v.starts, span.start), bisect.bisect_left(v.starts, span.end)
    toks = [t for t in v.toks[lo:hi] if not t.punct]
    if len(toks) == 1 and (span.label in ("NORP", "LANGUAGE") or toks[0].pos == "ADJ"):
        return "adjective or demonym"
    if all(t.stop for t in toks):
        return "stop words"
    if span.origin == "noun":
        return "common noun"
    if len(toks) == 1 and toks[0].lower.rstrip(".") in _HONORIFICS:
        return "title word"
    if cased_text and not span.cased:
        return "common noun"
    if by_share and n_documents and span.freq > steps.generic_share * n_documents:
        return f"in {span.freq / n_documents:.0%} of the documents"
    return ""


def _drop_generic(spans: list[Span], doc: Any, lexicon: Lexicon, steps: ClaimSteps, cased: bool,
                  dropped: list[Span], by_share: bool = True) -> list[Span]:
    if not steps.generic_filter:
        return spans
    for s in spans:
        s.reason = generic_reason(s, doc, lexicon.n_documents, steps, cased, by_share)
    keep = [s for s in spans if not s.reason]
    if not keep:  # nothing specific: the generic ones are all there is (but never a span without a word)
        keep = [s for s in spans if s.reason not in ("no word", "stop words")]
        for s in keep:
            s.reason = ""
    dropped += [s for s in spans if s.reason]
    return keep


def _is_cased(text: str) -> bool:
    """Whether the text uses capitals the normal way (not an all-lower-case search query)."""
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) >= 1 and not text.isupper()


# ---- the steps ---------------------------------------------------------------------------------------------------
def topics(qdoc: Any, lexicon: Lexicon, steps: ClaimSteps = ClaimSteps(),
           index_spans: Sequence[tuple[int, int, str]] = (), dropped: list[Span] | None = None) -> list[Span]:
    """The question's topic entities: its named candidates (no dates or numbers), generic ones dropped."""
    dropped = [] if dropped is None else dropped
    spans = resolve(annotate(candidates(qdoc, index_spans), lexicon))
    names = [s for s in spans if not s.numeric]
    return _drop_generic(names, qdoc, lexicon, steps, _is_cased(_view(qdoc).text), dropped)


def _content(text: str) -> set[str]:
    return {w for w in key_tokens(text) if len(w) > 2 or w.isdigit()}


def restates(span: Span, q_keys: set[str], q_words: set[str]) -> bool:
    """Whether an answer span only repeats the question (same key, or all its words are the question's)."""
    if span.key in q_keys:
        return True
    words = _content(span.text)
    return bool(words) and words <= q_words


_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|Ft|No|vs|Vol|Gen|Col|Capt|Lt|Sgt|Rev|Prof|Inc|Ltd|Co|"
                     r"Corp|Bros|approx|ca|c|e\.g|i\.e|U\.S|U\.K)|\b[A-Z])\.$")
_SPLIT = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) char spans of the sentences of ``text``: ., ! or ? then white space, or a line break; never
    after an initial or a common abbreviation ("J. R. R. Tolkien", "Mr. Chips", "St. Louis")."""
    out, start = [], 0
    for m in _SPLIT.finditer(text):
        if m.group()[0] == "." and _ABBREV.search(text[max(start, m.start() - 8):m.start() + 1]):
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


def _sentence_values(doc: Any, offset: int, question: str, q_keys: set[str], q_words: set[str], form: str,
                     lexicon: Lexicon, steps: ClaimSteps, index_spans: Sequence[tuple[int, int, str]],
                     whole: Span | None, dropped: list[Span]) -> tuple[list[Span], list[Span]]:
    """(new candidates, those of the expected kind) of one answer sentence ``doc`` starting at ``offset``."""
    end = offset + len(_view(doc).text)
    local = [(a - offset, b - offset, lab) for a, b, lab in index_spans if offset <= a and b <= end]
    cands = candidates(doc, local)
    if whole is not None and offset <= whole.start and whole.end <= end:
        cands.append(replace(whole, start=whole.start - offset, end=whole.end - offset))
    new = []
    for s in resolve(annotate(cands, lexicon)):
        if (restates(s, q_keys, q_words) if steps.answer_span else s.key in q_keys):
            s.reason = "restates the question"
            dropped.append(s)
        else:
            new.append(s)
    typed = [s for s in new if fits(s, form)] if steps.question_form else new
    keep = _drop_generic(typed or new, doc, lexicon, steps, True, dropped, by_share=False)
    for s in keep:
        s.start, s.end = s.start + offset, s.end + offset
    return (keep if not typed else []), (keep if typed else [])


_JOINER = re.compile(r"\band\b|\bor\b|&|\n|;", re.I)


def is_list(values: list[Span], text: str) -> bool:
    """Whether the values are list items, each a claim of its own ("Warsaw and Ulm", "A, B, C", one a line),
    rather than one value named in parts ("Ulm, Germany": two values joined by a comma only)."""
    if len(values) < 2:
        return False
    if len(values) > 2:
        return True
    between = text[values[0].end:values[1].start] if text else ""
    return bool(_JOINER.search(between))


def answer_values(sentences: Iterable[tuple[int, Any]], question: str, topic_spans: list[Span], form: str,
                  lexicon: Lexicon, steps: ClaimSteps = ClaimSteps(),
                  index_spans: Sequence[tuple[int, int, str]] = (), whole: Span | None = None) -> Claims:
    """The values the answer asserts: from its claim sentence, new to the question, of the expected kind.

    ``sentences``: (char offset, parsed Doc) of the answer's sentences, in order; read lazily, so the parsing can
    stop at the claim sentence. ``whole``: the whole (short) answer as one span, when the index knows it.
    """
    dropped: list[Span] = []
    claims = Claims(form, topic_spans, [], dropped=dropped)
    q_keys = {s.key for s in topic_spans} | {" ".join(key_tokens(question))}
    q_words = _content(question)
    fallback: tuple[tuple[int, int], list[Span]] | None = None
    collected: list[Span] = []
    answer_text = ""
    for k, (offset, doc) in enumerate(sentences):
        if k >= steps.max_sentences:
            break
        text = _view(doc).text
        answer_text = answer_text.ljust(offset) + text
        hedge = bool(_HEDGE.search(text))
        claims.hedged = claims.hedged or hedge
        if steps.hedges and hedge:
            continue
        untyped, typed = _sentence_values(doc, offset, question, q_keys, q_words, form, lexicon, steps,
                                          index_spans, whole, dropped)
        if not steps.answer_span:  # every new candidate of every sentence read
            collected += typed if steps.question_form else typed + untyped
            continue
        if typed:
            claims.sentence, claims.values = (offset, offset + len(text)), typed
            break
        if untyped and fallback is None:  # nothing of the expected kind yet: the first new thing said
            fallback = ((offset, offset + len(text)), untyped)
    if not steps.answer_span:
        claims.values = collected
    elif not claims.values and fallback is not None:
        claims.sentence, claims.values = fallback
    claims.is_list = is_list(claims.values, answer_text)
    if len(claims.values) > 1 and not steps.lists:
        dropped += claims.values[1:]
        claims.values = claims.values[:1]
    return claims


def extract_claims(qdoc: Any, sentences: Iterable[tuple[int, Any]] | None, lexicon: Lexicon,
                   steps: ClaimSteps = ClaimSteps(), q_index_spans: Sequence[tuple[int, int, str]] = (),
                   a_index_spans: Sequence[tuple[int, int, str]] = (), whole: Span | None = None) -> Claims:
    """Topics of the question ``qdoc`` and, when the answer's ``sentences`` ((offset, Doc) pairs) are given, the
    values the answer asserts."""
    form = question_form(_view(qdoc).text) if steps.question_form else "other"
    dropped: list[Span] = []
    tops = topics(qdoc, lexicon, steps, q_index_spans, dropped)
    if sentences is None:
        return Claims(form, tops, [], dropped=dropped)
    c = answer_values(sentences, _view(qdoc).text, tops, form, lexicon, steps, a_index_spans, whole)
    c.dropped = dropped + c.dropped
    return c
