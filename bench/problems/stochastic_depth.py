"""Seed 001's stochastic ResNet (Huang et al. 2016, Deep networks with stochastic depth), with learnable
survival: residual block l is kept with probability sigmoid(theta_l), theta learnt through the Bernoulli
estimators.

    h_0 = relu(x W_in + c_in),   h_{l+1} = h_l + b_l * F_l(h_l),   b_l ~ Bernoulli(sigmoid(theta_l)),
    F_l(h) = relu(h A_l + a_l) C_l + c_l,   loss = -log softmax(h_L W_out + c_out)[y]

Each example draws its own b. In PyTorch (define-by-run) a dropped block is really skipped: when the
estimator feeds hard 0/1 samples without a gradient path (score-function and antithetic estimators),
F_l runs only on the examples that keep it. Straight-through and relaxed estimators need F_l's value at
every example (their gradient is F_l(h) * dL/dh), so nothing can be skipped there. JAX traces one static
graph: the block is computed everywhere and masked. The speed suite shows what each costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import DATA, IMAGE, WIDTH, Problem
from bench.problems.engine import Model
from bench.problems.layers import Arrays, accuracy, cross_entropy, dense, init_dense
from bench.problems.skipping import skippable
from estimators.ops import Ops


@dataclass(frozen=True)
class StochasticDepth(Model):
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
        p: dict[str, Any] = init_dense(rng, "in", self.n_in, self.width, 2.0)
        for m in range(self.depth):
            p |= init_dense(rng, f"blk{m}a", self.width, self.width, 1.0)
            p |= init_dense(rng, f"blk{m}c", self.width, self.width, 1.0)
        p |= init_dense(rng, "out", self.width, self.n_classes)
        p["theta"] = rng.normal(1.0, 0.5, self.depth)  # survival about 0.73, not a symmetric point
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (1,)

    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        return o.relu(dense(p, "in", ctx["x"]))

    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        theta = p["theta"][:, layer]  # carries prev's leading axes, as the engine asks
        return {"logits": o.broadcast_to(theta.reshape(theta.shape[0], 1, 1), (*prev.shape[:-1], 1))}

    def _block(self, o: Ops, p: Arrays, layer: int, h: Any) -> Any:
        return dense(p, f"blk{layer}c", o.relu(dense(p, f"blk{layer}a", h)))

    def carry(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        if skippable(o, z):
            return _skip_dropped(p, layer, z, prev, self)
        return prev + z * self._block(o, p, layer, prev)

    def final_loss(self, o: Ops, p: Arrays, h: Any, ctx: Arrays) -> Any:
        return cross_entropy(o, dense(p, "out", h), ctx["y"])

    def metrics(self, o: Ops, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        return {"accuracy": accuracy(o, dense(p, "out", h), ctx["y"])}

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        return {"survival": ["theta"]} | {f"layer{m}": [f"blk{m}a_w", f"blk{m}a_b", f"blk{m}c_w", f"blk{m}c_b"]
                                          for m in range(self.depth)}


def _skip_dropped(p: Arrays, layer: int, z: Any, h: Any, model: StochasticDepth) -> Any:
    """torch only: F_l evaluated on the kept examples alone, each with its own row's weights."""
    import torch

    shape = torch.broadcast_shapes(z.shape[:-1], h.shape[:-1])
    h = h.expand(*shape, h.shape[-1])
    keep = (z[..., 0] > 0.5).expand(shape)
    if not bool(keep.any()):
        return h
    kept = h[keep]
    if p["theta"].shape[0] == 1:  # one row (training, the speed suite): one set of weights for every example
        w = {k: v[0] for k, v in p.items() if k.startswith(f"blk{layer}")}
    else:
        rows = torch.arange(shape[-2], device=h.device).reshape(-1, 1).expand(shape)[keep]  # rows axis is [-2]
        w = {k: v[rows] for k, v in p.items() if k.startswith(f"blk{layer}")}
    a = torch.relu((kept[:, None] @ w[f"blk{layer}a_w"])[:, 0] + w[f"blk{layer}a_b"])
    out = h.clone()
    out[keep] = kept + (a[:, None] @ w[f"blk{layer}c_w"])[:, 0] + w[f"blk{layer}c_b"]
    return out


PROBLEM = Problem(
    "stochastic-depth", "bernoulli", "seed 001 stochastic ResNet: depth blocks kept w.p. sigmoid(theta)",
    lambda pp, depth, batch, estimator, pixels: StochasticDepth(pixels, int(pp["width"]), depth),
    defaults={"width": 32, **IMAGE}, ranges={"width": WIDTH}, choices=DATA, has_depth=True, skips=True,
    metrics={"accuracy": "held-out accuracy"},
    sizes={"quick": {"": {"width": 16}}, "full": {"": {"width": 16}}})  # enumerable at depths 1-2: exact truths
