"""Every decision tells the truth (issue #14): one definition of "flagged", no figure for a check that never ran,
an uncheckable question said to be one, every item of a list answer checked, risk monotone under every option.

Runs against a real index of a six-article corpus (the one of ``test_wrap``): Marie Curie co-occurs with Warsaw,
Albert Einstein with Ulm and never with Warsaw; "Zorblax Quintavius" occurs nowhere.
"""
from __future__ import annotations

import itertools
import json
import logging

import pytest
from click.testing import CliRunner
from test_wrap import CORPUS, Recorder

from quco.cli.main import cli
from quco.errors import RiskBlocked
from quco.gate.assess import assess
from quco.gate.report import RiskReport
from quco.gate.wrap import wrap
from quco.gate.assess import GateConfig
from quco.index_builder.build import build_index

POEM_Q = "Write a poem about Marie Curie."
INVENTED = "Marie Curie danced with Zorblax Quintavius in Warsaw."  # an entity the corpus never mentions
NO_ENTITY_Q = "Hello there, how are you today?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    corpus = root / "tiny_wiki.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    out = root / "tiny.idx"
    build_index([str(corpus)], str(out), extractor="spacy", workers=1, progress=False)
    return out


def risk_cli(index, *argv: str, input: str | None = None):
    return CliRunner().invoke(cli, ["risk", "--index", str(index), "--no-evidence", *argv], input=input,
                              catch_exceptions=False)


# ---- item 5: one definition of "flagged" ----------------------------------------------------------------------
def test_an_invented_entity_in_a_creative_answer_is_flagged(index):
    r = assess(POEM_Q, INVENTED, index=index, mode="creative", retrieve=False)
    assert r.decision == "sanctioned_blend" and r.blend["kind"] == "unknown_entity" and r.blend["flagged"]
    assert r.flagged and r.to_dict()["flagged"] is True
    # a blend of attested entities is not
    ok = assess(POEM_Q, "Marie Curie met Albert Einstein in Ulm.", index=index, mode="creative", retrieve=False)
    assert ok.decision == "sanctioned_blend" and ok.blend["kind"] != "unknown_entity" and not ok.flagged


