"""Passage support (quco.cooccur.passage_support): kernels against their plain-Python references on random
postings, the reader against a brute-force reading of a real index's passages, and its place in ``assess``."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from quco.cooccur import bm25
from quco.cooccur import maxscore as ms
from quco.cooccur import passage_support as ps
from quco.cooccur.bm25 import load_retriever, tokenize_for_bm25
from quco.cooccur.passage_support import PassageSupport


def _random_postings(rng: np.random.Generator, n_passages: int, n_terms: int):
    """Postings by term, passage ids ascending within a term (as the builder writes them)."""
    indptr, docs, tf = [0], [], []
    for _ in range(n_terms):
        d = np.sort(rng.choice(n_passages, size=rng.integers(0, n_passages + 1), replace=False))
        docs.append(d)
        tf.append(rng.integers(1, 5, size=len(d)))
        indptr.append(indptr[-1] + len(d))
    idf = rng.uniform(-0.2, 3.0, n_terms).astype(np.float32)  # some terms with idf <= 0 (skipped, as in bm25s)
    norm = rng.uniform(0.5, 3.0, n_passages)
    return (np.array(indptr, np.int64), np.concatenate(docs).astype(np.int32), np.concatenate(tf).astype(np.uint8),
            idf, norm)


@pytest.mark.parametrize("seed", range(25))
def test_kernels_equal_their_references_on_random_postings(seed):
    rng = np.random.default_rng(seed)
    indptr, docs, tf, idf, norm = _random_postings(rng, int(rng.integers(1, 60)), int(rng.integers(1, 12)))
    n_terms = len(indptr) - 1
    query = np.unique(rng.integers(0, n_terms, size=rng.integers(1, 5))).astype(np.int64)
    want = bm25._scores_reference(indptr, docs, tf, idf, norm, query)
    got, touched = ps._query_scores(indptr, docs, tf, idf, norm, query)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert sorted(touched.tolist()) == np.flatnonzero(want != 0).tolist()
    assert ps._top(got, touched) == (want.max() if len(touched) else 0)
    buf = got.copy()
    ps._zero(buf, touched)  # what the reader does after each question: a zeroed buffer is ready for the next
    assert not buf.any()
    again, _ = ps._query_scores(indptr, docs, tf, idf, norm, query, buf)
    assert np.array_equal(again, want)
    for _ in range(10):
        terms = np.unique(rng.integers(0, n_terms, size=rng.integers(1, 4))).astype(np.int64)
        assert ps._best_with_all(indptr, docs, want, terms) == pytest.approx(
            ps._best_with_all_reference(indptr, docs, want, terms), abs=0)
    assert ps._best_with_all(indptr, docs, want, np.empty(0, np.int64)) == 0.0


CORPUS = [
    {"title": "Marie Curie", "text": "Marie Curie was born in Warsaw. Marie Curie studied physics in Paris and won "
                                     "the Nobel Prize twice."},
    {"title": "Warsaw", "text": "Warsaw is the capital of Poland, on the Vistula river."},
    {"title": "Ulm", "text": "Ulm is a city in Germany on the Danube, where Albert Einstein was born."},
    {"title": "Paris", "text": "Paris is the capital of France. Many scientists worked in Paris."},
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    from quco.index_builder.build import build_index

    root = tmp_path_factory.mktemp("passages")
    (root / "c.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS), encoding="utf-8")
    out = root / "p.idx"
    build_index([str(root / "c.jsonl")], str(out), extractor="spacy", workers=1, progress=False)
    return out


def _brute_force(index, question: str, value: str) -> float:
    """Every passage's score from the retriever's public search, containment read from the passage's own text."""
    r = load_retriever(index)
    hits = r.search(question, k=10_000)
    top = hits[0].score
    want = set(tokenize_for_bm25([value])[0].tolist())
    best = 0.0
    for h in hits:
        terms = set(tokenize_for_bm25([f"{h.title}\n{h.text}" if h.title else h.text])[0].tolist())
        if want <= terms:
            best = max(best, h.score)
    return min(1.0, best / top)


