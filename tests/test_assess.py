"""``assess`` on a hand-built index: decisions, coverage strata, the risk's monotonicity, entity matching.

The corpus is written out below so every count can be checked by eye. Einstein meets Ulm (2 documents) and Bern,
never Warsaw or Poland; Curie meets Warsaw (2 documents), never Ulm; Otto Brandt is mentioned once, in a document
titled with something else; Zorblax Quint is never mentioned.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quco.cooccur.index import Index
from quco.errors import ConfigError
from quco.gate.assess import GateConfig, assess
from quco.gate.scoring import ASSOCIATIONS, association, entity_coverage, npmi, pair_risk, weakest
from quco.index_builder.build import build_index

DOCS = {
    "Albert Einstein": "Albert Einstein was a physicist born in Ulm. Albert Einstein later worked in Bern.",
    "Ulm": "Ulm is a city on the Danube. Albert Einstein was born in Ulm.",
    "Bern": "Bern is a city in Switzerland. Albert Einstein worked at the patent office in Bern.",
    "Marie Curie": "Marie Curie was a chemist born in Warsaw. Marie Curie worked in Paris.",
    "Warsaw": "Warsaw is the capital of Poland. Marie Curie was born in Warsaw.",
    "Poland": "Poland is a country. Warsaw is its largest city.",
    "Paris": "Paris is the capital of France.",
    "France": "France is a country in Europe.",
    "Switzerland": "Switzerland is a country in Europe. Bern is its capital.",
    "Danube": "The Danube is a long river in Europe.",
    "Chess club": "Otto Brandt founded a chess club in Paris.",
    "Nobel Prize": "The Nobel Prize was awarded to Albert Einstein and to Marie Curie.",
}
EXTRA_ENTITIES = ["Otto Brandt", "Nobel Prize", "Europe", "Danube", "Zorblax Quint"]
EINSTEIN_Q = "Where was Albert Einstein born?"


@pytest.fixture(scope="module")
def ix(tmp_path_factory) -> Index:
    root = tmp_path_factory.mktemp("assess")
    corpus = root / "wiki.txt"
    corpus.write_text("".join(
        f'<doc id="{i}" url="http://example.org/?curid={i}" title="{title}">\n{title}\n\n{text}\n</doc>\n'
        for i, (title, text) in enumerate(DOCS.items(), 1)), encoding="utf-8")
    ents = root / "entities.txt"
    ents.write_text("".join(f"{e}\tENTITY\n" for e in EXTRA_ENTITIES), encoding="utf-8")
    out = root / "idx"
    build_index([str(corpus)], str(out), extractor="gazetteer", entities=str(ents), harvest_sample=0,
                workers=1, progress=False, retrieval=(), window=100_000)
    return Index(out)


def test_the_corpus_is_what_the_tests_assume(ix):
    assert ix.n_documents == len(DOCS)
    assert (ix.freq("Albert Einstein"), ix.freq("Ulm"), ix.freq("Warsaw"), ix.freq("Otto Brandt")) == (4, 2, 3, 1)
    assert ix.cooc("Albert Einstein", "Ulm") == 2 and ix.cooc("Albert Einstein", "Warsaw") == 0
    assert ix.cooc("Marie Curie", "Warsaw") == 2 and ix.freq("Zorblax Quint") == 0


# ---- decisions --------------------------------------------------------------------------------------------------
def test_supported_answer_passes(ix):
    rep = assess(EINSTEIN_Q, "Ulm", index=ix, retrieve=False)
    assert (rep.decision, rep.stage, rep.coverage) == ("pass", "post", "known")
    [pair] = rep.pairs
    assert (pair.a, pair.b, pair.cooccurrence, pair.unseen) == ("Albert Einstein", "Ulm", 2, False)
    n = len(DOCS)
    assert pair.npmi == pytest.approx(math.log((2 / n) / ((4 / n) * (2 / n))) / -math.log(2 / n), abs=1e-4)
    assert rep.risk == pytest.approx((1 - pair.npmi) / 2, abs=1e-3) and rep.risk < 0.5
    assert not rep.flagged and rep.reasons == []


def test_unseen_pair_is_retrieved_after_generation(ix):
    rep = assess(EINSTEIN_Q, "Albert Einstein was born in Warsaw.", index=ix, retrieve=False)
    assert (rep.decision, rep.stage, rep.coverage) == ("retrieve", "post", "known")
    assert rep.risk == 1.0 and rep.flagged
    assert [(p.a, p.b, p.cooccurrence, p.unseen) for p in rep.pairs] == [("Albert Einstein", "Warsaw", 0, True)]
    assert any("never appear together" in r for r in rep.reasons)


def test_unknown_question_is_retrieved_before_generation(ix):
    rep = assess("Where was Zorblax Quint born?", index=ix, retrieve=False)
    assert (rep.decision, rep.stage, rep.coverage, rep.risk) == ("retrieve", "pre", "unknown", 1.0)
    with_answer = assess("Where was Zorblax Quint born?", "Ulm", index=ix, retrieve=False)
    assert (with_answer.decision, with_answer.stage, with_answer.coverage) == ("retrieve", "pre", "unknown")
    assert with_answer.risk == GateConfig().no_evidence_risk  # the corpus can say nothing either way


def test_known_question_passes_before_generation(ix):
    rep = assess(EINSTEIN_Q, index=ix, retrieve=False)
    assert (rep.decision, rep.stage, rep.coverage, rep.risk) == ("pass", "pre", "known", 0.0)


def test_creative_mode_sanctions_the_unseen_combination(ix):
    rep = assess("Write a poem about Albert Einstein in Warsaw.", "Albert Einstein danced all night in Warsaw.",
                 index=ix, mode="creative", retrieve=False)
    assert (rep.decision, rep.stage) == ("sanctioned_blend", "post") and not rep.flagged
    assert {rep.blend["a"], rep.blend["b"]} == {"Albert Einstein", "Warsaw"}
    supported = assess("Write a poem about Albert Einstein.", "Albert Einstein walked through Ulm.", index=ix,
                       mode="creative", retrieve=False)
    assert supported.decision == "pass" and supported.blend is None


def test_answer_the_corpus_never_mentions_is_not_passed(ix):
    rep = assess(EINSTEIN_Q, "Zorblax Quint", index=ix, retrieve=False)
    assert rep.decision == "retrieve" and rep.coverage == "known"
    # about a topic the corpus knows, a value it never mentions is weak evidence against (no passages here)
    assert rep.risk == pytest.approx((1 - GateConfig().unknown_value_support) / 2)
    assert rep.risk > GateConfig().no_evidence_risk
    assert any("never mentioned" in r for r in rep.reasons)
    off = assess(EINSTEIN_Q, "Zorblax Quint", index=ix, retrieve=False, unknown_value_support=None)
    assert off.decision == "retrieve" and off.risk == GateConfig().no_evidence_risk
    # a topic the corpus only mentions (no article of its own): the value's absence says nothing
    sparse = assess("Who taught Otto Brandt chess?", "Zorblax Quint", index=ix, retrieve=False)
    assert sparse.coverage == "sparse" and sparse.risk == GateConfig().no_evidence_risk


def test_answer_with_nothing_to_check_is_not_passed(ix):
    rep = assess(EINSTEIN_Q, "I am not sure.", index=ix, retrieve=False)
    assert rep.decision == "retrieve" and rep.pairs == [] and rep.risk == GateConfig().no_evidence_risk
    assert any("nothing in the answer" in r for r in rep.reasons)


def test_long_answer_risk_is_its_claims_mean_its_gate_every_claim_a_short_one_its_best_part(ix):
    text = "He was born in Ulm and then he moved to Poland for many years."
    long = assess(EINSTEIN_Q, text, index=ix, retrieve=False)
    weakest = assess(EINSTEIN_Q, text, index=ix, retrieve=False, aggregate="auto-min")
    ulm = assess(EINSTEIN_Q, "He was born in Ulm.", index=ix, retrieve=False)
    assert long.decision == weakest.decision == "retrieve"  # the gate holds every claim to its bar
    assert weakest.risk == 1.0 and ulm.risk < long.risk < weakest.risk
    short = assess(EINSTEIN_Q, "Ulm, Poland", index=ix, retrieve=False)
    assert short.decision == "pass" and short.risk < 0.5
    assert {p.b for p in short.pairs if p.kind == "question-answer"} == {"Ulm", "Poland"}


def test_pass_needs_enough_association_or_conditional_share(ix):
    strict = assess(EINSTEIN_Q, "Ulm", index=ix, retrieve=False, pass_support=0.99, pass_conditional=1.01)
    assert strict.decision == "retrieve" and any("weak support" in r for r in strict.reasons)
    # Ulm is in 2 documents, both with Einstein: 100% of the rarer one's documents
    share = assess(EINSTEIN_Q, "Ulm", index=ix, retrieve=False, pass_support=0.99, pass_conditional=1.0)
    assert share.decision == "pass"


# ---- coverage -----------------------------------------------------------------------------------------------------
def test_coverage_strata(ix):
    def cov(question, **kw):
        return assess(question, index=ix, retrieve=False, **kw).coverage

    assert cov(EINSTEIN_Q) == "known"
    assert cov("Who is Otto Brandt?") == "sparse"  # mentioned, but no document is titled with it
    assert cov("Who is Zorblax Quint?") == "unknown"
    assert cov("Who is Otto Brandt?", known_needs_title=False) == "known"
    assert cov("What is Ulm?", known_min_docs=3) == "sparse"  # titled, but in 2 documents only
    assert cov("Who is Albert Einstein?", known_min_docs=3) == "known"
    assert cov("Did Otto Brandt meet Albert Einstein?") == "sparse"  # the weakest entity decides
    assert cov("Where was Albert Einstein born?", subject="Otto Brandt") == "sparse"  # the subject decides
    # "Warsaw" read inside a title the corpus never mentions: known only as a part, so sparse, and the report says so
    rep = assess("Who sang Warsaw for Me?", "Marie Curie", index=ix, retrieve=False)
    assert rep.coverage == "sparse" and any("inside 'Warsaw for Me'" in r for r in rep.reasons)
    assert [e.part_of for e in rep.entities if e.source == "question"] == ["Warsaw for Me"]
    assert cov("Who sang Warsaw for Me?", claim_part_topics=False) == "known"


def test_a_subject_whose_only_article_is_a_stub_is_sparse(ix):
    """"Paris" is titled and mentioned, but its article is one sentence: known only when the stub rule is off, or
    when the corpus's documents are that short on average (then a short article is the norm, not a stub)."""
    arts, pc = ix.articles, ix.phrases
    stub, full = arts.longest("Paris"), arts.longest("Albert Einstein")
    mean = int(pc.doc_start[-1]) / pc.n_documents
    cut = stub + 1
    assert stub < cut <= mean < full  # the fixture's lengths make the case: a stub, an average, a long article
    rep = assess("What is Paris?", index=ix, retrieve=False, known_article_tokens=cut)
    assert rep.coverage == "sparse" and rep.decision == "retrieve"
    assert any(f"longest article titled 'Paris' has {stub} tokens (under {cut})" in r for r in rep.reasons)
    assert rep.thresholds["known_article_tokens"] == cut
    assert assess("What is Paris?", index=ix, retrieve=False, known_article_tokens=0).coverage == "known"
    assert assess("Who is Albert Einstein?", index=ix, retrieve=False, known_article_tokens=cut).coverage == "known"
    # a subject without a title of its own is sparse for that, whatever the length of the chess club's document
    brandt = assess("Who is Otto Brandt?", index=ix, retrieve=False, known_article_tokens=cut)
    assert brandt.coverage == "sparse" and not any("longest article" in r for r in brandt.reasons)
    assert any("no document of the corpus is titled" in r for r in brandt.reasons)
    too_long = int(mean) + 1  # above the corpus's average document: the rule stands down
    assert assess("What is Paris?", index=ix, retrieve=False, known_article_tokens=too_long).coverage == "known"
    with pytest.raises(ConfigError, match="known_article_tokens"):
        GateConfig(known_article_tokens=-1)


