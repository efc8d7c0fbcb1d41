"""`python -m bench.worker` runs one cell given as JSON on stdin and writes its Parquet file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench import store
from bench.run import run_cell
from bench.sweep import Cell


def main() -> int:
    job = json.loads(sys.stdin.read())
    fields = job["cell"]
    cell = Cell(**{**fields, "problem_params": tuple(tuple(p) for p in fields["problem_params"])})
    rows = [{**r, "run_id": job["meta"]["run_id"]} for r in run_cell(cell)]
    store.write_cell(Path(job["out"]), cell.id, rows, job["meta"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
