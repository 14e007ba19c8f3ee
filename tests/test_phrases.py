"""The capitalized-phrase harvest (index_builder/phrases.py): the rule set on hand-written paragraphs, the counts
against a plain-Python reference, merging and pickling."""
from __future__ import annotations

import pickle
import random
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quco.cooccur.extract import english_stop_words
from quco.cooccur.normalize import normalize
from quco.cooccur.types import Document
from quco.index_builder.phrases import (LowerCounts, PhraseCounts, candidates, merge_counts, scan,
                                        select)


def surfaces(text: str, **kw) -> list[str]:
    return [s for s, _, _ in candidates(text, **kw)]


def docs(*texts: str) -> list[Document]:
    """One document per argument; paragraphs separated by a blank line."""
    return [Document(f"d{i}", None, t.split("\n\n")) for i, t in enumerate(texts)]


def entries(*texts: str, **kw) -> list[str]:
    return [text for text, _ in select(scan(docs(*texts)), **kw)]


# ------------------------------------------------------------------------------------------------- rules 1-2


def test_connectors_join_capitalized_tokens():
    text = ("He met Ludwig van Beethoven at the Bank of England and saw Rogier van der Weyden, "
            "Pierre de la Rue and Ortega y Gasset in Rio de Janeiro.")
    assert surfaces(text) == ["Ludwig van Beethoven", "Bank of England", "Rogier van der Weyden", "Pierre de la Rue",
                              "Ortega y Gasset", "Rio de Janeiro"]
    # a connector only joins two capitalized tokens; "the" and "and" are not connectors
    assert surfaces("the Bank of the city and Smith of london") == ["Bank", "Smith"]
    assert surfaces("Lord of the Rings or Tom and Jerry") == ["Lord", "Rings", "Tom", "Jerry"]


def test_initials_and_abbreviations():
    text = ("by J. R. R. Tolkien and J.R.R. Tolkien in St. Louis near Mt. Everest and Ft. Worth with "
            "Martin Luther King Jr. and Dr. Watson of the U.S. Army")
    assert surfaces(text) == ["J. R. R. Tolkien", "J.R.R. Tolkien", "St. Louis", "Mt. Everest", "Ft. Worth",
                              "Martin Luther King Jr.", "Dr. Watson", "U.S. Army"]
    # other abbreviations end the run at their period
    assert surfaces("in Apple Inc. Sales rose") == ["Apple Inc", "Sales"]
    assert normalize("J.R.R. Tolkien") == "j r r tolkien"


def test_tokens_hold_letters_digits_apostrophes_and_hyphens():
    assert surfaces("the Jean-Paul Sartre Prize by O'Brien, Émile Zola, Boeing 747s and Apollo 11") == [
        "Jean-Paul Sartre Prize", "O'Brien", "Émile Zola", "Boeing", "Apollo"]
    # a run does not start inside a token or after a period, hyphen or apostrophe that follows a word
    assert surfaces("the iPhone, Franco-Prussian, d'Alembert, Ph.D. and x.Net") == ["Franco-Prussian", "Ph"]


def test_possessive_splits_the_run():
    assert surfaces("the Beethoven's Symphony No. 9") == ["Beethoven's", "Symphony"]
    assert surfaces("in Jones' Farm and Smith’s Big Shop") == ["Jones'", "Farm", "Smith’s", "Big Shop"]
    assert normalize("Beethoven's") == "beethoven"


def test_stop_words_are_trimmed_at_both_ends():
    assert surfaces("The Beatles") == ["Beatles"]
    assert surfaces("and In Paris we") == ["Paris"]
    assert surfaces("However, the A Tribe Called Quest") == ["Tribe Called Quest"]
    assert surfaces("with Smith And, Bank of The") == ["Smith", "Bank"]
    assert surfaces("It's Raining Men") == ["Raining Men"]  # "It's" is a stop word with its 's
    assert surfaces("The, However, Nevertheless") == []
    assert surfaces("saw 'The' and 'A' or 'Rome'") == ["Rome"]  # without the closing quote
    assert surfaces("saw 'Hello World The' and 'The Hello'") == ["Hello World", "Hello"]
    # a stop word inside the run stays
    assert surfaces("played in Pride And Prejudice") == ["Pride And Prejudice"]


def test_length_cap():
    seven = "Alpha Beta Gamma Delta Epsilon Zeta Eta"
    assert surfaces(f"x {seven} y") == [seven]
    assert surfaces(f"x {seven} Theta y") == []  # 8 tokens: dropped
    assert surfaces(f"x The {seven} y") == [seven]  # 7 once "The" is trimmed
    assert surfaces(f"x {seven} Theta y", max_tokens=8) == [seven + " Theta"]
    assert surfaces("x Bank of England y", max_tokens=2) == []  # a connector counts as a token


def test_punctuation_ends_a_run():
    assert surfaces("New York, Paris; London: Rome (Italy) and New  York") == [
        "New York", "Paris", "London", "Rome", "Italy", "New", "York"]
    assert surfaces("visited New York.") == ["New York"]
    assert surfaces("He said 'Hello World' to Bob-") == ["Hello World", "Bob"]  # quote/hyphen not in the surface
    assert surfaces("New\tYork") == ["New", "York"]


