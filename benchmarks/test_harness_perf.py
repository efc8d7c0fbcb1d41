"""Performance figures of the harness, run with pytest-benchmark (not part of `make test`):

    .venv/bin/python -m pytest benchmarks --benchmark-only -p no:cacheprovider

1. Vectorised replicates against a Python loop over estimates: same backend, 2-layer binary chain (width 8,
   bench.problems.chain.Chain), batch 64, 256 estimates of DisARM. Target: at least 10x on CPU.
2. The harness's overhead: `bench.measure.timing.time_call` on the driver's timed call against a bare
   perf_counter loop over the same call. Target: at most 5%.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

import estimators
from bench.problems.chain import Chain
from bench.problems.engine import objective

R, BATCH, WIDTH, DEPTH = 256, 64, 8, 2
BACKENDS = ["torch", "jax"]


def _timed(backend: str, n_rows: int) -> Any:
    """The driver's synchronised call computing n_rows DisARM estimates on the chain (compiled first in JAX)."""
    driver = estimators.driver(backend)
    model = Chain(DEPTH, WIDTH)
    obj = objective(model, driver.ops, "disarm", model.init_params(0), {}, n_samples=1, seed=0, options={},
                    batch_size=BATCH)
    _, run = driver.timed(obj, obj.state, n_rows)
    return run


@pytest.mark.parametrize("backend", BACKENDS)
def test_vectorised(benchmark, backend):
    run = _timed(backend, R)
    benchmark.pedantic(run, rounds=10, warmup_rounds=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_loop(benchmark, backend):
    run = _timed(backend, 1)
    benchmark.pedantic(lambda: [run() for _ in range(R)], rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_harness_overhead(backend):
    from bench.measure.timing import time_call

    run = _timed(backend, 1)
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