def test_entity_coverage_rules():
    assert entity_coverage(0, 4, True) == "unknown"
    assert entity_coverage(3, 4, True) == "sparse"
    assert entity_coverage(4, 4, True) == "known"
    assert entity_coverage(9, 4, False) == "sparse"
    assert entity_coverage(4, 4, None) == "known"  # a corpus without titles: frequency alone
    assert weakest(["known", "sparse"]) == "sparse" and weakest([]) == "unknown"


def test_known_threshold_scales_with_the_corpus(ix):
    assert GateConfig(known_per_million=0.05).known_docs(ix) == 1  # a tiny corpus: any mention
    assert GateConfig(known_per_million=1e6).known_docs(ix) == math.ceil(ix.n_tokens)


# ---- entity matching ------------------------------------------------------------------------------------------------
def test_subject_hint_finds_what_the_question_spells_differently(ix):
    q = "Where was the physicist Albrecht Einstein born?"  # a spelling the corpus never has
    without = assess(q, "Ulm", index=ix, retrieve=False)
    assert without.coverage == "unknown" and without.decision == "retrieve" and without.stage == "pre"
    hinted = assess(q, "Ulm", index=ix, retrieve=False, subject="Albert Einstein")
    assert hinted.coverage == "known" and hinted.decision == "pass"
    assert any(e.label == "SUBJECT" and e.freq == 4 for e in hinted.entities)


