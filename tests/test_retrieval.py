"""Retrieval over an index's passages: both backends, their parity, persistence, and the errors a user can cause."""
from __future__ import annotations

import random
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quco.gate.retrieval as retrieval
from quco.errors import BadInputError, ConfigError, IndexCorruptError, IndexNotFoundError, UnknownComponentError
from quco.gate.retrieval import (
    Passage,
    Retriever,
    build_retrieval,
    load_retriever,
    tokenize_for_bm25,
)

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


def test_tokenizer_lowercases_splits_on_word_chars_and_drops_stopwords():
    assert tokenize_for_bm25(["The Eiffel Tower is in Paris, France!", "Ångström's 1905 paper", "", "of the"]) == [
        ["eiffel", "tower", "paris", "france"],
        ["ångström", "1905", "paper"],
        [],
        [],
    ]


def test_build_reports_seconds_and_bytes_per_part(index):
    path, _, stats = index
    assert set(stats) == {"passages", *BACKENDS}
    for part in stats.values():
        assert part["seconds"] >= 0 and part["bytes"] > 0
    assert (path / "retrieval" / "bm25s" / "quco_retrieval.json").is_file()


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


def test_store_rows_match_parquet_across_batch_and_row_group_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(retrieval, "STORE_BATCH_ROWS", 16)
    monkeypatch.setattr(retrieval, "READ_BATCH_ROWS", 10)
    rows = _passages(n_filler=60)
    path = _write_index(tmp_path / "idx", rows, row_group_size=7)
    build_retrieval(path, ["bm25s"])
    store = retrieval.PassageStore(path / "retrieval" / "passages.arrow")
    assert store.batch_rows == 16 and store.n == len(rows)
    order = list(range(len(rows)))[::-1]
    got = store.passages([(i, 1.0) for i in order])
    assert [(p.passage_id, p.doc_id, p.title, p.text) for p in got] == [
        (rows[i]["passage_id"], rows[i]["doc_id"], rows[i]["title"], rows[i]["text"]) for i in order
    ]
    assert load_retriever(path).search("Curie polonium")[0].passage_id == 2


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
    assert sorted(p.name for p in (path / "retrieval").iterdir()) == ["bm25s", "passages.arrow"]


def test_missing_retrieval_dir_says_to_rebuild(tmp_path):
    path = _write_index(tmp_path / "idx", _passages(n_filler=5))
    for backend in BACKENDS:
        with pytest.raises(IndexCorruptError, match="rebuild"):
            load_retriever(path, backend)
    build_retrieval(path, ["bm25s"])  # one backend built does not make the other loadable
    with pytest.raises(IndexCorruptError, match="no rank_bm25 retrieval index"):
        load_retriever(path, "rank_bm25")


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
    path = _write_index(tmp_path / "idx", rows)
    with pytest.raises(BadInputError, match="passage_id"):
        build_retrieval(path)
    assert not (path / "retrieval" / "passages.arrow").exists()


def test_empty_passages_file_is_rejected(tmp_path):
    path = tmp_path / "idx"
    path.mkdir()
    schema = pa.schema([("passage_id", pa.int64()), ("doc_id", pa.string()), ("title", pa.string()),
                        ("text", pa.string())])
    pq.write_table(schema.empty_table(), path / "passages.parquet")
    with pytest.raises(BadInputError, match="no passages"):
        build_retrieval(path)


@st.composite
def _score_matrix(draw):
    """A random BM25 matrix by term (CSC), scores on a coarse grid so that ties happen, and a query."""
    n_docs = draw(st.integers(1, 40))
    n_terms = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    data, indices, indptr = [], [], [0]
    for _ in range(n_terms):
        docs = np.sort(rng.choice(n_docs, size=rng.integers(0, n_docs + 1), replace=False))
        indices.extend(docs)
        data.extend(rng.integers(0, 6, size=len(docs)) * 0.5)  # zeros included: a floored idf
        indptr.append(len(indices))
    query = rng.integers(0, n_terms, size=draw(st.integers(1, 5)))
    k = draw(st.integers(1, n_docs + 2))
    return (np.array(data, np.float32), np.array(indices, np.int32), np.array(indptr, np.int64), n_docs,
            query.astype(np.int64), k)


@settings(max_examples=200, deadline=None)
@given(_score_matrix())
def test_top_k_kernel_matches_reference(case):
    want_ids, want_scores = retrieval._top_k_reference(*case)
    for kernel in (retrieval._top_k, retrieval._top_k_kernel):  # compiled (numba) and as plain Python
        ids, scores = kernel(*case)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(scores, want_scores)
