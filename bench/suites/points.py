"""Where a gradient is measured: at initialisation, or at the "trained" point, after TRAINED_STEPS Adam steps
with the problem's reference estimator (an unbiased, low-variance one), always computed by the same backend
(torch when installed), so every backend's cells measure gradients at the same parameters."""

from __future__ import annotations

import json
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


_TRAJECTORIES: dict[str, dict[int, dict[str, np.ndarray]]] = {}  # per trajectory: parameters at the steps kept


def kept_steps(last: int) -> frozenset[int]:
    """The steps a trajectory keeps on the way to `last`: 0, 1-9 x 10^k (any log-spaced checkpoint set is drawn
    from these, so one training run serves them all), and `last`."""
    nice = {m * 10**k for k in range(len(str(max(last, 1)))) for m in range(1, 10)}
    return frozenset({0, last} | {s for s in nice if s <= last})


def along(problem: str, pp: dict[str, Any], depth: int, seed: int, batch_size: int, training) -> dict[str, np.ndarray]:
    """The parameters after `training.steps` steps of `training.driver` with its optimiser (bench.suites.trajectory).
    Trained in the reference backend (torch where installed), so every backend measures at the same parameters;
    one run per trajectory and process serves every checkpoint it passes."""
    from dataclasses import replace

    from bench.suites.training import train
    from estimators import available_backends, catalog

    key = json.dumps([problem, pp, depth, seed, batch_size, repr(replace(training, steps=0))], sort_keys=True,
                     default=str)
    kept = _TRAJECTORIES.setdefault(key, {})
    if training.steps not in kept:
        backend = "torch" if "torch" in available_backends() else "jax"
        run = train(problem, pp, training.driver, depth=depth, backend=backend, device="cpu", seed=seed,
                    settings=replace(training, eval_every=0), batch_size=batch_size,
                    n_samples=catalog.spec(training.driver).min_samples, options={}, keep=kept_steps(training.steps))
        kept.update(run.snapshots)
    return {k: v.copy() for k, v in kept[training.steps].items()}
