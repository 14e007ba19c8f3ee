"""Retrieval over an index's passages: both backends, their parity, persistence, and the errors a user can cause."""
from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quco.cooccur.bm25 as bm25
import quco.index_builder.bm25_build as bm25_build
from quco.cooccur.normalize import token_hash_py, tokenize_py
from quco.errors import BadInputError, ConfigError, IndexCorruptError, IndexNotFoundError, UnknownComponentError
from quco.cooccur.bm25 import Passage, Retriever, load_retriever, tokenize_for_bm25
from quco.index_builder.bm25_build import build_retrieval

BACKENDS = ("bm25s", "rank_bm25")

# (doc_id, title, text, a query only this passage answers)
DISTINCT = [
    ("d1", "Eiffel Tower", "The wrought-iron lattice tower on the Champ de Mars in Paris was designed by Gustave "
     "Eiffel's company for the 1889 World's Fair.", "Gustave Eiffel lattice Paris"),
    ("d1", "Eiffel Tower", "Visitors climb 674 steps to the second platform; lifts carry them to the summit.",
     "Eiffel Tower steps platform lifts"),
    ("d2", "Marie Curie", "Marie Curie discovered polonium and radium and won Nobel Prizes in physics and chemistry.",
     "Curie polonium radium"),
    ("d3", "Amazon River", "The Amazon River drains the largest rainforest basin and discharges more water than any "
     "other river.", "Amazon rainforest basin discharge water"),
    ("d4", "Mount Kilimanjaro", "Kilimanjaro is a dormant volcano in Tanzania with three volcanic cones: Kibo, "
     "Mawenzi and Shira.", "Kilimanjaro Tanzania volcano Kibo"),
    ("d5", "Johann Sebastian Bach", "Bach composed the Brandenburg Concertos, the Goldberg Variations and the Mass "
     "in B minor in Leipzig.", "Bach Brandenburg Goldberg Leipzig"),
    ("d6", "Great Barrier Reef", "The Great Barrier Reef off Queensland is the largest coral reef system, visible "
     "from orbit.", "coral reef Queensland"),
    ("d7", "Ada Lovelace", "Ada Lovelace wrote the first algorithm intended for Charles Babbage's Analytical "
     "Engine.", "Lovelace Babbage Analytical Engine algorithm"),
    ("d8", "Sahara", "The Sahara is the largest hot desert; its dunes, ergs and regs cover much of North Africa.",
     "Sahara desert dunes ergs"),
    ("d9", "Ångström", "Anders Ångström studied spectroscopy; the ångström unit of length honours him.",
     "ångström spectroscopy unit"),
]
SYLLABLES = "ka lo mi ru sen ta vo ne pi dar gu fe".split()
FILLER = sorted({a + b + c for a in SYLLABLES for b in SYLLABLES for c in ("", "n")})[:150]  # made-up words
TIED_TEXT = "Three identical passages about the quokka of Rottnest Island."
COMMON = "world"  # in more than half the passages: its idf is floored at 0 by both backends


def _passages(n_filler: int = 110, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = [{"doc_id": d, "title": t, "text": x} for d, t, x, _ in DISTINCT]
    rows += [{"doc_id": "tw", "title": "Triplets", "text": TIED_TEXT} for _ in range(3)]  # exact ties
    for i in range(n_filler):
        words = rng.choices(FILLER, weights=[1 / (r + 1) ** 0.7 for r in range(len(FILLER))], k=rng.randint(20, 60))
        rows.append({"doc_id": f"f{i // 3}", "title": f"Filler {i // 3}", "text": " ".join(words)})
    for row in rows:  # the common word goes into three passages out of four
        if rng.random() < 0.75 and row["text"] != TIED_TEXT:
            row["text"] += f" {COMMON}"
    return [{"passage_id": i, **row} for i, row in enumerate(rows)]


def _write_index(path, rows, row_group_size=None):
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "passages.parquet", row_group_size=row_group_size)
    return path


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    rows = _passages()
    path = _write_index(tmp_path_factory.mktemp("idx"), rows)
    stats = build_retrieval(path, BACKENDS)
    return path, rows, stats


@pytest.fixture(scope="module")
def retrievers(index):
    return {b: load_retriever(index[0], b) for b in BACKENDS}


