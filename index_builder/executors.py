"""Executors: where the shards of a build are counted and reduced. One small interface, one module per engine.

An :class:`Executor` starts and stops an engine, submits a picklable function call, waits for the first of some
calls to finish and returns a call's result. The count loop (:func:`run_count`) and the reduce loop
(:func:`quco.index_builder.buckets.run_reduce`) are the same for every engine: one progress bar each (over all
shards, over all buckets), completion markers for ``--resume``, errors turned into :class:`BuildError`; the
engine is started once, before the count, and stopped after the reduce.

- ``local`` (default): a process pool on this machine (restarted when a worker dies, its calls run again: up to
  ``LocalExecutor.max_restarts`` times per build); the build process reads the corpus and sends each shard's
  documents to a worker, at most ``workers + 1`` shards in flight; workers die with the build (Linux
  ``PR_SET_PDEATHSIG``); ``workers <= 1`` counts in the build process itself.
- ``dask`` (``pip install 'quco-gate[dask]'``, :mod:`quco.index_builder.executor_dask`): a ``distributed``
  cluster, a local one on 127.0.0.1 unless ``address`` names a scheduler. Workers receive a path and a range of
  shard numbers (:class:`~quco.index_builder.shard_plan.FileTask`) and read the file themselves.

Every engine writes the same partials to the build's work directory (which workers on other machines must see
at the same path, e.g. a shared filesystem), and runs the same reduce after them, one task per bucket of entities
(:mod:`quco.index_builder.buckets`), on the same engine: the counts do not depend on the engine. ``ray``
(:mod:`quco.index_builder.executor_ray`, ``pip install 'quco-gate[ray]'``) runs the same file and bucket tasks as
Ray tasks. Another engine is one module: subclass :class:`Executor`, set ``ships_documents =
False``, and register the class with ``@quco.registry.executors.register("name")`` (or an entry point in
``quco_executors``).
"""
from __future__ import annotations

import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, ClassVar

from quco import registry
from quco.errors import BuildError
from quco.index_builder.shard_plan import ReadOptions, FileTask, count_docs, count_file, file_shards, worker_extractor

POLL_SECONDS = 0.5  # how often the count loop looks for new completion markers (progress of range tasks)
RESTART_HINT = ("run the same command with --resume to reuse the finished shards, with fewer --workers or a "
                "smaller --shard-docs")


class Executor(ABC):
    """An engine that runs function calls on workers. Subclasses implement the five methods below."""

    name: ClassVar[str] = ""
    ships_documents: ClassVar[bool] = False  # True: tasks carry documents (same machine); False: file ranges

    def __init__(self, workers: int, address: str | None = None):
        self.workers, self.address = workers, address

    @abstractmethod
    def start(self, spec: dict[str, Any]) -> None:
        """Start (or connect to) the engine; ``spec`` describes the build's extractor, for workers to warm up."""

    @abstractmethod
    def submit(self, fn: Callable, *args: Any) -> Any:
        """Run ``fn(*args)`` on a worker; returns a handle (a future)."""

    @abstractmethod
    def wait_first(self, handles: Sequence[Any], timeout: float | None) -> list[Any]:
        """The handles that have finished, waiting at most ``timeout`` seconds for a first one (maybe none)."""

    @abstractmethod
    def result(self, handle: Any) -> Any:
        """The call's result; its exception is raised, a lost worker becomes :class:`BuildError`."""

    @abstractmethod
    def close(self) -> None:
        """Stop the engine (or disconnect); pending calls are cancelled."""

    def capacity(self) -> int:
        """How many calls run at once."""
        return max(1, self.workers)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel SIGKILL this worker when the build process dies (even by SIGKILL), so that no orphan
    keeps writing partials while a ``--resume`` redoes the same shard."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def init_local_worker(spec: dict[str, Any], parent: int | None = None) -> None:
    """Initializer of a local pool worker: die with the build, make the extractor once (``spec`` empty: a pool
    for the reduce alone, as ``quco merge`` starts, needs no extractor)."""
    if parent is not None:
        _die_with_parent(parent)
    if spec:
        worker_extractor(spec)


