"""Inputs and outputs on fsspec filesystems: memory:// and file:// here; s3:// and gs:// take the same path."""
from __future__ import annotations

from pathlib import Path

import pytest

from quco.errors import ConfigError
from quco.index_builder.build import build_index

from test_executors import assert_same_index, opts, synthetic_corpus

fsspec = pytest.importorskip("fsspec")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("remote")
    synthetic_corpus(d / "a.jsonl", 90, 21)
    synthetic_corpus(d / "b.jsonl", 60, 22)
    return d


@pytest.fixture(scope="module")
def local(corpus) -> Path:
    out = corpus / "local.idx"
    build_index([str(corpus / "a.jsonl"), str(corpus / "b.jsonl")], str(out), workers=1, **opts(corpus))
    return out


def _download(url: str, target: Path) -> Path:
    fs, root = fsspec.core.url_to_fs(url)
    for p in fs.find(root):
        dest = target / p[len(root.rstrip("/")) + 1:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(fs.cat_file(p))
    return target


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_memory_in_memory_out(corpus, local, tmp_path, monkeypatch, executor):
    if executor == "dask":
        pytest.importorskip("distributed")
    monkeypatch.setenv("QUCO_STAGING", str(tmp_path))
    mem = fsspec.filesystem("memory")
    base = f"/t-{executor}"
    mem.pipe(f"{base}/corpus/a.jsonl", (corpus / "a.jsonl").read_bytes())
    mem.pipe(f"{base}/corpus/b.jsonl", (corpus / "b.jsonl").read_bytes())
    m = build_index([f"memory://{base}/corpus"], f"memory://{base}/idx", workers=2, executor=executor,
                    **opts(corpus))
    assert m["stats"]["documents"] == 150
    files = mem.find(f"{base}/idx")
    assert any(f.endswith("manifest.json") for f in files) and any(f.endswith("nbr_id.npy") for f in files)
    assert_same_index(local, _download(f"memory://{base}/idx", tmp_path / "down"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".idx")]  # the local staging is gone


def test_file_urls_are_local_paths(corpus, local, tmp_path):
    out = tmp_path / "f.idx"
    build_index([f"file://{corpus / 'a.jsonl'}", f"file://{corpus / 'b.jsonl'}"], f"file://{out}", workers=1,
                **opts(corpus))
    assert_same_index(local, out)


def test_a_missing_url_input_is_a_config_error(corpus, tmp_path):
    with pytest.raises(ConfigError, match="input not found"):
        build_index(["memory:///nothing/here.jsonl"], str(tmp_path / "x"), workers=1, **opts(corpus))
