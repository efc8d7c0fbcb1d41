"""A cell's memory budget: the resident memory its process may reach, and how many gradient rows fit at once.

The budget (`--memory-budget`, default 40% of the machine's memory divided among the cells that run at once)
bounds the whole process: imports, model, the streamed statistics and one chunk of gradient rows. A probe
runs two small chunks and reads the process's peak resident memory around each (Linux: VmHWM, reset through
/proc/self/clear_refs), which gives bytes per row; the chunk is what the rest of the budget holds. A cell
whose single row does not fit is an `oom` cell before it allocates anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SHARE = 0.4
MARGIN = 0.15  # of the budget, kept free for allocator slack and the statistics' temporaries
UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
         "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


class OutOfBudget(MemoryError):
    """The cell cannot run within its memory budget (its message says what it needed)."""


def parse_bytes(text: str) -> int:
    """'4GB', '512M', '1.5g', '2e9' -> bytes (binary units); ValueError on anything else."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in UNITS:
        raise ValueError(f"not a memory size: {text!r} (e.g. 4GB, 512MB)")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def default_budget(concurrent_cells: int = 1) -> int:
    return int(DEFAULT_SHARE * total_memory() / max(concurrent_cells, 1))


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _status(field: str, pid: int | str = "self") -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else None


def rss(pid: int | str = "self") -> int | None:
    """Resident memory of a process (Linux), None where /proc is not there."""
    return _status("VmRSS", pid)


def peak() -> int | None:
    return _status("VmHWM")


_high_water = 0  # the largest peak seen before a reset since start_high_water()


