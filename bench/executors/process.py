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
from bench.executors.common import Rows, cell_to_json, threads_per_cell, worker_env
from bench.run import failed
from bench.sweep import Cell

POLL_S = 0.02  # how often finished workers are looked for; small against any cell's start-up


class _Job:
    """One running worker: its cell, its process, and the files holding its output."""

    def __init__(self, cell: Cell, env: dict[str, str]) -> None:
        self.cell = cell
        self.start = time.perf_counter()
        self.stdout: IO[bytes] = tempfile.TemporaryFile()
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        with tempfile.TemporaryFile() as stdin:
            stdin.write(json.dumps({"cell": cell_to_json(cell), "cell_id": cell.id,
                                    "parent_pid": os.getpid()}).encode())
            stdin.seek(0)
            self.proc = subprocess.Popen([sys.executable, "-m", "bench.worker"], stdin=stdin, stdout=self.stdout,
                                         stderr=self.stderr, env=env)

    def rows(self) -> Rows:
        code = self.proc.returncode
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