def test_sentence_initial_words_are_not_mid_sentence():
    text = 'Paris is big. London is too! Rome? Berlin: Madrid, Vienna "Oslo" x  Lisbon. \u201cKyiv'
    mids = {s: mid for s, _, mid in candidates(text)}
    assert mids == {"Paris": False, "London": False, "Rome": False, "Berlin": False, "Madrid": False,
                    "Vienna": True, "Oslo": False, "Lisbon": True, "Kyiv": False}
    # a word after a trimmed stop word is capitalized for itself: mid-sentence
    assert candidates("The Beatles")[0] == ("Beatles", 4, True)
    # paragraphs: each starts a sentence
    assert [m for _, _, m in candidates("Paris\nLondon x Rome")] == [False, False, True]


def test_offsets_point_at_the_surface():
    text = "The Beethoven's Symphony In Paris, said Mr Smith's son. The Bank of England"
    for s, pos, _ in candidates(text):
        assert text[pos:pos + len(s)] == s


# ------------------------------------------------------------------------------------------------- rules 3-4


def test_min_docs_counts_documents_not_occurrences():
    once_twice = "we met Zorbla, Quentin Marsh and Quentin Marsh."
    assert entries(once_twice, "nothing here") == []  # one document, twice
    assert entries(once_twice, "then Quentin Marsh left") == ["Quentin Marsh"]
    assert entries(once_twice, "nothing", min_docs=1) == ["Zorbla", "Quentin Marsh"]
    assert entries(once_twice, "then Quentin Marsh left", "and Quentin Marsh", min_docs=3) == ["Quentin Marsh"]
    assert entries(once_twice, "then Quentin Marsh left", min_docs=3) == []
    assert entries("we met Zorbla, Zorbla and Zorbla", "nothing") == []  # a one-word form, too
    assert entries("we met Zorbla, Zorbla and Zorbla", "and Zorbla") == ["Zorbla"]


def test_one_word_forms_need_more_mid_sentence_than_lower_case_uses():
    # "Apple" twice mid-sentence in two documents
    a, b = "we ate at Apple today", "the Apple shop"
    assert entries(a, b) == ["Apple"]
    assert entries(a, b, "an apple") == ["Apple"]  # 2 > 1
    assert entries(a, b, "an apple, an apple") == []  # 2 > 2 fails: lower case wins ties
    assert entries(a, b, "apples and pineapple and apple-pie") == ["Apple"]  # other words do not count
    # sentence-initial uses do not count for the capitalized side
    assert entries("Apple was here. Apple again", "Apple it is", min_docs=1) == []
    # multi-word forms are not subject to the case rule
    assert entries("the Apple Store", "an Apple Store; an apple store", "apple store") == ["Apple Store"]


def test_case_rule_drops_hyphenated_words_and_stop_words():
    texts = ["However, it rained; it was however dry.", "The Long-term plan. He, however, planned long-term.",
             "Then the Best-known tale, Smith came", "a best-known tale. However, Smith.", "Would-be kings"]
    st = {}
    out = select(scan(docs(*texts)), stats=st, min_docs=1)
    assert [t for t, _ in out] == ["Smith"]
    assert sorted(st["dropped_case"]) == [("Best-known", 1, 1), ("Long-term", 1, 1)]
    assert st["all_stop_words"] == 1  # "Would-be" is "would be"; "However" is a stop word, never a candidate


def test_all_stop_word_keys_are_dropped():
    # "A." is an initial whose key "a" is a stop word; "It's" would be "it"
    assert entries("a kind of A. Then", "by A. Then", min_docs=1) == []


def test_surface_is_the_most_frequent_form_ties_first_seen():
    assert select(scan(docs("x NASA z NASA", "x Nasa z Nasa z Nasa"))) == [("Nasa", "PHRASE")]
    assert select(scan(docs("x NASA z", "x Nasa z"))) == [("NASA", "PHRASE")]
    assert select(scan(docs("x Beethoven's z Beethoven z", "x Beethoven"))) == [("Beethoven", "PHRASE")]


def test_titles_are_not_scanned():
    ds = [Document("a", "Zorbla Quux", ["nothing"]), Document("b", "Zorbla Quux", ["nothing"])]
    assert select(scan(ds)) == []


def test_select_cannot_loosen_the_scan_cap():
    c = scan(docs("x Alpha Beta Gamma y", "x Alpha Beta Gamma y"), max_tokens=3)
    assert select(c, max_tokens=3) == [("Alpha Beta Gamma", "PHRASE")]
    assert select(c, max_tokens=2) == []
    with pytest.raises(ValueError):
        select(c, max_tokens=7)


# ----------------------------------------------------------------------------------- keys and lower-case counts


