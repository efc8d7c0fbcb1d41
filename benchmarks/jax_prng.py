"""What JAX's random numbers cost a single-evaluation estimator on the CPU (issues 21 and 24).

The speed suite's cell (chain, bsn at depth 2, batch 64, one estimate per call; the driver's `timed` call draws the
uniforms inside the compiled call, as a training step would) is timed for the floor (every node at its mean: no
uniforms at all), REINFORCE and DisARM, and beside them the uniforms alone, compiled on their own, three ways: the
driver's (jax.random's threefry2x32, which JAX's CPU lowering rolls into a 5-step loop), the same bits with the 20
rounds unrolled (benchmarks/jax_threefry.py), and the driver's draw on an unsafe_rbg key (XLA's generator, other
bits). Each arm is timed by bench.measure.timing.time_call and the arms are interleaved over ROUNDS rounds; the
figure is the median over rounds with its min and max. REINFORCE and DisARM are timed again with the driver's draw
swapped for `jax_threefry.draw` (the same bits: every array in one unrolled hash, behind an optimisation barrier),
and the uniforms alone that way too. Compile seconds are printed beside each: one noise array per stochastic layer,
so the skip RNN (one gate per step) draws 28.

    .venv/bin/python benchmarks/jax_prng.py [--problems chain,bsn,skip-rnn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import torch  # noqa: E402,F401  (before jax, as everywhere in this project)

ROUNDS = 5
ESTIMATORS = ("deterministic", "reinforce", "disarm")  # "deterministic": the speed suite's floor


def main() -> int:
    import jax

    from bench.measure import timing
    from bench.suites.common import cell_objective
    from benchmarks import jax_threefry
    from benchmarks.speed_goals import cell
    from estimators.backends import jax as jax_driver
    from estimators.backends.jax import draw

    def unrolled(key, shapes, tiny):
        return [jax_threefry.uniform(jax_threefry.fold_in(key, m), s, tiny) for m, s in enumerate(shapes)]

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", default="chain,bsn,skip-rnn")
    problems = p.parse_args().problems.split(",")
    calls, compile_s = {}, {}
    for problem in problems:
        for name in ESTIMATORS:
            floor = name == "deterministic"
            driver, obj = cell_objective(cell(problem, "reinforce" if floor else name, "jax"), name if floor else None)
            compile_s[problem, name], calls[problem, name] = driver.timed(obj, obj.state, 1)
            if not floor:  # the same call with the candidate's uniforms: the driver's draw swapped while it compiles
                jax_driver.draw = jax_threefry.draw
                try:
                    arm = f"{name}, one hash"
                    compile_s[problem, arm], calls[problem, arm] = driver.timed(obj, obj.state, 1)
                finally:
                    jax_driver.draw = draw
        shapes, tiny = obj.noise(1), driver.ops.tiny
        for arm, sample, key in (("uniforms: jax.random", draw, jax.random.PRNGKey(0)),
                                 ("uniforms: unrolled", unrolled, jax_threefry.key(0)),
                                 ("uniforms: one hash", jax_threefry.draw, jax_threefry.key(0)),
                                 ("uniforms: unsafe_rbg", draw, jax.random.key(0, impl="unsafe_rbg"))):
            start = time.perf_counter()
            made = jax.jit(lambda k, sample=sample: sample(k, shapes, tiny)).lower(key).compile()
            compile_s[problem, arm] = time.perf_counter() - start
            calls[problem, arm] = lambda made=made, key=key: jax.block_until_ready(made(key))
    seconds: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
    for _ in range(ROUNDS):
        for k, run in calls.items():
            seconds[k].append(timing.time_call(run)[0])
    print(f"{'problem':8s} {'arm':24s} {'us per call: median [min, max]':32s} ratio to floor  compile s")
    for problem, name in calls:
        s = seconds[problem, name]
        floor = statistics.median(seconds[problem, "deterministic"])
        print(f"{problem:8s} {name:24s} {statistics.median(s) * 1e6:9.1f} "
              f"[{min(s) * 1e6:.1f}, {max(s) * 1e6:.1f}]{'':8s} {statistics.median(s) / floor:.2f}"
              + (f"{compile_s[problem, name]:14.2f}" if (problem, name) in compile_s else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
