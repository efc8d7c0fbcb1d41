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

Inside a model the e evaluations are not e passes of the model: an estimator's further evaluations at a node are
forward passes of the rest of the model from that node (`Downstream.value`; `Downstream.mean` for double CV's
control variate), one set per node, so at L nodes they add up to about (e - 1) (L + 1) / 2 passes (the skip RNN's
28 gates: about 14.5). The script therefore also times each such estimator's *implied floor* (column `implied`,
over the floor): the floor's pass plus every downstream pass the estimator makes at every node, with the same
shapes, on a draw of the node (its mean for `mean` passes), each pass scaling the gradient as an estimator's
coefficient does (else a compiler drops it), and none of the estimator's own arithmetic. It draws the estimator's
uniforms, since those passes sample the later nodes from them. The goal stays e; where the implied floor alone
exceeds it the verdict says so, and `over implied` is the estimator's time over its implied floor's.

Cells whose estimator a problem does not support, or whose evaluations grow with the node's size (RODEO,
indecater, measure-valued), are left out. On a shared machine other processes' CPU time makes timings slow and noisy:
before each backend the script waits (up to --quiet-timeout seconds) for a second in which they use less than
--max-foreign of the machine, then measures whatever the load; every cell carries its measured load and
stability. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import torch  # noqa: E402,F401  (before jax, as everywhere in this project)

import estimators  # noqa: E402
from bench.measure import protocol  # noqa: E402
from bench.plan.cell import Cell  # noqa: E402
from bench.problems import PROBLEMS  # noqa: E402
from bench.suites.speed import FLOOR, protocol_settings, timed  # noqa: E402
from estimators import catalog  # noqa: E402
from estimators.dist import mean, sample  # noqa: E402
from estimators.ops import Downstream  # noqa: E402

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


PASSES = ("value", "mean", "relaxed")


def downstream_calls(problem: str, estimator: str) -> list[list[tuple[str, tuple[int, ...]]]]:
    """Per node, in the engine's order, the downstream passes (kind, shape of the value handed in) one estimate
    of the cell makes, recorded from one eager torch call."""
    module, calls = catalog.module(estimator), []
    original = module.surrogate

    def spy(o, params, down, u, state, **kwargs):
        mine: list[tuple[str, tuple[int, ...]]] = []
        calls.append(mine)

        def recorded(kind: str):
            def call(z, *rest):
                mine.append((kind, tuple(z.shape)))
                return getattr(down, kind)(z, *rest)
            return call

        return original(o, params, Downstream(down.main, **{k: recorded(k) for k in PASSES}), u, state, **kwargs)

    module.surrogate = spy
    try:
        timed(cell(problem, estimator, "torch"))[1]()
    finally:
        module.surrogate = original
    return calls


def implied_floor(problem: str, estimator: str) -> str | None:
    """Registers the estimator's implied floor on this problem in the catalog and returns its name; None when the
    estimator makes no downstream pass (its floor is the floor)."""
    calls = downstream_calls(problem, estimator)
    if not any(calls):
        return None
    spec = catalog.spec(estimator)
    name = f"implied-floor-{estimator}-{problem}"
    module = ModuleType(name)
    module.SPEC = dataclasses.replace(spec, name=name, family="deterministic", unbiased=False, options={},
                                      state=None, note="benchmarks/speed_goals.py: the floor plus the passes of "
                                      + estimator)
    visits = [0]  # the node the engine visits next: in order, once each per estimate, so 0 at every call's start

    def surrogate(o, params, down, u, state, *, dist, event_ndim):
        at = mean(o, dist, params)
        drawn = o.stop_gradient(sample(o, dist, params, u[0]))  # hard values, as the estimator's passes get
        loss = down.main(at)
        node, visits[0] = visits[0], (visits[0] + 1) % len(calls)
        for kind, shape in calls[node]:
            if kind == "value":  # no gradient path: the pass must scale the gradient, as an estimator's
                # coefficient does, or the compilers drop it (JAX computes only what the gradient needs)
                v = down.value(o.broadcast_to(drawn, shape))
                loss = loss * (1 + 0.0 * (o.sum(v, tuple(range(v.ndim - loss.ndim))) if v.ndim > loss.ndim else v))
            else:
                args = (1.0,) if kind == "relaxed" else ()
                loss = loss + 0.0 * o.sum(getattr(down, kind)(o.broadcast_to(at, shape), *args))
        return loss, state

    module.surrogate = surrogate
    catalog.add(module)
    return name


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
            implied = None
            if evaluations(name) > 1 and (floor_name := implied_floor(problem, name)) is not None:
                _, implied_run, _ = timed(cell(problem, floor_name, backend))
                implied = protocol.compare(implied_run, floor_run, settings).ratio.median
            out.append({"problem": problem, "backend": backend, "estimator": name, "runs": runs,
                        "spread": max(times) / min(times), "goal": goal(name, backend),
                        "implied": implied, "skips": PROBLEMS[problem].skips})
            print(line(out[-1]), flush=True)
    return out


HEADER = (f"{'problem':16s} {'backend':13s} {'estimator':14s} {'time ms':>15s} {'floor ms':>15s} "
          f"{'ratio (IQR)':>25s} {'implied':>7s} {'goal':>5s} {'spread':>6s} {'stable':>6s} {'load':>9s}  verdict")


def verdict(r: dict) -> str:
    a, b = r["runs"]
    big = min(a.time.median, b.time.median) >= SPREAD_MIN_S
    out = []
    if max(a.ratio.median, b.ratio.median) > r["goal"]:
        out.append("ratio over goal" + ("" if r["implied"] is None or r["implied"] <= r["goal"] else
                                        f" (implied floor alone {r['implied']:.2f}; "
                                        f"over implied {max(a.ratio.median, b.ratio.median) / r['implied']:.2f})"))
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
    implied = "-" if r["implied"] is None else f"{r['implied']:.2f}"
    return (f"{r['problem']:16s} {r['backend']:13s} {r['estimator']:14s} {ms:>15s} {floor:>15s} {ratio:>25s} "
            f"{implied:>7s} {r['goal']:5.2f} {r['spread']:6.2f}{'' if big else '*'} "
            f"{int(a.stable)}/{int(b.stable):<4d} "
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
          "figures are run 1/run 2; * = under 1 ms, spread not judged; implied = the implied floor over the floor")
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
