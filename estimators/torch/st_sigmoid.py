"""Sigmoid-adjusted straight-through with slope (seed 002; slope annealing of Chung et al. 2016).

p = sigmoid(slope * phi), b ~ Bernoulli(p) forward, d b / d phi := d p / d phi backward. Raising the slope
makes the neuron more deterministic, as in seed 002. Biased: mean sigmoid'(phi) * E[df/db(b)] at slope 1.
"""

from __future__ import annotations

import torch

from estimators.registry import register
from estimators.torch.common import Downstream


@register("st-sigmoid", "torch")
def st_sigmoid(params, down: Downstream, u, state, *, dist: str, event_ndim: int, slope: float = 1.0):
    p = torch.sigmoid(slope * params["logits"])
    b = (u[0] < p).to(u.dtype)
    return down.main(b + p - p.detach()), state
