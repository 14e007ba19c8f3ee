"""The tokenizer (numba) against its plain-Python reference, and the normalizer's rules."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quco.cooccur.normalize import (key_hash, key_tokens, key_tokens_py, normalize, token_hash_py, tokenize,
                                   tokenize_py)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_tokenize_matches_reference(text):
    h, s, e = tokenize(text)
    ref = tokenize_py(text)
    assert [(int(a), int(b)) for a, b in zip(s, e)] == [(a, b) for _, a, b in ref]
    assert [int(x) for x in h] == [token_hash_py(t) for t, _, _ in ref]


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_offsets_point_into_the_original_text(text):
    for tok, s, e in tokenize_py(text):
        assert len(text[s:e]) == len(tok)


def test_normalizer_rules():
    assert normalize("Marie Curie") == normalize("marie curie") == normalize("MARIE  CURIE") == "marie curie"
    assert normalize("The Nobel Prize") == "nobel prize"
    assert normalize("Marie Curie's") == "marie curie"
    assert normalize("the Beatles\u2019") == "beatles"
    assert normalize("Ｗａｒｓａｗ") == "warsaw"  # NFKC full-width
    assert normalize("Saint-Étienne") == "saint étienne"
    assert normalize("The") == "the"  # a lone article is kept
    assert normalize("  ") == ""
    assert key_hash("WARSAW") == key_hash("warsaw")
    assert key_hash("Warsaw") != key_hash("Warsa")


@pytest.mark.parametrize("text", [
    "Beethoven's", "Jones'", "Smith’s", "The Beatles", "J.R.R. Tolkien", "Saint-Étienne", "Ｗａｒｓａｗ",
    "İstanbul", "Straße", "ΣΊΣΥΦΟΣ", "Ǆemal", "A", "The", "Jean-Paul Sartre", "Ⅻ Legion", "Ǌ’s", "x\U0001F600y",
    "x\ud800y Zoë", "ABC def", "The  Who's",
])
def test_key_tokens_match_reference(text):
    assert key_tokens(text) == key_tokens_py(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_key_tokens_match_reference_on_random_text(text):
    assert key_tokens(text) == key_tokens_py(text)
