"""Sigmoid-adjusted straight-through with slope (seed 002; slope annealing of Chung et al. 2016).

p = sigmoid(slope * phi), b ~ Bernoulli(p) forward, d b / d phi := d p / d phi backward. Raising the slope
makes the neuron more deterministic, as in seed 002. Biased: mean sigmoid'(phi) * E[df/db(b)] at slope 1.
"""

from __future__ import annotations

import jax
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream
from estimators.registry import register


@register("st-sigmoid", "jax")
def st_sigmoid(params, down: Downstream, u, state, *, dist: str, event_ndim: int, slope: float = 1.0):
    p = jax.nn.sigmoid(slope * params["logits"])
    b = (u[0] < p).astype(u.dtype)
    return down.main(b + p - sg(p)), state
