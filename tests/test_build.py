"""Building an index from a hand-written corpus: counts equal the ones computed by hand."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from quco.cooccur.index import Index
from quco.cooccur.store import verify
from quco.errors import ConfigError
from quco.index_builder.build import build_index

from conftest import DATA

# by hand, from tests/data/six_articles.txt (every document is shorter than 1000 tokens)
FREQ = {"London": 5, "Ada Lovelace": 2, "Charles Babbage": 2, "Alan Turing": 2, "Bletchley Park": 2,
        "Charles Dickens": 2, "England": 1, "Buckinghamshire": 1, "Mars": 0}
COOC_1000 = {("Ada Lovelace", "London"): 2, ("Ada Lovelace", "Charles Babbage"): 1,
             ("Charles Babbage", "London"): 2, ("Alan Turing", "Bletchley Park"): 2, ("Alan Turing", "London"): 1,
             ("Charles Dickens", "London"): 2, ("Charles Dickens", "Ada Lovelace"): 1, ("Ada Lovelace", "Alan Turing"): 0,
             ("London", "Bletchley Park"): 1, ("London", "Mars"): 0, ("London", "London"): 0}
# with a 50-token window the novelist's filler paragraph (192 tokens) separates Dickens and London from Lovelace
COOC_50 = {**COOC_1000, ("Charles Dickens", "Ada Lovelace"): 0, ("Ada Lovelace", "London"): 1}


def counts(ix: Index, table: dict) -> dict:
    return {pair: ix.cooc(*pair) for pair in table}


def test_counts_equal_hand_computed(six_spacy):
    ix = Index(six_spacy)
    assert {e: ix.freq(e) for e in FREQ} == FREQ
    assert counts(ix, COOC_1000) == COOC_1000
    # case variants and possessives normalize to the same key; order does not matter
    assert ix.cooc("ada LOVELACE", "london") == ix.cooc("London", "Ada Lovelace's") == 2
    assert ix.cooc_many([("London", "Ada Lovelace"), ("Mars", "London")]) == [2, 0]
    assert ix.stats()["documents"] == 6 and ix.window == 1000


def test_window_is_respected(tmp_path):
    out = tmp_path / "w50"
    build_index([str(DATA / "six_articles.txt")], str(out), extractor="spacy", window=50, workers=1,
                progress=False, retrieval=())
    ix = Index(out)
    assert counts(ix, COOC_50) == COOC_50
    assert {e: ix.freq(e) for e in FREQ} == FREQ  # frequencies do not depend on the window


def test_neighbors(six_spacy):
    top = Index(six_spacy).top_neighbors("London", 3)
    # ties (all three co-occur with London in 2 documents) are broken by entity id, deterministically
    assert {n["text"]: n["cooccurrence"] for n in top} == {"Ada Lovelace": 2, "Charles Babbage": 2, "Charles Dickens": 2}
    assert [n["id"] for n in top] == sorted(n["id"] for n in top)


def test_manifest_and_artifacts(six_spacy):
    m = json.loads((six_spacy / "manifest.json").read_text())
    assert m["schema_version"] == 2 and m["build"]["window"] == 1000
    assert m["artifacts"]["pairs.parquet"]["rows"] == pq.read_metadata(six_spacy / "pairs.parquet").num_rows
    keys = pq.read_table(six_spacy / "pairs.parquet").column("key").to_numpy()
    assert np.all(np.diff(keys) > 0) and np.all((keys >> 32) < (keys & 0xFFFFFFFF))
    passages = pq.read_table(six_spacy / "passages.parquet").to_pydict()
    assert set(passages["title"]) == {"Ada Lovelace", "Charles Babbage", "London", "Alan Turing", "Bletchley Park",
                                      "Charles Dickens"}
    assert verify(six_spacy) == []


def _all_counts(path: Path) -> tuple[dict, dict]:
    ix = Index(path)
    keys = ix.sql("SELECT key, freq FROM entities").fetchall()
    pairs = ix.sql("SELECT e1.key, e2.key, p.count FROM pairs p JOIN entities e1 ON e1.id = p.a "
                   "JOIN entities e2 ON e2.id = p.b").fetchall()
    return dict(keys), {(a, b) if a < b else (b, a): c for a, b, c in pairs}


def test_gazetteer_and_spacy_agree(six_spacy, tmp_path):
    """Given spaCy's entities as its dictionary, the gazetteer build gives the same counts."""
    ents = tmp_path / "entities.tsv"
    ix = Index(six_spacy)
    ents.write_text("".join(f"{t}\t{lab}\n" for t, lab in ix.sql("SELECT text, label FROM entities").fetchall()))
    out = tmp_path / "gz"
    build_index([str(DATA / "six_articles.txt")], str(out), extractor="gazetteer", entities=str(ents), titles=False,
                harvest_sample=0, workers=1, progress=False, retrieval=())
    assert _all_counts(out) == _all_counts(six_spacy)


