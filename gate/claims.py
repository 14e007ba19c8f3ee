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
   remaining one that adds a candidate of the form's first-choice kind (a person for "who", a count for "how
   many"), else of any fitting kind; candidates that restate the question are not claims, nor are names that
   complete the question's words ("Big Enos Burdette" for "who played big enos").
5. **Lists**: every item of the claim sentence that fits the question form is a value; without the step, only
   the first.
6. **Topics, refined**: a name the answer restates from a lower-case question becomes its topic ("A Change Is
   Gonna Come"), a topic inside another topic's name is dropped ("harry" beside "harry potter"), and a question
   naming nothing keeps its rarest common noun.

Each refinement of 4 and 6 moved AUROC on the dev files by at most ~0.006 alone (``bench/ablate_claims.py``,
docs/eval.md); they are kept because they are neutral or better on every file and make the reports' pairs the
claim's.

Candidate spans, sentence splitting and text cleaning live in :mod:`quco.gate.claim_spans`. Everything here is a
pure function of spaCy ``Doc`` objects and of index statistics passed in as a
:class:`Lexicon` (``assess`` adapts its :class:`~quco.cooccur.index.Index` to it), so the steps are testable on
hand-written answers and each can be switched off (:class:`ClaimSteps`) for the ablation in
``bench/ablate_claims.py``.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from quco.cooccur.normalize import key_tokens, tokenize_py
from quco.gate.claim_sentences import split_sentences
from quco.gate.claim_spans import (HONORIFICS, NAME_LABELS, VALUE_LABELS, YEAR, Lexicon, Span, TermStats, annotate,
                                   candidates, clean_answer, clean_question, mark_parts, resolve, view)

__all__ = ["ClaimSteps", "Claims", "Lexicon", "Span", "TermStats", "clean_answer", "clean_question", "extract_claims",
           "fits", "generic_reason", "is_list", "question_form", "restates", "split_sentences", "topics",
           "answer_values"]

FORMS = ("person", "place", "date", "number", "entity", "other")
_FITS: dict[str, frozenset[str]] = {
    "person": frozenset({"PERSON", "ORG", "NORP", ""}),
    "place": frozenset({"GPE", "LOC", "FAC", "ORG", ""}),
    "date": frozenset({"DATE", "TIME", "YEAR"}),
    "number": frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "DATE", "TIME", "YEAR"}),
    "entity": NAME_LABELS | {""},
    "other": NAME_LABELS | VALUE_LABELS | {"", "YEAR"},
}
# the labels that answer a form first: a person before an organization, a count before a date
_PRIMARY: dict[str, frozenset[str]] = {
    "person": frozenset({"PERSON"}),
    "place": frozenset({"GPE", "LOC", "FAC"}),
    "date": frozenset({"DATE", "TIME", "YEAR"}),
    "number": frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}),
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

_HEDGE = re.compile(
    r"(?:^|(?<=\s))'m sorry|"  # a clipped "I'm sorry" (Bing answers lose their first character)
    r"\b(?:I'?m sorry|I am sorry|as an AI|AI language model|I (?:do not|don't|cannot|can't|couldn't|could not|"
    r"am unable to|was unable to) (?:have|know|find|determine|provide|say|be sure|verify|access|browse)|"
    r"I'?m not (?:entirely |completely |100% )?sure|I am not (?:entirely |completely )?sure|"
    r"not (?:entirely )?certain|"
    r"(?:it is|it's) (?:unclear|not clear|difficult to|hard to|not possible|impossible to)|there (?:is|are) "
    r"(?:no|not enough) (?:information|record|records|evidence|data|reliable)|my (?:knowledge|training)|"
    r"knowledge cutoff|as of (?:my|the time)|I would need|you(?:'d| would) need to (?:specify|provide|clarify)|"
    r"please (?:provide|clarify|specify)|could you (?:please )?"
    r"(?:provide|clarify|specify)|(?:it|this) depends on|more context|I (?:think|believe) you (?:mean|are referring))",
    re.I)

