"""Where ``quco serve`` runs its checks: one check thread per process, with dynamic micro-batching.

Every check of the process (``/v1/risk``, ``/v1/risk/batch``, the proxy's pre- and post-checks, the stream
checks) is queued to :class:`CheckBatcher`. Its thread takes the first waiting check and every other one that is
already queued (at most ``max_batch``; when the previous batch had more than one check, i.e. under load, it
also waits up to ``wait_ms`` for more), parses their questions and first answer sentences in one spaCy batch
(:func:`quco.gate.claim_entities.parse_ahead`: one pass of each pipeline component instead of one per
request), then assesses them one by one, answering each caller as soon as its own report
is ready. An idle server checks a lone request at once: batches form from requests that arrive while the thread
is busy, so batching adds no wait at low load.

One thread, because the checks share state that is not made for concurrent use (spaCy's pipeline, the parse
cache, the index readers), and under the GIL a second thread would buy little. Two ways to use more cores:
``--workers N`` runs N server processes, each with its own check thread, mapping the same index files (the
kernel hands each new connection to one of them, so a few long-lived connections may load them unevenly); or
``processes=N`` (``ServeConfig.check_processes``) keeps one server process and sends each batch to the first
free one of N check processes (spawned at start, each opening the index itself: its files are mapped, so their
pages are shared), which balances the checks of any connections. The event loop never waits for a check: async
callers await a future, the proxy's worker threads block on theirs.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from quco.cooccur.index import Index
from quco.errors import GateError
from quco.gate.assess import assess
from quco.gate.config import GateConfig
from quco.gate.claim_entities import parse_ahead
from quco.gate.report import RiskReport

log = logging.getLogger("quco.serve")
_STOP = object()
WARMUP = ("Where was Marie Curie born?", "Marie Curie was born in Warsaw.")
Item = tuple[str, str | None, str, str | None]  # question, answer, mode, subject


@dataclass
class _Check:
    question: str
    answer: str | None
    mode: str
    subject: str | None
    future: Future = field(default_factory=Future)

    @property
    def item(self) -> Item:
        return self.question, self.answer, self.mode, self.subject


def run_checks(index: Index, items: list[Item], each: Callable[[int, bool, Any], None],
               config: GateConfig | None = None) -> None:
    """Check ``items`` as one batch: their texts parsed together (when more than one), then one ``assess`` each
    (with ``config``: the server's ``--set``); ``each(i, ok, report_or_exception)`` as soon as item i is done."""
    if len(items) > 1:
        pairs = [(q, a) for q, a, mode, _ in items if mode != "creative"]  # creative reads no claims
        try:
            parse_ahead(index, pairs, short_words=(config or GateConfig()).answer_as_entity_words)
        except Exception as e:  # noqa: BLE001 - only a speed-up: each check then parses (and reports) for itself
            log.warning("quco serve: batch parse failed (%s: %s); checking one by one", type(e).__name__, e)
    for i, (q, a, mode, subject) in enumerate(items):
        try:
            report = assess(q, a, index=index, mode=mode, subject=subject, config=config)
        except Exception as e:  # noqa: BLE001 - the caller gets it, as if it had called assess
            each(i, False, e)
        else:
            each(i, True, report)


# ---- the check processes (``check_processes``) --------------------------------------------------------------------
_PROCESS_INDEX: Index | None = None
_PROCESS_CONFIG: GateConfig | None = None


def freeze_heap() -> None:
    """Collect once, then move every live object to the collector's permanent generation (``gc.freeze``): the
    index, spaCy's model and the caches are hundreds of thousands of long-lived objects, and a full collection
    walking them took about 200 ms, a stall every few dozen checks that every request in flight waited out.
    Later full collections walk only what was made after this."""
    gc.collect()
    gc.freeze()


def _process_start(path: str, config: GateConfig | None = None) -> None:
    global _PROCESS_INDEX, _PROCESS_CONFIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which shuts the processes down
    _PROCESS_INDEX, _PROCESS_CONFIG = Index(path), config
    try:  # loads the extractor, the parser and the retriever before the first batch waits for them
        assess(*WARMUP, index=_PROCESS_INDEX)
    except Exception:  # noqa: BLE001 - a broken index shows in the first real check's error
        pass
    freeze_heap()  # then the long-lived objects leave the collector's sight


def _process_ready() -> bool:
    return _PROCESS_INDEX is not None


def _process_batch(items: list[Item]) -> list[tuple[bool, Any]]:
    out: list[tuple[bool, Any]] = [(False, None)] * len(items)

    def keep(i: int, ok: bool, value: Any) -> None:
        out[i] = (ok, value)

    run_checks(_PROCESS_INDEX, items, keep, _PROCESS_CONFIG)
    return out


class CheckBatcher:
    """The process's check thread. ``submit`` queues a check and returns a :class:`~concurrent.futures.Future` of
    its :class:`RiskReport` (or of the exception ``assess`` raised); :meth:`check` awaits it, :meth:`check_sync`
    blocks on it (from any thread but the check thread itself). ``processes``: run the batches in that many
    check processes instead of this thread (0: here)."""

    def __init__(self, index: Index, max_batch: int = 32, wait_ms: float = 0.0, processes: int = 0,
                 config: GateConfig | None = None):
        self.index, self.max_batch, self.wait = index, max(1, max_batch), max(0.0, wait_ms) / 1e3
        self.config = config
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.batches = self.checked = self.largest = self.last = 0
        self.pool: ProcessPoolExecutor | None = None
        if processes > 0:
            self.pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_process_start, initargs=(str(index.path), config))
            for f in [self.pool.submit(_process_ready) for _ in range(processes)]:
                f.result()  # every process started and warm before the first request
        self.processes = max(1, processes)
        self.free = threading.Semaphore(self.processes)  # batches in flight: one here, or one per process
        self.thread = threading.Thread(target=self._run, name="quco-checks", daemon=True)
        self.thread.start()

    # ---- callers ---------------------------------------------------------------------------------------------
    def submit(self, question: str, answer: str | None, mode: str, subject: str | None = None) -> Future:
        item = _Check(question, answer, mode, subject)
        self.queue.put(item)
        return item.future

    async def check(self, question: str, answer: str | None, mode: str, subject: str | None = None) -> RiskReport:
        return await asyncio.wrap_future(self.submit(question, answer, mode, subject))

    def check_sync(self, question: str, answer: str | None, mode: str, subject: str | None = None) -> RiskReport:
        if threading.current_thread() is self.thread:  # a check inside a check would wait for itself
            return assess(question, answer, index=self.index, mode=mode, subject=subject, config=self.config)
        return self.submit(question, answer, mode, subject).result()

    def stats(self) -> dict[str, float]:
        return {"checks": self.checked, "batches": self.batches, "largest_batch": self.largest,
                "mean_batch": round(self.checked / self.batches, 2) if self.batches else 0.0,
                "processes": self.pool._max_workers if self.pool is not None else 0}

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the checks already queued."""
        self.queue.put(_STOP)
        self.thread.join(timeout)
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    # ---- the check thread --------------------------------------------------------------------------------------
    def _take(self) -> tuple[list[_Check], bool]:
        """The next batch (blocks for its first check) and whether the thread should stop after it."""
        first = self.queue.get()
        if first is _STOP:
            return [], True
        wait = self.wait if self.last > 1 else 0.0  # a busy server waits a little for more; an idle one never
        # with check processes, a share of what waits: 32 checks arriving at once go to two processes as 16 + 16
        limit = min(self.max_batch, -(-(1 + self.queue.qsize()) // self.processes))
        batch, deadline = [first], time.monotonic() + wait
        while len(batch) < limit:
            try:
                left = deadline - time.monotonic()
                item = self.queue.get(timeout=left) if left > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            self.free.acquire()  # with check processes: a batch is taken only when one is free to run it
            batch, stop = self._take()
            live = [c for c in batch if c.future.set_running_or_notify_cancel()]
            if not live:
                self.free.release()
                continue
            self.batches, self.checked = self.batches + 1, self.checked + len(live)
            self.largest, self.last = max(self.largest, len(live)), len(live)
            if self.pool is None:
                run_checks(self.index, [c.item for c in live], partial(_deliver_one, live), self.config)
                self.free.release()
                continue
            try:
                done = self.pool.submit(_process_batch, [c.item for c in live])
            except RuntimeError as e:  # the pool is broken (a check process died) or shut down
                self._fail(live, e)
                self.free.release()
            else:
                done.add_done_callback(partial(self._deliver, live))

    def _deliver(self, live: list[_Check], done: Future) -> None:
        self.free.release()
        try:
            results = done.result()
        except Exception as e:  # noqa: BLE001 - a check process died: these checks did not run
            self._fail(live, e)
            return
        for i, (ok, value) in enumerate(results):
            _deliver_one(live, i, ok, value)

    @staticmethod
    def _fail(live: list[_Check], error: BaseException) -> None:
        for c in live:
            c.future.set_exception(GateError(f"risk check did not run: {type(error).__name__}: {error}"))


def _deliver_one(live: list[_Check], i: int, ok: bool, value: Any) -> None:
    if ok:
        live[i].future.set_result(value)
    else:
        live[i].future.set_exception(value)
