"""A sweep: every cell once, written as it finishes; a progress bar, and a summary of what failed."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from bench import store
from bench.meta import run_meta
from bench.run import run_cell, run_in_process
from bench.sweep import Cell


def run_sweep(cells: list[Cell], out: Path, argv: list[str], *, resume: bool = False, quiet: bool = False) -> int:
    """Runs the cells into `out` and returns how many failed. Speed cells run in a fresh process each."""
    if not cells:
        return 0
    meta = run_meta(argv, sorted({c.backend for c in cells}), cells[0].device)
    todo = [c for c in cells if not (resume and store.cell_path(out, c.id).exists())]
    skipped = len(cells) - len(todo)
    failures: list[tuple[Cell, str, str]] = []
    statuses: Counter[str] = Counter()
    per_estimator: dict[str, Counter[str]] = {}
    for cell in tqdm(todo, desc=cells[0].suite, unit="cell", disable=quiet, file=sys.stderr):
        if cell.suite == "speed":
            rows = run_in_process(cell, out, meta)
        else:
            rows = [{**r, "run_id": meta["run_id"]} for r in run_cell(cell)]
            store.write_cell(out, cell.id, rows, meta)
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
