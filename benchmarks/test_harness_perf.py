"""Performance figures of the harness, run with pytest-benchmark (not part of `make test`):

    .venv/bin/python -m pytest benchmarks --benchmark-only -p no:cacheprovider

1. Vectorised replicates against a Python loop over estimates: same backend, 2-layer binary chain (width 8),
   batch 64, 256 estimates of DisARM. Target: at least 10x on CPU.
2. The harness's overhead: `bench.timing.time_call` on the driver's timed call against a bare
   perf_counter loop over the same call. Target: at most 5%.
"""

from __future__ import annotations

import importlib
import time

import numpy as np
import pytest
from estimators.chain import init_params

R, BATCH, WIDTH, DEPTH = 256, 64, 8, 2
BACKENDS = ["torch", "jax"]


def _built(backend: str):
    chain = importlib.import_module(f"estimators.{backend}.chain")
    driver = importlib.import_module(f"estimators.{backend}.driver")
    surrogate, theta, state = chain.build("disarm", init_params(DEPTH, WIDTH, 0), batch_size=BATCH)
    key = ()
    if backend == "jax":
        import jax

        key = (jax.random.PRNGKey(0),)
    return driver, surrogate, theta, state, key


@pytest.mark.parametrize("backend", BACKENDS)
def test_vectorised(benchmark, backend):
    driver, surrogate, theta, state, key = _built(backend)
    _, run = driver.timed(surrogate, theta, R, state, *key)
    benchmark.pedantic(run, rounds=10, warmup_rounds=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_loop(benchmark, backend):
    driver, surrogate, theta, state, key = _built(backend)
    _, run = driver.timed(surrogate, theta, 1, state, *key)
    benchmark.pedantic(lambda: [run() for _ in range(R)], rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_harness_overhead(backend):
    from bench.measure.timing import time_call

    driver, surrogate, theta, state, key = _built(backend)
    _, run = driver.timed(surrogate, theta, 1, state, *key)
    harness, _, _ = time_call(run)
    for _ in range(3):
        run()
    bare = []
    for _ in range(200):
        start = time.perf_counter()
        run()
        bare.append(time.perf_counter() - start)
    overhead = harness / float(np.median(bare)) - 1
    print(f"\n{backend}: harness median {harness * 1e3:.4f} ms, bare median {np.median(bare) * 1e3:.4f} ms, "
          f"overhead {overhead:+.1%}")
    assert overhead <= 0.05
