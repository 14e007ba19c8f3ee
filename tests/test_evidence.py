"""Evidence from the index: passages where both entities of a pair occur."""
from __future__ import annotations

from quco.cooccur.index import Index
from quco.gate.evidence import passages_with_both


def test_passages_with_both_agree_with_the_counts(six_spacy):
    ix = Index(six_spacy)
    got = passages_with_both(ix, "Alan Turing", "Bletchley Park", k=5)
    assert {p["title"] for p in got} == {"Alan Turing", "Bletchley Park"}  # the two documents counted
    assert all("Turing" in p["text"] or "Turing" in p["title"] for p in got)
    assert passages_with_both(ix, "Ada Lovelace", "Alan Turing") == []  # never together: no evidence
    assert passages_with_both(ix, "", "London") == []
