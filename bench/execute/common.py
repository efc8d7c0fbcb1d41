"""What every executor shares: cells as JSON, the per-cell thread budget, and the worker's side of a cell.

Executors only move cells and rows; the driver (bench.runner) writes every Parquet file itself, so workers
need no access to the results folder.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from bench.execute.cell import run_cell
from bench.plan.cell import Cell, from_json, to_json

Rows = list[dict[str, Any]]

# Test-only hook: a worker (never the CLI's own process) given this cell id kills itself with SIGKILL before
# running it, the way the kernel's out-of-memory killer would. tests/test_executors.py sets it.
KILL_CELL_ENV = "BENCH_TEST_KILL_CELL"
# Test-only hook: a worker given this cell id allocates memory (64 MB at a time, 8 GB at most) before running it,
# like a cell whose memory use the budget's probe underestimated.
GREEDY_CELL_ENV = "BENCH_TEST_GREEDY_CELL"


cell_to_json, cell_from_json = to_json, from_json  # cells travel to workers as JSON


def needs_fresh_process(cell: Cell) -> bool:
    """Speed cells read memory peaks (JAX's never resets) and must not share a GPU process across frameworks."""
    return cell.suite == "speed" or cell.device == "cuda"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use, e.g. inside a container
    except AttributeError:
        return os.cpu_count() or 1


def omp_threads() -> int | None:
    """OMP_NUM_THREADS when the user set it to a positive integer."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else None


def threads_per_cell(concurrency: int) -> int | None:
    """Intra-op threads for each of `concurrency` cells running side by side on this machine's CPUs.

    OMP_NUM_THREADS, when set, wins. Otherwise one cell at a time keeps the frameworks' defaults (None), and
    N cells share the CPUs evenly: torch's threads spin-wait, so oversubscribed cores cost far more than
    the lost parallelism.
    """
    if omp_threads():
        return omp_threads()
    return max(1, cpu_count() // concurrency) if concurrency > 1 else None


def worker_env(threads: int | None) -> dict[str, str]:
    """Environment for a worker process: its thread budget, and the driver's BENCH_* variables."""
    env = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}
    # several worker processes may share one GPU (ray --gpus-per-cell 0.5): JAX must not grab 75% of it
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)  # torch reads these when imported
        if threads == 1:  # XLA has no thread-count flag; it can only be told to stop using its Eigen pool
            env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen=false".strip()
    return env


def run_in_worker(cell: Cell) -> Rows:
    """A worker's side of one cell (a process or a Ray task); the test hook above acts only here."""
    if os.environ.get(KILL_CELL_ENV) == cell.id:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(GREEDY_CELL_ENV) == cell.id:
        import time

        import numpy as np

        hog = []
        for _ in range(128):
            hog.append(np.ones(2**23))  # 64 MB, touched
            time.sleep(0.01)
    return run_cell(cell)
