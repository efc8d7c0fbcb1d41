"""What the suites share: a cell's rows, its parameters at its gradient point, and the objective it measures."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bench.plan.cell import Cell
from bench.problems import PROBLEMS
from bench.problems.engine import objective
from bench.suites.points import along, parameters
from estimators import catalog, driver, plugins
from estimators.driver import Driver, Objective, package
from estimators.rng import Rng


def row(cell: Cell, metric: str, value: float, stderr: float = float("nan"), *, unit: str = "", group: str = "all",
        status: str = "ok", message: str = "", wall_s: float = 0.0) -> dict[str, Any]:
    """One long-format row (bench.store.parquet.SCHEMA) of a cell."""
    return {
        "cell_id": cell.id, "suite": cell.suite, "problem": cell.problem,
        "problem_params": json.dumps(cell.params, sort_keys=True), "estimator": cell.estimator,
        "backend": cell.backend, "device": cell.device, "depth": cell.depth, "batch_size": cell.batch_size,
        "n_samples": cell.n_samples, "seed": cell.seed, "metric": metric, "param_group": group, "step": None,
        "value": value, "stderr": stderr, "unit": unit, "status": status, "message": message, "wall_s": wall_s,
        "lr": cell.lr, "options": json.dumps(cell.recorded_options, sort_keys=True), "experiment": cell.experiment,
    }


def theta(cell: Cell) -> dict[str, np.ndarray]:
    """The model's parameters the cell measures at (its gradient point)."""
    if cell.point == "trajectory":
        return along(cell.problem, cell.params, cell.depth, cell.seed, cell.batch_size, cell.training)
    return parameters(cell.problem, cell.params, cell.depth, cell.seed, cell.point, cell.batch_size)


def cell_objective(cell: Cell, estimator: str | None = None, *, backend: str | None = None,
          n_samples: int | None = None) -> tuple[Driver, Objective]:
    """(driver, objective) of the cell, or of another estimator (its floor) or backend (a cross-check) on it."""
    name, backend = estimator or cell.estimator, backend or cell.backend
    if plugins.is_black_box(name):  # draws its own samples: rows come from its calls (estimators.blackbox)
        from bench.suites import blackbox

        return blackbox.black_box_call(cell)
    plugins.check_backend(name, package(backend))
    problem = PROBLEMS[cell.problem]
    d = driver(backend, cell.device)
    model = problem.model(cell.params, cell.depth, cell.batch_size, name)
    options = cell.options if name == cell.estimator else {}
    obj = objective(model, d.ops, name, theta(cell), problem.fixed_batch(cell.params, cell.batch_size, cell.seed),
                    n_samples=cell.n_samples if n_samples is None else n_samples, seed=cell.seed,
                    options={k: v for k, v in options.items() if k in catalog.spec(name).options},
                    batch_size=cell.batch_size)
    return d, obj


def rng(cell: Cell) -> Rng:
    """The randomness of the cell's estimates."""
    return Rng(cell.seed)


def estimator_options(cell: Cell) -> dict[str, Any]:
    """The estimator's options with its spec's defaults filled in."""
    return {**catalog.spec(cell.estimator).options, **cell.options}
