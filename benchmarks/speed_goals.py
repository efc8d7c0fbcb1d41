"""Estimators' cost against their floor, and run-to-run spread, against the speed suite's goals (issue 24).

    .venv/bin/python benchmarks/speed_goals.py [--backends torch,torch-compile,jax] [--problems chain,bsn]
                                               [--estimators reinforce,disarm] [--max-foreign 0.25]

Cells: depth 2, batch 64, cpu, each problem at its default size, each backend. Every cell is measured twice by
bench.measure.protocol (estimator and floor interleaved in this process, retried until stable at most three
times); the spread is max / min of the two runs' median times. An estimator's goal is the cost its
f-evaluations per example imply (Spec.evals_per_sample times the draws one estimate takes at the fewest,
Spec.min_samples):

  one evaluation          ratio to floor <= 1.2 (torch-compile, JAX), <= 1.25 (eager torch)
  e >= 2 evaluations      ratio to floor <= e   (ARM and DisARM: 2.0 in every backend)
  every cell of >= 1 ms   spread of the two runs <= 1.3
  every stable cell       ratio >= 0.9 (the protocol marks a lower ratio unstable, so this checks it), except on
                          problems that skip work the floor does (Problem.skips)

Cells whose estimator a problem does not support, or whose evaluations grow with the node's size (RODEO,
indecater, measure-valued), are left out. On a shared machine other processes' CPU time makes timings slow and noisy:
before each backend the script waits (up to --quiet-timeout seconds) for a second in which they use less than
--max-foreign of the machine, then measures whatever the load; every cell carries its measured load and
stability. Not part of `make test`.
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
from bench.plan.cell import Cell  # noqa: E402
from bench.problems import PROBLEMS  # noqa: E402
from bench.suites.speed import FLOOR, protocol_settings, timed  # noqa: E402

PROBLEM_NAMES = ("chain", "bsn", "sbn-vae", "skip-rnn", "stochastic-depth")
# single evaluation; antithetic; and the catalog's newer estimators (2020-2024) at their fewest draws
ESTIMATORS = ("reinforce", "st", "gumbel-softmax", "reinmax", "gapped-st", "decoupled-st", "arm", "disarm",
              "rloo", "arms", "double-cv", "unordered-set")
BACKENDS = ("torch", "torch-compile", "jax")
DEPTH, BATCH = 2, 64
GOAL_SPREAD, SPREAD_MIN_S, MIN_RATIO = 1.3, 1e-3, 0.9


def cell(problem: str, estimator: str, backend: str) -> Cell:
    pp = tuple(sorted(PROBLEMS[problem].defaults.items()))
    n_samples = estimators.spec(estimator).min_samples if estimator != FLOOR else 1
    return Cell("speed", problem, pp, estimator, backend, "cpu", DEPTH, BATCH, n_samples, 0, 0)


def evaluations(estimator: str) -> int | None:
    """f-evaluations one estimate costs per example (None: they grow with the node, or enumerate it)."""
    spec = estimators.spec(estimator)
    if spec.evals_per_sample is None or spec.evals_per_other_value or spec.evals_per_coordinate:
        return None
    return spec.evals_per_sample * spec.min_samples


def goal(estimator: str, backend: str) -> float:
    e = evaluations(estimator)
    if e == 1:
        return 1.25 if backend == "torch" else 1.2
    return float(e)


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


def measure(backend: str, problems: list[str], names: list[str]) -> list[dict]:
    out = []
    for problem in problems:
        floor_cell = cell(problem, FLOOR, backend)
        settings = protocol_settings(floor_cell)
        _, floor_run, _ = timed(floor_cell, FLOOR)
        for name in names:
            if not PROBLEMS[problem].supports(name) or evaluations(name) is None:
                continue
            _, run, _ = timed(cell(problem, name, backend))
            runs = [protocol.compare(run, floor_run, settings) for _ in range(2)]
            times = [c.time.median for c in runs]
            out.append({"problem": problem, "backend": backend, "estimator": name, "runs": runs,
                        "spread": max(times) / min(times), "goal": goal(name, backend),
                        "skips": PROBLEMS[problem].skips})
            print(line(out[-1]), flush=True)
    return out


HEADER = (f"{'problem':16s} {'backend':13s} {'estimator':14s} {'time ms':>15s} {'floor ms':>15s} "
          f"{'ratio (IQR)':>25s} {'goal':>5s} {'spread':>6s} {'stable':>6s} {'load':>9s}  verdict")


def verdict(r: dict) -> str:
    a, b = r["runs"]
    big = min(a.time.median, b.time.median) >= SPREAD_MIN_S
    out = []
    if max(a.ratio.median, b.ratio.median) > r["goal"]:
        out.append("ratio over goal")
    if big and r["spread"] > GOAL_SPREAD:
        out.append("spread over goal")
    if not r["skips"] and any(c.stable and c.ratio.median < MIN_RATIO for c in (a, b)):
        out.append("stable below 0.9")
    return "; ".join(out) or "meets goals"


def line(r: dict) -> str:
    a, b = r["runs"]
    big = min(a.time.median, b.time.median) >= SPREAD_MIN_S
    ms = f"{a.time.median * 1e3:7.3f}/{b.time.median * 1e3:<7.3f}"
    floor = f"{a.floor.median * 1e3:7.3f}/{b.floor.median * 1e3:<7.3f}"
    ratio = f"{a.ratio.median:5.2f} ({a.ratio.iqr:4.2f})/{b.ratio.median:5.2f} ({b.ratio.iqr:4.2f})"
    return (f"{r['problem']:16s} {r['backend']:13s} {r['estimator']:14s} {ms:>15s} {floor:>15s} {ratio:>25s} "
            f"{r['goal']:5.2f} {r['spread']:6.2f}{'' if big else '*'} {int(a.stable)}/{int(b.stable):<4d} "
            f"{a.load:4.2f}/{b.load:4.2f}  {verdict(r)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--problems", default=",".join(PROBLEM_NAMES))
    p.add_argument("--estimators", default=",".join(ESTIMATORS))
    p.add_argument("--max-foreign", type=float, default=0.25)
    p.add_argument("--quiet-timeout", type=float, default=120.0)
    args = p.parse_args()
    threads = protocol.pin_threads()
    print(f"{protocol.available_cpus()} CPUs; threads {threads.describe()}; depth {DEPTH}, batch {BATCH}; "
          "figures are run 1/run 2; * = under 1 ms, spread not judged")
    rows = []
    for backend in args.backends.split(","):
        load = wait_for_quiet(args.max_foreign, args.quiet_timeout)
        print(f"\n{backend}: foreign load before start {load:.2f}\n{HEADER}", flush=True)
        rows += measure(backend, args.problems.split(","), args.estimators.split(","))
    print("\nper backend: cells meeting every goal; measurements stable")
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == backend]
        met = sum(verdict(r) == "meets goals" for r in mine)
        stable = [sum(r["runs"][i].stable for r in mine) for i in range(2)]
        print(f"  {backend:13s} {met} of {len(mine)} meet goals; stable {stable[0]}/{len(mine)} in run 1, "
              f"{stable[1]}/{len(mine)} in run 2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