@dataclass(frozen=True)
class ClaimSteps:
    """Switches of the claim steps (all on by default; the ablation turns them off one at a time).

    ``generic_share``: an entity mentioned in more than this share of the corpus's documents is generic.
    ``max_sentences``: how many answer sentences are read at most (the claim is nearly always in the first few).
    ``noun_topics``: a question with nothing named takes its common nouns that the corpus has as topics ("who
    developed the geocentric view"); without it only those that are entities (titles) of the index.
    ``partial_restate``: an answer name that starts with two or more of the question's words and completes them
    ("Big Enos Burdette" for "who played big enos") restates the question (:func:`restates`).
    ``answer_topics``: a name the answer restates from the question, written as one name there ("A Change Is
    Gonna Come" for "who produced a change is gonna come"), becomes the question's topic in place of the topics it
    holds ("change", "come"): a lower-case search query's names are found where the answer capitalizes them.
    ``primary_kind``: the claim sentence is the first with a value of the form's first-choice kind (who: a
    person; where: a place; when: a date; how many: a count), else the first with any fitting value; its values
    are those of that kind and the names spaCy did not label ("Ulm" in "Ulm, Poland").
    ``ner_forms``: the question forms whose answers are parsed with spaCy's entity recognizer (its labels tell a
    person from a place); the others' values are names (proper-noun runs, index matches, titles) and dates and
    numbers found by patterns (read by :mod:`quco.gate.claim_entities`; the question is always parsed without
    it). None by default: NER was ~60 % of the parse time (the small model runs a second token encoder inside
    it) and bought nothing measurable on the dev files (passage weight 0, AUROC on checked rows, NER for every
    form / for person and place / for none: TriviaQA 0.644 / 0.646 / 0.645, NQ 0.588 / 0.588 / 0.586, songs
    - / 0.816 / 0.815, EntityQuestions first 1,500 known+sparse - / 0.804 / 0.807).
    ``max_noun_topics``: a question that names nothing keeps at most this many common-noun topics, the rarest (0:
    all). With many ("mass", "gas", "pressure", "volume"), one of them meets any answer value somewhere. Passage
    weight 0, AUROC on checked rows for 1 / 2 / 3 / all: TriviaQA 0.647 / 0.643 / 0.646 / 0.646, NQ 0.594 /
    0.589 / 0.588 / 0.588.
    ``query_noun_share``: with ``noun_topics`` off, a lower-case question (a search query, which cannot mark its
    names with capitals) that names nothing still takes a common noun the corpus has in at most this share of its
    documents ("apoptosis", "fluoride"); 0 turns it off. A cased question that names nothing stays uncheckable.
    ``headings``: an answer that opens with a heading restating the question ("Men's Single Ice Skating 2018
    Winner: Yuzuru Hanyu") claims nothing in it. Neutral on the dev files (TriviaQA 0.648, NQ 0.595 either way).
    ``unknown_titles``: a question's run of capitalized words only that the corpus lacks ("Stacey B. Day") is its
    topic, unknown to the corpus, not split into known fragments ("B. Day"); a run joined by lower-case words or a
    possessive ("Moscow to the Caspian Sea") counts only when the corpus has it whole. EntityQuestions known 0.773
    -> 0.783, realqa unchanged; with lower-case words too, TriviaQA's gate fell under its target (docs/eval.md).
    ``part_topics``: a topic read inside a longer run of names the corpus lacks ("Dream" in "Dream with
    Me") says so (``part_of``, :func:`~quco.gate.claim_spans.mark_parts`): the question's coverage is then
    at most ``sparse``. EntityQuestions known 0.798 -> 0.812 (on 14.1 -> 13.1 % of the rows), realqa unchanged.
    """

    question_form: bool = True
    generic_filter: bool = True
    answer_span: bool = True
    hedges: bool = True
    lists: bool = True
    generic_share: float = 0.03
    max_sentences: int = 4
    noun_topics: bool = True
    partial_restate: bool = True
    answer_topics: bool = True
    primary_kind: bool = True
    ner_forms: tuple[str, ...] = ()
    max_noun_topics: int = 1
    headings: bool = True
    query_noun_share: float = 0.004
    unknown_titles: bool = True
    part_topics: bool = True


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
    """``person`` | ``place`` | ``date`` | ``number`` | ``entity`` | ``other``: the kind of value that answers it.

    The earliest specific cue decides (who / when / where / how many / which-X), so that a title later in the
    question does not ("Who recorded the When Harry Met Sally soundtrack?" is a person); a bare what / which /
    name is the fallback."""
    best: tuple[int, int, str] | None = None
    for rank, (form, rx) in enumerate(_FORM_RULES[:-1]):
        m = rx.search(question)
        if m and (best is None or (m.start(), rank) < best[:2]):
            best = (m.start(), rank, form)
    if best is not None:
        return best[2]
    return "entity" if _FORM_RULES[-1][1].search(question) else "other"


def fits(span: Span, form: str) -> bool:
    """Whether ``span`` is the kind of value a question of ``form`` asks for."""
    label = span.label if span.label in NAME_LABELS or span.numeric else ""
    return label in _FITS[form]


