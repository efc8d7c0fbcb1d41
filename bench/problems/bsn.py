"""Seed 002's classifier: `depth` hidden layers of binary stochastic neurons (width w), softmax output,
cross-entropy. Every hidden layer is a Bernoulli node driven by the chosen estimator; with the
`deterministic` estimator it is the deterministic sigmoid net the seed compares against.

    b_0 ~ Bernoulli(sigmoid(x W_0 + c_0)),  b_l ~ Bernoulli(sigmoid(b_{l-1} W_l + c_l)),
    loss = -log softmax(b_{d-1} W_out + c_out)[y]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import DATA, IMAGE, WIDTH, Problem
from bench.problems.engine import Model
from bench.problems.layers import Arrays, accuracy, cross_entropy, dense, init_dense
from estimators.ops import Ops


@dataclass(frozen=True)
class BSN(Model):
    n_in: int
    width: int
    depth: int
    n_classes: int = 10
    dist = "bernoulli"

    @property
    def n_stochastic(self) -> int:
        return self.depth

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        p: dict[str, Any] = {}
        for layer in range(self.depth):
            p |= init_dense(rng, f"h{layer}", self.n_in if layer == 0 else self.width, self.width, 2.0)
        p |= init_dense(rng, "out", self.width, self.n_classes, 2.0)
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (self.width,)

    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        return ctx["x"]

    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        return {"logits": dense(p, f"h{layer}", prev)}

    def final_loss(self, o: Ops, p: Arrays, h: Any, ctx: Arrays) -> Any:
        return cross_entropy(o, dense(p, "out", h), ctx["y"])

    def metrics(self, o: Ops, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        return {"accuracy": accuracy(o, dense(p, "out", h), ctx["y"])}

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        out = {f"layer{m}": [f"h{m}_w", f"h{m}_b"] for m in range(self.depth)}
        return out | {"readout": ["out_w", "out_b"]}


PROBLEM = Problem(
    "bsn", "bernoulli", "seed 002 classifier: depth layers of binary stochastic neurons, softmax",
    lambda pp, depth, batch, estimator, pixels: BSN(pixels, int(pp["width"]), depth),
    defaults={"width": 100, **IMAGE}, ranges={"width": WIDTH}, choices=DATA, has_depth=True,
    metrics={"accuracy": "held-out accuracy"},
    sizes={"quick": {"": {"width": 3}}, "full": {"": {"width": 3}},
           "paper": {"": {"width": 200, "data": "digits28"}}},
    depths={"paper": (1, 2)})
