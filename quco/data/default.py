"""The default index, resolved for the faces (CLI, server, ``quco.assess`` / ``quco.wrap`` / ``quco.open_index``).

``open_index(path)`` opens ``path``, else ``$QUCO_INDEX``, else the bundled sample index. The library below the
faces (``quco.cooccur``, ``quco.gate``) never resolves a default: it is handed an index or a path.

The bundled sample is a small Wikipedia sample, indexed on first use.

The package ships ``wiki_sample.txt.zst`` (about 700 articles of English Wikipedia 2015, CC BY-SA 3.0, see
``quco/data/README.md``) and ``wiki_sample_entities.tsv`` (its gazetteer, harvested offline with spaCy NER so the
first-use build needs no NER). The first command that needs an index builds it into the user cache
(``$QUCO_HOME`` or ``$XDG_CACHE_HOME/quco`` or ``~/.cache/quco``), under a lock so that concurrent first uses
build it once.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from pathlib import Path

import quco
from quco.cooccur.index import Index
from quco.cooccur.store import SCHEMA_VERSION
from quco.index_builder.build import build_index

HERE = Path(__file__).parent
SAMPLE = HERE / "wiki_sample.txt.zst"
ENTITIES = HERE / "wiki_sample_entities.tsv"


def cache_dir() -> Path:
    if os.environ.get("QUCO_HOME"):
        return Path(os.environ["QUCO_HOME"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "quco"


# What a cached sample index must have been built with; a change here rebuilds caches made by an older quco.
SAMPLE_BUILD = "phrase-counts"  # the default build's any-phrase arrays (issue #13), absent from older caches


def _fingerprint() -> str:
    h = hashlib.sha256(f"{quco.__version__} schema {SCHEMA_VERSION} {SAMPLE_BUILD}".encode())
    for p in (SAMPLE, ENTITIES):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def default_index_path(progress: bool = True) -> Path:
    """The default index, built now if this is its first use."""
    out = cache_dir() / f"wiki-sample-{_fingerprint()}"
    if (out / "manifest.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").exists():
            if progress:
                print(f"quco: first use, building the bundled Wikipedia sample index into {out} ...",
                      file=sys.stderr)
            build_index([str(SAMPLE)], str(out), extractor="gazetteer", entities=str(ENTITIES),
                        harvest_sample=0, progress=progress and sys.stderr.isatty())
    return out


def resolve_index_path(path: str | Path | None = None) -> Path:
    """``path``, else ``$QUCO_INDEX``, else the bundled sample index (built now if this is its first use)."""
    if path is None:
        path = os.environ.get("QUCO_INDEX") or None
    return Path(path) if path is not None else default_index_path()


def open_index(path: str | Path | None = None) -> Index:
    """Open ``path``, else ``$QUCO_INDEX``, else the bundled default index (built on first use)."""
    return Index(resolve_index_path(path))
