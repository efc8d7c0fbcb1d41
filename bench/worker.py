"""`python -m bench.worker`: one cell, the process executor's worker.

Reads {"cell": ..., "cell_id": ..., "parent_pid": ...} as JSON on stdin and writes the cell's rows as JSON on
stdout; anything a library prints goes to stderr, whose last line the driver reports if this process dies.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

from bench.executors.common import cell_from_json, run_in_worker

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


def main() -> int:
    result = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stdout now carries only the result: stray prints (Python or C) go to stderr
    job = json.loads(sys.stdin.read())
    _die_with(job["parent_pid"])
    cell = cell_from_json(job["cell"])
    if cell.id != job["cell_id"]:  # driver and worker disagree on Cell's fields: different code versions
        print(f"cell {job['cell_id']} decodes to id {cell.id}: driver and worker run different bench code",
              file=sys.stderr)
        return 3
    json.dump(run_in_worker(cell), result, default=_plain)
    result.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
