"""Where cells run: `auto`, `inline`, `process` or `ray`. Every executor takes a list of cells and yields
(cell, rows) as cells finish; bench.runner writes each cell's Parquet file as its rows arrive, so results
land in one folder on the driver whatever ran them, and `--resume` works across executors.

    auto     today's behaviour: speed cells each in a fresh process, other cells inline (in worker processes
             when --workers > 1)
    inline   every cell in the CLI's own process
    process  every cell in a fresh worker process, --workers at a time
    ray      every cell as a Ray task on a local cluster (--workers CPUs) or a running one (--ray-address)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from bench.execute.common import Rows, needs_fresh_process
from bench.execute.inline import InlineExecutor
from bench.execute.process import ProcessExecutor
from bench.plan.cell import Cell

EXECUTORS = ("auto", "inline", "process", "ray")


class Executor(Protocol):
    name: str

    def map(self, cells: list[Cell]) -> Iterator[tuple[Cell, Rows]]: ...

    def describe(self) -> dict[str, object]: ...

    def close(self) -> None: ...


class AutoExecutor:
    """Cells that need a fresh process get one; the rest run inline unless several workers are asked for."""

    name = "auto"

    def __init__(self, workers: int = 1) -> None:
        self.inline = InlineExecutor()
        self.process = ProcessExecutor(workers)

    def describe(self) -> dict[str, object]:
        return {**self.process.describe(), "name": self.name}

    def map(self, cells: list[Cell]) -> Iterator[tuple[Cell, Rows]]:
        here = [c for c in cells if self.process.workers == 1 and not needs_fresh_process(c)]
        elsewhere = set(cells) - set(here)
        yield from self.inline.map(here)
        yield from self.process.map([c for c in cells if c in elsewhere])

    def close(self) -> None:
        pass


def _gpus(value: float | None, name: str, device: str) -> float:
    if value is None:
        return 1.0
    if not (value > 0 and (value <= 1 or value.is_integer())):  # Ray splits one GPU, never several
        raise ValueError(f"--gpus-per-cell must be a fraction in (0, 1] or a whole number of GPUs, got {value:g}")
    if name != "ray" or device != "cuda":
        raise ValueError("--gpus-per-cell applies only to --executor ray with --device cuda")
    return value


def make(name: str, *, device: str = "cpu", workers: int | None = None, gpus_per_cell: float | None = None,
         ray_address: str | None = None) -> Executor:
    """The executor for the CLI's options; ValueError with one line naming the valid choices on bad input."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be a positive integer, got {workers}")
    if name == "inline" and (workers or 1) > 1:
        raise ValueError("--executor inline runs one cell at a time; for --workers > 1 use process or ray")
    if ray_address is not None and name != "ray":
        raise ValueError("--ray-address applies only to --executor ray")
    if ray_address is not None and workers is not None:
        raise ValueError("--workers sizes a local Ray cluster; with --ray-address the cluster's resources decide")
    gpus = _gpus(gpus_per_cell, name, device)
    if name == "inline":
        return InlineExecutor()
    if name in ("auto", "process"):
        return (AutoExecutor if name == "auto" else ProcessExecutor)(workers or 1)
    try:
        import ray  # noqa: F401 - only whether it imports
    except ImportError:
        raise ValueError("--executor ray needs Ray, which is not installed: pip install 'mcgrad-bench[ray]'"
                         " (or '.[ray]' in a checkout); valid without it: auto, inline, process") from None
    from bench.execute.ray import RayExecutor

    return RayExecutor(address=ray_address, workers=workers, gpus_per_cell=gpus, device=device)