def test_lower_counts_grow_and_stay_exact():
    rng = random.Random(1)
    words = ["".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(60_000)]
    text = " ".join(words) + " Capital cap-it'al"
    lc = LowerCounts(capacity=16)
    lc.add_text(text)
    ref = Counter(words + ["cap-it'al"])
    assert len(lc) == len(ref)
    probe = list(ref)[:1000] + ["capital", "nowhere"]
    assert lc.count(probe).tolist() == [ref[w] for w in probe]
    # as pairs into another table
    other = LowerCounts()
    other.add_pairs(*lc.pairs())
    other.add_pairs(*lc.pairs())
    assert other.count(probe[:50]).tolist() == [2 * ref[w] for w in probe[:50]]


# ------------------------------------------------------------------------------------- reference, merge, pickle


_WORDS = ["Paris", "London", "Bank", "England", "Marie", "Curie", "Apple", "apple", "paris", "The", "the", "In",
          "of", "van", "de", "J.", "St.", "Beethoven's", "Symphony", "However", "however", "Would-be", "would-be",
          "and", "it", "Émile", "émile", "is"]
_SEPS = [" ", " ", " ", " ", ", ", ". ", "; ", "  ", ": ", ' "']


def _random_docs(seed: int, n: int = 40) -> list[Document]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        paras = []
        for _ in range(rng.randint(1, 3)):
            k = rng.randint(1, 25)
            paras.append("".join(rng.choice(_WORDS) + rng.choice(_SEPS) for _ in range(k)).strip())
        out.append(Document(f"r{i}", "Title", paras))
    return out


def _reference(documents: list[Document], min_docs: int = 2) -> tuple[list[tuple[str, str]], Counter]:
    """The rules 3-4 spelled out with Counters over ``candidates`` (a plain re-implementation of the counting);
    also returns the document frequency of each key."""
    stop = english_stop_words()
    doc_freq, forms, mid, first = Counter(), Counter(), Counter(), {}
    lower = Counter()
    for d in documents:
        text = "\n".join(d.paragraphs)
        keys = set()
        for s, _, m in candidates(text):
            k = normalize(s)
            keys.add(k)
            forms[(k, s)] += 1
            first.setdefault((k, s), len(first))
            mid[s] += m
        doc_freq.update(keys)
        lower.update(w for w in re.findall(r"[\w'’-]+", text) if w[0].islower())
    out = []
    for k in sorted(doc_freq, key=lambda k: min(first[f] for f in first if f[0] == k)):
        if doc_freq[k] < min_docs or all(t in stop for t in k.split()):
            continue
        mine = [(forms[f], -first[f], f[1]) for f in forms if f[0] == k]
        surface = max(mine)[2]
        if " " not in surface:
            ones = [s for _, _, s in mine if " " not in s]
            if sum(mid[s] for s in ones) <= sum(lower[w] for w in {s.lower() for s in ones}):
                continue
        out.append((surface, "PHRASE"))
    return out, doc_freq


@pytest.mark.parametrize("seed", range(5))
def test_scan_and_select_match_the_reference(seed):
    ds = _random_docs(seed)
    c = scan(ds)
    ref, doc_freq = _reference(ds)
    assert select(c) == ref
    assert select(c, min_docs=1) == _reference(ds, min_docs=1)[0]
    assert dict(zip(c.keys, c.key_docs)) == doc_freq


def _state(c: PhraseCounts):
    h, v = c.lower.pairs()
    return (c.n_docs, c.n_chars, c.keys, c.key_docs, c.surfaces, [c.keys[k] for k in c.surf_key], c.surf_count,
            c.surf_mid, h.tolist(), v.tolist())


@pytest.mark.parametrize("seed", range(3))
def test_merged_shards_equal_one_scan(seed):
    ds = _random_docs(seed, n=60)
    whole = scan(ds)
    cuts = sorted(random.Random(seed).sample(range(1, len(ds)), 3))
    shards = [scan(ds[a:b]) for a, b in zip([0] + cuts, cuts + [len(ds)])]
    merged = merge_counts(shards)
    assert _state(merged) == _state(whole)
    assert select(merged) == select(whole) != []
    # merge() in place, shard by shard, through pickles as from worker processes
    acc = pickle.loads(pickle.dumps(shards[0]))
    for s in shards[1:]:
        acc.merge(pickle.loads(pickle.dumps(s)))
    assert _state(acc) == _state(whole)
    assert merge_counts([]).keys == []


def test_pickle_round_trip():
    ds = _random_docs(7)
    c = scan(ds)
    back = pickle.loads(pickle.dumps(c))
    assert _state(back) == _state(c)
    assert select(back) == select(c)
    # the restored counts can still be scanned into and merged
    more = _random_docs(8)
    assert _state(back.add_documents(more)) == _state(scan(ds + more))
    # compact: strings are stored joined, numbers as arrays
    assert len(pickle.dumps(c)) < len(pickle.dumps((c.keys, c.surfaces, c.key_docs, c.surf_key, c.surf_count,
                                                    c.surf_mid))) + 16 * len(c.lower) + 2000
    empty = pickle.loads(pickle.dumps(PhraseCounts()))
    assert empty.keys == [] and select(empty) == []


def test_merge_rejects_different_caps():
    with pytest.raises(ValueError):
        PhraseCounts(7).merge(PhraseCounts(5))
    assert isinstance(np.asarray(scan(docs("x")).key_docs), np.ndarray)
