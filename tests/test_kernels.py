"""Every numba kernel against its plain-Python reference, on random inputs."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quco.cooccur import kernels as K
from quco.cooccur.gazetteer import Gazetteer, match_py
from quco.cooccur.normalize import combine, token_hash_py, tokenize

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def mention_batches(draw):
    n_docs = draw(st.integers(0, 6))
    n_ent = draw(st.integers(1, 12))
    offsets, ents, poss = [0], [], []
    for _ in range(n_docs):
        m = draw(st.integers(0, 15))
        pos = sorted(draw(st.lists(st.integers(0, 60), min_size=m, max_size=m)))
        ents += draw(st.lists(st.integers(0, n_ent - 1), min_size=m, max_size=m))
        poss += pos
        offsets.append(offsets[-1] + m)
    window = draw(st.integers(0, 70))
    return (np.array(offsets, np.int64), np.array(ents, np.int32), np.array(poss, np.int64), window, n_ent)


@SETTINGS
@given(mention_batches())
def test_emit_pairs_matches_reference(b):
    offsets, ent, pos, window, _ = b
    got = K.emit_pairs(offsets, ent, pos, window)
    # per document the kernel's keys are distinct; compare the multiset over the batch
    assert sorted(got.tolist()) == sorted(K.emit_pairs_py(offsets, ent, pos, window))


@SETTINGS
@given(mention_batches())
def test_doc_entities_matches_reference(b):
    offsets, ent, _, _, n_ent = b
    assert K.doc_entities(offsets, ent, n_ent).tolist() == K.doc_entities_py(offsets, ent, n_ent)


@SETTINGS
@given(st.lists(st.integers(-(2**40), 2**40), max_size=300))
def test_count_keys_matches_counter(keys):
    uk, cnt = K.count_keys(np.array(keys, dtype=np.int64))
    assert dict(zip(uk.tolist(), cnt.tolist())) == K.count_keys_py(keys)
    assert np.all(np.diff(uk) > 0)


@SETTINGS
@given(st.dictionaries(st.integers(0, 500), st.integers(1, 9)), st.dictionaries(st.integers(0, 500), st.integers(1, 9)))
def test_merge_sum_matches_reference(d1, d2):
    k1 = np.array(sorted(d1), dtype=np.int64)
    k2 = np.array(sorted(d2), dtype=np.int64)
    c1 = np.array([d1[k] for k in sorted(d1)], dtype=np.int64)
    c2 = np.array([d2[k] for k in sorted(d2)], dtype=np.int64)
    ko, co = K.merge_sum(k1, c1, k2, c2)
    assert dict(zip(ko.tolist(), co.tolist())) == K.merge_sum_py(k1, c1, k2, c2)
    assert np.all(np.diff(ko) > 0)


@SETTINGS
@given(st.lists(st.lists(st.integers(0, 50), max_size=40), max_size=8))
def test_pair_accumulator_equals_one_big_count(runs):
    acc = K.PairAccumulator()
    for r in runs:
        acc.add_keys(np.array(r, dtype=np.int64))
    keys, counts = acc.result()
    assert dict(zip(keys.tolist(), counts.tolist())) == K.count_keys_py([k for r in runs for k in r])


WORDS = ["marie", "curie", "warsaw", "the", "nobel", "prize", "paris", "x", "Marie", "CURIE"]


@SETTINGS
@given(st.lists(st.sampled_from(WORDS + [",", ".", "\n\n"]), max_size=40),
       st.lists(st.lists(st.sampled_from(WORDS[:8]), min_size=1, max_size=3), min_size=1, max_size=6))
def test_gazetteer_match_matches_reference(words, entries):
    text = " ".join(words)
    g = Gazetteer.from_entries((" ".join(e), "X") for e in entries)
    h, s, _ = tokenize(text)
    seg = np.cumsum([0] + ["\n\n" in text[s[i - 1]:s[i]] for i in range(1, len(s))]).astype(np.int64)
    first, length, entry = g.match(h, seg)
    table = {int(hh): i for i, hh in enumerate(g.hashes)}
    assert list(zip(first.tolist(), length.tolist(), entry.tolist())) == match_py(h.tolist(), seg.tolist(), table, g.max_n)


def test_gazetteer_longest_match_and_boundaries():
    g = Gazetteer.from_entries([("Marie", "PERSON"), ("Marie Curie", "PERSON"), ("Curie", "PERSON")])
    h, _, _ = tokenize("Marie Curie met Curie. Marie")
    first, length, entry = g.match(h, np.zeros(len(h), np.int64))
    assert [g.keys[e] for e in entry] == ["marie curie", "curie", "marie"]
    assert length.tolist() == [2, 1, 1]
    # the same two tokens in different segments are not one mention
    first, length, entry = g.match(h[:2], np.array([0, 1]))
    assert [g.keys[e] for e in entry] == ["marie", "curie"]


def test_key_hash_is_the_ngram_hash():
    h, _, _ = tokenize("Nobel   PRIZE")
    assert combine(h.tolist()) == combine([token_hash_py("nobel"), token_hash_py("prize")])
