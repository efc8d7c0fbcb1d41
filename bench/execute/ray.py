"""Each cell as a Ray task: a local cluster on this machine, or a running cluster of many.

Ray does the scheduling: a task asks for one CPU, and on cuda for `gpus_per_cell` GPUs, for which Ray sets
CUDA_VISIBLE_DEVICES. Rows come back to the driver, which writes every Parquet file, so the nodes need the
package installed but no shared filesystem. Tasks are never retried (max_retries=0): a worker that dies
becomes a `died` row and `--resume` reruns it. Speed and cuda cells take a fresh worker process each
(max_calls=1), as the process executor gives them.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

from bench.execute.cell import failed
from bench.execute.common import (
    Rows,
    cpu_count,
    needs_fresh_process,
    omp_threads,
    run_in_worker,
    threads_per_cell,
    worker_env,
)
from bench.plan.cell import Cell

CONNECT_TIMEOUT_S = 10


def _task(cell: Cell) -> Rows:
    # module-level, so Ray pickles it by reference and the worker imports bench.executors.ray_tasks itself
    return run_in_worker(cell)


class RayExecutor:
    name = "ray"

    def __init__(self, *, address: str | None, workers: int | None, gpus_per_cell: float, device: str) -> None:
        """Threads per task: on a local cluster the machine's CPUs split among its workers; on a running
        cluster one per task (each holds one CPU, Ray's own convention); OMP_NUM_THREADS, if set, wins."""
        import ray

        self._ray = ray
        # already connected (a test's fixture, a notebook): use that cluster, with the workers' environment
        # given per task, and leave it running afterwards
        self.owned = not ray.is_initialized()
        if self.owned:
            _check_reachable(address)
            local = address is None
            self.workers = (workers or cpu_count()) if local else None
            self.threads = threads_per_cell(self.workers) if local else (omp_threads() or 1)
            # the workers' environment for the whole job: the workers Ray starts ahead of time fit the tasks
            self._task_env: dict[str, Any] = {}
            try:
                # "local": a new cluster even where `ray start` runs one (ray.init(None) would join that)
                ray.init(address=address or "local", num_cpus=self.workers, include_dashboard=False,
                         dashboard_host="127.0.0.1", logging_level=logging.ERROR, log_to_driver=False,
                         runtime_env={"env_vars": worker_env(self.threads)})
            except Exception as exc:  # noqa: BLE001 - any failure to start or reach Ray is one line for the CLI
                where = f"the Ray cluster at {address!r}" if address else "a local Ray cluster"
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ValueError(f"cannot start or reach {where}: {first}") from None
        elif address is not None or workers is not None:
            raise ValueError("Ray is already initialized in this process: --ray-address and --workers cannot apply")
        else:
            self.workers = None
            self.threads = omp_threads() or 1
            self._task_env = {"runtime_env": {"env_vars": worker_env(self.threads)}}
        self.resources: dict[str, Any] = {"num_cpus": 1, "num_gpus": gpus_per_cell if device == "cuda" else 0}
        self._reused = ray.remote(max_retries=0)(_task)
        self._fresh = ray.remote(max_retries=0, max_calls=1)(_task)

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "workers": self.workers, "threads_per_cell": self.threads,
                "cluster": {k: v for k, v in self._ray.cluster_resources().items() if not k.startswith("node:")},
                **self.resources}

    def _rows(self, ref: Any, cell: Cell) -> Rows:
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(ref)
        except exceptions.OutOfMemoryError as exc:  # Ray's memory monitor killed the worker
            return failed(cell, "oom", f"Ray killed the worker: {_first_line(exc)}")
        except exceptions.RayTaskError as exc:  # the task raised outside run_cell's guard (e.g. an import)
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            return failed(cell, "error", f"{type(cause).__name__}: {_first_line(cause)}")
        except exceptions.RayError as exc:  # the worker or its node died
            return failed(cell, "died", f"Ray worker died: {type(exc).__name__}: {_first_line(exc)}")

    def map(self, cells: list[Cell]) -> Iterator[tuple[Cell, Rows]]:
        """(cell, rows) as each task finishes; tasks not yet reported when the caller stops are cancelled."""
        options = {**self.resources, **self._task_env}
        refs = {(self._fresh if needs_fresh_process(c) else self._reused).options(**options).remote(c): c
                for c in cells}
        pending = list(refs)
        try:
            while pending:
                done, pending = self._ray.wait(pending, num_returns=1)
                for ref in done:
                    yield refs[ref], self._rows(ref, refs[ref])
        finally:
            for ref in pending:
                self._ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.owned:
            self._ray.shutdown()


def _check_reachable(address: str | None) -> None:
    """An explicit HOST:PORT that nothing answers on fails in seconds; ray.init would retry for minutes."""
    if address is None or address == "auto":
        return
    host, _, port = address.split("://")[-1].rpartition(":")
    try:
        if not (host and port.isdigit()):
            raise ValueError("not HOST:PORT")
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ValueError(f"cannot reach the Ray cluster at {address!r} ({why}); expected HOST:PORT of a running"
                         " `ray start --head`, 'auto' to find one on this node, or no --ray-address for a"
                         " local cluster") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
