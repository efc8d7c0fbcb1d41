"""`python -m bench.worker`: the process executor's worker, which runs the cells it is sent, one at a time.

Each job is one JSON line on stdin, {"cell": ..., "cell_id": ..., "result": path}; the worker writes the cell's
rows as JSON to `path` (to a temporary name, then renamed, so the file is whole once it exists) and answers one
line, the cell id, on stdout. It stops at the end of its input, or after one job with `--once` (cells that
need a fresh process: speed cells read memory peaks). Anything a library prints goes to stderr, whose last
line the driver reports if this process dies.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

from bench.execute.common import cell_from_json, run_in_worker

PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int) -> None:
    """Linux: the kernel kills this worker when the driver dies, so a killed sweep leaves no orphans."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: an orphan finishes its cell and its result goes nowhere
        return
    if os.getppid() != parent_pid:  # the driver died before the prctl call took effect
        os._exit(1)


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers (JSON writes floats exactly, NaN included)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _job(line: str, answer: Any) -> bool:
    job = json.loads(line)
    cell = cell_from_json(job["cell"])
    if cell.id != job["cell_id"]:  # driver and worker disagree on Cell's fields: different code versions
        print(f"cell {job['cell_id']} decodes to id {cell.id}: driver and worker run different bench code",
              file=sys.stderr)
        return False
    rows = run_in_worker(cell)
    tmp = f"{job['result']}.tmp"
    with open(tmp, "w") as f:
        json.dump(rows, f, default=_plain)
    os.replace(tmp, job["result"])
    answer.write(cell.id + "\n")
    answer.flush()
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stdout now carries only the answers: stray prints (Python or C) go to stderr
    _die_with(int(os.environ.get("BENCH_PARENT_PID", os.getppid())))
    for line in sys.stdin:
        if not line.strip():
            continue
        if not _job(line, answer):
            return 3
        if "--once" in argv:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