def test_flagged_drives_the_cli_exit_code(index):
    r = risk_cli(index, "--mode", "creative", "-q", POEM_Q, "-a", INVENTED, "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["flagged"] is True
    r = risk_cli(index, "--mode", "creative", "-q", POEM_Q, "-a", "Marie Curie met Albert Einstein in Ulm.")
    assert r.exit_code == 0
    lines = json.dumps({"question": POEM_Q, "answer": INVENTED, "mode": "creative"}) + "\n"
    assert risk_cli(index, "--batch", input=lines).exit_code == 1


def test_flagged_drives_block_monitor_and_annotate(index, caplog):
    invent = Recorder(right_when=None, wrong=INVENTED)
    with pytest.raises(RiskBlocked) as exc:
        wrap(invent, index=index, mode="creative", on_risk="block")(POEM_Q)
    assert exc.value.report.blend["kind"] == "unknown_entity"
    annotated = wrap(invent, index=index, mode="creative", on_risk="annotate")(POEM_Q)
    assert str(annotated) == INVENTED and annotated.report.flagged
    with caplog.at_level(logging.INFO, logger="quco"):
        wrap(invent, index=index, mode="creative", on_risk="monitor")(POEM_Q)
    assert [r.levelno for r in caplog.records if r.name == "quco"] == [logging.WARNING]
    fine = Recorder(right_when=None, wrong="Marie Curie met Albert Einstein in Ulm.")
    assert wrap(fine, index=index, mode="creative", on_risk="block")(POEM_Q).report.flagged is False


# ---- item 6: a check that never ran has no risk figure --------------------------------------------------------
def test_fail_open_report_has_no_risk_figure(tmp_path):
    result = wrap(Recorder(), index=tmp_path / "missing.idx", fail_open=True)("Where was Albert Einstein born?")
    r = result.report
    assert r.checked is False and r.risk is None and not r.flagged
    assert r.to_dict()["risk"] is None and json.loads(r.to_json())["risk"] is None
    assert "risk unchecked" in r.render_text(color=False) and "risk unchecked" in r.render_html()


# ---- item 7: an uncheckable question --------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [None, "I am fine, thank you."])
def test_a_question_without_entities_is_uncheckable_in_both_stages(index, answer):
    r = assess(NO_ENTITY_Q, answer, index=index, retrieve=False)
    assert r.coverage == "unknown" and r.risk == 0.5 and r.decision == "retrieve" and r.flagged
    assert any("names no entity" in x for x in r.reasons)
    argv = ["-q", NO_ENTITY_Q] + (["-a", answer] if answer else [])
    assert risk_cli(index, *argv).exit_code == 1
    creative = assess(NO_ENTITY_Q, answer, index=index, mode="creative", retrieve=False)
    assert creative.decision == "pass" and creative.risk == 0.5 and not creative.flagged
    assert risk_cli(index, *argv, "--mode", "creative").exit_code == 0


def test_no_evidence_risk_is_the_risk_of_an_uncheckable_question(index):
    assert assess(NO_ENTITY_Q, index=index, retrieve=False, no_evidence_risk=0.7).risk == 0.7


def test_report_flagged_is_a_pure_function_of_decision_and_blend():
    base = dict(question="q", answer="a", mode="creative", stage="post", risk=0.5, coverage="known")
    assert RiskReport(decision="retrieve", **base).flagged
    assert not RiskReport(decision="pass", **base).flagged
    assert not RiskReport(decision="sanctioned_blend", blend={"kind": "near", "flagged": False}, **base).flagged
    assert RiskReport(decision="sanctioned_blend", blend={"kind": "unknown_entity", "flagged": True}, **base).flagged


# ---- item 10: a damaged passages table is an error, not a quieter gate -----------------------------------------
def _copy_index(index, dest):
    import shutil

    shutil.copytree(index, dest)
    return dest


def test_unreadable_passages_table_is_an_index_error(index, tmp_path):
    from quco.errors import IndexCorruptError

    bad = _copy_index(index, tmp_path / "bad.idx")
    p = bad / "passages.parquet"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(IndexCorruptError, match="passages.parquet"):
        assess("Where was Marie Curie born?", "Warsaw", index=bad, retrieve=False)
    r = risk_cli(bad, "-q", "Where was Marie Curie born?", "-a", "Warsaw")
    assert r.exit_code == 2 and "passages.parquet" in r.stderr and "Traceback" not in r.output


def test_passages_without_titles_mean_frequency_alone(index, tmp_path):
    """A corpus without titles is not damage: coverage then rests on frequency (``titled=None``)."""
    import pyarrow.parquet as pq

    plain = _copy_index(index, tmp_path / "plain.idx")
    p = plain / "passages.parquet"
    import pyarrow as pa

    table = pq.read_table(p)
    pq.write_table(table.set_column(table.schema.get_field_index("title"), "title",
                                    pa.nulls(table.num_rows, pa.string())), p)
    from quco.index_builder.bm25_build import build_retrieval

    build_retrieval(plain)  # the retrieval of a titleless corpus (passage support reads it)
    from quco.gate.scoring import title_hashes

    r = assess("Where was Marie Curie born?", "Marie Curie was born in Warsaw.", index=plain, retrieve=False)
    assert r.checked and r.coverage in ("known", "sparse")
    from quco.gate.assess import resolve_index

    assert title_hashes(resolve_index(plain)).shape[0] == 0


# ---- item 9: risk is monotone in co-occurrence, for assess under every option ---------------------------------
MONO_NAMES = ["Ada Lovelace", "Charles Babbage", "Royal Society", "Analytical Engine"]
FILL = " ".join(["word"] * 40)


def _mono_corpus(k: int) -> str:
    """100 documents of equal length, no titles; Ada Lovelace in 0-11, Charles Babbage in 12-k .. 23-k: together
    in k of them, with the same frequencies (12 and 12) for every k. Both meet the Royal Society and the
    Analytical Engine once (A alone in document 0, B alone in 12, for every k): an unseen pair has strongly
    associated neighbours in common (second-order evidence), and those counts never move. Frequent enough that
    one document together is below chance (NPMI < 0): the case where second-order support used to win."""
    docs = []
    for d in range(100):
        names = []
        if d < 12:
            names.append("Ada Lovelace")
        if 12 - k <= d < 24 - k:
            names.append("Charles Babbage")
        if d in (0, 12):
            names += ["Royal Society", "Analytical Engine"]
        docs.append(json.dumps({"id": f"d{d}", "text": " ".join(names) + " " + FILL}) + "\n")
    return "".join(docs)


def _gazetteer_indexes(root, corpora: dict, **build) -> dict:
    """An index of each JSONL corpus text in ``corpora`` (by its key), over a gazetteer of MONO_NAMES; their
    directories by key."""
    names = root / "names.txt"
    names.write_text("\n".join(MONO_NAMES) + "\n")
    out = {}
    for i, (key, text) in enumerate(corpora.items()):
        corpus = root / f"c{i}.jsonl"
        corpus.write_text(text)
        build_index([str(corpus)], str(root / f"c{i}.idx"), extractor="gazetteer", entities=str(names),
                    harvest_sample=0, workers=1, progress=False, **build)
        out[key] = root / f"c{i}.idx"
    return out


@pytest.fixture(scope="module")
def mono_indexes(tmp_path_factory):
    # with retrieval: passage support is scored
    return _gazetteer_indexes(tmp_path_factory.mktemp("mono"), {k: _mono_corpus(k) for k in range(4)})


def _options():
    from quco.gate.scoring import ASSOCIATIONS

    for association in ASSOCIATIONS:
        for neighbour_weight in (0.0, 0.5, 1.0):
            for scope in ("document", "window"):
                yield dict(association=association, neighbour_weight=neighbour_weight, scope=scope)
    for aggregate in ("auto", "auto-min", "min", "max", "mean"):
        for claims in (True, False):
            yield dict(aggregate=aggregate, claims=claims, neighbour_weight=0.5)
    for passage_weight in (0.0, 0.5, 1.0):
        for pass_passage in (0.0, 0.9):
            yield dict(passage_weight=passage_weight, pass_passage=pass_passage, neighbour_weight=0.5)
    for article_support, unlinked_penalty, unseen_no_article_support in ((-1.0, 0.0, -1.0), (0.4, 0.4, -1.0),
                                                                         (0.9, 1.0, 0.0)):
        yield dict(article_support=article_support, unlinked_penalty=unlinked_penalty,
                   unseen_no_article_support=unseen_no_article_support)
    yield dict(pair_kinds=("question-answer", "answer-answer"), neighbour_weight=0.5)
    yield dict(coverage_of="best", known_needs_title=False, neighbour_weight=1.0)


@pytest.mark.parametrize("answer", ["Charles Babbage.", "It was Charles Babbage, at the Royal Society.",
                                    "Charles Babbage and the Analytical Engine."])
def test_more_cooccurrence_never_raises_the_risk_of_assess(mono_indexes, answer):
    from quco.cooccur.index import Index

    ixs = {k: Index(p) for k, p in mono_indexes.items()}
    for k, ix in ixs.items():  # the corpus is as designed: only the joint count moves
        assert (ix.freq("Ada Lovelace"), ix.freq("Charles Babbage")) == (12, 12)
        assert ix.cooc("Ada Lovelace", "Charles Babbage", scope="document") == k
        for other in MONO_NAMES[2:]:
            assert ix.cooc("Ada Lovelace", other, scope="document") == ix.cooc("Charles Babbage", other) == 1
    question = "Who worked with Ada Lovelace?"
    for opts in _options():
        for mode in ("factual", "creative"):
            reports = [assess(question, answer, index=ixs[k], mode=mode, retrieve=False, **opts) for k in range(4)]
            risks = [r.risk for r in reports]
            if mode == "factual" and opts.get("passage_weight", GateConfig.passage_weight) > 0:
                assert all(r.passage_support for r in reports), opts  # the passages were asked, on every index
            assert all(a >= b - 1e-9 for a, b in zip(risks, risks[1:])), (opts, mode, risks)


def test_an_unseen_pair_never_scores_safer_than_a_pair_seen_once(mono_indexes):
    """The case of the issue: with neighbour_weight > 0, second-order support used to beat one real document."""
    from quco.cooccur.index import Index

    q, a = "Who worked with Ada Lovelace?", "Charles Babbage."
    for w in (0.5, 1.0):
        unseen = assess(q, a, index=Index(mono_indexes[0]), retrieve=False, neighbour_weight=w)
        once = assess(q, a, index=Index(mono_indexes[1]), retrieve=False, neighbour_weight=w)
        assert unseen.pairs and unseen.pairs[0].unseen and not once.pairs[0].unseen
        assert unseen.risk >= once.risk


# ---- item 8: every item of a list answer is checked -------------------------------------------------------------
@pytest.mark.parametrize("answer", ["Warsaw and Ulm.", "Ulm and Warsaw", "Warsaw, Paris and Ulm."])
def test_a_fabricated_list_item_does_not_ride_through(index, answer):
    """Marie Curie meets Warsaw and Paris in the corpus, never Ulm: a list with Ulm in it must not pass."""
    r = assess("In which cities did Marie Curie live?", answer, index=index, retrieve=False)
    assert r.decision == "retrieve" and r.flagged
    assert any(p.unseen and "Ulm" in (p.a, p.b) for p in r.pairs)


def test_a_list_of_supported_items_passes(index):
    r = assess("In which cities did Marie Curie live?", "Warsaw and Paris.", index=index, retrieve=False)
    assert r.decision == "pass" and not r.flagged


# ---- item 1: the subject hint, everywhere a check runs ----------------------------------------------------------
def test_wrap_takes_the_subject_hint_per_request(index):
    llm = Recorder(right_when=None, wrong="Warsaw.")
    plain = wrap(llm, index=index, on_risk="annotate")("Where was she born?")
    hinted = wrap(llm, index=index, on_risk="annotate")("Where was she born?", subject="Marie Curie")
    assert plain.report.coverage == "unknown" and plain.report.flagged
    assert hinted.report.coverage != "unknown"
    assert any(e.text == "Marie Curie" for e in hinted.report.entities)
    assert any(p.cooccurrence > 0 for p in hinted.report.pairs)


def _titled_corpus(k: int, apart: bool = False) -> str:
    """Like :func:`_mono_corpus`, but with titles: document 0 is Ada Lovelace's article, document 12 Charles
    Babbage's. Together in k documents (12-k .. 11); with k >= 1 the Babbage documents 12-k .. 11 overlap Ada's,
    and from k = 12 on Ada's article (document 0) mentions Babbage: the pair goes unseen -> unlinked -> linked.
    ``apart``: each name in a paragraph of its own (a blank line between), so that the two never share one."""
    docs = []
    for d in range(100):
        names = []
        if d < 12:
            names.append("Ada Lovelace")
        if 12 - k <= d < 24 - k or (d == 12):
            names.append("Charles Babbage")
        title = {0: "Ada Lovelace", 12: "Charles Babbage"}.get(d, f"Page {d}")
        text = "\n\n".join(f"{n} {FILL}" for n in names) if apart and names else " ".join(names) + " " + FILL
        docs.append(json.dumps({"id": f"d{d}", "title": title, "text": text}) + "\n")
    return "".join(docs)


@pytest.fixture(scope="module")
def titled_indexes(tmp_path_factory):
    """Indexes of :func:`_titled_corpus` for k = 0, 1, 11, 12, the names in one paragraph (False) or apart (True)."""
    from quco.cooccur.index import Index

    corpora = {(apart, k): _titled_corpus(k, apart) for apart in (False, True) for k in (0, 1, 11, 12)}
    built = _gazetteer_indexes(tmp_path_factory.mktemp("titled"), corpora, blend=False)
    return {key: Index(path) for key, path in built.items()}


def test_the_article_rules_keep_the_risk_monotone(titled_indexes):
    """As the joint count grows (0, 1, 11, 12), the pair goes from unseen to unlinked (or apart) to linked; under
    every setting of the article rules the risk never rises, and the rules did run (the reports say so)."""
    q, a = "Who worked with Ada Lovelace?", "Charles Babbage."
    for apart in (False, True):
        ixs = [titled_indexes[apart, k] for k in (0, 1, 11, 12)]
        assert [ix.cooc("Ada Lovelace", "Charles Babbage", scope="document") for ix in ixs] == [0, 1, 11, 12]
        seen = "apart" if apart else "unlinked"
        for (support, penalty, silent, far), weight in itertools.product(
                ((0.4, 0.4, -1.0, 1.2), (0.9, 1.0, 0.0, 1.5), (-1.0, 2.0, 0.5, 3.0), (0.4, 0.1, -1.0, 0.3)),
                (0.0, 0.6)):
            reports = [assess(q, a, index=ix, retrieve=False, article_support=support, unlinked_penalty=penalty,
                              unseen_no_article_support=silent, apart_penalty=far, passage_weight=weight)
                       for ix in ixs]
            assert [r.pairs[0].article for r in reports] == ["unlinked", seen, seen, "linked"]
            risks = [r.risk for r in reports]
            assert all(x >= y - 1e-9 for x, y in zip(risks, risks[1:])), (support, penalty, silent, far, risks)


def test_names_that_never_share_a_paragraph_are_apart(titled_indexes):
    """Same counts, same articles: a pair that only meets in different paragraphs scores riskier than one that
    shares a paragraph, for a one-claim answer; the rule is off at apart_penalty <= unlinked_penalty, and a
    longer answer is left to the unlinked penalty unless apart_short_only is False."""
    q = "Who worked with Ada Lovelace?"
    near, far = titled_indexes[False, 11], titled_indexes[True, 11]
    assert near.phrases.together("Ada Lovelace", "Charles Babbage") is True
    assert far.phrases.together("Ada Lovelace", "Charles Babbage") is False
    assert far.phrases.together("Ada Lovelace", "Zorblax Quintavius") is None  # never occurs: cannot say
    a = "Charles Babbage."
    r_near, r_far = (assess(q, a, index=ix, retrieve=False, passage_weight=0.0) for ix in (near, far))
    assert (r_near.pairs[0].article, r_far.pairs[0].article) == ("unlinked", "apart")
    assert r_far.risk > r_near.risk
    assert "never in one paragraph" in r_far.render_text(color=False)
    assert "<td>apart</td>" in r_far.render_html() and "<td>unlinked</td>" in r_near.render_html()
    off = assess(q, a, index=far, retrieve=False, passage_weight=0.0, apart_penalty=0.4)
    assert off.pairs[0].article == "unlinked" and off.risk == r_near.risk
    long = "I believe that it was Charles Babbage who worked with her for many years."
    assert assess(q, long, index=far, retrieve=False).pairs[0].article == "unlinked"
    assert assess(q, long, index=far, retrieve=False, apart_short_only=False).pairs[0].article == "apart"
