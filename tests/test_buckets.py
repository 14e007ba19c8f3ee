"""The bucketed reduce: one task per range of entities, its rows concatenated into the index.

Checked against plain-Python references on random partials (pairs summed in a dict, rows sorted, postings listed
shard by shard), and end to end: the index's bytes do not depend on the number of buckets or on the executor.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quco.index_builder import buckets as B
from quco.index_builder.buckets import bucket_bounds, plan_reduce, reduce_bucket, reduce_partials
from quco.index_builder.build import build_index
from quco.index_builder.executors import LocalExecutor
from quco.index_builder.merge_indexes import append_to_index, merge_indexes
from quco.index_builder.shard import PAIR_FILES, pair_rows

from test_executors import ARRAYS, assert_same_index, corpus, opts  # noqa: F401 (corpus: a fixture)

INPUTS = ("a.jsonl", "b.jsonl")


# ---- units against references --------------------------------------------------------------------------------------
def directed_pairs_py(keys, counts, hashes) -> list[tuple[int, int, int]]:
    out = []
    for k, c in zip(keys, counts):
        a, b = int(hashes[int(k) >> 32]), int(hashes[int(k) & 0xFFFFFFFF])
        out += [(a, b, int(c)), (b, a, int(c))]
    return sorted(out)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(0, 200), st.integers(0, 2**32))
def test_pair_rows_match_reference(n, m, seed):
    rng = np.random.default_rng(seed)
    hashes = rng.choice(np.iinfo(np.int64).max, size=n, replace=False).astype(np.uint64) * np.uint64(2)
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, size=(m, 2)) if a < b}  # vocabulary ids, a < b
    keys = np.array(sorted((a << 32) | b for a, b in pairs), dtype=np.int64)
    counts = rng.integers(1, 50, size=keys.shape[0]).astype(np.int64)
    used = {i for ab in pairs for i in ab}
    present = np.array(sorted(used | {int(i) for i in rng.integers(0, n, size=3)}), dtype=np.int64)
    vocab, indptr, partner, c = pair_rows(keys, counts, hashes, present)
    assert vocab.tolist() == sorted(hashes[present].tolist())
    assert indptr.shape[0] == vocab.shape[0] + 1 and partner.dtype == np.uint32 and c.dtype == np.int32
    rows = np.repeat(vocab, np.diff(indptr))
    got = list(zip(rows.tolist(), vocab[partner.astype(np.int64)].tolist(), c.tolist()))
    assert got == directed_pairs_py(keys, counts, hashes)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=80), st.integers(1, 12))
def test_bucket_bounds_cover_the_entities(freq, k):
    b = bucket_bounds(np.array(freq, dtype=np.int64), k)
    assert b[0] == 0 and b[-1] == len(freq)
    assert np.all(np.diff(b) > 0) and len(b) - 1 <= k
    if k <= len(freq) and len(set(freq)) == 1:  # equal weights: K buckets, none more than one entity apart
        assert len(b) - 1 == k and np.ptp(np.diff(b)) <= 1


def _random_partials(root: Path, rng: np.random.Generator, n_shards: int, n_ent: int):
    """Partials as shards write them (directed pairs and postings, sorted by hash) over random vocabularies;
    returns them with their document counts and the references: summed pairs and each entity's documents."""
    universe = np.sort(rng.choice(2**62, size=n_ent, replace=False).astype(np.uint64) * np.uint64(3))
    pairs: dict[tuple[int, int], int] = {}
    docs_of: dict[int, list[int]] = {}
    partials, documents, offset = [], [], 0
    for s in range(n_shards):
        vocab = rng.choice(universe, size=int(rng.integers(2, n_ent + 1)), replace=False)  # shard-local order
        n_docs = int(rng.integers(1, 30))
        post = sorted({(int(vocab[e]), int(d)) for e, d in zip(rng.integers(0, len(vocab), 4 * len(vocab)),
                                                                rng.integers(0, n_docs, 4 * len(vocab)))}
                      | {(int(h), int(rng.integers(0, n_docs))) for h in vocab})
        local = {(int(a), int(b)) for a, b in rng.integers(0, len(vocab), size=(int(rng.integers(0, 60)), 2))
                 if a < b}
        keys = np.array(sorted((a << 32) | b for a, b in local), dtype=np.int64)
        counts = rng.integers(1, 9, size=keys.shape[0]).astype(np.int64)
        for k, c in zip(keys.tolist(), counts.tolist()):
            ha, hb = sorted((int(vocab[k >> 32]), int(vocab[k & 0xFFFFFFFF])))
            pairs[(ha, hb)] = pairs.get((ha, hb), 0) + c
        p = root / f"p{s}"
        p.mkdir()
        for name, arr in zip(PAIR_FILES, pair_rows(keys, counts, vocab, np.arange(len(vocab)))):
            np.save(p / name, arr)
        np.save(p / "post_h.npy", np.array([h for h, _ in post], dtype=np.uint64))
        np.save(p / "post_doc.npy", np.array([d for _, d in post], dtype=np.int32))
        for h, d in post:
            docs_of.setdefault(h, []).append(d + offset)
        partials.append(p)
        documents.append(n_docs)
        offset += n_docs
    return partials, documents, pairs, docs_of


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5), st.integers(2, 40), st.sampled_from([1, 2, 3, 8, 100]), st.integers(0, 2**32),
       st.sampled_from([(3, 2), (B.CHUNK, B.PAIR_GROUP)]))
