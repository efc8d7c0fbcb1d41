"""The speed suite: an estimate's time against its floor's, by bench.protocol, and the memory it allocates.

The floor is estimator "deterministic" on the cell's problem: the same model's forward and backward pass with every
stochastic node replaced by its mean (sigmoid(logits), softmax(logits), loc), built for every problem whether or not
its gradients grid lists it. It is one pass at the cell's batch whatever the cell's n_samples, so the ratio counts
an estimate's cost in passes: REINFORCE at n_samples=4 reads about 4, RLOO's K draws one pass with its gradient and
K - 1 forward passes. (A floor of n_samples passes is no floor: RLOO at 2 draws read 0.70-0.88 of it, since only its
first draw is differentiated.) Both are timed in this process, interleaved (bench.protocol), so
`time_ratio_to_floor` compares them under the same load. Where torch skips work the floor does (skip-rnn's closed
gates, stochastic-depth's dropped blocks: `Problem.skips`) a ratio below 1 is real, so the protocol's "faster than
the floor is a fault" bound is lifted there. Rows of a cell:

  time                 median seconds per estimate (batch_size examples); stderr from the IQR of rounds
  time_iqr             interquartile range of the rounds' times
  floor_time           median seconds of the floor's pass, stderr likewise
  time_ratio_to_floor  median of the per-round ratios time / floor_time; stderr from their IQR
  ratio_iqr            interquartile range of those ratios
  compile_time         JAX: seconds to lower and compile (kept out of every time above); torch: 0
  stable               1 when the protocol's bounds held (message: the bounds broken, else the attempts)
  threads              the intra-op threads the backend ran on (message: torch's and XLA's settings)
  load                 the largest foreign CPU load seen, as a fraction of the machine (message: when)
  estimate_memory      bytes one estimate allocates beyond what was live before it (bench.memory)
  peak_host_memory     the cell's worker process's peak resident set size, whatever it held: not the estimate's
  recompilations       torch-compile: graphs compiled after the first, for the estimator and its floor
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.measure import protocol, timing
from bench.measure.memory import estimate_memory
from bench.plan.cell import Cell
from bench.problems import PROBLEMS
from bench.suites.common import cell_objective, row

FLOOR = "deterministic"


def timed(cell: Cell, estimator: str | None = None, n_samples: int | None = None
          ) -> tuple[float, Callable[[], Any], Any]:
    """(compile seconds, a synchronised call computing one estimate, the JAX executable it runs or None)."""
    driver, obj = cell_objective(cell, estimator, n_samples=n_samples)
    compile_s, run = driver.timed(obj, obj.state, 1)
    return compile_s, run, getattr(run, "executable", None)


def protocol_settings(cell: Cell) -> protocol.Settings:
    """The timing protocol for a cell: its preset's precision, and no "faster than the floor" fault where torch
    skips work the floor does."""
    max_s = float(cell.setting("timing_max_s", protocol.Settings.max_s))
    return protocol.Settings(target_s=min(protocol.Settings.target_s, max_s), max_s=max_s,
                             max_rel_se=float(cell.setting("timing_rel_se", protocol.Settings.max_rel_se)),
                             min_ratio=0.0 if PROBLEMS[cell.problem].skips else protocol.Settings.min_ratio)


def speed(cell: Cell) -> list[dict[str, Any]]:
    compile_s, run, compiled = timed(cell)
    _, floor_run, _ = timed(cell, FLOOR, n_samples=1)
    threads = protocol.pin_threads()  # after building: a torch cell has imported torch by now
    c = protocol.compare(run, floor_run, protocol_settings(cell))
    memory = estimate_memory(cell.backend, cell.device, run, compiled=compiled)
    status = c.reason or f"stable at attempt {c.attempts}"
    load = (f"foreign CPU before {c.load_before:.2f}, during {c.load_during[0]:.2f} then {c.load_during[1]:.2f}"
            " (fraction of the machine)")
    out = [
        row(cell, "time", c.time.median, c.time.stderr, unit="s"),
        row(cell, "time_iqr", c.time.iqr, unit="s"),
        row(cell, "floor_time", c.floor.median, c.floor.stderr, unit="s"),
        row(cell, "time_ratio_to_floor", c.ratio.median, c.ratio.stderr, unit="x"),
        row(cell, "ratio_iqr", c.ratio.iqr, unit="x"),
        row(cell, "compile_time", compile_s, unit="s"),
        row(cell, "stable", float(c.stable), message=f"{status}; {c.ratio.n} rounds, loops {c.loops}"),
        row(cell, "threads", float(threads.of(cell.backend)), message=threads.describe()),
        row(cell, "load", c.load, message=load),
        row(cell, "estimate_memory", memory, unit="B"),
        row(cell, "peak_host_memory", timing.host_peak_bytes(), unit="B",
            message="peak resident set size of the cell's process (ru_maxrss), not the estimate's"),
    ]
    if cell.backend == "torch-compile":
        from estimators.backends.torch_compile import recompilations

        out.append(row(cell, "recompilations", float(recompilations())))
    return out
