"""Shards of a build: how each input file is cut, and the tasks that workers run on their own reads of a file.

A file is cut into shards of at most ``shard_docs`` documents or ``shard_chars`` characters, in reading order;
shard ``k`` of input file ``fi`` is called ``f"{fi:05d}-{k:06d}"``. The cut depends only on the file and those two
numbers, so every executor makes the same shards, with the same partials and completion markers: arrays are
byte-identical whichever executor counted them, and ``--resume`` may continue a build with another executor.

Two ways to hand shards to workers:

- documents (the local process pool): the build process reads the file and sends each shard's documents down a
  pipe to a worker on the same machine;
- ranges (Dask, Ray, ...): a worker gets a :class:`ShardRange` -- a path and a range of shard numbers -- and reads
  the file itself: no corpus text passes through the scheduler. With at least as many files as workers (the
  usual case for a large corpus), a task is a whole file and the build process reads nothing. With fewer, the
  build process reads each file once to *plan* it (shard ids and sizes, nothing kept) and cuts it into about
  ``workers / files`` ranges; compressed files cannot be entered in the middle, so a worker whose range starts
  at shard ``k0`` parses (without counting) the shards before it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quco.cooccur.extract import Extractor, make_extractor
from quco.cooccur.types import Document
from quco.index_builder import readers
from quco.index_builder.shard import process_shard


@dataclass(frozen=True)
class ReadOptions:
    """How the files of a build are read and cut into shards (everything a worker needs to cut them alike)."""

    format: str = "auto"
    text_field: str = "text"
    on_bad_record: str = "error"
    shard_docs: int = 2000
    shard_chars: int = 32_000_000


@dataclass(frozen=True)
class ShardInfo:
    """One planned shard: its id, its number in its file, and its size in characters (for the progress bar)."""

    sid: str
    k: int
    chars: int


@dataclass(frozen=True)
class ShardRange:
    """A task for a worker that reads for itself: shards ``k0 <= k < k1`` of input file number ``fi`` (``k1``
    None: to the end of the file). ``rejects``: send back the bad records skipped (when no plan recorded them)."""

    path: str
    fi: int
    k0: int
    k1: int | None
    rejects: bool = False


def shard_id(fi: int, k: int) -> str:
    return f"{fi:05d}-{k:06d}"


def file_shards(path: Path | str, fi: int, opts: ReadOptions, reject: Callable[[dict], None] | None = None,
                stop: int | None = None) -> Iterator[tuple[str, list[Document]]]:
    """The shards of one file, in order, with their documents (an empty file is one empty shard).

    ``stop``: do not read past shard ``stop - 1``."""
    chunk: list[Document] = []
    size, k = 0, 0
    for doc in readers.read_documents(path, opts.format, text_field=opts.text_field,
                                      on_bad_record=opts.on_bad_record, rejects=reject):
        chunk.append(doc)
        size += doc.n_chars
        if len(chunk) >= opts.shard_docs or size >= opts.shard_chars:
            yield shard_id(fi, k), chunk
            chunk, size, k = [], 0, k + 1
            if stop is not None and k >= stop:
                return
    if chunk or k == 0:
        yield shard_id(fi, k), chunk


def plan_file(path: Path | str, fi: int, opts: ReadOptions,
              reject: Callable[[dict], None] | None = None) -> list[ShardInfo]:
    """Read one file through and list its shards (bad records are reported to ``reject`` here, once)."""
    return [ShardInfo(sid, int(sid.split("-")[1]), sum(d.n_chars for d in docs))
            for sid, docs in file_shards(path, fi, opts, reject)]


def split_ranges(path: str, fi: int, todo: Sequence[ShardInfo], parts: int) -> list[ShardRange]:
    """Cut a file's shards still to count into at most ``parts`` ranges of consecutive shards, of about equal
    size in characters."""
    if not todo:
        return []
    parts = max(1, min(parts, len(todo)))
    total = sum(s.chars for s in todo) or len(todo)
    ranges: list[ShardRange] = []
    start, acc = 0, 0
    for i, s in enumerate(todo):
        acc += s.chars or 1
        if len(ranges) < parts - 1 and acc >= total * (len(ranges) + 1) / parts and i + 1 < len(todo):
            ranges.append(ShardRange(path, fi, todo[start].k, s.k + 1))
            start = i + 1
    ranges.append(ShardRange(path, fi, todo[start].k, todo[-1].k + 1))
    return ranges


# ---- worker side: an extractor per worker process, made once ---------------------------------------------------
_EXTRACTORS: dict[str, Extractor] = {}


def worker_extractor(spec: dict[str, Any]) -> Extractor:
    """The build's extractor, from the registry, made once per process; its files (the harvested gazetteer) are
    in the work directory ``spec["work"]``."""
    key = json.dumps(spec, sort_keys=True)
    if key not in _EXTRACTORS:
        _EXTRACTORS.clear()  # one build at a time per worker
        _EXTRACTORS[key] = make_extractor(spec["name"], {k: v for k, v in spec.items() if k != "work"},
                                          lambda name: Path(spec["work"]) / name)
    return _EXTRACTORS[key]


def count_docs(spec: dict[str, Any], sid: str, docs: list[Document], window: int, work: str) -> dict:
    """Count one shard whose documents were sent along (the local executor)."""
    return process_shard(sid, docs, worker_extractor(spec), window, Path(work))


def count_range(spec: dict[str, Any], opts: ReadOptions, task: ShardRange, window: int, work: str
                ) -> dict[str, list]:
    """Read ``task.path`` and count the shards of the range that have no completion marker yet. Returns every
    shard of the range as ``[id, characters]`` (counted now or before) and, if asked, the rejected records.
    Shards before the range are parsed and dropped (a compressed file has no other way in)."""
    extractor = worker_extractor(spec)
    marks = Path(work) / "completions"
    shards: list[list] = []
    rejects: list[dict] = []
    for sid, docs in file_shards(task.path, task.fi, opts, rejects.append if task.rejects else None, stop=task.k1):
        k = int(sid.split("-")[1])
        if k < task.k0:
            continue
        shards.append([sid, sum(d.n_chars for d in docs)])
        if not (marks / sid).exists():
            process_shard(sid, docs, extractor, window, Path(work))
    return {"shards": shards, "rejects": rejects}