def reset_peak() -> bool:
    """Reset this process's peak resident memory to its current one (Linux >= 4.0)."""
    global _high_water
    _high_water = max(_high_water, peak() or 0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def start_high_water() -> None:
    """Start measuring a cell's peak resident memory (probes reset the kernel's counter; this keeps the max)."""
    global _high_water
    reset_peak()
    _high_water = 0


def high_water() -> int | None:
    """Peak resident memory since start_high_water(), None where it cannot be read."""
    now = peak()
    return None if now is None else max(_high_water, now)


def peak_during(fn: Callable[[], Any]) -> int | None:
    """Peak resident memory while fn() runs (None where it cannot be read)."""
    if not reset_peak():
        return None
    fn()
    return peak()


@dataclass(frozen=True)
class Plan:
    """How a cell's rows are chunked: bytes per row from the probe, and rows per chunk."""

    budget: int
    per_row: float
    fixed: float
    chunk_rows: int
    measured: bool  # False where the process's peak memory cannot be read (then: an analytic guess)


def release() -> None:
    """Hand memory freed earlier back to the system (glibc keeps freed heap pages resident until trimmed), so the
    process's resident memory counts what is live: a truth computed just before a cell's rows would otherwise
    leave the cell no room."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim, the plan is only more careful
        pass


def plan(budget: int, bytes_for: Callable[[int], float | None], run_rows: Callable[[int], Any], n_params: int,
         reserved: float, n_rows: int, sizes: tuple[int, int] = (4, 16)) -> Plan:
    """Rows per chunk within `budget`, or OutOfBudget. `bytes_for(n)` is the peak of what computing n gradient
    rows allocates (the driver's own account: torch's allocator trace, XLA's buffer assignment; None where it
    has none, and then the process's high-water mark around a run is read instead); `reserved`: bytes the
    caller still has to allocate outside the chunks (the streamed statistics).

    The process's resident memory now counts whole (memory freed earlier and kept by the allocator included,
    which the chunks will reuse), so the plan errs on the side of the budget."""
    release()
    base = rss() or 0
    small, large = sizes
    if bytes_for(small) is None:  # no account of its own: run the rows and read the process's peak around them
        return _plan_by_peaks(budget, run_rows, n_params, reserved, n_rows, sizes, base)
    found = [bytes_for(n) for n in (small, small, large)]  # the first call pays for compilation and warm-up
    per_row = max((found[2] - found[1]) / (large - small), 0.0)
    return _fit(budget, per_row, max(found[1] - small * per_row, 0.0), base, reserved, n_params, n_rows, True)


def _plan_by_peaks(budget, run_rows, n_params, reserved, n_rows, sizes, base) -> Plan:
    small, large = sizes
    peaks = [peak_during(lambda n=n: run_rows(n)) for n in (small, small, large)]
    if None in peaks:
        per_row, fixed, measured = 16.0 * 4 * n_params, 0.0, False  # guess: rows, replicas, grads, activations
    else:
        per_row = max((peaks[2] - peaks[1]) / (large - small), 0.0)
        fixed, measured = max(peaks[1] - base - small * per_row, 0.0), True
    return _fit(budget, per_row, fixed, base, reserved, n_params, n_rows, measured)


def _fit(budget: int, per_row: float, fixed: float, base: float, reserved: float, n_params: int, n_rows: int,
         measured: bool) -> Plan:
    per_row += 3 * 4 * n_params  # the rows again as NumPy float32, and float64 blocks of them in Moments
    free = budget * (1 - MARGIN) - base - fixed - reserved
    if free < per_row:
        raise OutOfBudget(f"one estimate needs about {human(per_row)} (+{human(fixed)} fixed, {human(reserved)} "
                          f"for statistics) but the budget {human(budget)} leaves {human(max(free, 0))} beside "
                          f"the process's {human(base)}")
    return Plan(budget, per_row, fixed, int(min(free // per_row, n_rows)), measured)


class Governor:
    """Rows for each next chunk, from what the chunks before it were measured to take.

    The plan's figure is the drivers' account of a chunk's rows; a chunk also holds the checks' recomputed
    rows, the statistics' temporaries and what the allocators keep. So the process's peak resident memory is
    read around every chunk (VmHWM, reset before it), from the first, which is a quarter of the plan's; the
    peak over the resident memory before it, against the rows, gives a line (bytes per row, fixed bytes) that
    sizes the next chunk to end at the budget less MARGIN and less `reserve()` (what the statistics have yet to
    allocate), at most twice the largest chunk measured so far. Where the peak cannot be read, every chunk is
    the plan's."""

    def __init__(self, plan: Plan, limit: int | None = None, reserve: Callable[[], float] = lambda: 0.0):
        self.plan, self.limit = plan, max(1, min(limit or plan.chunk_rows, plan.chunk_rows))
        self.reserve = reserve
        self.seen: list[tuple[int, float]] = []  # (rows, peak over the resident memory before them)
        self.pending: tuple[int, int] | None = None  # the chunk being computed: rows, resident memory before it
        self.measurable = reset_peak() and rss() is not None

    def __call__(self) -> int:
        if not self.measurable:
            return self.limit
        if self.pending is not None:
            n, before = self.pending
            top = peak() or 0
            self.seen.append((n, max(top - before, 0)))
            if top > self.plan.budget:  # what does not scale with the chunk (runtimes, the checks) outgrew it
                raise OutOfBudget(f"the process reached {human(top)} with chunks of {n} rows, past its budget of "
                                  f"{human(self.plan.budget)}; give it more (--memory-budget)")
        rows = self._next()
        reset_peak()
        self.pending = (rows, rss() or 0)
        return rows

    def _next(self) -> int:
        if not self.seen:
            return max(1, self.limit // 4)
        sizes = sorted({n for n, _ in self.seen})
        if len(sizes) > 1:  # least squares over what was seen, then the line raised to hold every point
            n, d = np.array(self.seen, dtype=float).T
            slope = max(float(np.polyfit(n, d, 1)[0]), 0.0)
            fixed = float(np.max(d - slope * n))
        else:  # one size seen: all of it per row, which can only overstate
            slope, fixed = max(self.seen[-1][1], 1.0) / sizes[0], 0.0
        free = self.plan.budget * (1 - MARGIN) - (rss() or 0) - fixed - self.reserve()
        fits = int(free // max(slope, 1.0))  # below 1 where the line overstates (one-off costs in a chunk):
        return max(1, min(fits, 2 * sizes[-1], self.limit))  # single rows, the measured peak still guarding