def _hashes(words: list[str]) -> list[int]:
    return [token_hash_py(w) for w in words]


def test_tokenizer_folds_splits_on_word_chars_and_drops_stopwords():
    got = tokenize_for_bm25(["The Eiffel Tower is in Paris, France!", "Ångström's 1905 paper", "", "of the",
                             "ＰＡＲＩＳ snake_case"])
    assert [g.dtype for g in got] == [np.uint64] * 5
    assert [g.tolist() for g in got] == [
        _hashes(["eiffel", "tower", "paris", "france"]),
        _hashes(["ångström", "1905", "paper"]),  # the possessive "s" is a stopword
        [],
        [],
        _hashes(["paris", "snake", "case"]),  # NFKC folds full-width letters; "_" separates
    ]
    assert tokenize_for_bm25([]) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(list("ab Zé\u0301'_-\n\t1ΣςİıＡ😀") + ["the", "of ", "S"]), max_size=30)
                .map("".join), max_size=8))
def test_batched_tokenization_equals_one_text_at_a_time_and_the_reference(texts):
    """Texts joined into one tokenizer call split back exactly; terms are the reference tokenizer's minus stopwords."""
    got = [g.tolist() for g in tokenize_for_bm25(texts)]
    assert got == [tokenize_for_bm25([t])[0].tolist() for t in texts]
    assert got == [_hashes([w for w, _, _ in tokenize_py(t) if w not in bm25.STOPWORDS]) for t in texts]


def test_the_build_tokenizes_each_passage_as_tokenize_for_bm25_does(tmp_path, monkeypatch):
    monkeypatch.setattr(bm25_build, "READ_BATCH_ROWS", 4)  # passages joined per batch must split back exactly
    rows = _passages(n_filler=6)
    rows[1]["title"], rows[2]["text"], rows[3]["text"] = None, "", "Ends in a word\n\nthen 😀 Ａｌｐｈａ"
    path = _write_index(tmp_path / "idx", rows)
    corpus, _ = bm25_build._read_passages(path, progress=False)
    assert corpus.n == len(rows) and corpus.ids.dtype == np.int32
    assert (corpus.vocab[1:] > corpus.vocab[:-1]).all() and not bm25._is_stopword(corpus.vocab).any()
    for i, row in enumerate(rows):
        want = tokenize_for_bm25([bm25.passage_text(row["title"], row["text"])])[0]
        assert corpus.vocab[corpus.ids[corpus.offsets[i]:corpus.offsets[i + 1]]].tolist() == want.tolist(), i


def test_build_reports_seconds_and_bytes_per_part(index):
    path, _, stats = index
    assert set(stats) == {"passages", *BACKENDS}
    for part in stats.values():
        assert part["seconds"] >= 0 and part["cpu_seconds"] >= 0 and part["bytes"] > 0
    assert stats["passages"]["bytes"] == (path / "passages.parquet").stat().st_size
    assert stats["passages"]["regrouped"] is False  # one small row group already
    assert (path / "retrieval" / "bm25s" / "quco_retrieval.json").is_file()


def test_bm25s_backend_stores_exactly_what_bm25s_indexes(index):
    """Postings, passage ids and every posting's float32 score equal ``bm25s.BM25.index`` on the same term ids."""
    import bm25s

    path = index[0]
    corpus, _ = bm25_build._read_passages(path, progress=False)
    saved = {a: np.load(path / "retrieval" / "bm25s" / f"{a}.npy") for a in bm25.Bm25sRetriever.ARRAYS}
    np.testing.assert_array_equal(np.load(path / "retrieval" / "bm25s" / "vocab.npy"), corpus.vocab)
    docs = [corpus.ids[a:b].tolist() for a, b in zip(corpus.offsets[:-1], corpus.offsets[1:])]
    model = bm25s.BM25(k1=bm25.K1, b=bm25.B, method="atire", idf_method="robertson", backend="numpy")
    model.index((docs, {i: i for i in range(len(corpus.vocab))}), create_empty_token=False, show_progress=False)
    np.testing.assert_array_equal(saved["indptr"], model.scores["indptr"])
    np.testing.assert_array_equal(saved["docs"], model.scores["indices"])
    term = np.repeat(np.arange(len(corpus.vocab)), np.diff(saved["indptr"]))
    scores = bm25._posting_scores(saved["tf"], saved["idf"][term],
                                       bm25._doc_norms(saved["doc_len"])[saved["docs"]])
    assert scores.dtype == model.scores["data"].dtype == np.float32
    np.testing.assert_array_equal(scores, model.scores["data"])
    assert saved["tf"].dtype == np.uint8 and (saved["idf"] == 0).any()  # the common word's idf is floored


