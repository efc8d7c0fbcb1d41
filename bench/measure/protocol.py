"""The timing protocol: an estimator's call against its floor's, interleaved in one process (as pyperf/asv do).

Method, for two zero-argument calls A (the estimator) and B (its floor), each returning only once the device is
done (the drivers' `timed` closures synchronise: torch.cuda.synchronize, jax.block_until_ready):

1. Warm-up: `warmup` calls of each (first-call caches, allocator growth, lazy dispatch).
2. Calibration: per call, `loops` back-to-back calls form one block; loops grow until a block lasts at least
   `min_block_s`, so the clock's resolution and the per-block overhead vanish against it.
3. Rounds in ABBA order: a block of A, two blocks of B, a block of A. A's time in the round is the mean of its
   two blocks, B's likewise, so a drift that is linear within the round (a clock ramping, a neighbour's load
   rising) cancels from both means' ratio. The round's ratio is t_A / t_B. Rounds repeat until about
   `target_s` have passed (at least `min_rounds`), then go on while any of the three medians below is less
   precise than `max_rel_se`, until `max_s` have passed or `max_rounds` were run. `max_s` stops the rounds
   only once `cap_rounds` have run, so a slow call is never judged on a median of a few rounds: the skip RNN's
   nested estimators (0.14-0.39 s a call) got 5-13 rounds in 4 s, too few for a median within 3%. `limit_s`
   stops them whatever the rounds.
4. Summary: median and interquartile range (IQR) of the rounds' t_A, of t_B and of the ratios (`Spread`), and
   the medians' standard errors (from the IQR and the number of rounds). The median of per-round ratios is not
   the ratio of medians: each round compares A and B under the same conditions, which is what makes the ratio
   steadier than either time.
5. Foreign load (Linux): the CPU time every other process on the machine took, as a fraction of the machine's
   capacity, from /proc/stat (all CPUs' busy jiffies) minus this process's own CPU time (/proc/self/stat, every
   thread): read over `load_window_s` of idling before the measurement and over each half of the rounds. A
   competing process that spins on one core of a 2-core machine reads as 0.5; this process's own threads
   (torch's or XLA's pools) never count. Where /proc is missing the load reads NaN and is not judged.
6. Stability: `stable` when the medians of t_A, t_B and the ratio each have a relative standard error of at
   most `max_rel_se`, the foreign load of neither half differs from the load before by more than
   `max_load_change`, and the median ratio is at least `min_ratio` (the estimator does all its floor does and
   more; a ratio well below 1 is a measurement fault, not a fast estimator). Otherwise the whole measurement
   (warm-up, calibration, rounds) is repeated, at most `attempts` times in all; the last is reported, unstable.

   Why the median's precision and not the blocks' spread itself: torch.utils.benchmark warns when a
   measurement's IQR passes 10% of its median, and pyperf when its standard deviation does; both then ask for a
   quieter machine. On a shared virtual machine the host's own phases move every block by 15-60% for tenths of
   a second at a time whatever this process does (measured on the 2-core machines this suite is developed on,
   with no other process running), so that bound would mark almost every cell unstable while the median of
   many interleaved rounds still repeats from run to run. The bound is therefore on what is published: the
   median, whose standard error shrinks as rounds are added. A step change (a competitor, a frequency change
   half-way) still widens the IQR past what more rounds can make up for within `max_s`, and the load check
   catches a competitor directly. benchmarks/speed_goals.py measures every cell twice to check that the
   medians repeat.

Everything that touches the machine (clock, CPU counters, sleep) is passed in, so the tests drive the protocol
with a fake clock and calls of known duration.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

Clock = Callable[[], float]
# (busy CPU seconds of the whole machine, CPU seconds of this process, CPUs the busy seconds are over)
Counters = Callable[[], tuple[float, float, int]]


@dataclass(frozen=True)
class Spread:
    """Median, interquartile range and count of repeated measurements."""

    median: float
    iqr: float
    n: int

    @classmethod
    def of(cls, values: list[float] | np.ndarray) -> Spread:
        v = np.asarray(values, dtype=float)
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        return cls(float(q50), float(q75 - q25), len(v))

    @property
    def rel_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else math.inf

    @property
    def rel_se(self) -> float:
        return self.stderr / self.median if self.median > 0 else math.inf

    @property
    def stderr(self) -> float:
        """Standard error of the median for roughly normal values: 1.2533 sigma / sqrt(n), sigma = IQR / 1.349."""
        return 1.2533 * self.iqr / 1.349 / math.sqrt(self.n) if self.n else math.nan


@dataclass(frozen=True)
class Settings:
    warmup: int = 3
    min_block_s: float = 0.005  # a round holds four blocks: at least 20 ms
    target_s: float = 1.0
    min_rounds: int = 9
    max_rounds: int = 401
    max_s: float = 4.0  # rounds go on past target_s, while a median is not yet precise, until this long
    cap_rounds: int = 48  # ... and at least this many: 48 rounds make a median +-3% of an IQR 22% of it
    limit_s: float = 60.0  # ... and never longer than this
    max_rel_se: float = 0.03  # of each median (time, floor, ratio): its standard error over the median
    max_load_change: float = 0.15  # of the machine's capacity: one spinning core of two is 0.5
    min_ratio: float = 0.9
    attempts: int = 3
    load_window_s: float = 0.2


@dataclass(frozen=True)
class Comparison:
    """Seconds per call of A (time) and B (floor), their per-round ratio, and how steady the machine was."""

    time: Spread
    floor: Spread
    ratio: Spread
    loops: tuple[int, int]  # calls per block of A, of B
    load_before: float  # foreign CPU as a fraction of the machine, idling just before
    load_during: tuple[float, float]  # the same over the first and the second half of the rounds
    attempts: int
    stable: bool
    reason: str  # why not stable ("" when stable)

    @property
    def load(self) -> float:
        """The largest foreign load seen (NaN where it cannot be read)."""
        return max(self.load_before, *self.load_during)

    @property
    def load_change(self) -> float:
        return max(abs(x - self.load_before) for x in self.load_during)


def proc_counters() -> tuple[float, float, int]:
    """(busy seconds summed over all CPUs, this process's CPU seconds, number of CPUs) from /proc; NaNs
    where /proc is missing. Busy = user + nice + system + irq + softirq + steal (idle and iowait left out)."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
        with open("/proc/self/stat") as f:
            own = f.read().rpartition(")")[2].split()
    except OSError:
        return math.nan, math.nan, 1
    ticks = os.sysconf("SC_CLK_TCK")
    total = [int(x) for x in lines[0].split()[1:]]
    busy = sum(total[i] for i in (0, 1, 2, 5, 6, 7) if i < len(total))
    n_cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
    return busy / ticks, (int(own[11]) + int(own[12])) / ticks, max(n_cpus, 1)


def foreign_load(before: tuple[float, float, int], after: tuple[float, float, int], wall_s: float) -> float:
    """Other processes' CPU seconds between two counter readings, per CPU second the machine had."""
    busy, own = after[0] - before[0], after[1] - before[1]
    if not wall_s > 0:
        return math.nan
    return max(0.0, busy - own) / (wall_s * after[2])


def calibrate(fn: Callable[[], Any], min_block_s: float, clock: Clock) -> tuple[int, float]:
    """(calls per block, the last block's seconds) so that a block lasts at least min_block_s; loops grow by
    the measured shortfall, at most tenfold a step, so one slow outlier cannot overshoot by much."""
    loops = 1
    while True:
        elapsed = block(fn, loops, clock)
        if elapsed >= min_block_s:
            return loops, elapsed
        grow = min_block_s / elapsed * 1.2 if elapsed > 0 else 10.0
        loops = max(loops + 1, int(loops * min(grow, 10.0)))


def block(fn: Callable[[], Any], loops: int, clock: Clock) -> float:
    start = clock()
    for _ in range(loops):
        fn()
    return clock() - start


def n_rounds(round_s: float, settings: Settings) -> int:
    """Rounds that fill about target_s, within [min_rounds, max_rounds]."""
    want = math.ceil(settings.target_s / round_s) if round_s > 0 else settings.max_rounds
    return int(min(max(want, settings.min_rounds), settings.max_rounds))


def compare_once(a: Callable[[], Any], b: Callable[[], Any], settings: Settings = Settings(),
                 clock: Clock = time.perf_counter, counters: Counters = proc_counters,
                 sleep: Callable[[float], None] = time.sleep) -> Comparison:
    """One measurement (steps 1-6 of the module docstring) without retries."""
    start, idle = clock(), counters()
    sleep(settings.load_window_s)
    load_before = foreign_load(idle, counters(), clock() - start)
    for _ in range(settings.warmup):
        a()
        b()
    (loops_a, block_a), (loops_b, block_b) = (calibrate(fn, settings.min_block_s, clock) for fn in (a, b))
    rounds = n_rounds(2 * (block_a + block_b), settings)
    order = ((a, loops_a), (b, loops_b), (b, loops_b), (a, loops_a))  # ABBA
    ta, tb, ratios = [], [], []
    marks = [(clock(), counters())]
    while True:
        a1, b1, b2, a2 = (block(fn, loops, clock) for fn, loops in order)
        ta.append((a1 + a2) / (2 * loops_a))
        tb.append((b1 + b2) / (2 * loops_b))
        ratios.append(ta[-1] / tb[-1])
        marks.append((clock(), counters()))
        n, elapsed = len(ta), marks[-1][0] - marks[0][0]
        if n >= settings.max_rounds or elapsed >= settings.limit_s or (
                elapsed >= settings.max_s and n >= settings.cap_rounds):
            break
        if n >= rounds and n % 4 == 0 and precise(settings, ta, tb, ratios):  # percentiles every 4th round
            break
    middle = marks[len(marks) // 2]
    halves = tuple(foreign_load(c0, c1, t1 - t0) for (t0, c0), (t1, c1) in ((marks[0], middle),
                                                                           (middle, marks[-1])))
    out = Comparison(Spread.of(ta), Spread.of(tb), Spread.of(ratios), (loops_a, loops_b), load_before, halves,
                     1, False, "")
    reason = judge(out, settings)
    return replace(out, stable=not reason, reason=reason)


def precise(settings: Settings, *series: list[float]) -> bool:
    return all(Spread.of(s).rel_se <= settings.max_rel_se for s in series)


def judge(c: Comparison, settings: Settings) -> str:
    """'' when the comparison meets every stability bound, else the bounds it broke, in words."""
    broke = [f"{name} median +-{s.rel_se:.1%} > {settings.max_rel_se:.0%} (IQR {s.rel_iqr:.0%} of it, "
             f"{s.n} rounds)"
             for name, s in (("time", c.time), ("floor", c.floor), ("ratio", c.ratio))
             if not s.rel_se <= settings.max_rel_se]
    if c.load_change > settings.max_load_change:  # NaN (no /proc) is not judged
        broke.append(f"foreign load changed by {c.load_change:.2f} > {settings.max_load_change:.2f}")
    if not c.ratio.median >= settings.min_ratio:
        broke.append(f"ratio {c.ratio.median:.2f} < {settings.min_ratio}: faster than the floor is a fault")
    return "; ".join(broke)


def compare(a: Callable[[], Any], b: Callable[[], Any], settings: Settings = Settings(),
            clock: Clock = time.perf_counter, counters: Counters = proc_counters,
            sleep: Callable[[float], None] = time.sleep) -> Comparison:
    """compare_once until stable, at most settings.attempts times; the last measurement, with its count."""
    for attempt in range(1, settings.attempts + 1):
        out = replace(compare_once(a, b, settings, clock, counters, sleep), attempts=attempt)
        if out.stable:
            break
    return out


@dataclass(frozen=True)
class Threads:
    """The intra-op threads in force: torch's (pinned; None when torch is not loaded) and XLA's CPU setting."""

    torch: int | None
    xla: int  # XLA's CPU client runs its Eigen pool on every CPU unless XLA_FLAGS turns it off
    xla_flags: str

    def of(self, backend: str) -> int:
        """Threads the backend's timed call runs on."""
        return self.xla if backend == "jax" else (self.torch or 1)

    def describe(self) -> str:
        return f"torch={self.torch}, xla={self.xla} (XLA_FLAGS={self.xla_flags or 'unset'})"


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def pin_threads(n: int | None = None) -> Threads:
    """Fix torch's intra-op thread count for the measurement and record XLA's.

    n defaults to OMP_NUM_THREADS when set (the executors' per-worker budget), else the CPUs this process may
    use: one explicit number rather than torch's own guess (physical cores), stated with every result.
    torch is pinned only if something already imported it (a JAX cell does not load torch for this).
    """
    env = os.environ.get("OMP_NUM_THREADS", "")
    n = n or (int(env) if env.isdigit() and int(env) > 0 else available_cpus())
    pinned = None
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
        pinned = torch.get_num_threads()
    flags = os.environ.get("XLA_FLAGS", "")
    xla = 1 if "--xla_cpu_multi_thread_eigen=false" in flags else available_cpus()
    return Threads(pinned, xla, flags)
