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

from bench import store
from bench.executors import AutoExecutor, Executor
from bench.meta import run_meta
from bench.sweep import Cell


def _complete(path: Path) -> bool:
    """A cell file counts as done for --resume unless its worker died before the cell could report.

    Cells that failed by themselves (error, nan, oom) would fail the same way again; a dead worker (killed,
    out of memory, lost node) says nothing about the cell, so it runs again. An unreadable file runs again.
    """
    try:
        return "died" not in pq.read_table(path, columns=["status"]).column("status").to_pylist()
    except (OSError, ValueError, KeyError):
        return False


def run_sweep(cells: list[Cell], out: Path, argv: list[str], *, resume: bool = False, quiet: bool = False,
              executor: Executor | None = None) -> int:
    """Runs the cells into `out` and returns how many failed. Default executor: `auto` with one worker."""
    if not cells:
        return 0
    executor = executor or AutoExecutor()
    meta = {**run_meta(argv, sorted({c.backend for c in cells}), cells[0].device), "executor": executor.describe()}
    todo = [c for c in cells if not (resume and store.cell_path(out, c.id).exists()
                                     and _complete(store.cell_path(out, c.id)))]
    skipped = len(cells) - len(todo)
    failures: list[tuple[Cell, str, str]] = []
    statuses: Counter[str] = Counter()
    per_estimator: dict[str, Counter[str]] = {}
    with tqdm(total=len(todo), desc=cells[0].suite, unit="cell", disable=quiet, file=sys.stderr) as bar:
        for cell, rows in executor.map(todo):
            store.write_cell(out, cell.id, [{**r, "run_id": meta["run_id"]} for r in rows], meta)
            bar.update()
            status = next((r["status"] for r in rows if r["status"] != "ok"), "ok")
            statuses[status] += 1
            per_estimator.setdefault(cell.estimator, Counter())[status] += 1
            if status != "ok":
                failures.append((cell, status, next(r["message"] for r in rows if r["status"] != "ok")))
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