@pytest.mark.parametrize("backend", BACKENDS)
def test_distinctive_query_finds_its_passage(retrievers, backend):
    r = retrievers[backend]
    assert isinstance(r, Retriever) and r.name == backend
    for pid, (doc_id, title, text, query) in enumerate(DISTINCT):
        top = r.search(query, k=3)
        assert top[0].passage_id == pid, (query, [p.title for p in top])
        assert (top[0].doc_id, top[0].title) == (doc_id, title)
        assert top[0].text.startswith(text)
        assert all(a.score >= b.score > 0 for a, b in zip(top, top[1:]))


def _parity_queries(seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    queries = [q for *_, q in DISTINCT]
    for _ in range(60):
        words = rng.sample(FILLER, rng.randint(1, 4)) + [COMMON] * rng.randint(0, 1)
        queries.append(" ".join(words + [rng.choice(words)]))  # a repeated word counts twice in both backends
    return queries


def test_bm25s_agrees_with_rank_bm25(retrievers, index):
    n, k, tol = len(index[1]), 8, 1e-5
    fast, ref = retrievers["bm25s"], retrievers["rank_bm25"]
    untied = 0
    for query in _parity_queries():
        got = fast.search(query, k=k)
        full = ref.search(query, k=n)  # every passage with a positive score, best first
        want = {p.passage_id: p.score for p in full}
        assert len(got) == min(k, len(full)), query
        for p in got:  # same score for the same passage
            assert p.score == pytest.approx(want[p.passage_id], rel=tol), query
        if len(full) > k:  # same top-k, up to passages tied with the k-th score
            kth = full[k - 1].score
            must = {p.passage_id for p in full if p.score > kth * (1 + tol)}
            assert must <= {p.passage_id for p in got}, query
        for i, p in enumerate(got):  # same passage at each rank where the reference has no tie
            neighbours = [full[j].score for j in (i - 1, i + 1) if 0 <= j < len(full)]
            if all(abs(s - full[i].score) > tol * full[i].score for s in neighbours):
                assert p.passage_id == full[i].passage_id, (query, i)
        untied += int(len(full) > 1 and full[0].score > full[1].score * (1 + tol)
                      and got[0].passage_id == full[0].passage_id)
    assert untied >= 30  # the comparison is not vacuous


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_is_a_prefix_of_the_full_ranking_ties_by_passage_id(retrievers, index, backend):
    r, n = retrievers[backend], len(index[1])
    tied = [pid for pid, row in enumerate(index[1]) if row["text"] == TIED_TEXT]
    assert len(tied) == 3
    for k in (1, 2, 3):
        assert [p.passage_id for p in r.search("quokka Rottnest", k=k)] == tied[:k]
    for query in _parity_queries()[::4]:
        full = r.search(query, k=n)
        for k in (1, 2, 5):
            assert r.search(query, k=k) == full[:k], (query, k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_term_in_most_passages_scores_zero(retrievers, index, backend):
    share = sum(COMMON in row["text"].split() for row in index[1]) / len(index[1])
    assert share > 0.5
    assert retrievers[backend].search(COMMON) == []
    with_common = retrievers[backend].search(f"Kilimanjaro {COMMON}", k=50)
    alone = retrievers[backend].search("Kilimanjaro", k=50)
    assert [(p.passage_id, p.score) for p in with_common] == [(p.passage_id, p.score) for p in alone]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("query", ["", "   ", "the of and is", "zzqx unseenword", "!!! ???"])
def test_query_without_indexed_terms_returns_nothing(retrievers, backend, query):
    assert retrievers[backend].search(query) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_many_matches_search(retrievers, backend):
    r = retrievers[backend]
    queries = ["Curie radium", "", "the", "Sahara dunes", f"{FILLER[3]} {FILLER[70]}"]
    assert r.search_many(queries, k=4) == [r.search(q, k=4) for q in queries]
    assert r.search_many([], k=4) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_k_is_checked_and_capped(retrievers, index, backend):
    r = retrievers[backend]
    query = " ".join(FILLER[:40])
    assert len(index[1]) // 2 < len(r.search(query, k=10_000)) <= len(index[1])
    assert len(r.search(query, k=1)) == 1
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError):
            r.search(query, k=bad)
    with pytest.raises(ConfigError):
        r.search_many(query)


def test_passage_to_dict():
    p = Passage(3, "d1", "T", "text", 1.5)
    assert p.to_dict() == {"passage_id": 3, "doc_id": "d1", "title": "T", "text": "text", "score": 1.5}


@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_index_round_trips_after_a_move(index, retrievers, tmp_path, backend):
    moved = tmp_path / "moved"
    shutil.copytree(index[0], moved)
    again = load_retriever(moved, backend)
    queries = [q for *_, q in DISTINCT] + [" ".join(FILLER[10:14])]
    assert again.search_many(queries, k=5) == retrievers[backend].search_many(queries, k=5)


def test_passages_are_regrouped_in_place_and_read_across_group_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(bm25_build, "GROUP_ROWS", 16)
    monkeypatch.setattr(bm25_build, "READ_BATCH_ROWS", 40)
    rows = _passages(n_filler=60)
    path = _write_index(tmp_path / "idx", rows, row_group_size=50)
    before = pq.read_table(path / "passages.parquet")
    stats = build_retrieval(path, ["bm25s"])
    assert stats["passages"]["regrouped"] is True
    after = pq.ParquetFile(path / "passages.parquet")
    assert after.schema_arrow == before.schema and after.read().equals(before)  # same schema, rows and order
    sizes = [after.metadata.row_group(g).num_rows for g in range(after.num_row_groups)]
    assert max(sizes) == 16 and sum(sizes) == len(rows)
    assert after.metadata.row_group(0).column(3).statistics is None  # no min/max of whole texts
    store = bm25.PassageStore(path / "passages.parquet")
    assert store.n == len(rows) and store.group_rows == 16
    order = list(range(len(rows)))[::-1] + [0, 17, 16, 15, 1]  # within, across and back over group boundaries
    got = store.passages([(i, 1.0) for i in order])
    assert [(p.passage_id, p.doc_id, p.title, p.text) for p in got] == [
        (rows[i]["passage_id"], rows[i]["doc_id"], rows[i]["title"], rows[i]["text"]) for i in order
    ]
    assert store.passages([]) == []
    assert load_retriever(path).search("Curie polonium")[0].passage_id == 2
    assert build_retrieval(path, ["bm25s"])["passages"]["regrouped"] is False  # already small
    assert not [p for p in path.iterdir() if p.name.startswith(".")]


def test_the_passage_store_keeps_the_last_passages_it_fetched(tmp_path):
    rows = _passages(n_filler=60)
    path = _write_index(tmp_path / "idx", rows, row_group_size=16) / "passages.parquet"
    store = bm25.PassageStore(path, cache_passages=3)
    store.passages([(5, 1.0), (20, 1.0)])  # two groups read
    store.passages([(5, 1.0), (6, 1.0)])  # 5 kept; 6 is in 5's group, which is read again
    assert (store.lookups, store.cache_hits, store.group_reads) == (4, 1, 3)
    store.passages([(40, 1.0)])  # 20, the least recently used, goes
    assert list(store._cache) == [5, 6, 40]
    rng = random.Random(3)
    uncached = bm25.PassageStore(path, cache_passages=0)
    for _ in range(100):
        ids = rng.sample(range(len(rows)), 3) if rng.random() < 0.5 else rng.sample(range(8), 3)  # some come back
        want = [Passage(i, rows[i]["doc_id"], rows[i]["title"], rows[i]["text"], 2.5) for i in ids]
        assert store.passages([(i, 2.5) for i in ids]) == want == uncached.passages([(i, 2.5) for i in ids])
    assert store.cache_hits > 1 and len(store._cache) == 3
    assert uncached.cache_hits == 0 and not uncached._cache


def test_a_finished_index_keeps_its_passages_file(tmp_path, monkeypatch):
    """Once the index has a manifest (whose checksums cover passages.parquet) the file is never rewritten."""
    monkeypatch.setattr(bm25_build, "GROUP_ROWS", 16)
    rows = _passages(n_filler=40)
    path = _write_index(tmp_path / "idx", rows, row_group_size=50)
    (path / "manifest.json").write_text("{}")
    before = (path / "passages.parquet").read_bytes()
    assert build_retrieval(path, ["bm25s"])["passages"]["regrouped"] is False
    assert (path / "passages.parquet").read_bytes() == before
    hits = load_retriever(path).search("Kilimanjaro Tanzania volcano Kibo", k=3)
    assert hits[0].passage_id == 4 and hits[0].text == rows[4]["text"]


def test_rebuild_replaces_the_old_index(tmp_path):
    rows = _passages(n_filler=20)
    path = _write_index(tmp_path / "idx", rows)
    build_retrieval(path, ["bm25s"])
    rows[5]["text"] = "Zanzibar cloves and spice trade."
    _write_index(path, rows)
    with pytest.raises(IndexCorruptError, match="rebuild"):  # passages changed since the build
        load_retriever(path)
    build_retrieval(path, ["bm25s"])
    assert load_retriever(path).search("Zanzibar cloves")[0].passage_id == 5
    assert sorted(p.name for p in (path / "retrieval").iterdir()) == ["bm25s"]


def test_missing_retrieval_dir_says_to_rebuild(tmp_path):
    path = _write_index(tmp_path / "idx", _passages(n_filler=5))
    for backend in BACKENDS:
        with pytest.raises(IndexCorruptError, match="rebuild"):
            load_retriever(path, backend)
    build_retrieval(path, ["bm25s"])  # one backend built does not make the other loadable
    with pytest.raises(IndexCorruptError, match="no rank_bm25 retrieval index"):
        load_retriever(path, "rank_bm25")


def test_an_index_of_another_schema_or_tokenizer_says_to_rebuild(tmp_path):
    path = _write_index(tmp_path / "idx", _passages(n_filler=5))
    build_retrieval(path, ["bm25s"])
    meta_path = path / "retrieval" / "bm25s" / "quco_retrieval.json"
    meta = json.loads(meta_path.read_text())
    for key, value in (("schema_version", 1), ("tokenizer", "lower-w+-stop168-v1")):
        meta_path.write_text(json.dumps({**meta, key: value}))
        with pytest.raises(IndexCorruptError, match="rebuild"):
            load_retriever(path)
    meta_path.write_text(json.dumps(meta))
    np.save(path / "retrieval" / "bm25s" / "idf.npy", np.zeros(3, np.float32))
    with pytest.raises(IndexCorruptError, match="inconsistent sizes"):
        load_retriever(path)


def test_missing_index_and_unknown_backend(tmp_path):
    with pytest.raises(IndexNotFoundError):
        load_retriever(tmp_path / "nowhere")
    with pytest.raises(IndexNotFoundError):
        build_retrieval(tmp_path / "nowhere")
    for call in (lambda: load_retriever(tmp_path, "bm25x"), lambda: build_retrieval(tmp_path, ["bm25x"])):
        with pytest.raises(UnknownComponentError) as err:
            call()
        assert "bm25s" in str(err.value) and "rank_bm25" in str(err.value)


def test_passage_ids_out_of_order_are_rejected(tmp_path):
    rows = _passages(n_filler=5)
    rows[0]["passage_id"], rows[1]["passage_id"] = 1, 0
    path = _write_index(tmp_path / "idx", rows, row_group_size=4)
    before = (path / "passages.parquet").read_bytes()
    with pytest.raises(BadInputError, match="passage_id"):
        build_retrieval(path)
    assert (path / "passages.parquet").read_bytes() == before  # the half-written regrouped copy is gone
    assert sorted(p.name for p in path.iterdir()) == ["passages.parquet", "retrieval"]
    assert list((path / "retrieval").iterdir()) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_passages_without_any_term_build_and_find_nothing(tmp_path, backend):
    rows = [{"passage_id": 0, "doc_id": "a", "title": None, "text": "Of the!"},
            {"passage_id": 1, "doc_id": "b", "title": "The", "text": ""}]
    path = _write_index(tmp_path / "idx", rows)
    build_retrieval(path, [backend])
    assert load_retriever(path, backend).search_many(["the of", "anything at all"]) == [[], []]


def test_empty_passages_file_is_rejected(tmp_path):
    path = tmp_path / "idx"
    path.mkdir()
    schema = pa.schema([("passage_id", pa.int64()), ("doc_id", pa.string()), ("title", pa.string()),
                        ("text", pa.string())])
    pq.write_table(schema.empty_table(), path / "passages.parquet")
    with pytest.raises(BadInputError, match="no passages"):
        build_retrieval(path)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), max_size=12), min_size=1, max_size=10), st.integers(0, 5))
