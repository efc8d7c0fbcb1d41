"""Runs one cell to rows of metrics, faults recorded as rows; bench.execute decides where cells run."""

from __future__ import annotations

import time
import traceback
from typing import Any

from bench.measure.budget import OutOfBudget
from bench.plan.cell import Cell
from bench.stats.stream import is_oom
from bench.store import versions
from bench.suites.common import row
from bench.suites.gradients import gradients
from bench.suites.speed import speed
from bench.suites.training import training
from bench.suites.trajectory import trajectory

SUITE_FUNCTIONS = {"gradients": gradients, "speed": speed, "training": training, "trajectory": trajectory}
STATUSES = ("ok", "nan", "oom", "error", "mismatch", "died")


def failed(cell: Cell, status: str, message: str, wall_s: float = float("nan")) -> list[dict[str, Any]]:
    """The one row of a cell that never reported (its worker died or was stopped): made by the executor."""
    return [{**row(cell, "error", float("nan"), status=status, message=message[:500], wall_s=wall_s),
             **versions.versions(cell.suite, cell.problem, cell.estimator, cell.backend)}]


def run_cell(cell: Cell) -> list[dict[str, Any]]:
    """The cell's rows; a failure becomes one row with its status and message, never an exception."""
    start = time.perf_counter()
    try:
        rows = SUITE_FUNCTIONS[cell.suite](cell)
    except (MemoryError, OutOfBudget) as exc:
        rows = [row(cell, "error", float("nan"), status="oom", message=str(exc)[:500])]
    except FloatingPointError as exc:  # non-finite estimates, or training diverged
        rows = [row(cell, "error", float("nan"), status="nan", message=str(exc)[:500])]
    except Exception as exc:  # noqa: BLE001 - a failing cell is recorded and the sweep goes on
        status = "oom" if is_oom(exc) else "error"
        # the exception's own first line: libraries append notes after it (JAX's "removed its internal frames")
        rows = [row(cell, "error", float("nan"), status=status, message=_first_line(exc)[:500])]
    wall = time.perf_counter() - start
    try:
        code = versions.versions(cell.suite, cell.problem, cell.estimator, cell.backend)
    except Exception as exc:  # noqa: BLE001 - an unknown name still gives a row, never an exception
        code = {}
        rows = [row(cell, "error", float("nan"), status="error", message=_first_line(exc)[:500])]
    return [{**r, "wall_s": wall, **code} for r in rows]


def _first_line(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return (lines[0].strip() if lines else type(exc).__name__).splitlines()[0]
