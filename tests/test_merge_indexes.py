"""quco merge and quco build --append: the sum of indexes equals one build over all of their input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from quco.cli.main import cli
from quco.cooccur.index import Index
from quco.cooccur.store import verify
from quco.errors import ConfigError
from quco.index_builder.build import build_index
from quco.index_builder.merge_indexes import append_to_index, merge_indexes

from test_executors import assert_same_index, opts, synthetic_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("merge")
    synthetic_corpus(d / "a.jsonl", 130, 11)
    synthetic_corpus(d / "b.jsonl", 70, 12)
    synthetic_corpus(d / "c.jsonl", 50, 13)
    return d


@pytest.fixture(scope="module")
def whole(corpus) -> Path:
    """One local build over a, b and c."""
    out = corpus / "whole.idx"
    build_index([str(corpus / n) for n in ("a.jsonl", "b.jsonl", "c.jsonl")], str(out), workers=2,
                **opts(corpus, blend=True) | {"retrieval": ("bm25s",)})
    return out


def test_merge_of_parts_equals_one_build(corpus, whole, tmp_path):
    parts = []
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        parts.append(tmp_path / f"{name}.idx")
        build_index([str(corpus / name)], str(parts[-1]), workers=1, **opts(corpus))
    m = merge_indexes(parts, tmp_path / "merged.idx")
    assert_same_index(whole, tmp_path / "merged.idx")
    parts_have = json.loads((parts[0] / "manifest.json").read_text())["artifacts"]
    assert m["stats"]["merge"]["dropped"] == sorted(a for a in parts_have if a.startswith("arrays/phrase_"))
    assert m["build"]["retrieval"] == []
    assert verify(tmp_path / "merged.idx") == []


def test_merge_of_dask_built_halves_equals_the_local_build(corpus, whole, tmp_path):
    pytest.importorskip("distributed")
    first, second = tmp_path / "ab.idx", tmp_path / "c.idx"
    build_index([str(corpus / "a.jsonl"), str(corpus / "b.jsonl")], str(first), workers=2, executor="dask",
                **opts(corpus))
    build_index([str(corpus / "c.jsonl")], str(second), workers=2, executor="dask", gazetteer=str(first),
                **opts(corpus))
    out = tmp_path / "merged.idx"
    merge_indexes([first, second], out, retrieval=("bm25s",))
    assert_same_index(whole, out)
    for f in sorted((whole / "retrieval").rglob("*")):  # the BM25 index over the merged passages, byte for byte
        g = out / f.relative_to(whole)
        if f.suffix == ".json":  # but for the size of passages.parquet, whose row groups may be laid out otherwise
            assert {**json.loads(f.read_text()), "source": 0} == {**json.loads(g.read_text()), "source": 0}
        elif f.is_file():
            assert f.read_bytes() == g.read_bytes(), f
    with Index(out) as ix, Index(whole) as iw:
        assert ix.cooc("Ada Lovelace", "London") == iw.cooc("Ada Lovelace", "London") > 0
        assert ix.freq("Niels Bohr") == iw.freq("Niels Bohr") > 0


def test_append_equals_one_build(corpus, whole, tmp_path):
    idx = tmp_path / "grown.idx"
    build_index([str(corpus / "a.jsonl")], str(idx), workers=2, **opts(corpus, retrieval=("bm25s",), blend=True))
    before = json.loads((idx / "manifest.json").read_text())
    append_to_index(idx, [str(corpus / "b.jsonl")], workers=1)
    executor = "dask" if _has_dask() else "local"
    m = append_to_index(idx, [str(corpus / "c.jsonl")], workers=2, executor=executor)
    assert_same_index(whole, idx)
    assert m["build"]["inputs"] == [str(corpus / n) for n in ("a.jsonl", "b.jsonl", "c.jsonl")]
    assert m["corpus"]["sha256"] == json.loads((whole / "manifest.json").read_text())["corpus"]["sha256"]
    assert m["corpus"]["sha256"] != before["corpus"]["sha256"]
    assert "blend" in m["stats"] and verify(idx) == []
    assert not any(p.name.startswith((".grown.idx.append", ".grown.idx.merging")) for p in tmp_path.iterdir())


def _has_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def test_append_keeps_the_dictionary_frozen(corpus, tmp_path):
    """A name only the new input would add to the dictionary is not counted; a rebuild with it counts it."""
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"id": "n1", "title": "New", "text": "Grace Hopper met Ada Lovelace in London."}) + "\n")
    idx = tmp_path / "idx"
    build_index([str(corpus / "b.jsonl")], str(idx), workers=1, **opts(corpus))
    append_to_index(idx, [str(new)])
    with Index(idx) as ix:
        assert ix.freq("Grace Hopper") == 0 and ix.cooc("Ada Lovelace", "Grace Hopper") == 0
        ada = ix.freq("Ada Lovelace")
    grown = tmp_path / "names2.txt"
    grown.write_text((corpus / "names.txt").read_text() + "Grace Hopper\n")
    rebuilt = tmp_path / "rebuilt"
    build_index([str(corpus / "b.jsonl"), str(new)], str(rebuilt), workers=1, **opts(corpus) | {"entities": str(grown)})
    with Index(rebuilt) as ix:
        assert ix.freq("Grace Hopper") == 1 and ix.cooc("Ada Lovelace", "Grace Hopper") == 1
        assert ix.freq("Ada Lovelace") == ada


@pytest.mark.parametrize("change,what", [({"window": 40}, "window"),
                                         ({"entities": "other"}, "dictionary"),
                                         ({"extractor": "spacy", "entities": None}, "extractor")])
def test_incompatible_indexes_are_refused_naming_the_difference(corpus, tmp_path, change, what):
    a, b = tmp_path / "a.idx", tmp_path / "b.idx"
    build_index([str(corpus / "c.jsonl")], str(a), workers=1, **opts(corpus))
    other = opts(corpus) | change
    if change.get("entities") == "other":
        (tmp_path / "other.txt").write_text("London\nParis\n")
        other["entities"] = str(tmp_path / "other.txt")
    build_index([str(corpus / "c.jsonl")], str(b), workers=1, **other)
    with pytest.raises(ConfigError, match=what):
        merge_indexes([a, b], tmp_path / "m.idx")
    r = CliRunner().invoke(cli, ["merge", str(a), str(b), "--out", str(tmp_path / "m.idx")])
    assert r.exit_code == 2 and what in r.output and "Traceback" not in r.output
    assert not (tmp_path / "m.idx").exists()


def test_merge_refuses_one_index_twice(corpus, tmp_path):
    a = tmp_path / "a.idx"
    build_index([str(corpus / "c.jsonl")], str(a), workers=1, **opts(corpus))
    with pytest.raises(ConfigError, match="twice"):
        merge_indexes([a, a], tmp_path / "m.idx")


def test_cli_append_and_merge(corpus, whole, tmp_path):
    runner = CliRunner()
    idx = tmp_path / "cli.idx"
    build_index([str(corpus / "a.jsonl")], str(idx), workers=1, **opts(corpus) | {"retrieval": ("bm25s",)})
    r = runner.invoke(cli, ["build", "--append", str(corpus / "b.jsonl"), str(corpus / "c.jsonl"), "--index",
                            str(idx), "--workers", "1", "-q", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stats"]["documents"] == 250
    assert_same_index(whole, idx)
    r = runner.invoke(cli, ["build", "--append", str(corpus / "b.jsonl"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--index" in r.output
