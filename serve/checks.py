"""Where ``quco serve`` runs its checks: one check thread per process, with dynamic micro-batching.

Every check of the process (``/v1/risk``, ``/v1/risk/batch``, the proxy's pre- and post-checks, the stream
checks) is queued to :class:`CheckBatcher`. Its thread takes the first waiting check and every other one that is
already queued (at most ``max_batch``; when the previous batch had more than one check, i.e. under load, it
also waits up to ``wait_ms`` for more), parses their questions
and first answer sentences in one spaCy batch (:func:`quco.gate.claim_entities.parse_ahead`: one pass of each
pipeline component instead of one per request; spaCy is most of a check's time), then assesses them one by one,
answering each caller as soon as its own report is ready. An idle server checks a lone request at once: batches
form from requests that arrive while the thread is busy, so batching adds no wait at low load.

One thread, because the checks share state that is not made for concurrent use (spaCy's pipeline, the parse
cache, the index readers), and under the GIL a second thread would buy little: ``--workers N`` runs N
processes, each with its own check thread, mapping the same index files. The event loop never waits for a check:
async callers await a future, the proxy's worker threads block on theirs.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from quco.cooccur.index import Index
from quco.gate.assess import GateConfig, assess
from quco.gate.claim_entities import parse_ahead
from quco.gate.report import RiskReport

log = logging.getLogger("quco.serve")
_STOP = object()


@dataclass
class _Check:
    question: str
    answer: str | None
    mode: str
    subject: str | None
    future: Future = field(default_factory=Future)


class CheckBatcher:
    """The process's check thread. ``submit`` queues a check and returns a :class:`~concurrent.futures.Future` of
    its :class:`RiskReport` (or of the exception ``assess`` raised); :meth:`check` awaits it, :meth:`check_sync`
    blocks on it (from any thread but the check thread itself)."""

    def __init__(self, index: Index, max_batch: int = 32, wait_ms: float = 0.0):
        self.index, self.max_batch, self.wait = index, max(1, max_batch), max(0.0, wait_ms) / 1e3
        self.short_words = GateConfig().answer_as_entity_words  # what assess's claim steps read (GateConfig's)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.batches = self.checked = self.largest = self.last = 0
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
            return assess(question, answer, index=self.index, mode=mode, subject=subject)
        return self.submit(question, answer, mode, subject).result()

    def stats(self) -> dict[str, float]:
        return {"checks": self.checked, "batches": self.batches, "largest_batch": self.largest,
                "mean_batch": round(self.checked / self.batches, 2) if self.batches else 0.0}

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the checks already queued."""
        self.queue.put(_STOP)
        self.thread.join(timeout)

    # ---- the check thread --------------------------------------------------------------------------------------
    def _take(self) -> tuple[list[_Check], bool]:
        """The next batch (blocks for its first check) and whether the thread should stop after it."""
        first = self.queue.get()
        if first is _STOP:
            return [], True
        wait = self.wait if self.last > 1 else 0.0  # a busy server waits a little for more; an idle one never
        batch, deadline = [first], time.monotonic() + wait
        while len(batch) < self.max_batch:
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
            batch, stop = self._take()
            live = [c for c in batch if c.future.set_running_or_notify_cancel()]
            if not live:
                continue
            self.batches, self.checked = self.batches + 1, self.checked + len(live)
            self.largest, self.last = max(self.largest, len(live)), len(live)
            if len(live) > 1:
                self._parse_ahead(live)
            for c in live:
                try:
                    report = assess(c.question, c.answer, index=self.index, mode=c.mode, subject=c.subject)
                except BaseException as e:  # noqa: BLE001 - the caller gets it, as if it had called assess
                    c.future.set_exception(e)
                else:
                    c.future.set_result(report)

    def _parse_ahead(self, checks: list[_Check]) -> None:
        pairs = [(c.question, c.answer) for c in checks if c.mode != "creative"]  # creative reads no claims
        try:
            parse_ahead(self.index, pairs, short_words=self.short_words)
        except Exception as e:  # noqa: BLE001 - only a speed-up: each check then parses (and reports) for itself
            log.warning("quco serve: batch parse failed (%s: %s); checking one by one", type(e).__name__, e)
