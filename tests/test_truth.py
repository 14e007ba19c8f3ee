"""Every decision tells the truth (issue #14): one definition of "flagged", no figure for a check that never ran,
an uncheckable question said to be one, every item of a list answer checked, risk monotone under every option.

Runs against a real index of a six-article corpus (the one of ``test_wrap``): Marie Curie co-occurs with Warsaw,
Albert Einstein with Ulm and never with Warsaw; "Zorblax Quintavius" occurs nowhere.
"""
from __future__ import annotations

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
    pq.write_table(pq.read_table(p).drop(["title"]), p)
    from quco.gate.scoring import title_hashes

    r = assess("Where was Marie Curie born?", "Marie Curie was born in Warsaw.", index=plain, retrieve=False)
    assert r.checked and r.coverage in ("known", "sparse")
    from quco.gate.assess import resolve_index

    assert title_hashes(resolve_index(plain)).shape[0] == 0
