"""What an estimator is, backend-neutrally: its `Spec` (family, bias, distributions, cost, options, paper).

Each estimator module (`estimators/<name>.py`) declares its SPEC beside its surrogate; `estimators.catalog`
collects them. Nothing here imports a backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from math import prod
from typing import Literal

from estimators.dist import DISTS  # noqa: F401 - re-exported: the distributions a Spec may name

Family = Literal[
    "score-function",
    "pathwise",
    "straight-through",
    "relaxation",
    "control-variate",
    "antithetic",
    "measure-valued",
    "exact",
    "deterministic",
]


@dataclass(frozen=True)
class Spec:
    name: str
    family: Family
    unbiased: bool
    dists: tuple[str, ...]
    evals_per_sample: int | None  # f-evaluations per draw; None = one per configuration (exact)
    needs_df: bool  # whether it differentiates f (needs dz f), rather than only evaluating it
    paper: str
    uniforms: int = 1  # uniform arrays (each shaped like the sample) consumed per draw
    multi_sample: bool = False  # n_samples draws form ONE estimate with a shared baseline (RLOO)
    min_samples: int = 1  # draws an estimate needs at least (RLOO's and ARMS's leave-one-out baselines: 2)
    state: Literal[None, "running", "trained"] = None  # running: updated by the estimator; trained: by min variance
    # option defaults; `warmup` (state updates at fixed parameters before estimates are drawn, then frozen) and
    # `states` (independently trained states the estimates are split among) belong to the driver
    options: dict[str, float] = field(default_factory=dict)
    note: str = ""
    # What the estimator needs from a model beyond its distribution ("" = any node of a supported dist will do).
    # A problem declares what it provides; the single-node API (grad_samples) rejects any non-empty requirement.
    requires: str = ""
    # f-evaluations per draw that grow with the node: this many for every variable of the node and every value
    # it can take besides its sample (indecater: 1, so a node of V variables with K values each costs
    # evals_per_sample + V (K - 1) evaluations per draw; see `evals_per_draw`)
    evals_per_other_value: int = 0
    # further f-evaluations per draw for each coordinate of the node (measure-valued: the cost grows with the
    # number of coordinates, evals_per_sample + evals_per_coordinate * coordinates per draw)
    evals_per_coordinate: int = 0
    # "node": a surrogate per stochastic node, nested by the engine; "objective": one surrogate of the whole
    # model's per-sample losses and log q (VIMCO on the importance-weighted bound)
    level: Literal["node", "objective"] = "node"


DRIVER_OPTIONS = ("warmup", "states", "warmup_rows")


@dataclass(frozen=True)
class Range:
    """The domain of a numeric option or problem parameter: bounds (open or closed) and integrality."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def check(self, value: float) -> str:
        """'' when value is inside, else the domain in words (NaN and infinities are never inside)."""
        if not math.isfinite(value):
            return f"must be {self} (a finite number)"
        bad = (self.integer and float(value) != int(value)
               or self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
               or self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))
        return f"must be {self}" if bad else ""

    def __str__(self) -> str:
        parts = [("an integer" if self.integer else "a number")]
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return " ".join(parts[:1]) + (" " + " and ".join(parts[1:]) if parts[1:] else "")


# bounds keep every option inside float32 arithmetic and a cell's memory (k draws, warm-up steps, states)
OPTION_RANGES = {"tau": Range(1e-6, 1e6), "tau_f": Range(1e-6, 1e6), "tau_b": Range(1e-6, 1e6),
                 "gap": Range(-1e6, 1e6), "slope": Range(0, 1e6, lo_open=True), "decay": Range(0, 1, hi_open=True),
                 "warmup": Range(0, 100_000, integer=True), "states": Range(1, 64, integer=True),
                 "warmup_rows": Range(1, 4096, integer=True),
                 "k": Range(1, 10_000, integer=True), "baseline": Range(0, 1, integer=True),
                 "baseline_lr": Range(0, 10), "normalise": Range(0, 1, integer=True)}


def driver_options(spec: Spec, options: dict) -> dict:
    """The options the driver acts on (warm-up steps, trained states), defaults filled in."""
    return {k: v for k, v in {**spec.options, **options}.items() if k in DRIVER_OPTIONS and k in spec.options}


def surrogate_options(spec: Spec, options: dict) -> dict:
    """The options the estimator's surrogate function takes, defaults filled in."""
    return {k: v for k, v in {**spec.options, **options}.items() if k in spec.options and k not in DRIVER_OPTIONS}


def checked_samples(spec: Spec, n_samples: int) -> str:
    """'' when an estimate of `n_samples` draws is valid for the estimator, else why not."""
    if n_samples < spec.min_samples:
        return f"{spec.name} needs n_samples >= {spec.min_samples}, got {n_samples}"
    return ""


def draw_counts(spec: Spec, n_samples: int) -> tuple[int, int]:
    """(independent draws averaged per estimate, uniform arrays per draw): the backends' drivers share it."""
    return (1, n_samples) if spec.multi_sample else (n_samples, spec.uniforms)


def evals_per_draw(spec: Spec, dist: str, event_shape: tuple[int, ...]) -> int | None:
    """f-evaluations one draw costs at a node of this event shape (None: one per configuration, exact).

    Bernoulli: every unit is a variable of 2 values; categorical: every variable has event_shape[-1] values;
    Gaussian: every unit is a coordinate."""
    if spec.evals_per_sample is None:
        return None
    if dist == "bernoulli":
        n_vars, n_values = prod(event_shape), 2
    else:
        n_vars, n_values = prod(event_shape[:-1]), int(event_shape[-1])
    return (spec.evals_per_sample + spec.evals_per_other_value * n_vars * (n_values - 1)
            + spec.evals_per_coordinate * prod(event_shape))


def even_chunks(n_rows: int, max_rows: int) -> int:
    """The chunk size that splits n_rows into the fewest chunks of at most max_rows, as evenly as possible."""
    return max(1, -(-n_rows // -(-n_rows // max(max_rows, 1)))) if n_rows else 1


# Each requirement, in words, for error messages.
REQUIREMENTS = {
    "linear-gaussian-weights": "a model with linear Gaussian weights (problem bnn)",
    "iwae-objective": "a VAE trained on the importance-weighted bound (sbn-vae or categorical-vae with "
                      "objective=iwae:k=K, K >= 2)",
}
# trained control variates: 100 Adam steps of 256 rows each, estimates split among 4 independently trained states,
# so the reported variance includes the training's randomness (and its standard error is taken across states).
# A row is one estimate of the cell's batch: at the literature's sizes (batch 50 of 784 pixels) fewer rows per
# step, down to the papers' one minibatch, make the warm-up affordable (warmup_rows)
TRAINED = {"warmup": 100, "states": 4, "warmup_rows": 256}
