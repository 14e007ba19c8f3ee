"""The index directory format: file names, schema version, manifest reading and verification.

An index is a directory:

- ``manifest.json``: ``schema_version``, quco version, build parameters, corpus fingerprint, stats, for every
  artifact its row count, size and sha256, and ``checksum``: the sha256 of the manifest itself (see
  :func:`manifest_checksum`), so that an edit or a flipped byte in the manifest is found too.
- ``entities.parquet``: ``id`` (int32, = rank of ``hash``), ``hash`` (uint64), ``key``, ``text``, ``label``,
  ``freq`` (documents), ``mentions``; sorted by ``hash``.
- ``pairs.parquet``: ``key`` (int64 = ``a << 32 | b`` with entity ids ``a < b``), ``count`` (documents); sorted.
- ``passages.parquet``: ``passage_id``, ``doc_id``, ``title``, ``text`` (~100 words each), for retrieval.
- ``gazetteer.parquet``: the entity dictionary when the build used the gazetteer extractor.
- ``arrays/*.npy``: the hot-path copies of the same numbers, memory-mapped at open: ``entity_hash``,
  ``entity_freq``; the pairs as symmetric rows ``nbr_indptr``, ``nbr_id``, ``nbr_count`` (every pair twice, once
  in each entity's row; ids ascending); the postings ``doc_indptr``, ``doc_ids`` (the documents of each entity,
  ascending), for document-level co-occurrence at query time (see ``quco.cooccur.csr``); unless built with
  ``phrase_counts=False``, the ``PHRASE_ARRAYS`` (``phrase_*``: the corpus as token ids and its suffix array,
  for exact counts of any phrase; see ``quco.cooccur.phrase_index``), read when the manifest lists them.
- ``retrieval/<backend>/``: persisted BM25 indexes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from quco.errors import IndexCorruptError, IndexNotFoundError

SCHEMA_VERSION = 2  # 2: pairs as symmetric rows, entity postings (1: sorted pair keys)
MANIFEST = "manifest.json"
ARRAYS = ("entity_hash", "entity_freq", "nbr_indptr", "nbr_id", "nbr_count", "doc_indptr", "doc_ids")
PHRASE_ARRAYS = ("phrase_vocab", "phrase_tokens", "phrase_sa", "phrase_doc_start", "phrase_doc_block",
                 "phrase_heavy_lo", "phrase_heavy_hi", "phrase_heavy_df", "phrase_heavy_set", "phrase_heavy_bits",
                 "phrase_doc_titled")
# written by every build since 3 Dec 2026; an older index lacks it and is read as before (a short first segment is
# a title: quco.cooccur.articles)
PHRASE_OPTIONAL = frozenset({"phrase_doc_titled"})


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON, its ``checksum`` field left out."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def artifact_files(root: Path) -> list[Path]:
    """Every file of an index but the manifest, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def read_manifest(root: str | Path, *, shown: str | Path | None = None) -> dict[str, Any]:
    """The manifest of the index at ``root``; raises IndexNotFoundError / IndexCorruptError.

    ``shown`` is the path that messages name (``root`` may be a ``/proc/self/fd/N`` alias of it).
    """
    root = Path(root)
    where = Path(shown) if shown is not None else root
    path = root / MANIFEST
    if not path.exists():
        raise IndexNotFoundError(str(where))
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:  # removed between the check and the read (a concurrent rebuild swapped it out)
        raise IndexNotFoundError(str(where)) from None
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"{where / MANIFEST}: unreadable manifest ({e}); rebuild the index") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "quco-index":
        raise IndexCorruptError(f"{where / MANIFEST}: not a quco index manifest")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise IndexCorruptError(
            f"{where}: index schema_version {version}, this quco reads {SCHEMA_VERSION}; rebuild it with `quco build`"
        )
    if "checksum" not in manifest:  # required: deleting the field must not bypass the check
        raise IndexCorruptError(f"{where / MANIFEST}: the manifest has no checksum (edited or corrupt); rebuild the index")
    if manifest["checksum"] != manifest_checksum(manifest):
        raise IndexCorruptError(
            f"{where / MANIFEST}: the manifest does not match its checksum (edited or corrupt); rebuild the index"
        )
    return manifest


def verify(root: str | Path, *, checksums: bool = True) -> list[str]:
    """Problems found comparing the files with the manifest (empty when the index is intact).

    Checks that every listed artifact exists with its recorded size (cheap), and with ``checksums`` its sha256;
    also that no unlisted file was added.
    """
    root = Path(root)
    manifest = read_manifest(root)
    problems: list[str] = []
    listed = manifest.get("artifacts", {})
    for rel, info in sorted(listed.items()):
        p = root / rel
        if not p.exists():
            problems.append(f"{rel}: missing")
            continue
        size = p.stat().st_size
        if size != info.get("bytes"):
            problems.append(f"{rel}: {size} bytes, manifest says {info.get('bytes')}")
            continue
        if checksums and sha256_file(p) != info.get("sha256"):
            problems.append(f"{rel}: sha256 mismatch (file changed or corrupt)")
    for p in artifact_files(root):
        rel = p.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    return problems
