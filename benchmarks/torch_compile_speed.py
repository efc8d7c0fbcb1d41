"""Eager torch, torch.compile and JAX on the same cells: milliseconds per estimate and compile seconds.

    python benchmarks/torch_compile_speed.py [--repeats 30] [--min-time 1.0] [--threads 1]

Each cell (depth 2, batch 64: chain/reinforce, bsn/disarm, sbn-vae/st, the problems' default sizes) is built
per backend by `bench.suites.common.build` and timed through its driver's `timed` closure, as the speed suite
times it: one estimate of 64 examples per call. The compile seconds are what `timed` reports (JAX: lower and
compile; torch-compile: the first call, which compiles; eager torch: 0). Then warm-up calls, then calls
until both `--repeats` calls and `--min-time` seconds are done; the median and interquartile range are
printed. torch-compile's recompilations during the timed calls are printed too (they should be 0).

`--threads N` runs torch (eager and compiled) on N threads and XLA single-threaded when N is 1: on a machine
shared with other jobs, OpenMP threads spin-waiting for a busy core make multi-threaded torch times mostly
noise (a 1 ms call measured at 60 ms).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

CELLS = [("chain", "reinforce"), ("bsn", "disarm"), ("sbn-vae", "st")]
BACKENDS = ("torch", "torch-compile", "jax")
DEPTH, BATCH, WARMUP = 2, 64, 3


def timed_call(problem: str, name: str, backend: str) -> tuple[float, Any, Any]:
    """(compile seconds, the call to time, the objective) of one estimate of BATCH examples."""
    from bench.plan.cell import Cell
    from bench.problems import PROBLEMS
    from bench.suites.common import cell_objective

    pp = tuple(sorted(PROBLEMS[problem].defaults.items()))
    driver, obj = cell_objective(Cell("speed", problem, pp, name, backend, "cpu", DEPTH, BATCH, 1, 0, 0))
    compile_s, run = driver.timed(obj, obj.state, 1)
    return compile_s, run, obj


def measure(run: Any, repeats: int, min_time: float) -> np.ndarray:
    """Seconds per call after WARMUP calls: at least `repeats` calls and `min_time` seconds of them."""
    for _ in range(WARMUP):
        run()
    times: list[float] = []
    while len(times) < repeats or sum(times) < min_time:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return np.array(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    args = p.parse_args()
    if args.threads == 1:  # before jax is imported: XLA reads its flags once
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen=false".strip()
    import torch  # noqa: I001  (before jax, see ARCHITECTURE notes)
    import jax

    from estimators.backends.torch_compile import recompilations

    jax.config.update("jax_default_matmul_precision", "highest")
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), jax {jax.__version__} "
          f"(XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}), "
          f"depth {DEPTH}, batch {BATCH}, one estimate per call")
    print(f"{'problem':9s} {'estimator':10s} {'backend':14s} {'median ms':>10s} {'IQR ms':>8s} {'calls':>6s} "
          f"{'compile s':>10s} {'recompiles':>10s}")
    for problem, name in CELLS:
        for backend in BACKENDS:
            compile_s, run, obj = timed_call(problem, name, backend)
            before = recompilations(obj)
            t = measure(run, args.repeats, args.min_time) * 1e3
            recompiles = str(recompilations(obj) - before) if backend == "torch-compile" else "-"
            q1, q3 = np.percentile(t, [25, 75])
            print(f"{problem:9s} {name:10s} {backend:14s} {np.median(t):10.3f} {q3 - q1:8.3f} {len(t):6d} "
                  f"{compile_s:10.2f} {recompiles:>10s}", flush=True)


if __name__ == "__main__":
    main()
