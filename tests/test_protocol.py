"""bench.protocol on a fake machine: a clock that only moves when a fake call runs or the protocol sleeps, calls
of known duration, CPU counters under the test's control. Then one short real measurement of two sleeps."""

from __future__ import annotations

import itertools
import math
import time

import pytest

from bench.measure import protocol
from bench.measure.protocol import Settings, Spread, compare, compare_once, foreign_load, judge

FAST = Settings(target_s=0.2, min_rounds=9, max_rounds=15, load_window_s=0.1)


class Machine:
    """A fake clock and CPU counters: `foreign` other processes' share of 2 CPUs from a given time on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []
        self.foreign_from = math.inf
        self.foreign = 0.0
        self.own = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s

    def counters(self) -> tuple[float, float, int]:
        busy_foreign = max(0.0, self.now - self.foreign_from) * self.foreign * 2
        return self.own + busy_foreign, self.own, 2

    def call(self, name: str, duration: float | callable) -> callable:
        """A call that takes `duration` seconds (or duration(n) for its n-th call) of this process's CPU."""
        count = itertools.count()

        def run() -> None:
            d = duration(next(count)) if callable(duration) else duration
            self.now += d
            self.own += d
            self.log.append(name)

        return run

    def run(self, a, b, settings=FAST, once=False):
        fn = compare_once if once else compare
        return fn(a, b, settings, clock=self.clock, counters=self.counters, sleep=self.sleep)


