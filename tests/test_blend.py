"""Blend judgement on a hand-made corpus with known fields: kind, distance, bridges, and the build-time arrays.

Four fields of six entities each. Every document of a field mentions two of its entities (every allowed pair
twice) among words of that field; the first and last entity of a field never meet (the unseen ``near`` pair),
and entities of different fields never meet (``cross_field``); the second entity meets both ends once more
than the others do. "London" is in most documents of every field and
in filler documents: the most frequent neighbour of everything, associated with nothing in particular.
"""
from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from quco.cooccur.blendvec import BRIDGE_MIN_COUNT, BRIDGE_MIN_PPMI, association, smoothing_factor
from quco.index_builder.blend_build import compute_embeddings, randomized_svd
from quco.cooccur.index import Index
from quco.errors import IndexCorruptError
from quco.gate import blend
from quco.gate.blend import judge_blend
from quco.index_builder.build import build_index

FIELDS = {
    "astronomy": (["Orion Nebula", "Andromeda Galaxy", "Hubble Telescope", "Kepler Mission", "Crab Pulsar",
                   "Vega Observatory"],
                  "telescope galaxy orbit stars redshift spectrum planet comet nebula astronomers cosmic "
                  "luminosity eclipse supernova parallax".split()),
    "cooking": (["Beef Wellington", "Paella Valenciana", "Tarte Tatin", "Pad Thai", "Coq au Vin", "Risotto Milanese"],
                "oven sauce garlic recipe bake butter flour simmer onions saffron pastry seasoning broth "
                "caramelized chef".split()),
    "football": (["Arsenal Club", "Real Madrid", "Bayern Munich", "Lionel Messi", "Champions Cup", "Wembley Stadium"],
                 "goal match striker league season penalty referee midfielder tournament defender coach "
                 "kickoff scored fixture relegation".split()),
    "music": (["Vienna Philharmonic", "Maria Callas", "La Traviata", "Glenn Gould", "Abbey Road Studios",
               "Miles Davis"],
              "symphony orchestra album melody chord concert soprano tempo harmony recording jazz opera "
              "conductor sonata rhythm".split()),
}
GENERIC = "year people time report new first later well known many during part".split()
POPULAR = "London"
INVENTED = "Zorblax Quintessence"


def _corpus(path: Path) -> list[str]:
    rng = random.Random(8)
    docs = []
    for field, (ents, words) in FIELDS.items():
        pairs = [p for p in itertools.combinations(range(len(ents)), 2) if p != (0, len(ents) - 1)]
        for rep in range(2):
            for i, j in pairs:
                body = rng.choices(words, k=25) + rng.choices(GENERIC, k=8)
                if rng.random() < 0.6:
                    body.append(POPULAR)
                body[3:3], body[15:15] = [ents[i]], [ents[j]]
                docs.append(" ".join(body) + ".")
        for end in (0, len(ents) - 1):  # the second entity meets both ends once more: the strongest bridge
            docs.append(" ".join([ents[end]] + rng.choices(words, k=20) + [ents[1]]) + ".")
    for _ in range(100):
        docs.append(" ".join(rng.choices(GENERIC, k=30) + [POPULAR]) + ".")
    rng.shuffle(docs)
    path.write_text("".join(json.dumps({"id": f"d{k}", "title": f"Doc {k}", "text": t}) + "\n"
                            for k, t in enumerate(docs)), encoding="utf-8")
    names = [e for ents, _ in FIELDS.values() for e in ents] + [POPULAR]
    (path.parent / "names.txt").write_text("".join(f"{n}\tENTITY\n" for n in names), encoding="utf-8")
    return names