@pytest.mark.parametrize("question,value", [
    ("Where was Marie Curie born?", "Warsaw"),
    ("Where was Marie Curie born?", "Paris"),
    ("Where was Marie Curie born?", "Ulm"),
    ("Where was Albert Einstein born?", "Ulm"),
    ("Where was Albert Einstein born?", "Warsaw"),
    ("What is the capital of Poland?", "Vistula river"),
])
def test_support_equals_a_brute_force_reading_of_the_passages(index, question, value):
    got = PassageSupport(load_retriever(index)).support(question, [value])[0]
    assert got == pytest.approx(_brute_force(index, question, value), rel=1e-6)


def test_support_orders_values_and_says_what_it_cannot_read(index):
    sup = PassageSupport(load_retriever(index))
    warsaw, ulm, never, stop = sup.support("Where was Marie Curie born?", ["Warsaw", "Ulm", "Krakow", "the of"])
    assert warsaw == 1.0 and 0.0 <= ulm < warsaw  # Warsaw is in the question's best passage; Ulm is not
    assert never == 0.0 and stop is None  # a value no passage contains; a value with no term at all
    assert sup.support("zzyzx qqq?", ["Warsaw"]) is None  # nothing of the question is in the passages


def test_assess_mixes_passage_support_into_the_risk(index):
    from quco.gate.assess import assess

    q = "Where was Marie Curie born?"
    with_p = assess(q, "Marie Curie was born in Ulm.", index=index, retrieve=False)
    without = assess(q, "Marie Curie was born in Ulm.", index=index, retrieve=False, passage_weight=0.0)
    right = assess(q, "Marie Curie was born in Warsaw.", index=index, retrieve=False)
    from quco.gate.assess import GateConfig

    w = GateConfig.passage_weight
    assert with_p.thresholds["passage_weight"] == w > 0 and without.passage_support == {}
    assert set(with_p.passage_support) == {"Ulm"} and right.passage_support == {"Warsaw": 1.0}
    s = with_p.passage_support["Ulm"]
    assert with_p.risk == pytest.approx((1 - w) * without.risk + w * (1 - s) / 2, abs=1e-3)
    assert right.risk < with_p.risk
    strict = assess(q, "Marie Curie was born in Ulm.", index=index, retrieve=False, pass_passage=0.99)
    assert strict.decision == "retrieve" and any("do not state 'Ulm'" in r for r in strict.reasons)