def test_whole_short_answer_counts_as_one_entity(ix):
    rep = assess("Who received the Nobel Prize?", "Marie Curie", index=ix, retrieve=False)
    assert [e.text for e in rep.entities if e.source == "answer"] == ["Marie Curie"]
    off = assess("Who received the Nobel Prize?", "Marie Curie", index=ix, retrieve=False, answer_as_entity_words=0)
    assert [e.text for e in off.entities if e.source == "answer"] == ["Marie Curie"]  # the gazetteer finds it too
    assert rep.decision == off.decision == "pass"


def test_a_short_lower_case_answer_is_a_term_the_corpus_can_check(ix):
    q = "What was Albert Einstein's profession?"
    right = assess(q, "physicist", index=ix, retrieve=False)
    wrong = assess(q, "chemist", index=ix, retrieve=False)  # in the corpus, never with Einstein
    assert [(p.a, p.b, p.cooccurrence) for p in right.pairs] == [("Albert Einstein", "physicist", 1)]
    assert [(p.a, p.b, p.cooccurrence) for p in wrong.pairs] == [("Albert Einstein", "chemist", 0)]
    assert right.risk < wrong.risk and wrong.decision == "retrieve"
    # more than three lower-case words is a phrase of a sentence, not a term, even where the corpus has it
    assert ix.phrases.freq("city on the danube") == 1
    clause = assess("What is Albert Einstein's birthplace?", "city on the danube", index=ix, retrieve=False)
    assert [p.b for p in clause.pairs] == ["danube"]  # the entity inside it, as in any sentence


