"""The problem this package adds: `tiny-sbn`, is the digit even? from `depth` layers of `width` binary
stochastic units, written once against the model engine's op namespace, so it runs in torch and JAX alike:

    b_0 ~ Bernoulli(sigmoid(x W_0 + c_0)),  b_l ~ Bernoulli(sigmoid(b_{l-1} W_l + c_l)),
    loss = softplus(-s (b_{d-1} . v + a)),  s = +1 for an even digit, -1 for an odd one

With width 4 and depth up to 4 there are at most 2^16 joint configurations, so the suite's truth is exact.
The entry point names TINY_SBN, a bench.problems.Problem: engine problems get the digits (or --data mnist)
as ctx {"x": images, "y": one-hot labels}.
"""

from dataclasses import dataclass

import numpy as np

from bench.problems import IMAGE, WIDTH, Problem
from bench.problems.data import DATASETS
from estimators.engine import AbstractModel, dense, init_dense


@dataclass(frozen=True)
class TinySBN(AbstractModel):
    n_in: int
    width: int
    depth: int
    dist = "bernoulli"

    @property
    def n_stochastic(self):
        return self.depth

    def init_params(self, seed):
        rng = np.random.default_rng(seed)
        p = {}
        for layer in range(self.depth):
            p |= init_dense(rng, f"h{layer}", self.n_in if layer == 0 else self.width, self.width, 2.0)
        p |= {"v": rng.normal(0.0, 1.0, self.width), "a": rng.normal(0.0, 0.1, 1)}
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer):
        return (self.width,)

    def inputs(self, o, p, ctx):
        return ctx["x"]

    def node(self, o, p, layer, prev, ctx):
        return {"logits": dense(p, f"h{layer}", prev)}

    def final_loss(self, o, p, h, ctx):
        sign = 2 * ctx["y"][..., ::2].sum(-1) - 1  # +1 for 0, 2, 4, 6, 8
        v = p["v"].reshape(p["v"].shape[0], *([1] * (h.ndim - 2)), p["v"].shape[-1])
        return o.softplus(-sign * ((h * v).sum(-1) + p["a"].reshape(-1, *([1] * (h.ndim - 2)))))

    def groups(self, params):
        return {**{f"layer{m}": [f"h{m}_w", f"h{m}_b"] for m in range(self.depth)}, "readout": ["v", "a"]}


def _make(pp, depth, batch_size, estimator, n_pixels):
    return TinySBN(n_pixels, int(pp["width"]), depth)


TINY_SBN = Problem("tiny-sbn", "bernoulli", "example plug-in: is the digit even? from depth layers of width "
                   "binary stochastic units", {"width": 4, **IMAGE}, has_depth=True, model=_make,
                   ranges={"width": WIDTH}, choices={"data": DATASETS})
