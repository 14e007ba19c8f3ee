"""Plug-in points: a third-party extractor, installed through the ``quco_extractors`` entry-point group, builds an
index from the CLI and answers queries; built-ins win over a plugin of the same name; ``quco plugins`` lists both.

The plugin is a real installed distribution as far as ``importlib.metadata`` can tell: a module and a
``.dist-info`` directory with ``entry_points.txt``, on ``PYTHONPATH`` of a real ``quco`` process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from quco import registry
from quco.cooccur.extract import make_extractor
from quco.errors import UnknownComponentError

DATA = Path(__file__).parent / "data"

PLUGIN = textwrap.dedent('''
    """A toy extractor: every capitalized word is an entity (label TOY)."""
    import numpy as np

    from quco.cooccur.extract import Extractor, split_segments
    from quco.cooccur.normalize import key_tokens
    from quco.cooccur.types import Mention


    class ToyExtractor(Extractor):
        name = "toy"

        def __init__(self, min_length=2, labels=None):
            self.min_length = int(min_length)

        def config(self):
            return {"name": self.name, "min_length": self.min_length}

        def _capitalized(self, word):
            return len(word) >= self.min_length and word[:1].isupper()

        def extract_batch(self, batch, vocab):
            first, ids = [], []
            for i, (s, e) in enumerate(zip(batch.starts.tolist(), batch.ends.tolist())):
                word = batch.text[s:e]
                if self._capitalized(word):
                    first.append(i)
                    ids.append(vocab.add(" ".join(key_tokens(word)), word, "TOY"))
            first = np.asarray(first, dtype=np.int64)
            pos = first - batch.doc_tok_start[batch.tok_doc[first]] if len(first) else first
            return batch.offsets_from_token_docs(first), np.asarray(ids, np.int32), pos.astype(np.int64)

        def extract(self, text):
            out = []
            for seg, (base, part) in enumerate(split_segments(text)):
                start = None
                for j, ch in enumerate(part + " "):
                    if ch.isalnum():
                        start = j if start is None else start
                    elif start is not None:
                        word = part[start:j]
                        if self._capitalized(word):
                            out.append(Mention(word, " ".join(key_tokens(word)), base + start, base + j, "TOY",
                                               segment=seg))
                        start = None
            return out
    ''')


def _install(root: Path, entry_points: str) -> Path:
    """A distribution ``toy-quco-plugin`` under ``root``: the module and its dist-info with ``entry_points``."""
    (root / "toy_quco_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = root / "toy_quco_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-quco-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return root


def _quco(args: list[str], path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "quco", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    return _install(tmp_path_factory.mktemp("plugin"),
                    "[quco_extractors]\ntoy = toy_quco_plugin:ToyExtractor\nspacy = toy_quco_plugin:ToyExtractor\n")


def test_a_plugin_extractor_builds_an_index_from_the_cli_and_answers_queries(plugin_path, tmp_path):
    out = tmp_path / "toy.idx"
    r = _quco(["build", str(DATA / "six_articles.txt"), "--out", str(out), "--extractor", "toy", "-q", "--json"],
              plugin_path)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["build"]["extractor"] == "toy"
    assert manifest["build"]["extractor_config"]["name"] == "toy"
    # every capitalized word is an entity: "Lovelace" and "London" are two of them, seen together in document 101
    r = _quco(["count", "Lovelace", "London", "--index", str(out), "--json"], plugin_path)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["a"]["freq"] >= 1 and got["b"]["freq"] >= 3 and got["cooccurrence"] >= 1
    r = _quco(["risk", "-q", "Where did Lovelace live?", "-a", "In London.", "--index", str(out), "--json"],
              plugin_path)
    assert r.returncode in (0, 1), r.stderr
    question = [e for e in json.loads(r.stdout)["entities"] if e["source"] == "question"]
    assert [(e["key"], e["label"]) for e in question] == [("lovelace", "TOY")], r.stdout  # found by the plugin
    # without the plugin installed, the index names an extractor nobody provides: one clear error, exit 2
    r = _quco(["risk", "-q", "Where did Lovelace live?", "--index", str(out)], tmp_path)
    assert r.returncode == 2 and "unknown extractor 'toy'" in r.stderr and "E030" in r.stderr, r.stderr


def test_quco_plugins_lists_builtins_plugins_and_the_ignored_shadow(plugin_path):
    r = _quco(["plugins", "--json"], plugin_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["extractors"]
    assert {"name": "toy", "source": "plugin", "module": "toy_quco_plugin:ToyExtractor"} in rows
    assert {"name": "spacy", "source": "builtin", "module": "quco.cooccur.extract"} in rows
    assert {"name": "spacy", "source": "ignored", "module": "toy_quco_plugin:ToyExtractor"} in rows
    assert set(json.loads(r.stdout)) == set(registry.REGISTRIES)


def test_an_unknown_extractor_is_refused_by_the_cli_listing_the_available(tmp_path):
    r = _quco(["build", str(DATA / "six_articles.txt"), "--out", str(tmp_path / "x.idx"), "--extractor", "nope"],
              tmp_path)
    assert r.returncode == 2 and "unknown extractor 'nope'" in r.stderr and "gazetteer, spacy" in r.stderr
    assert not (tmp_path / "x.idx").exists()


def test_the_builtin_wins_over_a_same_named_plugin_with_one_warning(plugin_path, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_path))
    registry.entry_points.cache_clear()
    registry._warned.clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = make_extractor("spacy", {"labels": ["PERSON"]})
            second = make_extractor("spacy", {"labels": ["PERSON"]})
        assert type(first).__module__ == "quco.cooccur.extract" and type(second) is type(first)
        shadow = [w for w in caught if "toy_quco_plugin:ToyExtractor" in str(w.message)]
        assert len(shadow) == 1, [str(w.message) for w in caught]
        toy = make_extractor("toy", {"min_length": 3})
        assert [m.key for m in toy.extract("Ada met Bo in Paris.")] == ["ada", "paris"]
        with pytest.raises(UnknownComponentError, match="available: gazetteer, spacy, toy"):
            make_extractor("nope", {})
    finally:
        registry.entry_points.cache_clear()
