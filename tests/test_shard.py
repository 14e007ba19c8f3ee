"""A document longer than a batch is counted in pieces, with exactly the counts of one piece."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quco.cooccur.extract import GazetteerExtractor
from quco.cooccur.gazetteer import Gazetteer
from quco.cooccur.types import Document
from quco.index_builder.shard import process_shard

NAMES = ["Ada Lovelace", "London", "Charles Babbage", "Paris", "Alan Turing"]
GX = GazetteerExtractor(Gazetteer.from_entries((n, "X") for n in NAMES))


def _partial(tmp, docs, batch_chars, window):
    process_shard("s", docs, GX, window, tmp, batch_chars=batch_chars)
    part = tmp / "partials" / "s"
    return [np.load(part / f).tolist() for f in ("pairs_vocab.npy", "pairs_indptr.npy", "pairs_partner.npy",
                                                 "pairs_n.npy")], \
        (part / "stats.json").read_text()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.lists(st.sampled_from(NAMES + ["word", "other"]), max_size=30), min_size=1,
                         max_size=8), min_size=1, max_size=5),
       st.integers(20, 400), st.integers(1, 60))
def test_pieces_equal_whole(tmp_path_factory, docs_words, batch_chars, window):
    docs = [Document(f"d{i}", f"Doc {i}", [" ".join(p) or "x" for p in paras]) for i, paras in enumerate(docs_words)]
    whole, stats_whole = _partial(tmp_path_factory.mktemp("whole"), docs, 10**9, window)
    cut, stats_cut = _partial(tmp_path_factory.mktemp("cut"), docs, batch_chars, window)
    assert cut == whole
    import json

    a, b = json.loads(stats_whole), json.loads(stats_cut)
    for k in ("documents", "tokens", "mentions", "pair_instances", "entities", "pairs"):
        assert a[k] == b[k], k
