"""Where a gradient is measured: at initialisation, or at the "trained" point, after TRAINED_STEPS Adam steps
with the problem's reference estimator (an unbiased, low-variance one), always computed by the same backend
(torch when installed), so every backend's cells measure gradients at the same parameters."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from bench.problems import PROBLEMS, REFERENCE, init_params, iwae_k

POINTS = ("init", "trained")
TRAINED_STEPS = 200


def parameters(problem: str, pp: dict[str, Any], depth: int, seed: int, point: str = "init",
               batch_size: int = 1) -> dict[str, np.ndarray]:
    if point == "init":
        return init_params(problem, pp, depth, seed, batch_size)
    if point != "trained":
        raise ValueError(f"unknown gradient point {point!r}; valid: {', '.join(POINTS)}")
    return {k: v.copy() for k, v in _trained(problem, tuple(sorted(pp.items())), depth, seed, batch_size).items()}


@lru_cache(maxsize=8)
def _trained(problem: str, items: tuple, depth: int, seed: int, batch_size: int) -> dict[str, np.ndarray]:
    from bench.plan.cell import Training
    from bench.suites.training import train
    from estimators import available_backends, catalog

    pp = dict(items)
    name = "vimco" if iwae_k(pp) > 1 else REFERENCE[PROBLEMS[problem].dist]
    backend = "torch" if "torch" in available_backends() else "jax"
    run = train(problem, pp, name, depth=depth, backend=backend, device="cpu", seed=seed,
                settings=Training(0.01, "adam", steps=TRAINED_STEPS, eval_every=0), batch_size=32,
                n_samples=catalog.spec(name).min_samples, options={})
    return run.params
