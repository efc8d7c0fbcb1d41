"""Cells in `python -m bench.worker` processes, up to `workers` at a time on this machine.

Workers live across cells (imports, JAX's and torch's compiled code stay warm), except for cells that need a
fresh process: speed cells read memory peaks (JAX's counter never resets) and cuda cells keep torch and JAX
out of one GPU process. A worker is replaced once its resident memory passes half its cell's budget. Jobs go
in as JSON lines on the worker's stdin; rows come back as a JSON file per cell, renamed into place when whole,
so a worker that writes a lot never blocks on a pipe. A worker that dies (a signal, the out-of-memory
killer, an interpreter crash) becomes a `died` row naming the cause, and a new worker takes the next cell.
"""

from __future__ import annotations

import json
import os
import shutil
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
from bench.execute.cell import failed
from bench.execute.common import Rows, cell_to_json, needs_fresh_process, threads_per_cell, worker_env
from bench.measure import budget
from bench.plan.cell import Cell

POLL_S = 0.02  # how often workers are looked at (finished? memory?); small against any cell's start-up
KILL_FACTOR, KILL_SLACK = 1.2, 256 * 2**20  # a worker past budget * factor + slack is stopped as `oom`
OOM_SHARE = 0.5  # a worker killed by SIGKILL while holding this share of the machine's memory ran out of it
RECYCLE_SHARE = 0.5  # of its cell's kill limit: a worker holding more after a cell is replaced


class _Worker:
    """One worker process, and the cell it is running (if any)."""

    def __init__(self, env: dict[str, str], folder: Path, once: bool) -> None:
        self.folder, self.once = folder, once
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.execute.worker", *(["--once"] if once else [])],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
                                     text=True)
        self.cell: Cell | None = None
        self.served = 0

    def send(self, cell: Cell) -> None:
        self.cell, self.start, self.max_rss, self.over_budget = cell, time.perf_counter(), 0, False
        cell_budget = int(cell.setting("memory_budget", 0) or 0)
        self.limit = int(cell_budget * KILL_FACTOR) + KILL_SLACK if cell_budget else 0
        self.result = self.folder / f"{cell.id}-{self.proc.pid}.json"
        job = {"cell": cell_to_json(cell), "cell_id": cell.id, "result": str(self.result)}
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except OSError:  # it died while idle: poll() sees it, and the cell is reported as its death
            pass

    def watch(self) -> None:
        """Stop a worker whose resident memory passes its cell's budget: an `oom` cell, not a machine in trouble."""
        rss = budget.rss(self.proc.pid) or 0
        self.max_rss = max(self.max_rss, rss)
        if self.limit and rss > self.limit and self.proc.poll() is None:
            self.over_budget = True
            self.proc.kill()
            self.proc.wait()

    def done(self) -> bool:
        return self.result.exists() or self.proc.poll() is not None

    def rows(self) -> Rows:
        """The cell's rows, or one row saying why there are none; the worker is then free (or dead)."""
        cell, self.cell = self.cell, None
        self.served += 1
        wall = time.perf_counter() - self.start
        if self.result.exists() and not self.over_budget:
            self.proc.stdout.readline()  # its answer: keeps the pipe drained
            try:
                with open(self.result) as f:
                    return json.load(f)
            except ValueError:
                pass
            finally:
                self.result.unlink(missing_ok=True)
        self.proc.wait()
        if self.over_budget:
            return failed(cell, "oom", f"worker stopped at {budget.human(self.max_rss)} resident, over its "
                                       f"memory budget ({budget.human(self.limit)} with slack)", wall)
        code = self.proc.returncode
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:  # a real-time signal has no name
                name = f"signal {-code}"
            why = f"worker killed by {name}" + (" (the out-of-memory killer sends it too)" if name == "SIGKILL" else "")
            if name == "SIGKILL" and self.max_rss > OOM_SHARE * budget.total_memory():
                return failed(cell, "oom", f"{why} at {budget.human(self.max_rss)} resident: out of memory", wall)
        else:
            why = f"worker exited with code {code}" + ("" if code else " without a result")
        self.stderr.seek(0)
        last = self.stderr.read().decode(errors="replace").strip().splitlines()[-1:]  # a crash's last line
        return failed(cell, "died", ": ".join([why, *last]), wall)

    def reusable(self) -> bool:
        if self.once or self.proc.poll() is not None:
            return False
        rss = budget.rss(self.proc.pid) or 0
        return not (self.limit and rss > RECYCLE_SHARE * self.limit)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # end of input: the worker finishes and exits
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close()


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
        return {**os.environ, **worker_env(self.threads), "PYTHONPATH": path, "BENCH_PARENT_PID": str(os.getpid())}

    def map(self, cells: list[Cell]) -> Iterator[tuple[Cell, Rows]]:
        """(cell, rows) as each worker finishes; workers still running when the caller stops are killed."""
        env = self._env()
        folder = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        pending = deque(cells)
        idle: list[_Worker] = []
        running: list[_Worker] = []
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    cell = pending.popleft()
                    fresh = needs_fresh_process(cell)
                    worker = idle.pop() if idle and not fresh else _Worker(env, folder, once=fresh)
                    worker.send(cell)
                    running.append(worker)
                for worker in running:
                    worker.watch()
                done = [w for w in running if w.done()]
                if not done:
                    time.sleep(POLL_S)
                for worker in done:
                    running.remove(worker)
                    cell, rows = worker.cell, worker.rows()
                    if worker.reusable():
                        idle.append(worker)
                    else:
                        worker.close()
                    yield cell, rows
        finally:
            for worker in running:
                worker.kill()
            for worker in idle:
                worker.close()
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        pass
