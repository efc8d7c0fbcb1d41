"""A sweep: every cell once, each written as it finishes; a progress bar, and a summary of what failed.

The executor (bench.executors) decides where cells run; this driver writes every Parquet file itself, so
workers, local or on other machines, need no access to the results folder.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from bench.execute import AutoExecutor, Executor
from bench.plan.cell import Cell
from bench.store import parquet as store
from bench.store import versions
from bench.store.meta import run_meta

VERSION_COLUMNS = ("estimator_version", "problem_version", "suite_version")
# A cell's expected cost relative to an eager torch gradients cell (medians of the quick preset on the 2-core
# reference machine): the progress bar's time left is the cells left, weighted so, at the rate seen so far.
RELATIVE_COST = {("gradients", "torch"): 1.0, ("gradients", "torch-compile"): 8.0, ("gradients", "jax"): 5.0,
                 ("speed", "torch"): 6.0, ("speed", "torch-compile"): 20.0, ("speed", "jax"): 8.0,
                 ("training", "torch"): 8.0, ("training", "jax"): 12.0}


def cost(cell: Cell) -> float:
    return RELATIVE_COST.get((cell.suite, cell.backend), 5.0)


class Progress:
    """One bar over every cell of a run (all its suites): cells done, and the time left, from the cells left
    weighted by `cost` at the rate the finished ones ran."""

    def __init__(self, quiet: bool = False) -> None:
        self.cells = self.done_cells = 0
        self.bar = tqdm(total=0.0, disable=quiet, file=sys.stderr, unit="", dynamic_ncols=True,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed} elapsed, ~{remaining} left]")

    def add(self, cells: list[Cell]) -> None:
        self.cells += len(cells)
        self.bar.total += sum(cost(c) for c in cells)
        self._show(cells[0].suite if cells else "")

    def finished(self, cell: Cell) -> None:
        self.done_cells += 1
        self.bar.update(cost(cell))
        self._show(cell.suite)

    def _show(self, suite: str) -> None:
        self.bar.set_description(f"{suite}: {self.done_cells}/{self.cells} cells", refresh=True)

    def close(self) -> None:
        self.bar.close()


def stale(path: Path, cell: Cell) -> str:
    """Why a finished cell's file must run again under `--resume` ('' when it need not).

    A dead worker says nothing about the cell, so it runs again; cells that failed by themselves (error, nan,
    oom, mismatch) would fail the same way and stay. A file whose code versions differ from the code's now
    runs again, so a results folder never mixes an estimator's or problem's versions by resuming.
    """
    try:
        table = pq.read_table(path, columns=["status", *VERSION_COLUMNS]).to_pylist()
    except (OSError, ValueError, KeyError):
        return "unreadable, or written before code versions were recorded"
    if any(r["status"] == "died" for r in table):
        return "its worker died"
    changed = versions.changed(table[0], cell.suite, cell.problem, cell.estimator, cell.backend) if table else []
    return f"{' and '.join(changed)} code changed" if changed else ""


def to_run(cells: list[Cell], out: Path, resume: bool) -> tuple[list[Cell], Counter[str]]:
    """The cells that must run (all of them, or under --resume those without a current file), and why the
    finished ones that run again do."""
    reasons = {c.id: stale(store.cell_path(out, c.id), c) if resume and store.cell_path(out, c.id).exists()
               else "new" for c in cells}
    return [c for c in cells if reasons[c.id]], Counter(r for r in reasons.values() if r and r != "new")


def run_sweep(cells: list[Cell], out: Path, argv: list[str], *, resume: bool = False, quiet: bool = False,
              executor: Executor | None = None, progress: Progress | None = None) -> int:
    """Runs the cells into `out` and returns how many failed. Default executor: `auto` with one worker.
    `progress`: a bar shared by several sweeps, whose cells the caller added (else this sweep's own)."""
    if not cells:
        return 0
    executor = executor or AutoExecutor()
    meta = {**run_meta(argv, sorted({c.backend for c in cells}), cells[0].device), "executor": executor.describe()}
    store.remove_orphans(out)
    todo, rerun = to_run(cells, out, resume)
    skipped = len(cells) - len(todo)
    for reason, n in sorted(rerun.items()):
        print(f"{cells[0].suite}: rerunning {n} finished cell(s): {reason}", file=sys.stderr)
    failures: list[tuple[Cell, str, str]] = []
    statuses: Counter[str] = Counter()
    per_estimator: dict[str, Counter[str]] = {}
    own = progress is None
    if own:
        progress = Progress(quiet)
        progress.add(todo)
    try:
        for cell, rows in executor.map(todo):
            store.write_cell(out, cell.id, [{**r, "run_id": meta["run_id"]} for r in rows], meta)
            progress.finished(cell)
            status = next((r["status"] for r in rows if r["status"] != "ok"), "ok")
            statuses[status] += 1
            per_estimator.setdefault(cell.estimator, Counter())[status] += 1
            if status != "ok":
                failures.append((cell, status, next(r["message"] for r in rows if r["status"] != "ok")))
    finally:
        if own:
            progress.close()
    print(f"{cells[0].suite}: {len(todo)} cells run, {skipped} skipped (--resume), "
          + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())), file=sys.stderr)
    if per_estimator:
        print(f"  {'estimator':15s} {'cells':>5s} {'ok':>5s} {'failed':>6s}", file=sys.stderr)
        for name, counts in per_estimator.items():
            total = sum(counts.values())
            print(f"  {name:15s} {total:5d} {counts['ok']:5d} {total - counts['ok']:6d}", file=sys.stderr)
    for cell, status, message in failures:
        print(f"  FAILED [{status}] {cell.problem} {cell.estimator} {cell.backend} depth={cell.depth} "
              f"batch={cell.batch_size}: {message}", file=sys.stderr)
    return len(failures)
