"""Benchmark problems: each gives a backend's surrogate for a cell, the true gradient, and parameter groups.

toy-bernoulli  b ~ Bernoulli(sigmoid(theta)), f(b) = (b - t)^2; theta = 0, t = 0.45 (REBAR/RELAX toy)
toy-gaussian   x ~ N(mu, sigma^2), f(x) = x^2 or cos(omega x); truths in closed form
chain          depth x width binary stochastic layers (estimators/*/chain.py); exact truth by enumeration
               while depth*width <= 16, else a reference estimate (DisARM, many draws) with its standard error
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from estimators.chain import init_params
from estimators.spec import SPECS

MAX_EXACT_UNITS = 16
REFERENCE_ESTIMATES = 200_000


@dataclass(frozen=True)
class Problem:
    name: str
    dist: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    has_depth: bool = False

    def supports(self, estimator: str) -> bool:
        return self.dist in SPECS[estimator].dists


PROBLEMS = {
    p.name: p
    for p in [
        Problem("toy-bernoulli", "bernoulli", "b ~ Bernoulli(sigmoid(theta)), f(b) = (b - t)^2",
                {"theta": 0.0, "t": 0.45}),
        Problem("toy-gaussian", "gaussian", "x ~ N(mu, sigma^2), f(x) = x^2 (f=square) or cos(omega x) (f=cos)",
                {"mu": 0.5, "sigma": 1.0, "f": "square", "omega": 2.0}),
        Problem("chain", "bernoulli", "depth x width binary stochastic layers, softplus loss", {"width": 3},
                has_depth=True),
    ]
}


def parse_value(default: Any, text: str) -> Any:
    return type(default)(text) if not isinstance(default, str) else text


def _toy_f(problem: str, pp: dict[str, Any], backend: str) -> Callable:
    mod = importlib.import_module("torch" if backend == "torch" else "jax.numpy")
    if problem == "toy-bernoulli":
        return lambda b: ((b - pp["t"]) ** 2).sum(-1)
    if pp["f"] == "cos":
        return lambda x: mod.cos(pp["omega"] * x).sum(-1)
    return lambda x: (x**2).sum(-1)


def params_of(problem: str, pp: dict[str, Any], depth: int, seed: int) -> dict[str, np.ndarray]:
    if problem == "toy-bernoulli":
        return {"logits": np.array([pp["theta"]], np.float32)}
    if problem == "toy-gaussian":
        return {"loc": np.array([pp["mu"]], np.float32), "scale": np.array([pp["sigma"]], np.float32)}
    return init_params(depth, int(pp["width"]), seed)


def groups(problem: str, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Parameter groups reported separately (per layer for the chain)."""
    if problem != "chain":
        return {k: [k] for k in params}
    depth = sum(k.startswith("w") for k in params) + 1
    out = {"layer0": ["logits"]}
    out.update({f"layer{i}": [f"w{i}", f"b{i}"] for i in range(1, depth)})
    out["readout"] = ["v"]
    return out


def build(problem: str, pp: dict[str, Any], backend: str, estimator: str, *, depth: int, batch_size: int,
          n_samples: int, seed: int, device: str, options: dict[str, Any]):
    """(driver module, surrogate, parameters, state) for one cell."""
    spec = SPECS[estimator]
    driver = importlib.import_module(f"estimators.{backend}.driver")
    params = params_of(problem, pp, depth, seed)
    opts = {**spec.options, **options}
    if problem == "chain":
        chain = importlib.import_module(f"estimators.{backend}.chain")
        built = chain.build(estimator, params, n_samples=n_samples, seed=seed, device=device, batch_size=batch_size,
                            **opts)
    else:
        built = driver.build_single_node(spec, _toy_f(problem, pp, backend), params, dist=PROBLEMS[problem].dist,
                                         n_samples=n_samples, seed=seed, device=device, batch_size=batch_size, **opts)
    return (driver, *built)


def truth(problem: str, pp: dict[str, Any], depth: int, seed: int,
          backend: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(true gradient, its standard error): zero error for closed forms and enumeration."""
    params = params_of(problem, pp, depth, seed)
    if problem == "toy-bernoulli":
        s = 1 / (1 + np.exp(-params["logits"].astype(np.float64)))
        g = {"logits": s * (1 - s) * (1 - 2 * pp["t"])}
    elif problem == "toy-gaussian":
        mu, sigma = params["loc"].astype(np.float64), params["scale"].astype(np.float64)
        if pp["f"] == "cos":
            w, e = pp["omega"], np.exp(-0.5 * pp["omega"] ** 2 * sigma**2)
            g = {"loc": -w * np.sin(w * mu) * e, "scale": -(w**2) * sigma * np.cos(w * mu) * e}
        else:
            g = {"loc": 2 * mu, "scale": 2 * sigma}
    else:
        chain = importlib.import_module(f"estimators.{backend}.chain")
        if depth * int(pp["width"]) <= MAX_EXACT_UNITS:
            g = {k: v.astype(np.float64) for k, v in chain.exact_gradient(params).items()}
        else:
            rows = chain.grad_samples("disarm", params, n_estimates=REFERENCE_ESTIMATES, seed=seed + 10_007)
            return ({k: v.astype(np.float64).mean(0) for k, v in rows.items()},
                    {k: v.astype(np.float64).std(0, ddof=1) / np.sqrt(len(v)) for k, v in rows.items()})
    return g, {k: np.zeros_like(v) for k, v in g.items()}
