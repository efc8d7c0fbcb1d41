"""A single call's timing by torch.utils.benchmark's Timer (benchmarks/test_harness_perf.py), and the process's
peak resident set. The speed suite times estimators against their floor with bench.protocol instead.

The timed call returns only once the device is done (torch.cuda.synchronize / jax.block_until_ready, inside
the drivers' `timed`), JAX's compile time is measured apart by the driver, and the Timer reports the median
and interquartile range of blocks after warm-up calls.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from typing import Any

WARMUP_CALLS = 3
MIN_RUN_TIME_S = 0.3


def time_call(run: Callable[[], Any]) -> tuple[float, float, int]:
    """(median seconds, interquartile range, number of measurements) of run()."""
    import torch
    from torch.utils.benchmark import Timer

    for _ in range(WARMUP_CALLS):
        run()
    # Timer pins torch to one thread unless told otherwise; measure under the process's own setting
    timer = Timer(stmt="run()", globals={"run": run}, num_threads=torch.get_num_threads())
    m = timer.blocked_autorange(min_run_time=MIN_RUN_TIME_S)
    return m.median, m.iqr, len(m.times)


def host_peak_bytes() -> float:
    """Peak resident memory of this process (a speed cell runs in a fresh process, so this is the cell's)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(kb if sys.platform == "darwin" else kb * 1024)
