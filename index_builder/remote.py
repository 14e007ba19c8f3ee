"""Inputs and outputs on any filesystem fsspec understands (``s3://``, ``gs://``, ``memory://``, ``file://``...).

A build reads plain local paths and writes a local directory, because its readers stream files and its index
is memory-mapped; other filesystems are reached at the edges:

- a URL input (a file, a directory, or a glob) is streamed once into the build's staging directory
  (``.<name>.inputs/`` beside the local output), each file keeping its name, and the build reads the copies;
  the corpus fingerprint is of the bytes read, so it is the same as for a local copy of the same files;
- a URL ``--out`` is built in a local directory (``.<name>.local/`` in the current directory, or
  ``QUCO_STAGING``), then uploaded file by file, ``manifest.json`` last: a reader that finds the manifest finds
  every file it lists. Object stores have no atomic rename, so replacing an index in place is not atomic there:
  publish each version under a new prefix and point readers at it. ``quco`` opens indexes from local paths only
  (download one with any fsspec tool first).

``file://`` URLs are local paths. Credentials come from the usual places of each filesystem (for ``s3://``,
s3fs reads ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` or the instance role; for ``gs://``,
gcsfs reads ``GOOGLE_APPLICATION_CREDENTIALS``). Needs ``fsspec`` (``pip install 'quco-gate[remote]'``) and the
filesystem's own package (``s3fs``, ``gcsfs``).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from quco.errors import ConfigError

CHUNK = 1 << 22


def is_url(path: str) -> bool:
    """True for ``scheme://...`` other than ``file://`` (which is a local path)."""
    return "://" in str(path) and not str(path).startswith("file://")


def local_path(path: str) -> str:
    """``file:///x`` -> ``/x``; anything else unchanged."""
    return path[len("file://"):] if str(path).startswith("file://") else path


def _fs(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise ConfigError(f"{url}: reading or writing URLs needs fsspec: pip install 'quco-gate[remote]' (and s3fs "
                          "for s3://, gcsfs for gs://)") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"{url}: no filesystem for this URL ({exc})") from None


def expand(url: str) -> list[str]:
    """The files a URL input names: itself, every file under it (a directory), or a glob's matches; sorted."""
    fs, path = _fs(url)
    if any(c in path for c in "*?["):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        found = sorted(p for p in fs.find(path) if not Path(p).name.startswith("."))
    elif fs.exists(path):
        found = [path]
    else:
        raise ConfigError(f"input not found: {url}")
    return [fs.unstrip_protocol(p) for p in found]


def stage_inputs(inputs: Sequence[str], staging: Path) -> list[str]:
    """Local paths for ``inputs``: local ones as they are, URL ones copied into ``staging`` (numbered so that
    files of the same name from different places do not collide; a copy of the same size is reused)."""
    out: list[str] = []
    n = 0
    for raw in inputs:
        if not is_url(raw):
            out.append(local_path(raw))
            continue
        for url in expand(raw):
            fs, path = _fs(url)
            target = staging / f"{n:05d}" / Path(path).name
            n += 1
            size = fs.size(path)
            if not (target.exists() and target.stat().st_size == size):
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                with fs.open(path, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                os.replace(tmp, target)
            out.append(str(target))
    return out


def upload_index(local: Path, url: str) -> None:
    """Copy the index directory ``local`` to ``url``, every file but the manifest first."""
    fs, root = _fs(url)
    files = sorted(p for p in local.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == "manifest.json")
    for p in files:
        dest = f"{root.rstrip('/')}/{p.relative_to(local).as_posix()}"
        fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(p), dest)


def build_with_urls(cfg: Any, build: Callable[[Any], dict]) -> dict[str, Any]:
    """Run ``build(cfg)`` on local paths, staging URL inputs and uploading to a URL ``--out``."""
    from dataclasses import replace

    remote_out = cfg.out if is_url(cfg.out) else None
    if remote_out:
        name = remote_out.rstrip("/").rsplit("/", 1)[-1] or "index"
        base = Path(os.environ.get("QUCO_STAGING", ".")).resolve()
        out = base / f".{name}.local"
    else:
        out = Path(local_path(cfg.out)).resolve()
    staging = out.parent / f".{out.name}.inputs"
    inputs = stage_inputs(cfg.inputs, staging)
    manifest = build(replace(cfg, inputs=inputs, out=str(out)))
    shutil.rmtree(staging, ignore_errors=True)
    if remote_out:
        upload_index(out, remote_out)
        shutil.rmtree(out, ignore_errors=True)
    return manifest
