"""Shards of a build: how each input file is cut, and the tasks that workers run on their own reads of a file.

A file is cut into shards of at most ``shard_docs`` documents or ``shard_chars`` characters, in reading order;
shard ``k`` of input file ``fi`` is called ``f"{fi:05d}-{k:06d}"``. The cut depends only on the file and those two
numbers, so every executor makes the same shards, with the same partials and completion markers: arrays are
byte-identical whichever executor counted them, and ``--resume`` may continue a build with another executor.

Two ways to hand shards to workers:

- documents (the local process pool): the build process reads the file and sends each shard's documents down a
  pipe to a worker on the same machine;
- file tasks (Dask, Ray, ...): a worker gets a :class:`FileTask` -- a path, and which of its shards to count --
  and reads the file itself: no corpus text passes through the scheduler, and the build process reads nothing.
  With at least as many files as workers (the usual case for a large corpus) a task is a whole file. With fewer,
  a file is shared by ``stride`` tasks, task ``r`` counting the shards ``k`` with ``k % stride == r``: each reads
  the whole file (a compressed file cannot be entered in the middle) but counts only its shards, so no shard
  boundaries need to be known in advance, and the shards of a file interleave over its tasks evenly.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quco.cooccur.extract import Extractor, make_extractor
from quco.cooccur.types import Document
from quco.index_builder import readers
from quco.index_builder.memory import trim_heap
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
class FileTask:
    """A task for a worker that reads for itself: the shards ``k`` of input file number ``fi`` with
    ``k % stride == part``. ``report``: this task sends back the file's shard list and rejected records."""

    path: str
    fi: int
    part: int = 0
    stride: int = 1
    report: bool = True


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


# ---- worker side: an extractor per worker process, made once ---------------------------------------------------
_EXTRACTORS: dict[str, Extractor] = {}


def extractor_config(spec: dict[str, Any]) -> dict[str, Any]:
    """The extractor's own configuration in a build's ``spec`` (what the manifest keeps): all but the work
    directory."""
    return {k: v for k, v in spec.items() if k != "work"}


def worker_extractor(spec: dict[str, Any]) -> Extractor:
    """The build's extractor, from the registry, made once per process; its files (the harvested gazetteer) are
    in the work directory ``spec["work"]``."""
    key = json.dumps(spec, sort_keys=True)
    if key not in _EXTRACTORS:
        _EXTRACTORS.clear()  # one build at a time per worker
        _EXTRACTORS[key] = make_extractor(spec["name"], extractor_config(spec),
                                          lambda name: Path(spec["work"]) / name)
    return _EXTRACTORS[key]


def count_docs(spec: dict[str, Any], sid: str, docs: list[Document], window: int, work: str) -> dict:
    """Count one shard whose documents were sent along (the local executor)."""
    stats = process_shard(sid, docs, worker_extractor(spec), window, Path(work))
    trim_heap()  # a worker's freed shard memory goes back before its next shard (see quco.index_builder.memory)
    return stats


def count_file(spec: dict[str, Any], opts: ReadOptions, task: FileTask, window: int, work: str
               ) -> dict[str, list]:
    """Read ``task.path`` and count the task's shards that have no completion marker yet. If ``task.report``,
    returns every shard of the file as ``[id, characters]`` and the records rejected (``on_bad_record="skip"``)."""
    extractor = worker_extractor(spec)
    marks = Path(work) / "completions"
    shards: list[list] = []
    rejects: list[dict] = []
    for sid, docs in file_shards(task.path, task.fi, opts, rejects.append if task.report else None):
        k = int(sid.split("-")[1])
        if task.report:
            shards.append([sid, sum(d.n_chars for d in docs)])
        if k % task.stride == task.part and not (marks / sid).exists():
            process_shard(sid, docs, extractor, window, Path(work))
            trim_heap()
    return {"shards": shards, "rejects": rejects}
