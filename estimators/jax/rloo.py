"""REINFORCE leave-one-out (RLOO): K draws, each baselined by the mean loss of the other K - 1.

    g = 1/K sum_k (f(x_k) - 1/(K-1) sum_{j != k} f(x_j)) * d log q(x_k) / d theta

Kool, van Hoof & Welling (2019), Buy 4 REINFORCE samples, get a baseline for free! Inside a model the
K - 1 extra draws at a node each need a forward pass of the downstream, so cost grows with depth.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit, sample, score
from estimators.registry import register


@register("rloo", "jax")
def rloo(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    k = u.shape[0]
    x = sample(dist, params, u)  # [K, ...]: one draw per row of uniforms
    loss = down.main(x[0])
    f = jnp.concatenate([sg(loss)[None], down.value(x[1:])])
    advantage = per_unit(k / (k - 1) * (f - f.mean(0)), event_ndim)
    coeffs = {name: (advantage * s).mean(0) for name, s in score(dist, params, x).items()}
    return attach(loss, params, coeffs, event_ndim), state