def test_reduce_matches_reference(tmp_path_factory, n_shards, n_ent, k, seed, sizes):
    """Also with tiny read chunks and row groups when concatenating (``sizes``), as a large bucket has them."""
    saved = (B.CHUNK, B.PAIR_GROUP)
    B.CHUNK, B.PAIR_GROUP = sizes
    try:
        _check_reduce(tmp_path_factory.mktemp("reduce"), n_shards, n_ent, k, seed)
    finally:
        B.CHUNK, B.PAIR_GROUP = saved


def _check_reduce(root: Path, n_shards: int, n_ent: int, k: int, seed: int) -> None:
    partials, documents, pairs, docs_of = _random_partials(root, np.random.default_rng(seed), n_shards, n_ent)
    entity_hash = np.array(sorted(docs_of), dtype=np.uint64)
    idx = root / "index"
    (idx / "arrays").mkdir(parents=True)
    np.save(idx / "arrays" / "entity_hash.npy", entity_hash)
    np.save(idx / "arrays" / "entity_freq.npy", np.array([len(docs_of[h]) for h in entity_hash.tolist()], np.int64))
    with LocalExecutor(1) as ex:
        ex.start({})
        res = reduce_partials(ex, partials, documents, idx, root / "work", k)
    rank = {h: i for i, h in enumerate(entity_hash.tolist())}
    rows: list[list[tuple[int, int]]] = [[] for _ in entity_hash]
    for (ha, hb), c in pairs.items():
        rows[rank[ha]].append((rank[hb], c))
        rows[rank[hb]].append((rank[ha], c))
    rows = [sorted(r) for r in rows]
    arr = {n: np.load(idx / "arrays" / f"{n}.npy") for n in ARRAYS if n not in ("entity_hash", "entity_freq")}
    assert arr["nbr_indptr"].tolist() == np.cumsum([0] + [len(r) for r in rows]).tolist()
    assert arr["nbr_id"].tolist() == [j for r in rows for j, _ in r]
    assert arr["nbr_count"].tolist() == [c for r in rows for _, c in r]
    assert arr["doc_ids"].tolist() == [d for h in entity_hash.tolist() for d in docs_of[h]]
    assert arr["doc_indptr"].tolist() == np.cumsum([0] + [len(docs_of[h]) for h in entity_hash.tolist()]).tolist()
    table = pq.read_table(idx / "pairs.parquet")
    ref = sorted(((rank[a] << 32) | rank[b], c) for (a, b), c in pairs.items())
    assert list(zip(table["key"].to_pylist(), table["count"].to_pylist())) == ref
    assert res["pairs"] == len(pairs)
    assert 1 <= res["stats"]["buckets"] <= min(k, len(entity_hash))  # fewer when one entity outweighs a share


def test_a_resumed_reduce_reuses_finished_buckets(tmp_path):
    """Buckets marked complete by an earlier (killed) reduce are not submitted again, and the result is the same
    as a reduce from scratch."""
    partials, documents, _, docs_of = _random_partials(tmp_path, np.random.default_rng(3), 4, 30)
    outs = {}
    for name in ("fresh", "resumed"):
        idx, work = tmp_path / name / "index", tmp_path / name / "work"
        (idx / "arrays").mkdir(parents=True)
        entity_hash = np.array(sorted(docs_of), dtype=np.uint64)
        np.save(idx / "arrays" / "entity_hash.npy", entity_hash)
        np.save(idx / "arrays" / "entity_freq.npy", np.array([len(docs_of[h]) for h in entity_hash.tolist()]))
        if name == "resumed":  # the killed run finished buckets 0 and 3 of 5
            job, bounds = plan_reduce(partials, documents, idx / "arrays", work, 5, 1)
            for b in (0, 3):
                reduce_bucket(job, b, int(bounds[b]), int(bounds[b + 1]))

        class Counting(LocalExecutor):
            submitted = 0

            def submit(self, fn, *args):
                Counting.submitted += 1
                return super().submit(fn, *args)

        with Counting(1) as ex:
            ex.start({})
            stats = reduce_partials(ex, partials, documents, idx, work, 5)["stats"]
        outs[name] = (idx, Counting.submitted, stats["resumed_buckets"])
    assert outs["fresh"][1:] == (5, 0) and outs["resumed"][1:] == (3, 2)
    for n in ARRAYS:
        assert (outs["fresh"][0] / "arrays" / f"{n}.npy").read_bytes() == \
            (outs["resumed"][0] / "arrays" / f"{n}.npy").read_bytes(), n


