"""RiskReport renders: JSON, highlighted text, HTML with the unsupported pair's entities marked."""
from __future__ import annotations

import json

from quco.gate.report import EntityHit, PairCheck, RiskReport


def _report() -> RiskReport:
    q, a = "Where was Albert Einstein born?", "Albert Einstein was born in Warsaw <b>."
    return RiskReport(
        question=q, answer=a, mode="factual", decision="retrieve", stage="post", risk=1.0, coverage="known",
        entities=[EntityHit("Albert Einstein", "albert einstein", 10, 25, "question", 2, "PERSON"),
                  EntityHit("Albert Einstein", "albert einstein", 0, 15, "answer", 2, "PERSON"),
                  EntityHit("Warsaw", "warsaw", 28, 34, "answer", 3, "GPE"),
                  EntityHit("Pierre Curie", "pierre curie", 0, 0, "other", 3, "PERSON")],
        pairs=[PairCheck("Albert Einstein", "Warsaw", 0, True, "question-answer", 2, 3, -1.0, 1.0)])


def test_json_round_trip():
    d = json.loads(_report().to_json())
    assert d["decision"] == "retrieve" and d["flagged"] is True and d["pairs"][0]["unseen"] is True
    assert {"risk", "decision", "stage", "mode", "entities", "pairs", "evidence", "blend"} <= d.keys()


def test_text_marks_entities_with_their_frequency():
    text = _report().render_text(color=False)
    assert "[Albert Einstein|2] was born in [Warsaw|3]" in text
    coloured = _report().render_text(color=True)
    assert "\x1b[1;31m[Warsaw|3]\x1b[0m" in coloured  # unsupported: red


def test_html_escapes_and_marks_the_risky_entities():
    page = _report().render_html()
    assert page.count('<mark class="risky">') == 3 and "&lt;b&gt;" in page and "<b>." not in page