# ---- candidates ----------------------------------------------------------------------------------------------------

# ---- generic terms --------------------------------------------------------------------------------------------------
def generic_reason(span: Span, doc: Any, n_documents: int, steps: ClaimSteps, cased_text: bool,
                   by_share: bool = True) -> str:
    """Why ``span`` is too generic to carry a claim ("" when it is not). ``by_share``: also when the corpus
    mentions it in more than ``steps.generic_share`` of its documents (for topics; a frequent answer value such
    as "China" is still a claim). A whole short answer that is an initialism is a word ("R.E.M.": songs 0.844 ->
    0.846); elsewhere one is mostly a modifier or an era ("the U.S. flag": TriviaQA 0.716 -> 0.714; "430 B.C.")."""
    words = [w for w in span.key.split() if len(w) > 1 or w.isdigit()]
    if not words and (span.origin != "answer" or not _INITIALISM.fullmatch(span.text.replace(" ", ""))):
        return "no word"
    if span.numeric:
        return ""
    if span.origin in ("title", "title+", "quoted"):
        return ""
    v = view(doc)
    lo, hi = bisect.bisect_left(v.starts, span.start), bisect.bisect_left(v.starts, span.end)
    toks = [t for t in v.toks[lo:hi] if not t.punct]
    if len(toks) == 1 and (span.label in ("NORP", "LANGUAGE") or toks[0].pos == "ADJ"):
        return "adjective or demonym"
    if all(t.stop for t in toks):
        return "stop words"
    if span.origin == "noun":
        return "common noun"
    if len(toks) == 1 and toks[0].lower.rstrip(".") in HONORIFICS:
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
    if not keep:  # nothing specific: the generic ones are all there is (never a span without a word), the least
        usable = [s for s in spans if s.reason not in ("no word", "stop words")]  # frequent first
        keep = [s for s in usable if "documents" not in s.reason] or usable
        for s in keep:
            s.reason = ""
    dropped += [s for s in spans if s.reason]
    return keep


_INITIALISM = re.compile(r"(?:[^\W\d_]\.){2,}[^\W\d_]?\.?")  # "R.E.M." (spaces removed)


def _is_cased(text: str) -> bool:
    """Whether the text uses capitals the normal way (not an all-lower-case search query)."""
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) >= 1 and not text.isupper()


# ---- the steps ---------------------------------------------------------------------------------------------------
def topics(qdoc: Any, lexicon: Lexicon, steps: ClaimSteps = ClaimSteps(),
           index_spans: Sequence[tuple[int, int, str]] = (), dropped: list[Span] | None = None) -> list[Span]:
    """The question's topic entities: its named candidates (no dates or numbers), generic ones dropped."""
    dropped = [] if dropped is None else dropped
    cased = _is_cased(view(qdoc).text)
    # a lower-case question (a search query) cannot mark its names with capitals: its rare common nouns stand in
    query_nouns = not steps.noun_topics and not cased and steps.query_noun_share > 0
    # a question's common nouns may be any phrase the corpus has ("the geocentric view"): only a fallback topic
    cands = annotate(candidates(qdoc, index_spans, caps=True), lexicon)
    spans = resolve(cands, noun_phrases=steps.noun_topics or query_nouns, unknown_caps=steps.unknown_titles)
    if steps.part_topics:
        mark_parts(spans, cands)
    # not the question word itself ("how long" is an index phrase), but a title may start with one ("What You Need")
    names = [s for s in spans if not s.numeric and not (s.key.split()[0] in _WH and s.text[:1].islower())]
    if query_nouns:
        cap = steps.query_noun_share * max(lexicon.n_documents, 1)
        for s in names:
            if s.origin == "noun" and s.kind != "entity" and s.freq > cap:
                s.reason = f"a common noun of a lower-case question in more than {steps.query_noun_share:.1%} of " \
                           "the documents"
        dropped += [s for s in names if s.reason]
        names = [s for s in names if not s.reason]
    keep = _drop_generic(names, qdoc, lexicon, steps, cased, dropped)
    for s in keep:  # "harry" beside "harry potter" ("who plays harry's mom in harry potter"): part of a topic
        if any(t is not s and set(s.key.split()) < set(t.key.split()) for t in keep):
            s.reason = "a part of another topic's name"
    dropped += [s for s in keep if s.reason]
    keep = [s for s in keep if not s.reason]
    if steps.max_noun_topics and len(keep) > steps.max_noun_topics and all(s.origin == "noun" for s in keep):
        # nothing named: the rarest common nouns are the topic ("boyle's law" question: "constant temperature",
        # not "mass", "product", "volume"); with many, one of them meets any answer value somewhere
        rare = sorted(keep, key=lambda s: s.freq)[:steps.max_noun_topics]
        for s in keep:
            if s not in rare:
                s.reason = "a more common noun than the question's rarest"
                dropped.append(s)
        keep = [s for s in keep if s in rare]
    return keep