def _synthetic_corpus(path: Path, n_docs: int = 240) -> None:
    rng = np.random.default_rng(3)
    names = ["Ada Lovelace", "London", "Charles Babbage", "Paris", "Alan Turing", "Berlin", "Marie Curie", "Warsaw"]
    with open(path, "w") as f:
        for d in range(n_docs):
            words = []
            for _ in range(rng.integers(20, 400)):
                words.append(names[rng.integers(len(names))] if rng.random() < 0.08 else "word")
            f.write(json.dumps({"id": f"d{d}", "title": f"Doc {d}", "text": " ".join(words)}) + "\n")
    (path.parent / "names.txt").write_text("\n".join(names) + "\n")


def test_workers_do_not_change_counts(tmp_path):
    corpus = tmp_path / "c.jsonl"
    _synthetic_corpus(corpus)
    common = dict(extractor="gazetteer", entities=str(tmp_path / "names.txt"), titles=False, harvest_sample=0,
                  window=60, shard_docs=25, progress=False, retrieval=())
    build_index([str(corpus)], str(tmp_path / "w1"), workers=1, **common)
    build_index([str(corpus)], str(tmp_path / "w2"), workers=2, **common)
    for name in ("arrays/nbr_indptr.npy", "arrays/nbr_id.npy", "arrays/nbr_count.npy", "arrays/doc_indptr.npy",
                 "arrays/doc_ids.npy", "arrays/entity_freq.npy"):
        assert np.array_equal(np.load(tmp_path / "w1" / name), np.load(tmp_path / "w2" / name))
    assert _all_counts(tmp_path / "w1") == _all_counts(tmp_path / "w2")


def test_rows_postings_and_parquet_agree_with_a_brute_force_count(tmp_path):
    """Window counts (pair rows), document counts (postings) and pairs.parquet against counts made here from the
    corpus text, on several shards so that the postings' document numbering across shards is exercised."""
    corpus = tmp_path / "c.jsonl"
    _synthetic_corpus(corpus, n_docs=120)
    names = (tmp_path / "names.txt").read_text().split("\n")[:-1]
    build_index([str(corpus)], str(tmp_path / "idx"), extractor="gazetteer", entities=str(tmp_path / "names.txt"),
                titles=False, harvest_sample=0, window=60, shard_docs=17, progress=False, retrieval=(), blend=False)
    docs = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    mentions = []  # (token position, name) per document; every name here is two tokens or one
    for text in docs:
        toks, out, i = text.split(" "), [], 0
        while i < len(toks):
            two = " ".join(toks[i:i + 2])
            if two in names:
                out.append((i, two))
                i += 2
            elif toks[i] in names:
                out.append((i, toks[i]))
                i += 1
            else:
                i += 1
        mentions.append(out)
    ix = Index(tmp_path / "idx")
    sql_pairs = _all_counts(tmp_path / "idx")[1]
    for x in names:
        for y in names:
            if x >= y:
                continue
            in_doc = sum(1 for m in mentions if {x, y} <= {n for _, n in m})
            in_window = sum(1 for m in mentions if any(abs(p - q) <= 60 for p, n in m if n == x for q, k in m if k == y))
            assert ix.cooc(x, y, scope="document") == ix.cooc(y, x, scope="document") == in_doc, (x, y)
            assert ix.cooc(x, y) == ix.cooc(y, x) == in_window, (x, y)
            assert sql_pairs.get(tuple(sorted((x.lower(), y.lower()))), 0) == in_window
    with pytest.raises(ConfigError, match="scope must be"):
        ix.cooc(names[0], names[1], scope="doc")  # a typo is an error, not window counts
    for x in names:
        ids, counts = ix.neighbor_ids(ix.entity_id(x))
        assert {ix.entity_info([i])[0]["text"]: int(c) for i, c in zip(ids, counts)} == \
            {y: ix.cooc(x, y) for y in names if y != x and ix.cooc(x, y) > 0}