@registry.executors.register("local")
class LocalExecutor(Executor):
    """A process pool on this machine (``workers <= 1``: the build process counts, no pool)."""

    name = "local"
    ships_documents = True

    max_restarts: ClassVar[int] = 2  # pools restarted after a worker died, per build, before the build fails

    def __init__(self, workers: int, address: str | None = None):
        if address:
            raise BuildError("--address names a cluster scheduler: it needs --executor dask (or another cluster "
                             "executor), not local")
        super().__init__(workers, None)
        self.pool: ProcessPoolExecutor | None = None
        self._spec: dict[str, Any] = {}
        self._calls: dict[Future, tuple[Callable, tuple, int]] = {}  # call and pool generation of each handle
        self._generation = 0
        self.restarts = 0

    def _new_pool(self) -> None:
        self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=init_local_worker,
                                        initargs=(self._spec, os.getpid()))

    def start(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        if self.workers > 1:
            self._new_pool()

    def _restart(self) -> None:
        """A worker died and took the pool with it (``BrokenProcessPool``): start a new pool, at most
        ``max_restarts`` times per build; the calls of the dead pool are submitted again as their results are
        asked for (a shard's partial is written atomically, so counting it again is safe)."""
        if self.restarts >= self.max_restarts:
            raise BuildError(f"worker processes died {self.restarts + 1} times (killed, or out of memory?): "
                             f"{RESTART_HINT}")
        self.restarts += 1
        print(f"quco build: a worker process died (killed, or out of memory?); restarting the pool and running "
              f"its work again ({self.restarts} of {self.max_restarts} restarts)", file=sys.stderr, flush=True)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._generation += 1
        self._new_pool()

    def submit(self, fn: Callable, *args: Any) -> Future:
        if self.pool is not None:
            try:
                f = self.pool.submit(fn, *args)
            except BrokenProcessPool:
                self._restart()
                f = self.pool.submit(fn, *args)
            self._calls[f] = (fn, args, self._generation)
            return f
        f = Future()
        try:
            f.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 (handed back through the future, as a pool would)
            f.set_exception(exc)
        return f

    def wait_first(self, handles: Sequence[Future], timeout: float | None) -> list[Future]:
        return list(wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)[0])

    def result(self, handle: Future) -> Any:
        try:
            out = handle.result()
        except BrokenProcessPool:
            fn, args, generation = self._calls.pop(handle)
            if generation == self._generation:  # the first of the dead pool's calls to be read restarts it
                self._restart()
            return self.result(self.submit(fn, *args))
        self._calls.pop(handle, None)
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self._calls.clear()