def test_postings_kernel_matches_reference(passages, extra_terms):
    ids = np.array([t for p in passages for t in p], np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in passages])]).astype(np.int64)
    n_terms = 10 + extra_terms  # terms that never occur get empty columns
    want = bm25_build._postings_reference(ids, offsets, n_terms)
    for kernel in (bm25_build._postings, bm25_build._postings_kernel):
        for got, exp in zip(kernel(ids, offsets, n_terms), want):
            np.testing.assert_array_equal(got, exp)
    indptr, docs, tf = want
    for t in range(n_terms):  # and the reference is right: term t's passages and counts
        col = {d: p.count(t) for d, p in enumerate(passages) if t in p}
        assert dict(zip(docs[indptr[t]:indptr[t + 1]].tolist(), tf[indptr[t]:indptr[t + 1]].tolist())) == col


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**63, 2**64 - 1]), max_size=60),
       st.integers(1, 4))
def test_dedupe_kernel_matches_reference(values, repeat):
    """Distinct values in first-seen order and each value's index, whatever the bits (all in one slot included)."""
    values = np.array(values * repeat, np.uint64)
    want_unique, want_inverse = bm25_build._dedupe_reference(values)
    np.testing.assert_array_equal(want_unique[want_inverse], values)
    assert len(set(want_unique.tolist())) == len(want_unique)
    for kernel in (bm25_build._dedupe, bm25_build._dedupe_kernel):
        unique, inverse = kernel(values)
        np.testing.assert_array_equal(unique, want_unique)
        np.testing.assert_array_equal(inverse, want_inverse)