def test_killed_build_resumes_with_equal_counts(tmp_path):
    corpus = tmp_path / "c.jsonl"
    _synthetic_corpus(corpus, n_docs=3000)
    args = ["--extractor", "gazetteer", "--entities", str(tmp_path / "names.txt"), "--harvest-sample", "0",
            "--window", "60", "--workers", "1", "--shard-docs", "10", "--no-retrieval", "-q"]
    env = dict(os.environ)
    out = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "quco", "build", str(corpus), "--out", str(out), *args],
                         env=env)
    marks = tmp_path / ".killed.building" / "completions"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(marks.glob("*")) if marks.exists() else []) < 5:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done_before = len([m for m in marks.glob("*") if ".tmp" not in m.name])  # a marker being written is not done
    assert 5 <= done_before < 300 and not out.exists()
    r = subprocess.run([sys.executable, "-m", "quco", "build", str(corpus), "--out", str(out), *args,
                        "--resume", "--json"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    clean = tmp_path / "clean"
    r2 = subprocess.run([sys.executable, "-m", "quco", "build", str(corpus), "--out", str(clean), *args],
                        env=env, capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr
    assert json.loads(r.stdout)["stats"]["resumed_shards"] >= done_before
    assert _all_counts(out) == _all_counts(clean)


def test_rebuild_replaces_index_atomically(six_spacy, tmp_path):
    out = tmp_path / "idx"
    build_index([str(DATA / "six_articles.txt")], str(out), extractor="spacy", workers=1, progress=False, retrieval=())
    reader = Index(out)  # opened before the rebuild
    build_index([str(DATA / "six_articles.txt")], str(out), extractor="spacy", window=50, workers=1, progress=False,
                retrieval=())
    assert reader.cooc("Charles Dickens", "Ada Lovelace") == 1  # the old index, still readable
    assert Index(out).cooc("Charles Dickens", "Ada Lovelace") == 0  # the new one
    assert not (tmp_path / ".idx.building").exists()


def test_a_directory_documentation_and_code_are_not_corpus_text(tmp_path, capsys):
    import shutil

    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    shutil.copy(DATA / "six_articles.txt", corpus / "sub" / "wiki_00")
    (corpus / "README.md").write_text("# About this corpus\nZanzibar Quokka wrote it.\n")
    (corpus / "convert.py").write_text("print('Zanzibar Quokka')\n")
    (corpus / "LICENSE").write_text("Zanzibar Quokka license\n")
    build_index([str(corpus)], str(tmp_path / "d"), workers=1, progress=False, retrieval=(), blend=False)
    err = capsys.readouterr().err
    assert "not reading 3 file(s)" in err and "README.md" in err and "convert.py" in err and "LICENSE" in err
    ix = Index(tmp_path / "d")
    assert ix.stats()["documents"] == 6 and ix.freq("Zanzibar Quokka") == 0
    assert [f["name"] for f in ix.manifest["corpus"]["files"]] == ["wiki_00"]
    # a file named on the command line is always read
    build_index([str(corpus), str(corpus / "README.md")], str(tmp_path / "e"), workers=1, progress=False,
                retrieval=(), blend=False)
    assert Index(tmp_path / "e").stats()["documents"] == 7 and Index(tmp_path / "e").freq("Zanzibar Quokka") == 1
    (tmp_path / "only_docs").mkdir()
    (tmp_path / "only_docs" / "README.md").write_text("x")
    with pytest.raises(ConfigError, match=r"no input files: not reading 1 file.*\(README.md\)"):
        build_index([str(tmp_path / "only_docs")], str(tmp_path / "f"))


def test_bad_window_is_a_config_error(tmp_path):
    from quco.errors import ConfigError

    with pytest.raises(ConfigError):
        build_index([str(DATA / "six_articles.txt")], str(tmp_path / "x"), window=0)


def test_phrase_harvest_finds_the_names_and_counts_like_a_user_list(tmp_path):
    """``phrases=True`` with no other source finds exactly the capitalized names of the corpus, so the counts
    equal those of a build given the same names as an entity list; titles and NER keep their own labels."""
    corpus = tmp_path / "c.jsonl"
    _synthetic_corpus(corpus, n_docs=80)
    # adjacent names would form longer runs ("Paris Alan Turing"): keep a lower-case word after every name
    docs = [json.loads(x) for x in corpus.read_text().splitlines()]
    names = (tmp_path / "names.txt").read_text().split("\n")[:-1]
    for d in docs:
        for n in names:
            d["text"] = d["text"].replace(n + " ", n + " word ")
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    common = dict(extractor="gazetteer", titles=False, harvest_sample=0, window=60, shard_docs=20, progress=False,
                  retrieval=(), blend=False, workers=2)
    build_index([str(corpus)], str(tmp_path / "listed"), entities=str(tmp_path / "names.txt"), **common)
    m = build_index([str(corpus)], str(tmp_path / "found"), phrases=True, **common)
    assert m["build"]["phrases"] is True and m["stats"]["harvest"]["phrases"]["entries"] == 8
    for name in ("arrays/entity_hash.npy", "arrays/nbr_id.npy", "arrays/nbr_count.npy", "arrays/doc_ids.npy"):
        assert np.array_equal(np.load(tmp_path / "listed" / name), np.load(tmp_path / "found" / name))
    ix = Index(tmp_path / "found")
    labels = dict(ix.sql("SELECT text, label FROM entities").fetchall())
    assert labels == {n: "PHRASE" for n in (tmp_path / "names.txt").read_text().split("\n")[:-1]}
