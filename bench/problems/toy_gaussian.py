"""One Gaussian node x ~ N(mu, sigma^2) with f(x) = x^2 or cos(omega x); its gradient in closed form:
x^2 gives (2 mu, 2 sigma); cos gives (-omega sin(omega mu) e, -omega^2 sigma cos(omega mu) e), e =
exp(-omega^2 sigma^2 / 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import Problem
from bench.problems.engine import Model
from estimators.ops import Ops
from estimators.spec import Range


@dataclass(frozen=True)
class ToyGaussian(Model):
    mu: float
    sigma: float
    f: str
    omega: float
    dist = "gaussian"
    n_stochastic = 1

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        return {"loc": np.array([self.mu], np.float32), "scale": np.array([self.sigma], np.float32)}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (1,)

    def inputs(self, o: Ops, p: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return None

    def node(self, o: Ops, p: dict[str, Any], layer: int, prev: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        return {k: o.expand_dims(p[k], 1) for k in ("loc", "scale")}

    def final_loss(self, o: Ops, p: dict[str, Any], z: Any, ctx: dict[str, Any]) -> Any:
        if self.f == "cos":
            return o.sum(o.cos(self.omega * z), -1)
        return o.sum(o.square(z), -1)

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        return {"loc": ["loc"], "scale": ["scale"]}


def closed_form(pp: dict[str, Any], params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    mu, sigma = params["loc"].astype(np.float64), params["scale"].astype(np.float64)
    if pp["f"] == "cos":
        w, e = pp["omega"], np.exp(-0.5 * pp["omega"] ** 2 * sigma**2)
        return {"loc": -w * np.sin(w * mu) * e, "scale": -(w**2) * sigma * np.cos(w * mu) * e}
    return {"loc": 2 * mu, "scale": 2 * sigma}


PROBLEM = Problem(
    "toy-gaussian", "gaussian", "x ~ N(mu, sigma^2), f(x) = x^2 (f=square) or cos(omega x) (f=cos)",
    lambda pp, depth, batch, estimator, pixels: ToyGaussian(float(pp["mu"]), float(pp["sigma"]), pp["f"],
                                                            float(pp["omega"])),
    defaults={"mu": 0.5, "sigma": 1.0, "f": "square", "omega": 2.0},
    ranges={"sigma": Range(0, 1e6, lo_open=True), "mu": Range(-1e6, 1e6), "omega": Range(-1e6, 1e6)},
    choices={"f": ("square", "cos")}, data="none", closed_form=closed_form)
