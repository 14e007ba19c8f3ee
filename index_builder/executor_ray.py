"""The ``ray`` executor: shards counted as Ray tasks (``pip install 'quco-gate[ray]'``), for users on Ray clusters.

Plain tasks only (``ray.remote`` functions), never Ray Data or its group-bys: a task is one file task of
:mod:`quco.index_builder.shard_plan`, as on Dask, or one bucket of the reduce (:mod:`quco.index_builder.buckets`). Without an address,
``ray.init`` starts a local Ray instance (node address 127.0.0.1, but see below) with ``workers`` CPUs and no
dashboard, and shuts it down after the reduce; with ``address`` (``ray://host:10001`` or ``auto``) the build joins that cluster, whose
workers must see the inputs and the build's work directory at the same paths. A task whose worker dies is
retried by Ray (``max_retries``), and skips the shards already marked complete. ``ray`` is imported when the
executor starts, never when this module is imported.

Unlike the Dask local cluster (bound to 127.0.0.1), a local Ray instance listens on every interface whatever
``_node_ip_address`` says (Ray 2.60: GCS, raylet and workers on ``*``, its runtime-env agent on the host's
address): start it only on a machine whose network you trust, or join a cluster you run with ``--address``.
Tested here once (byte-identical to the local executor), then not run again for that reason; Ray is not in the
test extra, so CI skips its test.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from quco import registry
from quco.errors import BuildError, ConfigError
from quco.index_builder.executors import RESTART_HINT, Executor

MAX_RETRIES = 3


def _call(fn: Callable, *args: Any) -> Any:
    return fn(*args)


@registry.executors.register("ray")
class RayExecutor(Executor):
    """Tasks on a local Ray instance, or on the Ray cluster at ``address``."""

    name = "ray"
    ships_documents = False

    def __init__(self, workers: int, address: str | None = None):
        super().__init__(workers, address)
        self.ray: Any = None
        self.task: Any = None
        self.started = False

    def start(self, spec: dict[str, Any]) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'quco-gate[ray]'") from None
        self.ray = ray
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, self.workers), include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False)
            self.started = True
        self.task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_call)

    def capacity(self) -> int:
        if self.ray is None:
            return max(1, self.workers)
        return max(1, int(self.ray.cluster_resources().get("CPU", self.workers)))

    def submit(self, fn: Callable, *args: Any) -> Any:
        return self.task.remote(fn, *args)

    def wait_first(self, handles: Sequence[Any], timeout: float | None) -> list[Any]:
        handles = list(handles)
        ready, rest = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:  # everything else already finished, without waiting again
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return ready

    def result(self, handle: Any) -> Any:
        from ray import exceptions as rx

        try:
            return self.ray.get(handle)
        except rx.RayTaskError as exc:  # the task's own exception (a QucoError stays one), without Ray's wrapping
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, BaseException) else exc) from None
        except (rx.WorkerCrashedError, rx.NodeDiedError, rx.OutOfMemoryError):
            raise BuildError(f"Ray workers died repeatedly on one task (killed, or out of memory?): "
                             f"{RESTART_HINT}") from None

    def close(self) -> None:
        if self.started and self.ray is not None:
            self.ray.shutdown()
        self.started = False