def _plain(word: str) -> str:
    """``word`` without accents ("frédéric" -> "frederic"): an answer often spells a name better than its question."""
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _content(text: str) -> set[str]:
    return {_plain(w) for w in key_tokens(text) if len(w) > 2 or w.isdigit()}


def restates(span: Span, q_keys: set[str], q_words: set[str], partial: bool = False) -> bool:
    """Whether an answer span only repeats the question (same key, or all its words are the question's).

    ``partial``: also a name that starts with the question's words and completes them ("Big Enos Burdette" for
    "who played big enos", "Red Hot Chili Peppers" for "...founded the Red Hot Peppers"): the answer restating
    the question's subject, not its value. A name that only shares a later word ("Ziggy Marley" for "the son of
    Bob Marley") or starts with a number ("1948 Summer Olympics") is still a value."""
    if span.key in q_keys or _plain(span.key) in q_keys:
        return True
    words = _content(span.text)
    if bool(words) and words <= q_words:
        return True
    if not partial or span.numeric:
        return False
    order = [w for w in map(_plain, span.key.split()) if w in words]
    shared = [w for w in order if w in q_words]
    return len(order) > 1 and order[0] in q_words and not order[0].isdigit() and len(shared) >= 2


def _sentence_values(doc: Any, offset: int, question: str, q_keys: set[str], q_words: set[str], form: str,
                     lexicon: Lexicon, steps: ClaimSteps, index_spans: Sequence[tuple[int, int, str]],
                     whole: Span | None, dropped: list[Span]) -> tuple[list[Span], list[Span]]:
    """(new candidates, those of the expected kind) of one answer sentence ``doc`` starting at ``offset``."""
    end = offset + len(view(doc).text)
    local = [(a - offset, b - offset, lab) for a, b, lab in index_spans if offset <= a and b <= end]
    cands = candidates(doc, local)
    if whole is not None and offset <= whole.start and whole.end <= end:
        cands.append(replace(whole, start=whole.start - offset, end=whole.end - offset))
    new = []
    spans = resolve(annotate(cands, lexicon, noun_phrases=False))
    if steps.question_form and form == "date":  # a full date is rarely written the same way twice: its year
        spans = _years(spans, lexicon)
    head = _heading_end(view(doc).text, q_words) if steps.answer_span and steps.headings else 0
    for s in spans:
        if s.end <= head:
            s.reason = "restates the question (a heading)"
            dropped.append(s)
        elif (restates(s, q_keys, q_words, steps.partial_restate) if steps.answer_span else s.key in q_keys):
            s.reason = "restates the question"
            dropped.append(s)
        else:
            new.append(s)
    typed = [s for s in new if fits(s, form)] if steps.question_form else new
    keep = _drop_generic(typed or new, doc, lexicon, steps, True, dropped, by_share=False)
    for s in keep:
        s.start, s.end = s.start + offset, s.end + offset
    return (keep if not typed else []), (keep if typed else [])


_HEADING = re.compile(r"[^:\n]{3,100}?:(?=\s)")


def _heading_end(text: str, q_words: set[str]) -> int:
    """Where a heading that restates the question ends ("Men's Single Ice Skating 2018 Winner: Yuzuru Hanyu"):
    the text before a first colon, at least half of whose words are the question's; 0 without one."""
    m = _HEADING.match(text)
    if m is None:
        return 0
    words = _content(m.group())
    return m.end() if words and 2 * len(words & q_words) >= len(words) else 0


def _years(spans: list[Span], lexicon: Lexicon) -> list[Span]:
    """``spans`` with each date or name that holds a year ("September 28, 2017", "the 1948 Summer Olympics")
    replaced by that year ("2017", "1948"): a "when" question's claim is the year (neutral on the dev files)."""
    out, years = [], []
    for s in spans:
        m = YEAR.search(s.text) if s.label == "DATE" or not s.numeric else None
        if m:
            y = Span(m.group(1), s.start + m.start(1), s.start + m.end(1), "YEAR", s.origin, m.group(1))
            years.append(y)
            out.append(y)
        else:
            out.append(s)
    for y, st in zip(years, lexicon.stats([y.text for y in years]) if years else []):
        y.freq, y.titled, y.kind = st.freq, st.titled, st.kind
    return out


