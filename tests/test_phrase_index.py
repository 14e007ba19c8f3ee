"""Phrase counts: the suffix-array kernels against plain-Python references, and exact counts of any phrase
against a brute-force scan of the documents (an independent path: the reference tokenizer and string search)."""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from quco.cooccur import sa_kernels as K
from quco.cooccur.normalize import key_tokens_py, tokenize_py
from quco.cooccur.phrase_index import BLOCK_SHIFT, PhraseCounts
from quco.cooccur.types import Document
from quco.index_builder.suffix_build import build_phrase_arrays, corpus_tokens, doc_blocks
from quco.index_builder.suffix_sort import TokenIds, suffix_array_numba, suffix_array_py

WIKI = Path(__file__).resolve().parents[2] / "shared" / "data" / "wiki2015" / "wiki2015_AA.txt.zst"


def _random_tokens(rng: np.random.Generator, n: int, vocab: int) -> np.ndarray:
    t = rng.integers(0, vocab + 1, size=n).astype(np.uint32)
    t[rng.random(n) < 0.1] = 0
    t[-1] = 0
    return t


# ---- construction ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(30))
def test_suffix_array_numba_matches_reference(seed):
    rng = np.random.default_rng(seed)
    vocab = int(rng.integers(1, 6))
    t = _random_tokens(rng, int(rng.integers(1, 200)), vocab)
    if seed % 3 == 0:  # long repeats: many doubling rounds
        t = np.concatenate([np.tile(t[:-1][:7] if t.shape[0] > 1 else t, 9), [0]]).astype(np.uint32)
        t = t if t[0] else t[1:]
        vocab = max(vocab, int(t.max()))
    assert suffix_array_numba(t, vocab).tolist() == suffix_array_py(t).tolist()


@pytest.mark.parametrize("seed", range(10))
def test_suffix_array_divsufsort_gives_the_same_intervals(seed):
    pytest.importorskip("pydivsufsort")
    from quco.index_builder.suffix_sort import suffix_array_divsufsort

    rng = np.random.default_rng(seed)
    t = _random_tokens(rng, 300, 3)
    a, b = suffix_array_numba(t, 3), suffix_array_divsufsort(t, 3)
    assert sorted(a.tolist()) == sorted(b.tolist())
    for _ in range(50):
        q = rng.integers(1, 4, size=int(rng.integers(1, 5))).astype(np.uint32)
        ra, rb = K.sa_range(t, a, q), K.sa_range(t, b, q)
        assert ra == rb
        assert sorted(b[rb[0]:rb[1]].tolist()) == K.occurrences_py(t, q)


def test_token_ids_table_matches_a_dict_across_growth():
    rng = np.random.default_rng(1)
    table = TokenIds(capacity=8)
    ref: dict[int, int] = {}
    for _ in range(20):
        h = rng.integers(0, 50, size=int(rng.integers(0, 40))).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        ids = table.assign(h)
        want = [ref.setdefault(int(x), len(ref)) for x in h]
        assert ids.tolist() == want
    assert table.hashes[:table.n].tolist() == list(ref)