def test_spread_of_known_values():
    s = Spread.of([1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert (s.median, s.iqr, s.n) == (5.0, 4.0, 9)
    assert s.rel_iqr == pytest.approx(0.8)
    assert s.stderr == pytest.approx(1.2533 * 4 / 1.349 / 3)


def test_ratio_of_known_durations_is_recovered():
    m = Machine()
    c = m.run(m.call("A", 3e-3), m.call("B", 1e-3))
    assert c.ratio.median == pytest.approx(3.0) and c.ratio.iqr == pytest.approx(0, abs=1e-12)
    assert c.time.median == pytest.approx(3e-3) and c.floor.median == pytest.approx(1e-3)
    assert c.stable and c.attempts == 1 and c.reason == ""
    # blocks last at least min_block_s: 2 calls of 3 ms, 5 (or more) of 1 ms
    assert c.loops[0] * 3e-3 >= FAST.min_block_s and c.loops[1] * 1e-3 >= FAST.min_block_s


def test_rounds_are_interleaved_abba():
    m = Machine()
    c = m.run(m.call("A", 2e-3), m.call("B", 1e-3), once=True)
    rounds, (la, lb) = c.ratio.n, c.loops
    one_round = ["A"] * la + ["B"] * 2 * lb + ["A"] * la
    assert m.log[-rounds * len(one_round):] == one_round * rounds  # warm-up and calibration come first
    assert FAST.min_rounds <= rounds <= FAST.max_rounds


def test_linear_drift_cancels_from_the_ratio():
    """A and B slow down by the same factor over time, linearly: ABBA keeps every round's ratio at 2."""
    m = Machine()
    c = m.run(lambda: m.call("A", 2e-3 * (1 + m.now))(), lambda: m.call("B", 1e-3 * (1 + m.now))(), once=True)
    assert c.ratio.median == pytest.approx(2.0, rel=1e-3) and c.ratio.rel_iqr < 1e-3


def test_a_jump_mid_measurement_is_unstable_then_retried():
    """A's duration doubles half-way through the first measurement (about 110 calls of A, its 60th in the
    rounds): that one is unstable (its ratio's median is imprecise: half the rounds say 1, half 2); the retry
    sees a steady A and is stable, with the new ratio."""
    m = Machine()
    first = m.run(m.call("A", lambda n: 1e-3 if n < 60 else 2e-3), m.call("B", 1e-3), once=True)
    assert not first.stable and "ratio median" in first.reason
    m = Machine()
    c = m.run(m.call("A", lambda n: 1e-3 if n < 60 else 2e-3), m.call("B", 1e-3))
    assert c.stable and c.attempts == 2 and c.ratio.median == pytest.approx(2.0)


def test_noise_that_averages_out_is_measured_precisely():
    """The machine runs 30% slower or faster in random phases of 50 ms (the host's phases on a shared virtual
    machine): the blocks' IQR is far above torch.utils.benchmark's 10%, but rounds go on until the medians are
    precise, the measurement is stable, and its ratio is the true one within a few standard errors."""
    import numpy as np

    levels = 1 + 0.3 * np.random.default_rng(0).uniform(-1, 1, 10_000)
    m = Machine()
    phased = lambda d: lambda n: d * levels[int(m.now / 0.05)]  # noqa: E731
    settings = Settings(load_window_s=0.1, max_s=20.0)
    c = m.run(m.call("A", phased(2e-3)), m.call("B", phased(1e-3)), settings, once=True)
    assert c.time.rel_iqr > 0.1 and c.stable, c.reason
    assert c.ratio.n > settings.min_rounds and c.time.rel_se <= settings.max_rel_se
    assert abs(c.ratio.median - 2.0) < 4 * c.ratio.stderr + 1e-9


def test_a_slow_call_gets_enough_rounds_before_the_cap():
    """A call of 0.3 s (the skip RNN's nested estimators in eager torch) against a floor of 0.04 s, with the
    host's +-20% phases of 50 ms: 4 s hold 5 rounds, too few for a median within 3%. The cap stops the rounds only after
    `cap_rounds`, unless the medians are precise first, and `limit_s` bounds it all."""
    import numpy as np

    levels = 1 + 0.2 * np.random.default_rng(1).uniform(-1, 1, 100_000)
    settings = Settings(load_window_s=0.1, max_s=4.0, attempts=1)
    m = Machine()
    phased = lambda d: lambda n: d * levels[int(m.now / 0.05)]  # noqa: E731
    c = m.run(m.call("A", phased(0.3)), m.call("B", phased(0.04)), settings, once=True)
    assert c.ratio.n >= 12 and c.stable, c.reason  # at least 9 rounds, checked every 4th
    assert abs(c.ratio.median - 7.5) < 4 * c.ratio.stderr
    old = Machine()
    phased = lambda d: lambda n: d * levels[int(old.now / 0.05)]  # noqa: E731
    before = old.run(old.call("A", phased(0.3)), old.call("B", phased(0.04)),
                     Settings(load_window_s=0.1, max_s=4.0, attempts=1, cap_rounds=1), once=True)
    assert before.ratio.n <= 6 and not before.stable  # the rule before: 4 s, whatever the rounds
    slowest = Machine()
    c = slowest.run(slowest.call("A", lambda n: 10.0 * (1 + 0.5 * (n % 2))), slowest.call("B", 1.0),
                    Settings(load_window_s=0.1, max_s=4.0, attempts=1), once=True)
    assert c.ratio.n == 3  # rounds of 27 s: the first to end past limit_s (60 s) is the last


def test_retries_are_bounded():
    """A toggles between 1 and 2 ms every 40 calls, forever: every attempt is unstable, and after
    `attempts` of them the protocol stops and says so."""
    m = Machine()
    c = m.run(m.call("A", lambda n: 1e-3 * (1 + (n // 40) % 2)), m.call("B", 1e-3))
    assert not c.stable and c.attempts == FAST.attempts == 3
    one = Machine()
    one.run(one.call("A", lambda n: 1e-3 * (1 + (n // 40) % 2)), one.call("B", 1e-3), once=True)
    assert len(m.log) <= 3.5 * len(one.log)  # three measurements' worth of calls, not more


def test_a_competing_process_that_starts_during_the_measurement_is_unstable():
    """Another process starts spinning on one of the two CPUs after the idle reading: foreign load 0 -> 0.5."""
    m = Machine()
    m.foreign_from, m.foreign = FAST.load_window_s + 0.05, 0.5
    c = m.run(m.call("A", 2e-3), m.call("B", 1e-3), once=True)
    assert c.load_before == 0 and c.load_during[1] == pytest.approx(0.5)
    assert not c.stable and "foreign load" in c.reason and c.load == pytest.approx(0.5)


def test_a_steady_competitor_is_reported_but_not_a_change():
    m = Machine()
    m.foreign_from, m.foreign = -1.0, 0.5
    c = m.run(m.call("A", 2e-3), m.call("B", 1e-3), once=True)
    assert c.stable and c.load == pytest.approx(0.5) and c.load_change == pytest.approx(0, abs=1e-9)


def test_faster_than_the_floor_is_a_fault():
    m = Machine()
    c = m.run(m.call("A", 1e-3), m.call("B", 2e-3), once=True)
    assert not c.stable and "faster than the floor" in c.reason


def test_judge_ignores_unreadable_load():
    m = Machine()
    c = m.run(m.call("A", 2e-3), m.call("B", 1e-3), once=True)
    nan = protocol.replace(c, load_before=math.nan, load_during=(math.nan, math.nan))
    assert judge(nan, FAST) == ""


def test_foreign_load_subtracts_own_cpu():
    """2 CPUs for 1 s: 1.5 busy seconds of which 1.0 were this process's leave 0.25 foreign."""
    assert foreign_load((10.0, 3.0, 2), (11.5, 4.0, 2), 1.0) == pytest.approx(0.25)


def test_real_clock_recovers_the_ratio_of_two_sleeps():
    """time.sleep of 4 ms against 2 ms with the real clock: ratio about 2. Sleep overshoots (tens of µs idle,
    milliseconds on a loaded machine), so the bounds are wide; they still catch an inverted or broken clock."""
    c = compare_once(lambda: time.sleep(4e-3), lambda: time.sleep(2e-3),
                     Settings(min_block_s=0.01, target_s=0.3, min_rounds=5, load_window_s=0.05))
    assert 1.5 < c.ratio.median < 3.0


def test_pin_threads_sets_torch():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        t = protocol.pin_threads(1)
        assert t.torch == 1 == torch.get_num_threads() and t.of("torch") == 1 and t.xla >= 1
    finally:
        torch.set_num_threads(before)