NEAR = [(ents[0], ents[-1]) for ents, _ in FIELDS.values()]
CROSS = [(a[k], b[(k + 2) % len(b)]) for (a, _), (b, _) in itertools.combinations(FIELDS.values(), 2)
         for k in range(0, 6, 2)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("blend")
    _corpus(root / "corpus.jsonl")
    plain = root / "plain"
    build_index([str(root / "corpus.jsonl")], str(plain), extractor="gazetteer", entities=str(root / "names.txt"),
                titles=False, harvest_sample=0, workers=1, progress=False, retrieval=(), blend=False)
    pre = root / "pre"
    shutil.copytree(plain, pre)
    compute_embeddings(pre)
    return {"plain": plain, "pre": pre, "root": root}


@pytest.fixture(scope="module")
def plain(built) -> Index:
    return Index(built["plain"])


@pytest.fixture(scope="module")
def pre(built) -> Index:
    return Index(built["pre"])


@pytest.fixture(params=["pre", "plain"])
def ix(request, pre, plain) -> Index:
    return pre if request.param == "pre" else plain


def test_corpus_is_as_designed(plain):
    for a, b in NEAR + CROSS:
        assert plain.freq(a) > 0 and plain.freq(b) > 0
        assert plain.cooc(a, b) == 0
    assert plain.cooc("Orion Nebula", "Hubble Telescope") == 2 and plain.cooc("Orion Nebula", "Andromeda Galaxy") == 3


def test_methods(pre, plain):
    assert judge_blend(pre, *NEAR[0])["method"] == "context-svd"
    assert judge_blend(plain, *NEAR[0])["method"] == "ppmi-cosine"
    assert blend.blend_arrays(plain) is None


@pytest.mark.parametrize("a,b", NEAR)
def test_same_field_unseen_pair_is_near(ix, a, b):
    rec = judge_blend(ix, a, b)
    assert rec["kind"] == "near", rec
    assert rec["distance"] < rec["threshold"]
    assert not rec["flagged"]


@pytest.mark.parametrize("a,b", CROSS)
def test_cross_field_pair_is_cross_field(ix, a, b):
    rec = judge_blend(ix, a, b)
    assert rec["kind"] == "cross_field", rec
    assert rec["distance"] >= rec["threshold"]


def test_every_near_pair_is_closer_than_every_cross_pair(ix):
    near = [judge_blend(ix, a, b)["distance"] for a, b in NEAR]
    cross = [judge_blend(ix, a, b)["distance"] for a, b in CROSS]
    assert max(near) < min(cross)


def test_unknown_entity(ix):
    for a, b in ((INVENTED, "Orion Nebula"), ("Pad Thai", INVENTED)):
        rec = judge_blend(ix, a, b)
        assert rec["kind"] == "unknown_entity" and rec["flagged"]
        assert INVENTED in rec["note"] and rec["distance"] is None and rec["bridges"] == []


def test_bridges_ranked_by_association_not_frequency(ix):
    a, b = NEAR[0]
    rec = judge_blend(ix, a, b)
    names = [x["text"] for x in rec["bridges"]]
    ents = FIELDS["astronomy"][0]
    assert set(names) == set(ents[1:-1])  # the four entities that meet both ends
    assert names[0] == ents[1]
    # the popular entity shares the most documents with both sides, but is associated with neither
    cooc = {x: min(ix.cooc(a, x), ix.cooc(b, x)) for x in ents[1:-1] + [POPULAR]}
    assert max(cooc, key=cooc.get) == POPULAR and POPULAR not in names
    z = smoothing_factor(np.asarray(ix.entity_freq))
    scores = []
    for x in rec["bridges"]:
        want = [float(association([ix.cooc(s, x["text"])], ix.freq(s), [ix.freq(x["text"])], ix.n_documents, z)[0])
                for s in (a, b)]
        assert x["assoc_a"] == pytest.approx(want[0], abs=1e-3) and x["assoc_b"] == pytest.approx(want[1], abs=1e-3)
        assert x["score"] == pytest.approx(min(want), abs=1e-3)
        assert min(want) >= BRIDGE_MIN_PPMI and min(ix.cooc(s, x["text"]) for s in (a, b)) >= BRIDGE_MIN_COUNT
        scores.append(x["score"])
    assert scores == sorted(scores, reverse=True)


def test_cross_field_pair_has_no_bridges(ix):
    assert judge_blend(ix, *CROSS[0])["bridges"] == []


def test_precomputed_and_fallback_agree(pre, plain):
    for a, b in NEAR + CROSS + [(INVENTED, "Pad Thai")]:
        rp, rf = judge_blend(pre, a, b), judge_blend(plain, a, b)
        assert rp["kind"] == rf["kind"], (a, b, rp, rf)
        assert rp["bridges"] == rf["bridges"]


def test_compute_embeddings_outputs(built, pre):
    d = built["pre"] / "arrays"
    n = pre.entity_hash.shape[0]
    meta = json.loads((d / "blend.json").read_text())
    vec = np.load(d / "entity_vec.npy")
    assert vec.dtype == np.float32 and vec.shape == (n, meta["vectors"]["dim"]) and 1 <= vec.shape[1] <= 32
    norms = np.linalg.norm(vec, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)  # every entity here has context
    for i in range(n):
        ids, w = blend.association_row(pre, i, min_count=BRIDGE_MIN_COUNT)
        assert (np.diff(ids) > 0).all() and i not in ids and (w >= BRIDGE_MIN_PPMI).all()
    pct = meta["calibration"]["distance_percentiles"]
    assert len(pct) == 101 and pct == sorted(pct)
    pcts = [judge_blend(pre, a, b)["distance_percentile"] for a, b in NEAR + CROSS]
    assert all(0 <= p <= 100 for p in pcts)
    assert max(pcts[:len(NEAR)]) < min(pcts[len(NEAR):])


@pytest.mark.parametrize("d,want", [(-1.0, 0.0), (0.0, 0.0), (0.5, 50.0), (0.255, 25.5), (1.0, 100.0), (2.0, 100.0)])
def test_percentile_of_distance(d, want):
    assert blend.percentile(np.linspace(0.0, 1.0, 101), d) == pytest.approx(want)


def test_percentile_of_tied_distances_counts_the_closer_pairs():
    grid = np.concatenate([np.linspace(0.0, 0.3, 31), np.ones(70)])  # 70% of random pairs at distance 1
    assert blend.percentile(grid, 1.0) == pytest.approx(31.0)
    assert blend.percentile(grid, 0.15) == pytest.approx(15.0)


def test_compute_embeddings_is_deterministic(built, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(built["plain"], again)
    compute_embeddings(again)
    for name in ("entity_vec.npy",):
        assert np.array_equal(np.load(again / "arrays" / name), np.load(built["pre"] / "arrays" / name)), name
    first = json.loads((built["pre"] / "arrays" / "blend.json").read_text())
    second = json.loads((again / "arrays" / "blend.json").read_text())
    assert first["calibration"] == second["calibration"]


def test_mismatched_arrays_are_an_index_error(built, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(built["pre"], bad)
    np.save(bad / "arrays" / "entity_vec.npy", np.zeros((3, 4), np.float32))
    with pytest.raises(IndexCorruptError):
        judge_blend(Index(bad), *NEAR[0])


def test_randomized_svd_matches_exact_svd():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((60, 8)) @ rng.standard_normal((8, 40)) + 0.01 * rng.standard_normal((60, 40))
    u, s, vt = randomized_svd(a, 6, seed=1)
    s_exact = np.linalg.svd(a, compute_uv=False)
    assert np.allclose(s, s_exact[:6], rtol=1e-6)
    assert np.allclose(u.T @ u, np.eye(6), atol=1e-8) and np.allclose(vt @ vt.T, np.eye(6), atol=1e-8)
    assert (u[np.abs(u).argmax(axis=0), np.arange(6)] > 0).all()
    u2, s2, _ = randomized_svd(a, 6, seed=1)
    assert np.array_equal(u, u2) and np.array_equal(s, s2)
    assert randomized_svd(a, 100)[1].shape == (40,)  # k is capped by the matrix shape


def test_neighbour_similarity_of_unseen_pairs(ix):
    """Second-order evidence for assess: an unseen pair of one field shares neighbours, a cross-field one none."""
    from quco.gate.scoring import neighbour_similarity

    near = [neighbour_similarity(ix, ix.entity_id(a), ix.entity_id(b)) for a, b in NEAR]
    cross = [neighbour_similarity(ix, ix.entity_id(a), ix.entity_id(b)) for a, b in CROSS]
    assert all(0.0 < x <= 1.0 for x in near) and min(near) > max(cross)
    assert neighbour_similarity(ix, -1, ix.entity_id(NEAR[0][0])) == 0.0


def test_folded_in_vectors_keep_the_fields_apart(built, pre):
    """With a fit budget far below the corpus's cells, most entities are folded into the space fitted on the
    most frequent ones; near pairs must still be closer than cross-field pairs, and the fold-in must be used."""
    from quco.index_builder.blend_build import context_matrices, context_vectors

    e, w, df, n_pass, _ = context_matrices(built["pre"], np.asarray(pre.entity_hash))
    full, p_full = context_vectors(e, w, df, n_pass, np.asarray(pre.entity_freq))
    budget = p_full["fit_cells"] // 4
    part, p_part = context_vectors(e, w, df, n_pass, np.asarray(pre.entity_freq), fit_cells=budget, block=64)
    assert p_full["folded_entities"] == 0 and p_part["folded_entities"] > pre.entity_hash.shape[0] // 2
    # the budget holds inside a block too (the first block alone holds more cells than that)
    assert 0 < p_part["fit_cells"] <= budget and p_part["fit_entities"] + p_part["folded_entities"] == len(part)
    one, p_one = context_vectors(e, w, df, n_pass, np.asarray(pre.entity_freq), fit_cells=1, block=64)
    assert p_one["fit_entities"] == 1 and p_one["folded_entities"] == len(one) - 1  # never fewer than one row
    assert np.allclose(np.linalg.norm(part, axis=1), 1.0, atol=1e-4)

    def dist(vec, a, b):
        return 1.0 - float(vec[pre.entity_id(a)] @ vec[pre.entity_id(b)])

    assert max(dist(part, a, b) for a, b in NEAR) < min(dist(part, a, b) for a, b in CROSS)
    assert max(dist(full, a, b) for a, b in NEAR) < min(dist(full, a, b) for a, b in CROSS)