# ---- query kernels -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(20))
def test_query_kernels_match_references(seed):
    rng = np.random.default_rng(seed)
    t = _random_tokens(rng, int(rng.integers(50, 3000)), 4)
    sa = suffix_array_numba(t, 4)
    cuts = np.unique(rng.integers(0, t.shape[0], size=int(rng.integers(0, 20))))
    doc_start = np.unique(np.concatenate([[0], cuts, [t.shape[0]]])).astype(np.int64)
    doc_start = np.insert(doc_start, 1, 0) if seed % 2 else doc_start  # an empty first document
    n_docs = doc_start.shape[0] - 1
    block = doc_blocks(doc_start, t.shape[0], 3)
    mark = np.zeros(n_docs, np.uint32)
    stamp = 1
    for _ in range(20):
        q = rng.integers(1, 5, size=int(rng.integers(1, 4))).astype(np.uint32)
        lo, hi = K.sa_range(t, sa, q)
        occ = K.occurrences_py(t, q)
        assert sorted(sa[lo:hi].tolist()) == occ
        want = K.docs_of_positions_py(doc_start, occ)
        assert K.mark_range(sa, lo, hi, doc_start, block, 3, mark, stamp) == len(want)
        assert K.docs_of_range(sa, lo, hi, doc_start, block, 3, mark, stamp + 1).tolist() == sorted(want)
        other = set(rng.integers(0, n_docs, size=5).tolist())
        bits = np.zeros((n_docs + 63) // 64, np.uint64)
        for d in other:
            bits[d >> 6] |= np.uint64(1) << np.uint64(d & 63)
        assert K.bits_docs_py(bits) == other
        assert K.range_in_bits(sa, lo, hi, doc_start, block, 3, bits, mark, stamp + 2) == len(want & other)
        assert K.docs_in_bits(np.array(sorted(want), np.int64), bits) == len(want & other)
        assert K.and_count(bits, bits) == len(other)
        K.mark_bits(bits, mark, stamp + 3)
        assert K.take_range(sa, lo, hi, doc_start, block, 3, mark, stamp + 3, stamp + 4) == len(want & other)
        K.mark_range(sa, lo, hi, doc_start, block, 3, mark, stamp + 5)
        assert K.take_docs(np.array(sorted(other), np.int64), mark, stamp + 5, stamp + 6) == len(want & other)
        K.mark_range(sa, lo, hi, doc_start, block, 3, mark, stamp + 7)
        assert K.take_bits(bits, mark, stamp + 7, stamp + 8) == len(want & other)
        q2 = rng.integers(1, 5, size=int(rng.integers(1, 3))).astype(np.uint32)
        assert K.paragraph_with(t, sa, lo, hi, q2) == K.paragraph_with_py(t, occ, q2)
        stamp += 9
    for p in range(t.shape[0]):
        assert block[p >> 3] <= K.doc_of_py(doc_start, p)
    hlo = np.array([0, 0, 3, 7], np.int64)
    hhi = np.array([2, 5, 4, 9], np.int64)
    for (lo, hi), want in [((0, 5), 1), ((3, 4), 2), ((7, 9), 3), ((0, 1), -1), ((8, 9), -1)]:
        assert K.find_interval(hlo, hhi, lo, hi) == want


# ---- end to end: exact counts of any phrase ----------------------------------------------------------------------
_WORDS = ["the", "of", "Paris", "paris", "Straße", "STRASSE", "river", "Nile", "a", "an", "blue", "café", "2015",
          "x", "Über", "uber", "delta"]


def _random_docs(rng: random.Random, n: int) -> list[Document]:
    docs = []
    for i in range(n):
        paras = []
        for _ in range(rng.randint(0, 4)):
            words = [rng.choice(_WORDS) for _ in range(rng.randint(0, 30))]
            paras.append(" ".join(w + rng.choice(["", "", "", ",", "'s", ".", " —"]) for w in words))
        docs.append(Document(f"d{i}", rng.choice([None, f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}"]), paras))
    return docs


def _brute(docs: list[Document]):
    """Per document, its segments as ' tok tok ... ' strings of reference-folded tokens."""
    return [[" " + " ".join(t for t, _, _ in tokenize_py(s)) + " " for s in d.segments()] for d in docs]


def _brute_docs(segs, phrase: str) -> set[int]:
    q = key_tokens_py(phrase)
    if not q:
        return set()
    needle = " " + " ".join(q) + " "
    return {d for d, ss in enumerate(segs) if any(needle in s for s in ss)}


def _brute_occurrences(segs, phrase: str) -> int:
    q = key_tokens_py(phrase)
    pat = re.compile("(?= " + re.escape(" ".join(q)) + " )")
    return sum(len(pat.findall(s)) for ss in segs for s in ss) if q else 0


def _phrases(rng: random.Random, docs: list[Document], n: int) -> list[str]:
    out = []
    while len(out) < n:
        d = rng.choice(docs)
        segs = d.segments()
        if not segs or rng.random() < 0.15:
            out.append(" ".join(rng.choice(_WORDS + ["zorblax", "nile's"]) for _ in range(rng.randint(1, 4))))
            continue
        toks = [t for t, _, _ in tokenize_py(rng.choice(segs))]
        if not toks:
            continue
        i = rng.randrange(len(toks))
        out.append(" ".join(toks[i:i + rng.randint(1, 6)]))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_any_phrase_counts_equal_a_brute_force_scan(tmp_path, seed):
    rng = random.Random(seed)
    docs = _random_docs(rng, 80)
    stats = build_phrase_arrays(iter(docs), tmp_path, heavy_min=8, set_min=40, batch_chars=700)
    assert stats["documents"] == len(docs) and stats["heavy_sets"] > 0
    pc = PhraseCounts.open(tmp_path)
    segs = _brute(docs)
    phrases = _phrases(rng, docs, 200)
    seen_heavy = seen_bits = seen_absent = 0
    for p in phrases:
        want = _brute_docs(segs, p)
        h = pc.hits(p)
        seen_heavy += h.heavy >= 0
        seen_bits += h.bits >= 0
        seen_absent += not want
        assert pc.freq(p) == len(want), p
        assert pc.occurrences(p) == _brute_occurrences(segs, p), p
        assert pc.docs(p).tolist() == sorted(want), p
    assert seen_heavy and seen_bits and seen_absent  # every path of the reader was taken
    for a, b in zip(phrases[:100], phrases[100:]):
        da, db = _brute_docs(segs, a), _brute_docs(segs, b)
        assert pc.cooc(a, b) == len(da & db), (a, b)
        assert pc.cooc_docs(a, np.array(sorted(db), np.int64)) == len(da & db), (a, b)


def test_documents_numbered_in_reading_order_and_phrases_never_cross_segments(tmp_path):
    docs = [Document("a", "Blue River", ["alpha beta", "gamma delta"]), Document("b", None, []),
            Document("c", None, ["beta gamma", "", "delta"])]
    tokens, vocab, doc_start, _ = corpus_tokens(docs)
    assert doc_start.tolist() == [0, 9, 9, 14] and int(tokens[-1]) == 0
    build_phrase_arrays(docs, tmp_path)
    pc = PhraseCounts.open(tmp_path)
    assert pc.freq("beta gamma") == 1 and pc.docs("beta gamma").tolist() == [2]
    assert pc.freq("river alpha") == 0 and pc.freq("gamma delta") == 1
    assert pc.docs("delta").tolist() == [0, 2] and pc.cooc("delta", "beta") == 2
    assert pc.freq("zeta") == 0 and not pc.hits("zeta").known and pc.hits("beta alpha").known
    assert pc.freq("") == 0 and pc.freq("The Blue River's") == 1


def test_empty_corpus(tmp_path):
    build_phrase_arrays([], tmp_path)
    pc = PhraseCounts.open(tmp_path)
    assert pc.freq("anything") == 0 and pc.cooc("a", "b") == 0 and pc.docs("a").tolist() == []


@pytest.mark.slow
def test_real_shard_slice_counts_equal_a_brute_force_scan(tmp_path):
    if not WIKI.exists():
        pytest.skip("needs ../shared/data/wiki2015")
    from quco.index_builder.readers import read_documents

    docs, size = [], 0
    for d in read_documents(WIKI):
        docs.append(d)
        size += d.n_chars
        if size > 1_500_000:
            break
    build_phrase_arrays(docs, tmp_path, heavy_min=64, set_min=512)
    pc = PhraseCounts.open(tmp_path)
    segs = _brute(docs)
    rng = random.Random(5)
    for p in _phrases(rng, docs, 200):
        want = _brute_docs(segs, p)
        assert pc.freq(p) == len(want), p
    assert BLOCK_SHIFT >= 1


# ---- inside an index (Index.freq / cooc / lookup) ----------------------------------------------------------------
def _write_wiki(docs: list[Document], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            title = d.title or f"Doc {i}"
            f.write(f'<doc id="{i}" url="x" title="{title}">\n{title}\n\n' + "\n\n".join(d.paragraphs) + "\n</doc>\n")


@pytest.fixture(scope="module")
def random_index(tmp_path_factory):
    from quco.index_builder.build import build_index
    from quco.index_builder.readers import read_documents

    tmp = tmp_path_factory.mktemp("phr")
    rng = random.Random(11)
    docs = [d for d in _random_docs(rng, 120) if d.paragraphs]
    corpus = tmp / "corpus.txt"
    _write_wiki(docs, corpus)
    out = tmp / "idx"
    build_index([str(corpus)], str(out), extractor="gazetteer", workers=1, progress=False, retrieval=(), blend=False)
    return out, list(read_documents(corpus))


def test_index_counts_any_phrase_exactly(random_index):
    from quco.cooccur.index import Index

    out, docs = random_index
    ix = Index(out)
    assert ix.phrases is not None and ix.phrases.n_documents == ix.n_documents == len(docs)
    segs = _brute(docs)
    rng = random.Random(3)
    phrases = _phrases(rng, docs, 200)
    kinds = {"entity": 0, "phrase": 0, "absent": 0}
    for p in phrases:
        lk = ix.lookup(p)
        kinds[lk.kind] += 1
        want = _brute_docs(segs, p)
        if lk.kind == "entity":
            assert ix.freq(p) == lk.freq == int(ix.entity_freq[ix.entity_id(p)])
            # the same numbering: the entity's documents are among those where its key occurs
            i = ix.entity_id(p)
            assert set(ix.doc_ids[ix.doc_indptr[i]:ix.doc_indptr[i + 1]].tolist()) <= want
        else:
            assert ix.freq(p) == lk.freq == len(want), p
            assert lk.kind == ("phrase" if want else "absent") and lk.occurs == bool(want)
            assert lk.occurrences == _brute_occurrences(segs, p)
    assert all(kinds.values()), kinds  # entities, non-entity phrases and absent strings were all asked
    ent_docs = {}
    for a, b in zip(phrases[:100], phrases[100:]):
        def docs_of(x):
            i = ix.entity_id(x)
            if i >= 0:
                return set(ix.doc_ids[ix.doc_indptr[i]:ix.doc_indptr[i + 1]].tolist())
            return _brute_docs(segs, x)
        da, db = docs_of(a), docs_of(b)
        want = 0 if ix.lookup(a).key == ix.lookup(b).key else len(da & db)
        assert ix.cooc(a, b, scope="document") == want, (a, b)
        ent_docs[(a, b)] = want
    assert ix.cooc_many(list(ent_docs), scope="document") == list(ent_docs.values())


def test_index_without_phrase_counts(tmp_path, random_index):
    from quco.cooccur.index import Index
    from quco.cooccur.store import verify
    from quco.index_builder.build import build_index

    out, docs = random_index
    assert verify(out) == [] and "arrays/phrase_sa.npy" in Index(out).manifest["artifacts"]
    corpus = out.parent / "corpus.txt"
    bare = tmp_path / "bare"
    build_index([str(corpus)], str(bare), extractor="gazetteer", workers=1, progress=False, retrieval=(),
                blend=False, phrase_counts=False)
    ix = Index(bare)
    assert ix.phrases is None and ix.lookup("blue river").kind == "unknown" and ix.freq("blue river") == 0
    assert not any(k.startswith("arrays/phrase_") for k in ix.manifest["artifacts"])


def test_phrase_job_in_a_child_process_equals_in_process(tmp_path):
    from quco.errors import BuildError
    from quco.index_builder.suffix_build import PhraseJob

    corpus = [str(Path(__file__).parent / "data" / "six_articles.txt")]
    args = {"format": "auto", "text_field": "text", "on_bad_record": "error"}
    for name, background in (("child", True), ("here", False)):
        (tmp_path / name).mkdir()
        stats = PhraseJob(corpus, tmp_path / f"work-{name}", args, background=background).finish(tmp_path / name)
        assert stats["documents"] == 6 and stats["background"] is background
    for f in sorted((tmp_path / "here").glob("*.npy")):
        assert np.array_equal(np.load(f), np.load(tmp_path / "child" / f.name)), f.name
    with pytest.raises(BuildError, match="no such file"):
        PhraseJob([str(tmp_path / "missing.txt")], tmp_path / "w3", args, background=True).finish(tmp_path / "here")


def test_phrase_child_sorts_only_when_released(tmp_path):
    import time

    from quco.index_builder.suffix_build import PhraseJob

    corpus = [str(Path(__file__).parent / "data" / "six_articles.txt")]
    job = PhraseJob(corpus, tmp_path / "work", {"format": "auto"}, background=True)
    try:
        deadline, seen = time.monotonic() + 60, False
        while time.monotonic() < deadline:  # the child tokenizes into a spill file, removed when it is done
            spill = list((tmp_path / "work").glob("tokens.tmp*"))
            seen = seen or bool(spill)
            if seen and not spill:
                break
            time.sleep(0.002)
        assert seen
        time.sleep(0.5)
        assert job.proc.poll() is None and not list((tmp_path / "work").glob("phrase_sa*"))  # ...and waits
        job.release()
        assert job.proc.wait(timeout=60) == 0
        (tmp_path / "arrays").mkdir()
        stats = job.finish(tmp_path / "arrays")
        assert stats["documents"] == 6 and stats["timing"]["wait"] >= 0.5
    finally:
        job.close()
