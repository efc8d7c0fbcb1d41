"""What the suites share: a cell's rows, and the problem and estimator it builds."""

from __future__ import annotations

import json
from typing import Any

from bench import problems
from bench.sweep import Cell
from estimators import plugins
from estimators.registry import package
from estimators.spec import SPECS


def row(cell: Cell, metric: str, value: float, stderr: float = float("nan"), *, unit: str = "", group: str = "all",
        status: str = "ok", message: str = "", wall_s: float = 0.0) -> dict[str, Any]:
    """One long-format row (bench.store.SCHEMA) of a cell."""
    return {
        "cell_id": cell.id, "suite": cell.suite, "problem": cell.problem,
        "problem_params": json.dumps(cell.params, sort_keys=True), "estimator": cell.estimator,
        "backend": cell.backend, "device": cell.device, "depth": cell.depth, "batch_size": cell.batch_size,
        "n_samples": cell.n_samples, "seed": cell.seed, "metric": metric, "param_group": group, "step": None,
        "value": value, "stderr": stderr, "unit": unit, "status": status, "message": message, "wall_s": wall_s,
        "lr": cell.lr if cell.suite == "training" else float("nan"),
        "options": json.dumps(cell.opts, sort_keys=True), "experiment": cell.experiment,
    }


def estimator_options(cell: Cell, estimator: str) -> dict[str, Any]:
    return {k: v for k, v in cell.opts.items() if k in SPECS[estimator].options}


def build(cell: Cell, estimator: str | None = None, *, n_samples: int | None = None, noise_seed: int | None = None):
    """(driver module, surrogate, parameters, state) of the cell, or of another estimator on its problem."""
    name = estimator or cell.estimator
    if plugins.is_black_box(name):  # draws its own samples: rows come from its calls (estimators.blackbox)
        from bench import programs

        return programs.build(cell, estimator_options(cell, name))
    plugins.check_backend(name, package(cell.backend))
    return problems.build(cell.problem, cell.params, cell.backend, name, depth=cell.depth,
                          batch_size=cell.batch_size, n_samples=cell.n_samples if n_samples is None else n_samples,
                          seed=cell.seed, device=cell.device, options=estimator_options(cell, name),
                          point=cell.opts.get("point", "init"), noise_seed=noise_seed)


def key(cell: Cell, seed: int | None = None) -> tuple:
    """The driver's extra noise argument: () for torch, (a JAX PRNG key,) for JAX."""
    if cell.backend != "jax":
        return ()
    import jax

    return (jax.random.PRNGKey(cell.seed if seed is None else seed),)
