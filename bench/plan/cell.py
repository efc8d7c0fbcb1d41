"""A Cell: one measurement, declared as data. Three parts kept apart:

    what       problem and its parameters, estimator and its options, the gradient point or training settings
    how        backend, device, depth, batch size, draws per estimate, estimates, seed
    settings   how it is run but not what it measures (memory budget, truths' precision, cache folder): not in
               its id, so changing them never makes it another cell

Its id (a hash of everything but the settings) names its Parquet file, which `--resume` looks for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "adam")
EVAL_MODES = ("", "stochastic", "deterministic", "mean")


@dataclass(frozen=True)
class Training:
    """How a training cell trains: its optimizer and learning rate, the budget, seed 002's knobs."""

    lr: float
    optimizer: str = "sgd"
    steps: int = 100
    eval_every: int = 25
    slope_anneal: float = 1.0  # seed 002: the slope option is multiplied by this after every epoch
    eval: str = ""  # held-out evaluation mode ("" = the estimator's own: stochastic, or mean for deterministic)
    train_subset: int = 0  # train on the first N training examples only (0 = all)
    driver: str = ""  # trajectory cells: the estimator that trains the shared trajectory (the cell's measures)

    def options(self) -> dict[str, Any]:
        """The settings that differ from the defaults, for a row's `options` column."""
        base = Training(self.lr)
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "lr" and getattr(self, f.name) != getattr(base, f.name)}


@dataclass(frozen=True)
class Cell:
    suite: str
    problem: str
    problem_params: tuple[tuple[str, Any], ...]
    estimator: str
    backend: str
    device: str
    depth: int
    batch_size: int
    n_samples: int
    seed: int
    n_estimates: int
    estimator_options: tuple[tuple[str, Any], ...] = ()
    point: str = "init"  # "init", "trained" (after bench.suites.points.TRAINED_STEPS steps), or "trajectory"
    # (after training.steps steps of training.driver: bench.suites.trajectory)
    training: Training | None = None  # training cells only
    experiment: str = ""  # the seed experiment or paper's claim the cell belongs to
    settings: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.problem_params)

    @property
    def options(self) -> dict[str, Any]:
        """The estimator's options (its spec's defaults not filled in)."""
        return dict(self.estimator_options)

    def setting(self, name: str, default: Any = None) -> Any:
        return dict(self.settings).get(name, default)

    @property
    def recorded_options(self) -> dict[str, Any]:
        """What a row's `options` column records: estimator options, the gradient point, training settings."""
        out = dict(self.estimator_options)
        if self.point != "init":
            out["point"] = self.point
        if self.training is not None:
            out.update(self.training.options())
        return out

    @property
    def lr(self) -> float:
        return self.training.lr if self.training is not None else float("nan")

    @property
    def id(self) -> str:
        """Stable across runs and machines: names the cell's Parquet file, which `--resume` looks for."""
        return hashlib.sha1(json.dumps(to_json(self, settings=False), sort_keys=True).encode()).hexdigest()[:16]


def to_json(cell: Cell, settings: bool = True) -> dict[str, Any]:
    """Every field of the Cell (tuples become JSON lists); without the settings, what its id hashes."""
    out = {f.name: getattr(cell, f.name) for f in fields(Cell) if settings or f.name != "settings"}
    out["training"] = asdict(cell.training) if cell.training is not None else None
    return out


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def from_json(data: dict[str, Any]) -> Cell:
    """The inverse of to_json. A Cell is frozen and hashable, so every list in the JSON was a tuple."""
    values = {f.name: _tuples(data[f.name]) for f in fields(Cell) if f.name in data}
    if values.get("training") is not None:
        values["training"] = Training(**data["training"])
    return Cell(**values)