def test_a_hedged_answer_is_not_passed_however_well_the_corpus_knows_its_value(ix):
    hedged = "As an AI language model, I cannot browse the internet. Albert Einstein was born in Ulm."
    plain = assess(EINSTEIN_Q, "Albert Einstein was born in Ulm.", index=ix, retrieve=False)
    rep = assess(EINSTEIN_Q, hedged, index=ix, retrieve=False)
    assert plain.decision == "pass" and plain.risk < GateConfig().hedge_risk
    assert [p.b for p in rep.pairs] == ["Ulm"]  # the claim is still read, and still supported
    assert rep.decision == "retrieve" and rep.risk == GateConfig().hedge_risk
    assert any("hedges" in r for r in rep.reasons)
    off = assess(EINSTEIN_Q, hedged, index=ix, retrieve=False, hedge_risk=None)
    assert off.decision == "pass" and off.risk == plain.risk


def test_answer_repeating_the_question_adds_no_claim(ix):
    rep = assess(EINSTEIN_Q, "Albert Einstein", index=ix, retrieve=False)
    assert rep.pairs == [] and rep.decision == "retrieve"


def test_ngram_lookup_finds_entities_the_ner_misses(six_spacy):
    q = "what is bletchley park"  # lower case: the small spaCy model does not tag it
    without = assess(q, index=six_spacy, retrieve=False, ngram_lookup=False, claims=False).entities
    assert [e.key for e in without] == []  # entity extraction alone (no claim steps): the NER misses it
    found = assess(q, index=six_spacy, retrieve=False)
    assert [(e.text, e.label, e.freq) for e in found.entities] == [("bletchley park", "NGRAM", 2)]
    assert found.coverage == "known"


def test_bad_config_is_a_config_error(ix):
    with pytest.raises(ConfigError, match="association"):
        GateConfig(association="cosine")
    with pytest.raises(ConfigError, match="pair_kinds"):
        GateConfig(pair_kinds=("question-question",))
    with pytest.raises(ConfigError, match="mode"):
        assess(EINSTEIN_Q, index=ix, mode="poetic")


# ---- the risk -----------------------------------------------------------------------------------------------------
counts = st.integers(min_value=0, max_value=5000)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(ASSOCIATIONS), n=st.integers(1, 100_000), fa=counts, fb=counts, c1=counts, c2=counts)
def test_more_cooccurrence_never_raises_risk(kind, n, fa, fb, c1, c2):
    fa, fb = min(fa, n), min(fb, n)
    lo, hi = sorted((min(c1, fa, fb), min(c2, fa, fb)))
    a_lo, r_lo = pair_risk(lo, fa, fb, n, kind)
    a_hi, r_hi = pair_risk(hi, fa, fb, n, kind)
    assert -1.0 <= a_lo <= 1.0 and 0.0 <= r_hi <= 1.0
    assert r_hi <= r_lo + 1e-12 and a_hi >= a_lo - 1e-12


def test_association_reference_values():
    assert npmi(0, 10, 10, 100) == -1.0 and npmi(10, 10, 10, 100) == pytest.approx(1.0)
    assert npmi(1, 10, 10, 100) == pytest.approx(0.0)  # exactly as often as chance
    assert association("binary", 0, 5, 5, 10) == -1.0 and association("binary", 1, 5, 5, 10) == 1.0
    assert association("conditional", 2, 4, 2, 10) == 1.0 and association("count", 1, 3, 3, 10) == 0.0


def test_unseen_pair_is_riskier_than_a_seen_one_on_a_real_index(ix):
    seen = assess(EINSTEIN_Q, "Ulm", index=ix, retrieve=False).risk
    unseen = assess(EINSTEIN_Q, "Warsaw", index=ix, retrieve=False).risk
    assert seen < unseen
