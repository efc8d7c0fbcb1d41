"""The problem this package adds: `tiny-sbn`, is the digit even? from `depth` layers of `width` binary
stochastic units, written once against the op set (`estimators.ops.Ops`) as an `bench.problems.engine.Model`, so it
runs in torch, torch-compile and JAX alike:

    b_0 ~ Bernoulli(sigmoid(x W_0 + c_0)),  b_l ~ Bernoulli(sigmoid(b_{l-1} W_l + c_l)),
    loss = softplus(-s (b_{d-1} . v + a)),  s = +1 for an even digit, -1 for an odd one

With width 4 and depth up to 4 there are at most 2^16 joint configurations, so the suite's truth is exact.
The entry point names TINY_SBN, a bench.problems.Problem whose `make(params, depth, batch_size, estimator,
n_pixels)` builds the model; problems with images get the digits (or --data mnist) as ctx
{"x": images, "y": one-hot labels}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import DATA, IMAGE, WIDTH, Problem
from bench.problems.engine import Model
from bench.problems.layers import Arrays, dense, init_dense
from estimators.ops import Ops


@dataclass(frozen=True)
class TinySBN(Model):
    n_in: int
    width: int
    depth: int
    dist = "bernoulli"

    @property
    def n_stochastic(self) -> int:
        return self.depth

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        p: dict[str, Any] = {}
        for layer in range(self.depth):
            p |= init_dense(rng, f"h{layer}", self.n_in if layer == 0 else self.width, self.width, 2.0)
        p |= {"v": rng.normal(0.0, 1.0, self.width), "a": rng.normal(0.0, 0.1, 1)}
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (self.width,)

    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        return ctx["x"]

    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        return {"logits": dense(p, f"h{layer}", prev)}

    def final_loss(self, o: Ops, p: Arrays, h: Any, ctx: Arrays) -> Any:
        sign = 2 * o.sum(ctx["y"][..., ::2], -1) - 1  # +1 for 0, 2, 4, 6, 8
        # parameters carry the engine's leading rows axis; h may carry extra leading axes (right-aligned)
        v = p["v"].reshape(p["v"].shape[0], *([1] * (h.ndim - 2)), p["v"].shape[-1])
        a = p["a"].reshape(-1, *([1] * (h.ndim - 2)))
        return o.softplus(-sign * (o.sum(h * v, -1) + a))

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        return {**{f"layer{m}": [f"h{m}_w", f"h{m}_b"] for m in range(self.depth)}, "readout": ["v", "a"]}


def _make(pp: dict[str, Any], depth: int, batch_size: int, estimator: str, n_pixels: int) -> TinySBN:
    return TinySBN(n_pixels, int(pp["width"]), depth)


TINY_SBN = Problem("tiny-sbn", "bernoulli", "example plug-in: is the digit even? from depth layers of width "
                   "binary stochastic units", _make, defaults={"width": 4, **IMAGE}, ranges={"width": WIDTH},
                   choices=DATA, has_depth=True)
