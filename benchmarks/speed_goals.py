"""Estimators' cost against their floor, and run-to-run spread, against the speed suite's goals.

    .venv/bin/python benchmarks/speed_goals.py [--backends torch,jax] [--max-foreign 0.25] [--quiet-timeout 120]

Cells: chain, bsn and sbn-vae at their default sizes, depth 2, batch 64, cpu; estimators reinforce, st,
gumbel-softmax (single evaluation), arm and disarm (two evaluations per layer); torch and JAX. Each cell is
measured twice by bench.measure.protocol (estimator and floor interleaved in this process, retried until stable at
most three times); the spread is max / min of the two runs' median times. Goals:

  single-evaluation estimators  ratio to floor <= 1.2
  arm, disarm                   ratio to floor <= 2.5
  every cell of >= 1 ms         spread of the two runs <= 1.3
  every stable cell             ratio >= 0.9 (the protocol marks a lower ratio unstable, so this checks it)

Then bench.measure.memory.estimate_memory of sbn-vae (width 200) at batch 64 and 1024, per estimator and backend.

On a shared machine other processes' CPU time makes timings slow and noisy: before each backend the script
waits (up to --quiet-timeout seconds) for a second in which they use less than --max-foreign of the machine,
then measures whatever the load; every cell carries its measured load and stability. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import torch  # noqa: E402,F401  (before jax, as everywhere in this project)

import estimators  # noqa: E402
from bench.measure import protocol  # noqa: E402
from bench.measure.memory import estimate_memory  # noqa: E402
from bench.plan.cell import Cell  # noqa: E402
from bench.problems import PROBLEMS  # noqa: E402
from bench.suites.speed import FLOOR, timed  # noqa: E402

PROBLEM_NAMES = ("chain", "bsn", "sbn-vae")
ESTIMATORS = ("reinforce", "st", "gumbel-softmax", "arm", "disarm")
DEPTH, BATCH = 2, 64
MEMORY_BATCHES = (64, 1024)
GOAL_SINGLE, GOAL_ANTITHETIC, GOAL_SPREAD, SPREAD_MIN_S, MIN_RATIO = 1.2, 2.5, 1.3, 1e-3, 0.9


def cell(problem: str, estimator: str, backend: str, batch: int = BATCH) -> Cell:
    pp = tuple(sorted(PROBLEMS[problem].defaults.items()))
    return Cell("speed", problem, pp, estimator, backend, "cpu", DEPTH, batch, 1, 0, 0)


def wait_for_quiet(max_foreign: float, timeout_s: float) -> float:
    """Waits until other processes use less than max_foreign of the machine over one second, or timeout_s
    passes; returns the last second's foreign load."""
    deadline = time.perf_counter() + timeout_s
    while True:
        start, before = time.perf_counter(), protocol.proc_counters()
        time.sleep(1.0)
        load = protocol.foreign_load(before, protocol.proc_counters(), time.perf_counter() - start)
        if not load >= max_foreign or time.perf_counter() > deadline:  # NaN: no /proc, nothing to wait for
            return load


def goal(estimator: str) -> float:
    return GOAL_SINGLE if estimators.spec(estimator).evals_per_sample == 1 else GOAL_ANTITHETIC


def measure(backend: str) -> list[dict]:
    out = []
    for problem in PROBLEM_NAMES:
        _, floor_run, _ = timed(cell(problem, FLOOR, backend), FLOOR)
        for name in ESTIMATORS:
            if not PROBLEMS[problem].supports(name):
                continue
            _, run, _ = timed(cell(problem, name, backend))
            runs = [protocol.compare(run, floor_run) for _ in range(2)]
            times = [c.time.median for c in runs]
            out.append({"problem": problem, "backend": backend, "estimator": name, "runs": runs,
                        "spread": max(times) / min(times)})
            print(line(out[-1]), flush=True)
    return out


HEADER = (f"{'problem':8s} {'backend':7s} {'estimator':15s} {'time ms':>15s} {'floor ms':>15s} "
          f"{'ratio (IQR)':>25s} {'goal':>5s} {'spread':>6s} {'stable':>6s} {'load':>9s}  verdict")


def line(r: dict) -> str:
    a, b = r["runs"]
    g = goal(r["estimator"])
    big = min(a.time.median, b.time.median) >= SPREAD_MIN_S
    verdict = []
    if max(a.ratio.median, b.ratio.median) > g:
        verdict.append("ratio over goal")
    if big and r["spread"] > GOAL_SPREAD:
        verdict.append("spread over goal")
    if any(c.stable and c.ratio.median < MIN_RATIO for c in (a, b)):
        verdict.append("stable below 0.9")
    ms = f"{a.time.median * 1e3:7.3f}/{b.time.median * 1e3:<7.3f}"
    floor = f"{a.floor.median * 1e3:7.3f}/{b.floor.median * 1e3:<7.3f}"
    ratio = f"{a.ratio.median:5.2f} ({a.ratio.iqr:4.2f})/{b.ratio.median:5.2f} ({b.ratio.iqr:4.2f})"
    return (f"{r['problem']:8s} {r['backend']:7s} {r['estimator']:15s} {ms:>15s} {floor:>15s} {ratio:>25s} "
            f"{g:5.1f} {r['spread']:6.2f}{'' if big else '*'} {int(a.stable)}/{int(b.stable):<4d} "
            f"{a.load:4.2f}/{b.load:4.2f}  {'; '.join(verdict) or 'meets goals'}")


def memory_table(backends: list[str]) -> None:
    print(f"\nestimate_memory, sbn-vae width {PROBLEMS['sbn-vae'].defaults['width']}, depth {DEPTH} (MiB)")
    print(f"{'backend':7s} {'estimator':15s} " + " ".join(f"{'batch ' + str(b):>11s}" for b in MEMORY_BATCHES))
    for backend in backends:
        for name in (FLOOR, *ESTIMATORS):
            figures = []
            for batch in MEMORY_BATCHES:
                _, run, compiled = timed(cell("sbn-vae", name, backend, batch))
                if compiled is None:
                    run()  # warm-up: a first torch call may allocate one-time caches
                figures.append(estimate_memory(backend, "cpu", run, compiled=compiled) / 2**20)
            print(f"{backend:7s} {name:15s} " + " ".join(f"{f:11.2f}" for f in figures), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="torch,jax")
    p.add_argument("--max-foreign", type=float, default=0.25)
    p.add_argument("--quiet-timeout", type=float, default=120.0)
    args = p.parse_args()
    backends = args.backends.split(",")
    threads = protocol.pin_threads()
    print(f"{protocol.available_cpus()} CPUs; threads {threads.describe()}; depth {DEPTH}, batch {BATCH}; "
          "figures are run 1/run 2; * = under 1 ms, spread not judged")
    rows = []
    for backend in backends:
        load = wait_for_quiet(args.max_foreign, args.quiet_timeout)
        print(f"\n{backend}: foreign load before start {load:.2f}\n{HEADER}", flush=True)
        rows += measure(backend)
    failing = [r for r in rows if not line(r).endswith("meets goals")]
    unstable = sum(not c.stable for r in rows for c in r["runs"])
    print(f"\n{len(rows) - len(failing)} of {len(rows)} cells meet every goal; {unstable} of {2 * len(rows)} "
          "measurements unstable")
    memory_table(backends)
    return 0


if __name__ == "__main__":
    sys.exit(main())
