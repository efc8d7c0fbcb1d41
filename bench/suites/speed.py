"""The speed suite: time per estimate of batch_size examples, compile time apart, memory, ratio to the floor."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import problems, timing
from bench.suites.common import build, key, row
from bench.sweep import Cell


def _time(cell: Cell, estimator: str | None = None) -> tuple[float, float, int, float]:
    driver, surrogate, theta, state = build(cell, estimator)
    compile_s, run = driver.timed(surrogate, theta, 1, state, *key(cell))
    return (*timing.time_call(run), compile_s)


def speed(cell: Cell) -> list[dict[str, Any]]:
    timing.reset_device_peak(cell.backend, cell.device)
    median, iqr, n, compile_s = _time(cell)
    out = [
        row(cell, "time", median, 1.2533 * iqr / 1.349 / np.sqrt(n), unit="s"),
        row(cell, "time_iqr", iqr, unit="s"),
        row(cell, "compile_time", compile_s, unit="s"),
        row(cell, "peak_host_memory", timing.host_peak_bytes(), unit="B"),
    ]
    device_peak = timing.device_peak_bytes(cell.backend, cell.device)
    if device_peak is not None:
        out.append(row(cell, "peak_device_memory", device_peak, unit="B"))
    if problems.PROBLEMS[cell.problem].supports("deterministic"):
        floor = _time(cell, "deterministic")[0]
        out.append(row(cell, "time_ratio_to_floor", median / floor, unit="x"))
    return out
