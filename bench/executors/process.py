"""Each cell in a fresh `python -m bench.worker` process, up to `workers` at a time on this machine.

A fresh process gives a speed cell clean memory peaks (JAX's counter never resets) and keeps torch and JAX
out of one GPU process. The job goes in on stdin and the rows come back on stdout, both as JSON, through
temporary files rather than pipes, so a worker that writes a lot can never block on a full pipe. A worker
that dies (a signal, the out-of-memory killer, an interpreter crash) becomes a `died` row naming the cause.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import bench
from bench import budget
from bench.executors.common import Rows, cell_to_json, threads_per_cell, worker_env
from bench.run import failed
from bench.sweep import Cell

POLL_S = 0.02  # how often workers are looked at (finished? memory?); small against any cell's start-up
KILL_FACTOR, KILL_SLACK = 1.2, 256 * 2**20  # a worker past budget * factor + slack is stopped as `oom`
OOM_SHARE = 0.5  # a worker killed by SIGKILL while holding this share of the machine's memory ran out of it


class _Job:
    """One running worker: its cell, its process, and the files holding its output."""

    def __init__(self, cell: Cell, env: dict[str, str]) -> None:
        self.cell = cell
        self.start = time.perf_counter()
        budget = int(cell.setting("memory_budget", 0) or 0)
        self.limit = int(budget * KILL_FACTOR) + KILL_SLACK if budget else 0
        self.max_rss = 0
        self.over_budget = False
        self.stdout: IO[bytes] = tempfile.TemporaryFile()
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        with tempfile.TemporaryFile() as stdin:
            stdin.write(json.dumps({"cell": cell_to_json(cell), "cell_id": cell.id,
                                    "parent_pid": os.getpid()}).encode())
            stdin.seek(0)
            self.proc = subprocess.Popen([sys.executable, "-m", "bench.worker"], stdin=stdin, stdout=self.stdout,
                                         stderr=self.stderr, env=env)

    def watch(self) -> None:
        """Stop a worker whose resident memory passes its cell's budget: an `oom` cell, not a machine in trouble."""
        rss = budget.rss(self.proc.pid) or 0
        self.max_rss = max(self.max_rss, rss)
        if self.limit and rss > self.limit and self.proc.poll() is None:
            self.over_budget = True
            self.proc.kill()
            self.proc.wait()

    def rows(self) -> Rows:
        code = self.proc.returncode
        if self.over_budget:
            return failed(self.cell, "oom", f"worker stopped at {budget.human(self.max_rss)} resident, over its "
                                            f"memory budget ({budget.human(self.limit)} with slack)",
                          time.perf_counter() - self.start)
        self.stdout.seek(0)
        self.stderr.seek(0)
        out, err = self.stdout.read().decode(errors="replace"), self.stderr.read().decode(errors="replace")
        if code == 0:
            try:
                return json.loads(out)
            except ValueError:
                pass  # exited cleanly without its result: reported as a dead worker below
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:  # a real-time signal has no name
                name = f"signal {-code}"
            why = f"worker killed by {name}" + (" (the out-of-memory killer sends it too)" if name == "SIGKILL" else "")
            if name == "SIGKILL" and self.max_rss > OOM_SHARE * budget.total_memory():
                return failed(self.cell, "oom", f"{why} at {budget.human(self.max_rss)} resident: out of memory",
                              time.perf_counter() - self.start)
        else:
            why = f"worker exited with code {code}" + ("" if code else " without a result")
        last = err.strip().splitlines()[-1:]  # a Python crash's last line names the exception
        return failed(self.cell, "died", ": ".join([why, *last]), time.perf_counter() - self.start)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()
        self.stderr.close()


class ProcessExecutor:
    name = "process"

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self.threads = threads_per_cell(workers)

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "workers": self.workers, "threads_per_cell": self.threads}

    def _env(self) -> dict[str, str]:
        # the worker imports the very `bench` the driver imported, wherever that came from
        root = str(Path(bench.__file__).resolve().parent.parent)
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, **worker_env(self.threads), "PYTHONPATH": path}

    def map(self, cells: list[Cell]) -> Iterator[tuple[Cell, Rows]]:
        """(cell, rows) as each worker finishes; workers still running when the caller stops are killed."""
        env = self._env()
        pending = deque(cells)
        running: list[_Job] = []
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    running.append(_Job(pending.popleft(), env))
                for job in running:
                    job.watch()
                done = [job for job in running if job.proc.poll() is not None]
                if not done:
                    time.sleep(POLL_S)
                for job in done:
                    running.remove(job)
                    rows = job.rows()
                    job.close()
                    yield job.cell, rows
        finally:
            for job in running:
                job.close()

    def close(self) -> None:
        pass
