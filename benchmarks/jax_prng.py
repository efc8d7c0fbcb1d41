"""What JAX's random numbers cost a single-evaluation estimator on the CPU, under each of JAX's PRNG
implementations (issues 21 and 24: JAX's single-evaluation estimators stay above their floor's 1.2x goal).

The speed suite's cell (chain, bsn at depth 2, batch 64, one estimate per call; the driver's `timed` call draws
the uniforms inside the compiled call, as a training step would) is timed for the floor (every node at its mean:
no uniforms at all), REINFORCE and DisARM, and beside them the uniforms alone (the same `draw`, compiled on its
own), under `jax_default_prng_impl` = threefry2x32 (JAX's default), rbg and unsafe_rbg. Each arm is timed by
bench.measure.timing.time_call and the arms are interleaved over ROUNDS rounds; the figure is the median over
rounds with its min and max.

    .venv/bin/python benchmarks/jax_prng.py [--problems chain,bsn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import torch  # noqa: E402,F401  (before jax, as everywhere in this project)

ROUNDS = 3
IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")
ESTIMATORS = ("deterministic", "reinforce", "disarm")  # "deterministic": the speed suite's floor


def main() -> int:
    import jax

    from bench.measure import timing
    from bench.suites.common import cell_objective
    from benchmarks.speed_goals import cell
    from estimators.backends.jax import draw

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", default="chain,bsn")
    problems = p.parse_args().problems.split(",")
    calls = {}
    for impl in IMPLS:
        jax.config.update("jax_default_prng_impl", impl)  # PRNGKey below and in `timed` follow it
        for problem in problems:
            for name in ESTIMATORS:
                floor = name == "deterministic"
                driver, obj = cell_objective(cell(problem, "reinforce" if floor else name, "jax"),
                                             name if floor else None)
                _, run = driver.timed(obj, obj.state, 1)
                calls[impl, problem, name] = run
            shapes, tiny, key = obj.noise(1), driver.ops.tiny, jax.random.PRNGKey(0)
            uniforms = jax.jit(lambda k, shapes=shapes, tiny=tiny: draw(k, shapes, tiny)).lower(key).compile()
            calls[impl, problem, "uniforms alone"] = (
                lambda uniforms=uniforms, key=key: jax.block_until_ready(uniforms(key)))
    seconds: dict[tuple[str, str, str], list[float]] = {k: [] for k in calls}
    for _ in range(ROUNDS):
        for k, run in calls.items():
            seconds[k].append(timing.time_call(run)[0])
    print(f"{'problem':8s} {'prng':13s} {'arm':15s} {'us per call: median [min, max]':32s} ratio to floor")
    for impl, problem, name in calls:
        s = seconds[impl, problem, name]
        floor = statistics.median(seconds[impl, problem, "deterministic"])
        print(f"{problem:8s} {impl:13s} {name:15s} {statistics.median(s) * 1e6:9.1f} "
              f"[{min(s) * 1e6:.1f}, {max(s) * 1e6:.1f}]{'':8s} {statistics.median(s) / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