class Progress:
    """One tqdm bar on stderr (over characters of text, or buckets of the reduce), or nothing."""

    def __init__(self, enabled: bool, desc: str, total: int | None = None, unit: str = "B"):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", file=sys.stderr,
                            leave=False, dynamic_ncols=True, mininterval=0.5)

    def set_total(self, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def make_executor(name: str, workers: int, address: str | None = None) -> Executor:
    """The registered executor ``name`` (unknown names fail listing the available ones)."""
    return registry.get(registry.executors, name)(workers, address)


def completed_shards(work: Path) -> set[str]:
    """The shards of the build at ``work`` that have a completion marker (a marker still being written is not)."""
    return {p.name for p in (work / "completions").glob("*") if ".tmp" not in p.name}


def run_count(ex: Executor, files: Sequence[Path], opts: ReadOptions, spec: dict[str, Any], window: int,
              work: Path, done: set[str], reject: Callable[[dict], None] | None,
              progress: Callable[[int], None], close: bool = True) -> list[str]:
    """Count every shard of ``files`` not in ``done`` on ``ex``; returns all shard ids in order. ``progress`` is
    called with the characters of every shard finished (or skipped as done). ``close=False`` leaves the engine
    running (for the reduce after the count); it is closed anyway if the count fails."""
    ex.start(spec)
    ok = False
    try:
        loop = _count_documents if ex.ships_documents else _count_files
        shard_ids = loop(ex, files, opts, spec, window, work, done, reject, progress)
        ok = True
        return shard_ids
    finally:
        if close or not ok:
            ex.close()


def _count_documents(ex: Executor, files, opts, spec, window, work, done, reject, progress) -> list[str]:
    shard_ids: list[str] = []
    pending: dict[Any, int] = {}

    def settle(block: bool) -> None:
        for f in ex.wait_first(list(pending), None if block else 0):
            progress(pending.pop(f))
            ex.result(f)

    for fi, path in enumerate(files):
        for sid, docs in file_shards(path, fi, opts, reject):
            shard_ids.append(sid)
            chars = sum(d.n_chars for d in docs)
            if sid in done:
                progress(chars)
                continue
            while len(pending) >= ex.capacity() + 1:  # bounded: at most workers + 1 shards of documents in memory
                settle(True)
            pending[ex.submit(count_docs, spec, sid, docs, window, str(work))] = chars
    while pending:
        settle(True)
    return shard_ids


def _shard_chars(work: Path, sid: str) -> int:
    try:
        return int(json.loads((work / "partials" / sid / "stats.json").read_text())["chars"])
    except (OSError, ValueError, KeyError):
        return 0


def _count_files(ex: Executor, files, opts, spec, window, work, done, reject, progress) -> list[str]:
    """File tasks read by the workers (``quco.index_builder.shard_plan``): a whole file each when there are at
    least as many files as workers, else ``stride`` tasks per file. Progress: the characters of each shard, from
    its partial's stats, as its completion marker appears."""
    stride = max(1, -(-ex.capacity() // max(1, len(files))))
    per_file: dict[int, list[str]] = {}
    file_rejects: dict[int, list[dict]] = {}
    reporting: dict[Any, int] = {}  # task -> file number, for the task that reports the file's shards
    pending: list[Any] = []
    seen = set(done)
    progress(sum(_shard_chars(work, sid) for sid in done))

    def poll(timeout: float) -> None:
        finished = ex.wait_first(pending, timeout) if pending else []
        for f in finished:
            pending.remove(f)
            res = ex.result(f)
            if f in reporting:
                fi = reporting.pop(f)
                per_file[fi] = [sid for sid, _ in res["shards"]]
                file_rejects[fi] = res["rejects"]
        for sid in sorted(completed_shards(work) - seen):
            seen.add(sid)
            progress(_shard_chars(work, sid))

    for fi, path in enumerate(files):
        for part in range(stride):
            handle = ex.submit(count_file, spec, opts, FileTask(str(path), fi, part, stride, part == 0), window,
                               str(work))
            pending.append(handle)
            if part == 0:
                reporting[handle] = fi
    while pending:
        poll(POLL_SECONDS)
    shard_ids = [sid for fi in sorted(per_file) for sid in per_file[fi]]
    missing = set(shard_ids) - completed_shards(work)
    if missing:
        raise BuildError(f"{len(missing)} shards have no completion marker after their tasks finished (is the work "
                         f"directory {work} shared with the workers?): {RESTART_HINT}")
    if reject is not None:
        for fi in sorted(file_rejects):  # in reading order, as the local executor records them
            for rec in file_rejects[fi]:
                reject(rec)
    return shard_ids


def iter_registered() -> Iterator[str]:
    """The names of the executors that can be resolved (built-in and plugins)."""
    yield from registry.names(registry.executors)


# The built-in cluster engines register on import; each imports its engine only when it starts.
from quco.index_builder import executor_dask, executor_ray  # noqa: E402,F401  (register "dask", "ray")

__all__ = ["Executor", "LocalExecutor", "Progress", "make_executor", "run_count", "init_local_worker"]