def test_an_index_without_retrieval_reports_passage_weight_zero(tmp_path):
    from quco.gate.assess import assess
    from quco.index_builder.build import build_index

    (tmp_path / "c.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS), encoding="utf-8")
    out = tmp_path / "n.idx"
    build_index([str(tmp_path / "c.jsonl")], str(out), extractor="spacy", workers=1, progress=False, retrieval=())
    rep = assess("Where was Marie Curie born?", "Marie Curie was born in Ulm.", index=out, retrieve=False)
    assert rep.thresholds["passage_weight"] == 0.0 and rep.passage_support == {}


def test_config_from_settings_reads_json_values_and_names_what_is_wrong():
    from quco.errors import ConfigError
    from quco.gate.config import GateConfig, config_from_settings

    cfg = config_from_settings(["pass_passage=0", "claims=false", 'pair_kinds=["question-answer"]',
                                "association=npmi", "unknown_value_support=null", "evidence_k=5"])
    assert (cfg.pass_passage, cfg.claims, cfg.pair_kinds, cfg.evidence_k) == (0.0, False, ("question-answer",), 5)
    assert isinstance(cfg.pass_passage, float) and cfg.passage_weight == GateConfig.passage_weight
    assert cfg.unknown_value_support is None and config_from_settings(["hedge_risk=null"]).hedge_risk is None
    for bad, message in (("pass_pasage=0", "no such GateConfig field"), ("claims=3", "expected bool"),
                         ("pass_passage=null", "expected float"),
                         ("pass_passage=high", "expected float"), ("pass_passage", "FIELD=VALUE"),
                         ("passage_weight=2", "must be in [0, 1]"), ("evidence_k=true", "expected int")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            config_from_settings([bad])


def test_quco_risk_and_eval_take_set(index, tmp_path):
    """``--set pass_passage=...`` moves the factual gate of ``quco risk``; a wrong field is one line, exit 2."""
    from click.testing import CliRunner

    from quco.cli.main import cli

    q, a = "Where was Marie Curie born?", "Marie Curie was born in Ulm."
    base = CliRunner().invoke(cli, ["risk", "--index", str(index), "-q", q, "-a", a, "--json", "--no-evidence"])
    lenient = CliRunner().invoke(cli, ["risk", "--index", str(index), "-q", q, "-a", a, "--json", "--no-evidence",
                                       "--set", "pass_passage=0", "--set", "passage_weight=0"])
    assert json.loads(base.output)["thresholds"]["pass_passage"] == 0.9
    got = json.loads(lenient.output)
    assert got["thresholds"]["pass_passage"] == 0.0 and got["thresholds"]["passage_weight"] == 0.0
    assert got["passage_support"] == {} and json.loads(base.output)["passage_support"]
    bad = CliRunner().invoke(cli, ["risk", "--index", str(index), "-q", q, "-a", a, "--set", "nope=1"])
    assert bad.exit_code == 2 and "no such GateConfig field" in bad.output and "Traceback" not in bad.output
    rows = tmp_path / "p.jsonl"
    rows.write_text(json.dumps({"question": q, "answer": a, "label": 1}) + "\n"
                    + json.dumps({"question": q, "answer": "Marie Curie was born in Warsaw.", "label": 0}) + "\n")
    res = CliRunner().invoke(cli, ["eval", str(rows), "--index", str(index), "--format", "pairs", "--json",
                                   "--bootstrap", "0", "--set", "passage_weight=0"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["config"]["passage_weight"] == 0.0


# -- the pruned search (quco.cooccur.maxscore) against full accumulation ------------------------------------------


def _postings_of(rng: np.random.Generator, kind: int):
    """Random postings of four kinds: 0 mixed, 1 every term frequent, 2 ties (tf 1, one norm: equal posting scores
    everywhere), 3 sparse (many terms with no posting at all)."""
    n_passages, n_terms = int(rng.integers(1, 80)), int(rng.integers(1, 14))
    indptr, docs, tf = [0], [], []
    for _ in range(n_terms):
        share = {0: rng.uniform(0, 1), 1: rng.uniform(0.6, 1), 2: rng.uniform(0, 1), 3: rng.uniform(0, 0.15)}[kind]
        d = np.flatnonzero(rng.random(n_passages) < share)
        docs.append(d)
        tf.append(np.ones(len(d), int) if kind == 2 else rng.integers(1, 6, size=len(d)))
        indptr.append(indptr[-1] + len(d))
    idf = (np.full(n_terms, 1.5) if kind == 2 else rng.uniform(-0.3, 3.0, n_terms)).astype(np.float32)
    norm = np.full(n_passages, 1.2) if kind == 2 else rng.uniform(0.5, 3.0, n_passages)
    return (np.array(indptr, np.int64), np.concatenate(docs).astype(np.int32), np.concatenate(tf).astype(np.uint8),
            idf, norm)


@pytest.mark.parametrize("seed", range(40))
def test_maxscore_kernels_equal_their_references(seed):
    rng = np.random.default_rng(1000 + seed)
    arrays = indptr, docs, tf, idf, norm = _postings_of(rng, seed % 4)
    n_terms = len(indptr) - 1
    for t in range(n_terms):
        a, b = indptr[t], indptr[t + 1]
        want = bm25._posting_scores(tf[a:b], np.full(b - a, idf[t]), norm[docs[a:b]])
        got = [ms._posting_score(np.float64(idf[t]), tf[j], norm[docs[j]]) for j in range(a, b)]
        assert np.array_equal(np.array(got, np.float32), want)
        got = ms._term_bound(indptr, docs, tf, idf, *ms.norm_codes(norm), t)
        assert got == ms.term_bound_reference(indptr, docs, tf, idf, *ms.norm_codes(norm), t)
        assert got >= want.max(initial=0) and (idf[t] <= 0 or got <= want.max(initial=0) * 1.05)
        row = docs[a:b].tolist()
        for d in range(len(norm)):
            assert ms._find(indptr, docs, t, d) == (a + row.index(d) if d in row else -1)
    codes, levels = ms.norm_codes(norm)
    assert codes.dtype == np.uint8 and (levels[codes] <= norm).all() and (levels[codes] >= norm / 1.05).all()
    for t in range(n_terms):  # the buffer of bounds: each posting's score with its level, never below the exact one
        buf, touched = np.zeros(len(norm), np.float32), np.zeros(len(norm) + 1, np.int64)
        nt, top = ms._accumulate_bound(indptr, docs, tf, idf, codes, levels, t, buf, touched, 1, -1)
        want = np.zeros(len(norm), np.float32)
        if idf[t] > 0:
            for j in range(indptr[t], indptr[t + 1]):
                want[docs[j]] = np.float32(float(idf[t]) * (tf[j] * (bm25.K1 + 1) / (tf[j] + levels[codes[docs[j]]])))
        assert np.array_equal(buf, want)
        assert (buf >= bm25._scores_reference(*arrays, np.array([t]))).all()
        assert sorted(touched[1:nt].tolist()) == np.flatnonzero(want).tolist()
        assert (top == -1 and indptr[t] == indptr[t + 1] or not idf[t] > 0) or buf[top] == buf.max()
    q = np.unique(rng.integers(0, n_terms, size=rng.integers(1, n_terms + 1))).astype(np.int64)
    full = bm25._scores_reference(*arrays, q)
    for d in range(len(norm)):  # bit-identical to the full accumulation's sum, not approximately equal
        assert ms._exact_score(*arrays, q, d) == ms.exact_score_reference(*arrays, q, d) == full[d]
    q = q[idf[q] > 0]  # the rest take live terms only, as the reader passes them
    if not len(q):
        return
    cache = np.full(n_terms, -1.0)
    ub = ms.bounds(indptr, docs, tf, idf, codes, levels, q, cache)
    assert ub.tolist() == [float(ms.term_bound_reference(indptr, docs, tf, idf, codes, levels, t))
                           for t in q.tolist()] == cache[q].tolist()
    m = int(rng.integers(0, len(q) + 1))
    order, lens, ne, rest = ms._plan(indptr, q, ub, m)
    assert lens.tolist() == (indptr[q + 1] - indptr[q]).tolist()
    assert order.tolist() == sorted(range(len(q)), key=lambda k: (lens[k], k))
    assert ne.tolist() == sorted(order[m:].tolist(), key=lambda k: (-ub[k], order.tolist().index(k)))
    assert rest == pytest.approx(ub[order[m:]].sum(), rel=1e-12)
    touched = np.flatnonzero(full).astype(np.int64)
    for best in (0.0, float(full.max(initial=0)) / 2, float(full.max(initial=0))):
        assert ms._count_above(full, touched, 0.5, best) == sum((full[d] + 0.5) * (1 + ms.MARGIN) > best
                                                                 for d in touched.tolist())
    partial = bm25._scores_reference(*arrays, q[order[:m]])  # what the essential terms give, as the buffer holds
    for d in range(len(norm)):
        best = float(rng.choice([0.0, full[d], full[d] * 0.9, full[d] * 1.1, rng.uniform(0, 10)]))
        got = ms._score_above(*arrays, q, ub, ne, rest, d, partial[d], best, np.ones(len(q), np.float32),
                              np.ones(len(q), bool))  # scratch arrays: left dirty on purpose
        assert got == full[d] if got >= 0 else full[d] <= best  # exact, or proven unable to beat best


@pytest.mark.parametrize("seed", range(80))
def test_pruned_search_equals_full_accumulation_on_random_postings(seed):
    rng = np.random.default_rng(seed)
    arrays = indptr, docs, tf, idf, norm = _postings_of(rng, seed % 4)
    n_terms = len(indptr) - 1
    q = np.unique(rng.integers(0, n_terms, size=rng.integers(1, n_terms + 1))).astype(np.int64)
    q = q[idf[q] > 0]  # the live terms, as the reader passes them
    if not len(q):
        q = np.array([int(np.argmax(idf))], np.int64) if idf.max() > 0 else q
    if not len(q):
        pytest.skip("no term with a positive idf")
    full = bm25._scores_reference(*arrays, q)
    scores = np.zeros(len(norm), np.float32)
    codes, levels = ms.norm_codes(norm)
    ub = ms.bounds(indptr, docs, tf, idf, codes, levels, q, np.full(n_terms, -1.0))
    # lookup costs 0 and 10**9: untouched candidates always scored one by one, or terms always accumulated instead
    search = ms.MaxScoreSearch(arrays, (codes, levels), q, ub, scores, lookup_cost=(ms.LOOKUP_COST, 0, 10**9)[seed % 3])
    assert search.top == full.max()
    for _ in range(12):
        v = np.unique(rng.integers(0, n_terms, size=rng.integers(1, 4))).astype(np.int64)
        assert float(search.best_with_all(v)) == ps._best_with_all_reference(indptr, docs, full, v)
        assert sorted(search.touched.tolist()) == np.flatnonzero(scores).tolist()  # the buffer's only non-zeros
    ps._zero(scores, search.touched)
    assert not scores.any()


def _write_passages(out, passages: list[tuple[str, str]]):
    """``passages.parquet`` as the builder writes it, then the bm25s retrieval built over it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from quco.index_builder.bm25_build import build_retrieval

    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"passage_id": np.arange(len(passages), dtype=np.int64),
                             "doc_id": [f"d{i}" for i in range(len(passages))],
                             "title": [t for t, _ in passages], "text": [x for _, x in passages]}),
                   out / "passages.parquet")
    build_retrieval(out)
    return load_retriever(out)


def _assert_same_support(retriever, questions: list[tuple[str, list[str]]]):
    new, old = PassageSupport(retriever), PassageSupport(retriever, prune=False)
    seen = 0
    for question, values in questions:
        got, want = new.support(question, values), old.support(question, values)
        assert got == want, (question, values)  # exact: the same floats, not approximately
        seen += bool(want and any(w not in (None, 0.0) for w in want))
    assert seen >= len(questions) // 4  # the comparison covered supported values, not only zeros


def test_pruned_support_equals_full_accumulation_on_a_zipf_corpus(tmp_path):
    """A corpus whose word frequencies follow Zipf's law, as real text does: frequent question terms are pruned."""
    rng = np.random.default_rng(7)
    words = [f"w{i}x" for i in range(3000)]
    p = 1 / np.arange(1, len(words) + 1)
    p /= p.sum()
    passages = [(" ".join(rng.choice(words, 2, p=p)), " ".join(rng.choice(words, int(rng.integers(5, 120)), p=p)))
                for _ in range(1500)]
    retriever = _write_passages(tmp_path / "z.idx", passages)
    questions = []
    for _ in range(150):
        title, text = passages[int(rng.integers(len(passages)))]
        toks = (title + " " + text).split()
        question = " ".join(rng.choice(toks, int(rng.integers(1, 16))))
        values = [" ".join(rng.choice(toks, int(rng.integers(1, 3)))) for _ in range(2)]
        values += [" ".join(rng.choice(words, int(rng.integers(1, 3)), p=p)), "nowhere", "the"]
        questions.append((question, values))
    _assert_same_support(retriever, questions)


@pytest.mark.slow
def test_pruned_support_equals_full_accumulation_on_real_questions(tmp_path):
    """Wikipedia passages (the first documents of one wiki2015 shard) and the realqa dev questions, with the
    capitalized words and numbers of their answers as values."""
    from conftest import shared_data

    from quco.index_builder.readers import read_documents

    data = shared_data()
    passages = []
    for doc in read_documents(data / "wiki2015" / "wiki2015_AA.txt.zst"):
        passages += [(doc.title or "", para) for para in doc.paragraphs]
        if len(passages) >= 20_000:
            break
    retriever = _write_passages(tmp_path / "w.idx", passages)
    questions = []
    for name in ("evouna_triviaqa_dev", "evouna_nq_dev", "songs_performer_dev"):
        with open(data / "realqa" / f"{name}.jsonl", encoding="utf-8") as f:
            for line in list(f)[:150]:
                row = json.loads(line)
                words = re.findall(r"\b(?:[A-Z]\w+|\d+)\b", row["answer"])
                values = words[:4] + [" ".join(words[i:i + 2]) for i in range(0, min(len(words), 6) - 1, 2)]
                questions.append((row["question"], values))
    _assert_same_support(retriever, questions)