# ---- whole builds ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_bucket(corpus) -> Path:
    out = corpus / "k1.idx"
    build_index([str(corpus / n) for n in INPUTS], str(out), workers=1, buckets=1, **opts(corpus))
    return out


def _same_bytes(a: Path, b: Path) -> None:
    assert_same_index(a, b)
    for name in ("pairs.parquet", "entities.parquet"):  # the tables byte for byte too
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("k", [4, 7])
def test_index_bytes_do_not_depend_on_the_buckets(corpus, one_bucket, tmp_path, k):
    out = tmp_path / f"k{k}.idx"
    m = build_index([str(corpus / n) for n in INPUTS], str(out), workers=2, buckets=k, **opts(corpus))
    assert m["stats"]["reduce"]["buckets"] == k
    assert json.loads((one_bucket / "manifest.json").read_text())["stats"]["reduce"]["buckets"] == 1
    _same_bytes(one_bucket, out)


def test_dask_bucketed_reduce_equals_local(corpus, one_bucket, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask.idx"
    m = build_index([str(corpus / n) for n in INPUTS], str(out), workers=2, executor="dask", buckets=5,
                    **opts(corpus))
    assert m["stats"]["reduce"]["buckets"] == 5
    _same_bytes(one_bucket, out)


def test_merge_and_append_with_buckets_equal_one_build(corpus, one_bucket, tmp_path):
    first, second = tmp_path / "a.idx", tmp_path / "b.idx"
    build_index([str(corpus / "a.jsonl")], str(first), workers=1, buckets=3, **opts(corpus))
    build_index([str(corpus / "b.jsonl")], str(second), workers=1, buckets=2, gazetteer=str(first), **opts(corpus))
    m = merge_indexes([first, second], tmp_path / "merged.idx", workers=2, buckets=6)
    assert m["stats"]["reduce"]["buckets"] == 6
    assert_same_index(one_bucket, tmp_path / "merged.idx")
    append_to_index(first, [str(corpus / "b.jsonl")], workers=2, buckets=4)
    assert_same_index(one_bucket, first)


def _many_entities_corpus(path: Path, n_docs: int, n_names: int, seed: int) -> Path:
    """JSONL documents mentioning ``n_names`` distinct names; returns the entity list for ``--entities``."""
    rng = np.random.default_rng(seed)
    names = [f"Zorbak {chr(65 + i % 26)}{i}" for i in range(n_names)]
    with open(path, "w") as f:
        for d in range(n_docs):
            words = [names[rng.integers(n_names)] if rng.random() < 0.1 else "word" for _ in range(200)]
            f.write(json.dumps({"id": f"d{d}", "title": f"Doc {d}", "text": " ".join(words)}) + "\n")
    (path.parent / "names.txt").write_text("\n".join(names) + "\n")
    return path.parent / "names.txt"


def test_a_build_killed_in_its_reduce_resumes(tmp_path):
    """SIGKILL a build while its buckets are being reduced: ``--resume`` reuses the shards and the buckets that
    were finished and ends with the bytes of an undisturbed build."""
    import os
    import signal
    import subprocess
    import sys
    import time

    names = _many_entities_corpus(tmp_path / "c.jsonl", 600, 1500, 4)
    kw = dict(extractor="gazetteer", entities=str(names), harvest_sample=0, window=60, shard_docs=30,
              progress=False, retrieval=(), blend=False, phrase_counts=False)  # the CLI's parameters below
    ref = tmp_path / "ref.idx"
    build_index([str(tmp_path / "c.jsonl")], str(ref), workers=1, buckets=1, **kw)
    argv = [sys.executable, "-c", "from quco.cli.main import main; main()", "build", str(tmp_path / "c.jsonl"),
            "--out", str(tmp_path / "x.idx"), "--extractor", "gazetteer", "--entities", str(names),
            "--harvest-sample", "0", "--window", "60", "--shard-docs", "30", "--no-retrieval", "--no-blend",
            "--no-phrase-counts", "--workers", "1", "--buckets", "1000", "-q"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    done = tmp_path / ".x.idx.building" / "reduce"
    killed = False
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        if len(list(done.glob("*/done/*.json"))) >= 20:
            os.kill(p.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    p.wait(timeout=60)
    if not killed:
        pytest.skip("the reduce finished before the build could be killed")
    m = build_index([str(tmp_path / "c.jsonl")], str(tmp_path / "x.idx"), workers=1, buckets=1000, resume=True,
                    **kw)
    assert m["stats"]["resumed_shards"] == m["stats"]["shards"] == 20
    assert m["stats"]["reduce"]["resumed_buckets"] >= 20
    _same_bytes(ref, tmp_path / "x.idx")
