"""The REBAR/RELAX toy: independent b_i ~ Bernoulli(sigmoid(theta_i)), f(b) = sum_i (b_i - t)^2.

theta_i spread evenly over theta +- spread (all equal to theta when spread is 0); its gradient has the closed
form sigmoid'(theta_i) (1 - 2t).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import Problem
from bench.problems.engine import Model
from estimators.ops import Ops
from estimators.spec import Range


@dataclass(frozen=True)
class ToyBernoulli(Model):
    units: int
    t: float
    theta: float
    spread: float
    dist = "bernoulli"
    n_stochastic = 1

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        grid = np.linspace(-1, 1, self.units) * (self.units > 1)
        return {"logits": (self.theta + self.spread * grid).astype(np.float32)}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (self.units,)

    def inputs(self, o: Ops, p: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return None

    def node(self, o: Ops, p: dict[str, Any], layer: int, prev: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        return {"logits": o.expand_dims(p["logits"], 1)}

    def final_loss(self, o: Ops, p: dict[str, Any], z: Any, ctx: dict[str, Any]) -> Any:
        return o.sum(o.square(z - self.t), -1)

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        return {"logits": ["logits"]}


def closed_form(pp: dict[str, Any], params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    s = 1 / (1 + np.exp(-params["logits"].astype(np.float64)))
    return {"logits": s * (1 - s) * (1 - 2 * pp["t"])}


PROBLEM = Problem(
    "toy-bernoulli", "bernoulli",
    "units independent b_i ~ Bernoulli(sigmoid(theta_i)), f(b) = sum_i (b_i - t)^2; theta_i spread evenly over "
    "theta +- spread",
    lambda pp, depth, batch, estimator, pixels: ToyBernoulli(int(pp["units"]), float(pp["t"]), float(pp["theta"]),
                                                             float(pp["spread"])),
    defaults={"theta": 0.0, "t": 0.45, "units": 1, "spread": 0.0},
    ranges={"units": Range(1, 65_536, integer=True), "spread": Range(0, 1e3), "theta": Range(-1e3, 1e3),
            "t": Range(-1e6, 1e6)}, data="none",
    closed_form=closed_form)