SHARED_STORE = """
import random, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
from quco.cooccur.bm25 import PassageStore
rng = random.Random(0)
words = [f"w{i}" for i in range(5000)]
n = 3000
rows = {"passage_id": list(range(n)), "doc_id": [f"d{i // 4}" for i in range(n)], "title": [f"T{i}" for i in range(n)],
        "text": [" ".join(rng.choices(words, k=120)) for _ in range(n)]}
path = Path(sys.argv[1]) / "passages.parquet"
pq.write_table(pa.table(rows), path, compression="zstd", row_group_size=64)
store = PassageStore(path, cache_passages=50)  # a few of the 3,000: reads, hits and evictions race
hits = [[(rng.randrange(n), 1.0) for _ in range(5)] for _ in range(600)]
want = [[(i, rows["doc_id"][i], rows["title"][i], rows["text"][i]) for i, _ in h] for h in hits]
with ThreadPoolExecutor(16) as pool:
    for _ in range(3):
        got = pool.map(store.passages, hits)
        assert [[(p.passage_id, p.doc_id, p.title, p.text) for p in ps] for ps in got] == want
assert 0 < store.cache_hits < store.lookups and len(store._cache) == 50
print("ok")
"""


def test_the_passage_store_is_safe_to_share_between_threads(tmp_path):
    """A server shares one retriever between request threads. Concurrent fetches through one Parquet reader crash
    the process (a segfault in Arrow, seen under load on the wiki2015 passages), so the store takes a lock; this
    runs the fetches in a child process, where a crash is a failed test rather than a dead test run."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", SHARED_STORE, str(tmp_path)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


def test_search_from_many_threads_equals_single_threaded(retrievers):
    """Each thread ranks in its own score buffer (tests/test_bm25_kernels.py races them on larger postings)."""
    from concurrent.futures import ThreadPoolExecutor

    r = retrievers["bm25s"]
    queries = _parity_queries() * 4
    want = [r.search(q, k=5) for q in queries]
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(lambda q: r.search(q, k=5), queries)) == want
