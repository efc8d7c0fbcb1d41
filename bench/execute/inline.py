"""Cells in the CLI's own process, one after another: tests and debugging (a debugger sees every frame).

Speed cells run here too when asked, but their memory peaks are then the process's so far, not the cell's.
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.execute.cell import run_cell
from bench.execute.common import Rows
from bench.plan.cell import Cell


class InlineExecutor:
    name = "inline"

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "workers": 1}

    def map(self, cells: list[Cell]) -> Iterator[tuple[Cell, Rows]]:
        for cell in cells:
            yield cell, run_cell(cell)

    def close(self) -> None:
        pass
