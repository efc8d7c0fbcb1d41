"""A chain of binary stochastic layers, the test bed for estimators at depth (seed 002's binary_wrapper).

    b_0 ~ Bernoulli(sigmoid(logits)),  b_l ~ Bernoulli(sigmoid(b_{l-1} W_l + c_l)),  loss = softplus(2 b_{d-1}.v - 1)

Every layer is one node driven by the chosen estimator; an estimate averages `batch_size` draws of the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import WIDTH, Problem
from bench.problems.engine import Model
from estimators.ops import Ops


@dataclass(frozen=True)
class Chain(Model):
    depth: int
    width: int
    dist = "bernoulli"

    @property
    def n_stochastic(self) -> int:
        return self.depth

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        p = {"logits": rng.normal(0.0, 1.0, self.width)}
        for layer in range(1, self.depth):
            p[f"w{layer}"] = rng.normal(0.0, 1.5 / np.sqrt(self.width), (self.width, self.width))
            p[f"b{layer}"] = rng.normal(0.0, 0.5, self.width)
        p["v"] = rng.normal(0.0, 1.0, self.width)
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (self.width,)

    def inputs(self, o: Ops, p: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return None

    def node(self, o: Ops, p: dict[str, Any], layer: int, prev: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        if layer == 0:
            return {"logits": o.expand_dims(p["logits"], 1)}  # [rows, 1 (draws), width]
        return {"logits": prev @ p[f"w{layer}"] + o.expand_dims(p[f"b{layer}"], 1)}

    def final_loss(self, o: Ops, p: dict[str, Any], z: Any, ctx: dict[str, Any]) -> Any:
        return o.softplus(2 * o.sum(z * o.expand_dims(p["v"], 1), -1) - 1)

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        out = {"layer0": ["logits"]}
        out.update({f"layer{i}": [f"w{i}", f"b{i}"] for i in range(1, self.depth)})
        return out | {"readout": ["v"]}


PROBLEM = Problem(
    "chain", "bernoulli", "depth x width binary stochastic layers, softplus loss",
    lambda pp, depth, batch, estimator, pixels: Chain(depth, int(pp["width"])),
    defaults={"width": 3}, ranges={"width": WIDTH}, has_depth=True, data="none")
