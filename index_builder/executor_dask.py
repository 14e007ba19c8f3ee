"""The ``dask`` executor: shards counted on a Dask ``distributed`` cluster (``pip install 'quco-gate[dask]'``).

Without an address, a ``LocalCluster`` of ``workers`` single-threaded worker processes starts on 127.0.0.1 (forked
on Linux, as the local pool's are: half a second; no dashboard); its workers die with the build process (Linux
``PR_SET_PDEATHSIG``), like the local pool's. With ``address`` (``tcp://host:8786``), the build connects to a
running scheduler: its workers need quco installed and must see the input files and the build's work directory
(beside ``--out``) at the same paths.

Only Dask's task scheduling is used, never its collections or shuffle: a count task is one range of shards of one
file (:class:`~quco.index_builder.shard_plan.FileTask`), and a reduce task one bucket of entities
(:mod:`quco.index_builder.buckets`), reading its slice of every partial from the shared work directory. A
worker lost mid-task (killed, out of memory) has its tasks rescheduled on another worker by the scheduler, up to
``distributed.scheduler.allowed-failures`` times (3 by default); the new attempt skips the shards (or the bucket)
the lost worker had already marked complete. Past that, the build fails with a :class:`BuildError` that says to ``--resume``.
``distributed`` is imported when the executor starts, never when this module is imported.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from quco import registry
from quco.errors import BuildError, ConfigError
from quco.index_builder.executors import RESTART_HINT, Executor

_PARENT_SET: dict[str, bool] = {}
# A local cluster's housekeeping, slowed down: a count task runs for seconds to minutes, and on a busy machine the
# defaults cost CPU the count needs. Measured on 2 workers idle for 20 s: 1.4 CPU s with the defaults, 0.25 s with
# these. The statistical profiler samples every thread's stack every 10 ms: +25-30 % CPU on a count task.
QUIET = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
         "distributed.admin.system-monitor.interval": "2s", "distributed.worker.memory.monitor-interval": "1s",
         "distributed.scheduler.work-stealing": False}


def _tie_to_parent(parent: int) -> None:
    """In a LocalCluster worker process: be SIGKILLed by the kernel when the build process dies."""
    if _PARENT_SET.get("done") or os.getppid() != parent:
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
    _PARENT_SET["done"] = True


def _call(parent: int | None, fn: Callable, *args: Any) -> Any:
    if parent is not None:
        _tie_to_parent(parent)
    return fn(*args)


@registry.executors.register("dask")
class DaskExecutor(Executor):
    """Tasks on a Dask ``distributed`` cluster: a local one, or the scheduler at ``address``."""

    name = "dask"
    ships_documents = False

    def __init__(self, workers: int, address: str | None = None):
        super().__init__(workers, address)
        self.client: Any = None
        self.cluster: Any = None
        self.parent: int | None = None

    def start(self, spec: dict[str, Any]) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("--executor dask needs Dask: pip install 'quco-gate[dask]' (dask, distributed)") from None
        if self.address:
            try:
                self.client = Client(self.address, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise BuildError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
            return
        import dask

        # fork on Linux, as the local pool does: workers start in a fraction of a second with quco already imported
        # (spawn re-imports it in each worker, seconds on a loaded machine, and needs a __main__ guard in scripts)
        method = "fork" if sys.platform == "linux" else dask.config.get("distributed.worker.multiprocessing-method")
        with dask.config.set({"distributed.worker.multiprocessing-method": method, **QUIET}), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Port .* is already in use")  # another cluster's: moves on
            self.cluster = LocalCluster(n_workers=max(1, self.workers), threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        self.parent = os.getpid()

    def capacity(self) -> int:
        if self.client is None:
            return max(1, self.workers)
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, fn: Callable, *args: Any) -> Any:
        return self.client.submit(_call, self.parent, fn, *args, pure=False)

    def wait_first(self, handles: Sequence[Any], timeout: float | None) -> list[Any]:
        from distributed import wait

        if timeout == 0:
            return [f for f in handles if f.done()]
        try:
            done, _ = wait(list(handles), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(done)

    def result(self, handle: Any) -> Any:
        from distributed import KilledWorker

        try:
            return handle.result()
        except KilledWorker:
            raise BuildError(f"Dask workers died repeatedly on one task (killed, or out of memory?): "
                             f"{RESTART_HINT}") from None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