_WH = frozenset({"how", "what", "which", "who", "whom", "whose", "when", "where", "why"})
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
    q_keys = {_plain(k) for k in [s.key for s in topic_spans] + [" ".join(key_tokens(question))]}
    q_words = _content(question)
    fallback: tuple[tuple[int, int], list[Span]] | None = None
    secondary: tuple[tuple[int, int], list[Span]] | None = None
    collected: list[Span] = []
    answer_text = ""
    for k, (offset, doc) in enumerate(sentences):
        if k >= steps.max_sentences:
            break
        text = view(doc).text
        answer_text = answer_text.ljust(offset) + text
        hedge = bool(_HEDGE.search(text.replace("\u2019", "'")))
        claims.hedged = claims.hedged or hedge
        if steps.hedges and hedge:
            continue
        untyped, typed = _sentence_values(doc, offset, question, q_keys, q_words, form, lexicon, steps,
                                          index_spans, whole, dropped)
        if not steps.answer_span:  # every new candidate of every sentence read
            collected += typed if steps.question_form else typed + untyped
            continue
        # without NER a name has no person / place label: any fitting name is the first choice (no need to read on)
        labelled = view(doc).ner or form in ("date", "number")
        primary = [s for s in typed if s.label in _PRIMARY.get(form, ())] if steps.primary_kind and labelled else typed
        if primary or (typed and form not in _PRIMARY):
            # in that sentence, a fitting value of another named kind is a side fact ("Pope Adrian IV", an ORG
            # to spaCy, beside "Nicholas Breakspear" for "who"); a name spaCy did not label stays ("Ulm, Poland")
            keep = ([s for s in typed if s.label in _PRIMARY[form] or s.label == ""]
                    if steps.primary_kind and labelled and form in _PRIMARY else typed)
            claims.sentence, claims.values = (offset, offset + len(text)), keep
            break
        if typed and secondary is None:  # of the expected kind, not the first choice ("Queen" for "who")
            secondary = ((offset, offset + len(text)), typed)
        if untyped and fallback is None:  # nothing of the expected kind yet: the first new thing said
            fallback = ((offset, offset + len(text)), untyped)
    if not steps.answer_span:
        claims.values = collected
    elif not claims.values and (secondary or fallback) is not None:
        claims.sentence, claims.values = secondary or fallback
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
    form = question_form(view(qdoc).text) if steps.question_form else "other"
    dropped: list[Span] = []
    tops = topics(qdoc, lexicon, steps, q_index_spans, dropped)
    if sentences is None:
        return Claims(form, tops, [], dropped=dropped)
    c = answer_values(sentences, view(qdoc).text, tops, form, lexicon, steps, a_index_spans, whole)
    if steps.answer_topics:
        c.topics = restated_topics(view(qdoc).text, tops, c.dropped, lexicon, steps, dropped)
    c.dropped = dropped + c.dropped
    return c


def restated_topics(question: str, tops: list[Span], answer_dropped: list[Span], lexicon: Lexicon,
                    steps: ClaimSteps, dropped: list[Span]) -> list[Span]:
    """``tops`` with each name the answer restated from the question (a span of ``answer_dropped`` whose words
    are a run of the question's words, known to the corpus, not generic) in place of the topics inside it; the
    span is re-anchored on the question's characters."""
    q_toks = tokenize_py(question)
    q_words = [t for t, _, _ in q_toks]
    out = list(tops)
    for r in answer_dropped:
        words = r.key.split()
        if (r.reason != "restates the question" or len(words) < 2 or r.numeric or r.freq <= 0
                or r.kind == "absent" or r.freq > steps.generic_share * max(lexicon.n_documents, 1)):
            continue
        at = next((i for i in range(len(q_words) - len(words) + 1) if q_words[i:i + len(words)] == words), -1)
        if at < 0 or any(t.key == r.key for t in out):
            continue
        inside = [t for t in out if set(t.key.split()) <= set(words)]
        if any(len(t.key.split()) >= len(words) for t in inside):
            continue
        start, end = q_toks[at][1], q_toks[at + len(words) - 1][2]
        topic = replace(r, text=question[start:end], start=start, end=end, origin="answer", reason="")
        for t in inside:
            t.reason = f"inside {topic.text!r}, restated by the answer"
            dropped.append(t)
        out = sorted([t for t in out if t not in inside] + [topic], key=lambda t: t.start)
    return out
