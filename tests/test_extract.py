"""Query-time extraction: dictionary matches, unknown capitalized names, segments."""
from __future__ import annotations

import pytest

from quco.cooccur.extract import GazetteerExtractor, SpacyExtractor, split_segments
from quco.cooccur.gazetteer import Gazetteer


@pytest.fixture(scope="module")
def gx() -> GazetteerExtractor:
    return GazetteerExtractor(Gazetteer.from_entries(
        [("Marie Curie", "PERSON"), ("Warsaw", "GPE"), ("Empire", "TITLE"), ("Bank of England", "ORG"),
         ("London", "GPE"), ("The Lord of the Rings", "WORK_OF_ART")]))


def spans(ms):
    return [(m.text, m.key, m.label) for m in ms]


def test_matches_keep_char_offsets(gx):
    text = "Was Marie Curie's home in Warsaw?"
    ms = gx.extract(text)
    assert spans(ms) == [("Marie Curie", "marie curie", "PERSON"), ("Warsaw", "warsaw", "GPE")]
    assert all(text[m.start:m.end] == m.text for m in ms)


@pytest.mark.parametrize("text,expected", [
    ("Who founded the Zorblaxian Empire?", [("Zorblaxian Empire", "zorblaxian empire", "UNKNOWN")]),
    ("Where is Xanthor?", [("Xanthor", "xanthor", "UNKNOWN")]),
    ("Is the Bank of England in London?", [("Bank of England", "bank of england", "ORG"),
                                            ("London", "london", "GPE")]),
    ("Who wrote The Lord of the Rings?", [("Lord of the Rings", "lord of the rings", "WORK_OF_ART")]),
    ("Marie Curie was born in Ulmington, Warsaw.", [("Marie Curie", "marie curie", "PERSON"),
                                                   ("Ulmington", "ulmington", "UNKNOWN"),
                                                   ("Warsaw", "warsaw", "GPE")]),
    ("Write a poem. Imagine a city.", []),  # capitalized sentence starts are not names
])
def test_unknown_capitalized_names(gx, text, expected):
    assert spans(gx.extract(text)) == expected


def test_unknown_names_can_be_turned_off(gx):
    assert spans(gx.extract("Who founded the Zorblaxian Empire?", unknown=False)) == [("Empire", "empire", "TITLE")]


def test_no_span_crosses_a_blank_line(gx):
    text = "Marie\n\nCurie went to Warsaw"
    assert [m.key for m in gx.extract(text, unknown=False)] == ["warsaw"]
    assert split_segments("a\n\n b\n \nc") == [(0, "a"), (3, " b"), (8, "c")]


def test_spacy_extractor_offsets_and_segments():
    sx = SpacyExtractor()
    text = "Nobel Prize\n\nThe Nobel Prize went to Marie Curie in Warsaw."
    ms = sx.extract(text)
    assert all(text[m.start:m.end] == m.text for m in ms)
    assert not any("\n" in m.text for m in ms)
    assert "marie curie" in [m.key for m in ms]
