"""``GateConfig``: every threshold and scoring choice of :func:`quco.gate.assess.assess`, and
:func:`config_from_settings`, which builds one from ``FIELD=VALUE`` strings (``quco risk --set``, ``quco eval
--set``).

The defaults were chosen on the dev files; ``docs/eval.md`` has the measurements.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, replace

from quco.cooccur.index import Index
from quco.errors import ConfigError
from quco.gate.scoring import ASSOCIATIONS

PAIR_KINDS = ("question-answer", "answer-answer")
AGGREGATES = ("auto", "auto-min", "min", "max", "mean")


@dataclass(frozen=True)
class GateConfig:
    """Thresholds and scoring choices. Frequencies are in documents; the ``known`` threshold scales with the corpus.

    ``known_per_million``: an entity is *known* when mentioned in at least ``known_per_million`` documents per
    million corpus tokens (and at least ``known_min_docs``), and, if ``known_needs_title`` and the corpus has
    document titles, is the title of one. QuCo-RAG's 1,000 occurrences in 4.6 T tokens is 0.0002 per million:
    below one document on a 65 M-token sample. Default 0.05 (4 documents on the 66.6 M-token wiki2015 sample).
    ``known_article_tokens``: with titles and the phrase arrays, a subject is known only if the longest document
    titled with it (:meth:`quco.cooccur.articles.Articles.longest`) has at least this many tokens; a stub (the
    corpus's only "Howard Dean" article has 63) names the subject without stating much about it, and the
    corpus's silence about a pair then says little. 0 turns it off. On wiki2015 + wiki_extra (250 k documents,
    median 76 tokens: Simple English Wikipedia's stubs) the known rows whose subject has only shorter articles
    score below the others on EntityQuestions (0.77 against 0.85), TriviaQA and NQ, and above them on songs' few
    known rows (docs/eval.md, "Known: a substantial article"); on wiki2015 alone (median 1,222) it changes 0.2 % of
    the rows.
    ``association``: the pair measure (:data:`quco.gate.scoring.ASSOCIATIONS`).
    ``pass_support``, ``pass_conditional``: in factual mode an answer entity passes when seen with a question
    entity in at least ``cooc_threshold`` documents, and either their association reaches ``pass_support`` or
    they meet in at least ``pass_conditional`` of the rarer one's documents (in a small corpus, where every entity
    is in many documents, association alone stays near 0 even for true pairs).
    ``cooc_threshold``: a pair is *unseen* below this many documents (QuCo-RAG: < 1, never seen together).
    ``scope``: ``document`` (default) counts the documents that mention both entities anywhere (the index's
    postings, intersected at query time); ``window`` counts only those where they meet within the index's token
    window. On EntityQuestions dev, document scope beat the 1000-token window (docs/eval.md, ablation).
    ``no_evidence_risk``: the risk of an answer the corpus cannot check.
    ``pair_kinds``: which pairs count towards the risk (answer-answer pairs are always reported).
    ``answer_as_entity_words``: a short answer whose whole text is an indexed entity counts as one entity.
    ``answer_surname``: when a multi-word answer is not an entity, try its last word (a surname) instead.
    ``subject_surname``: the same for the subject hint.
    ``ngram_lookup``: also look every question/answer n-gram up in the index's entities (finds what a spaCy
    extractor missed; a gazetteer index already matches exactly these).
    ``neighbour_weight``: support of an unseen pair of attested entities = ``-1 + w * cosine`` of their PPMI
    neighbour rows (second-order evidence; slow on big indexes, so 0 by default), capped at the support the
    pair would have if seen together once, so that an unseen pair never scores safer than a seen one.
    ``claims``: in factual mode, check only the pairs that carry the answer's claim (:mod:`quco.gate.claims`:
    the question's topics x the values the answer asserts) instead of every question entity x every answer
    entity. ``claim_form``, ``claim_generic``, ``claim_span``, ``claim_hedges``, ``claim_lists``: its steps
    (question form, generic-term filter, answer span without the restated question, hedge removal, every list
    item); ``generic_share``: an entity in more than this share of the documents is generic;
    ``claim_noun_topics``: a question naming nothing takes the common nouns the corpus has as topics (off by
    default: such a question is uncheckable, coverage unknown; on, TriviaQA dev AUROC on checked rows is 0.686
    at 0.85 checked against 0.702 at 0.75 off, NQ 0.596 at 0.97 against 0.605 at 0.77).
    ``claim_query_noun_share``: with ``claim_noun_topics`` off, a lower-case question that names nothing takes a
    common noun in at most this share of the documents as its topic (:class:`quco.gate.claims.ClaimSteps`).
    ``claim_part_topics``: a topic read inside a longer name the corpus never mentions ("Dream" of "Who
    performed Dream with Me?") makes the question's coverage at most ``sparse``: the corpus knowing the part does
    not show that it covers what the question asks about.
    ``coverage_of``: the question's coverage is that of its ``weakest`` deciding entity, or of its ``best``
    (with claims: the topic the claim can be checked against).
    ``aggregate``: how the values' supports (pair and passage) make the answer's risk: ``auto`` (a short answer
    its best part, a longer one the mean of its claims), ``auto-min`` (a longer one its weakest claim: the default
    before 3 Dec 2026), ``min``, ``max`` or ``mean``. On the realqa dev files ``auto`` against ``auto-min``:
    TriviaQA 0.712 / 0.706, NQ 0.612 / 0.604, songs 0.828 / 0.826. The gate's bars hold for every claim either way.
    ``unknown_value_support``: with claims, the support of an answer value the corpus never mentions when the
    question's coverage is known (its topic has an article and is not rare: had the value been its fact, the
    corpus would likely mention it); ``None``: such a value is not checkable (the default before 3 Dec 2026).
    On the dev files at -1 / -0.6 / -0.3 / 0 against None: EntityQuestions known 0.790 / 0.795 / 0.797 / 0.784
    against 0.785 (known+sparse 0.788 / 0.789 / 0.788 / 0.784 against 0.784), TriviaQA 0.716 / 0.716 / 0.716 /
    0.714 against 0.714, songs 0.843 / 0.842 / 0.843 / 0.842 against 0.842, NQ 0.608 / 0.609 / 0.610 / 0.611
    against 0.610. For any attested topic, sparse ones too (the rule before): NQ 0.605 / 0.608 at -1 / -0.3.
    ``passage_weight``: in factual mode, the share of an answer's risk that comes from passage support
    (:mod:`quco.cooccur.passage_support`: does a passage that matches the question best contain the value?);
    ``risk = (1 - w) * pair risk + w * (1 - passage support) / 2``, 0 for pair counts alone (0.6: chosen on
    the realqa dev files, TriviaQA 0.698 / 0.702 / 0.707 at 0.5 / 0.6 / 0.7, songs 0.825 / 0.825 / 0.821). ``pass_passage``:
    a passing answer also needs every value's passage support at least this high.
    ``article_support``: a question-answer pair whose article of one (the document titled with it,
    :mod:`quco.cooccur.articles`) mentions the other is supported at least this much (-1: off).
    ``unlinked_penalty``: a pair seen together only where neither one's article mentions the other (one of
    them has an article) loses this much support in the risk, not in the gate's bars (0 = off; 0.2 / 0.3 / 0.4 /
    0.5 on the realqa dev files: TriviaQA 0.714 / 0.714 / 0.713 / 0.711, NQ 0.611 / 0.610 / 0.610 / 0.610, songs
    0.833 / 0.835 / 0.836 / 0.837, EntityQuestions known+sparse 0.759 / 0.760 / 0.761 / 0.763; 0.712 / 0.612 /
    0.828 / 0.758 without).
    ``apart_penalty``: an unlinked pair that never met inside one paragraph either (only in different paragraphs
    of some document that is neither's article: list entries, a discography) loses this much instead of
    ``unlinked_penalty``, never below an unseen pair's support; in the risk, not the gate (at most
    ``unlinked_penalty``: off). ``apart_short_only``: only in a one-claim answer (a longer answer's side remarks
    meet their topic loosely and are often right: NQ 0.606 with it on every answer, 0.609 short only). On the
    dev files, short only, 0.8 / 1.2 / 2.0: songs 0.838 / 0.839 / 0.839, EntityQuestions known 0.766 / 0.773 /
    0.774 and known+sparse 0.770 / 0.775 / 0.770, TriviaQA 0.713 throughout (0.836, 0.756, 0.761 off).
    ``unseen_no_article_support``: a pair never seen together where neither side has an article is supported
    this much (the corpus's silence about things it has no article on says little), capped, like the neighbour
    support, at what one document together would give (-1, the default: off; at 0 it trades EntityQuestions
    known+sparse 0.757 -> 0.743 for songs +0.006). Both need phrase arrays and a corpus with titles; measured on
    the dev files (docs/eval.md, "Articles").
    ``hedge_risk``: with claims, an answer that hedges ("As an AI language model, I do not have access...", "I'm
    not sure") is at least this risky, and in factual mode goes to retrieval: its own words say that what it
    asserts is not a checked fact, however well the corpus knows the names it drops (``None``: off; the default
    is ``no_evidence_risk``'s 0.5). On the dev files 13 of TriviaQA's 947 checked answers hedge, all wrong, and
    42 of NQ's, 32 wrong: TriviaQA 0.716 -> 0.723, NQ 0.610 -> 0.616 (0.726 / 0.622 at 0.7), songs and
    EntityQuestions unchanged.
    """

    known_per_million: float = 0.05
    known_min_docs: int = 1
    known_needs_title: bool = True
    known_article_tokens: int = 300
    association: str = "npmi"
    pass_support: float = 0.2
    pass_conditional: float = 0.6
    cooc_threshold: float = 1.0
    scope: str = "document"
    no_evidence_risk: float = 0.5
    pair_kinds: tuple[str, ...] = ("question-answer",)
    answer_as_entity_words: int = 6
    answer_surname: bool = False
    subject_surname: bool = False
    ngram_lookup: bool = True
    neighbour_weight: float = 0.0
    evidence_k: int = 3
    retriever: str = "bm25s"
    retrieve_evidence: bool = True
    claims: bool = True
    claim_form: bool = True
    claim_generic: bool = True
    claim_span: bool = True
    claim_hedges: bool = True
    claim_lists: bool = True
    claim_noun_topics: bool = False
    claim_query_noun_share: float = 0.004
    claim_unknown_titles: bool = True
    claim_part_topics: bool = True
    generic_share: float = 0.03
    coverage_of: str = "weakest"
    aggregate: str = "auto"
    unknown_value_support: float | None = -0.3
    passage_weight: float = 0.6
    pass_passage: float = 0.9
    article_support: float = 0.4
    unlinked_penalty: float = 0.4
    apart_penalty: float = 1.2
    apart_short_only: bool = True
    unseen_no_article_support: float = -1.0
    hedge_risk: float | None = 0.5

    def __post_init__(self) -> None:
        if self.association not in ASSOCIATIONS:
            raise ConfigError(f"association must be one of {', '.join(ASSOCIATIONS)}, not {self.association!r}")
        bad = set(self.pair_kinds) - set(PAIR_KINDS)
        if bad or not self.pair_kinds:
            raise ConfigError(f"pair_kinds must be a non-empty subset of {PAIR_KINDS}, not {self.pair_kinds!r}")
        if self.scope not in ("document", "window"):
            raise ConfigError(f"scope must be 'document' or 'window', not {self.scope!r}")
        if not -1.0 <= self.pass_support <= 1.0:
            raise ConfigError("pass_support must be in [-1, 1] (an association value)")
        if self.coverage_of not in ("weakest", "best"):
            raise ConfigError(f"coverage_of must be 'weakest' or 'best', not {self.coverage_of!r}")
        if not 0.0 <= self.passage_weight <= 1.0 or not 0.0 <= self.pass_passage <= 1.0:
            raise ConfigError("passage_weight and pass_passage must be in [0, 1]")
        if self.known_article_tokens < 0:
            raise ConfigError("known_article_tokens must be >= 0 (0: off)")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate must be one of {', '.join(AGGREGATES)}, not {self.aggregate!r}")

    def known_docs(self, index: Index) -> int:
        return max(self.known_min_docs, math.ceil(self.known_per_million * index.n_tokens / 1e6))


def _coerce(name: str, raw: str, default: object, optional: bool = False) -> object:
    """``raw`` read as JSON (a bare word stays a string), checked against the type of the field's default;
    ``optional``: the field also takes ``null`` (its type says ``| None``)."""
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if optional and value is None:
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok and isinstance(default, float) else value
    elif isinstance(default, tuple):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    elif default is None:  # an optional number
        ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"--set {name}={raw}: expected {type(default).__name__ if default is not None else 'a number or null'}"
                          f" like the default {json.dumps(default)}")
    return value


def config_from_settings(settings: Sequence[str], base: GateConfig | None = None) -> GateConfig:
    """``base`` (default: the defaults) with each ``FIELD=VALUE`` of ``settings`` applied; VALUE is JSON (``0.5``,
    ``false``, ``["question-answer"]``) or a bare word. An unknown field or a value of the wrong type is a
    :class:`~quco.errors.ConfigError` naming it."""
    base = base or GateConfig()
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(GateConfig)}
    hints = typing.get_type_hints(GateConfig)
    optional = {name for name, hint in hints.items() if type(None) in typing.get_args(hint)}
    changes = {}
    for item in settings:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--set takes FIELD=VALUE, not {item!r}")
        if name not in fields:
            raise ConfigError(f"--set {name}: no such GateConfig field (one of {', '.join(sorted(fields))})")
        changes[name] = _coerce(name, raw.strip(), fields[name], name in optional)
    return replace(base, **changes)
