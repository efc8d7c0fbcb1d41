"""DisARM for Bernoulli nodes: ARM with the antithetic noise integrated out.

With b = 1[u < sigmoid(phi)] and its antithetic partner b~ = 1[1 - u < sigmoid(phi)]:

    g = 1/2 (f(b) - f(b~)) * (-1)^b~ * 1[b != b~] * sigmoid(|phi|)

Dong, Mnih & Tucker (2020), DisARM: an antithetic gradient estimator for binary latent variables.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit
from estimators.registry import register


@register("disarm", "jax")
def disarm(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi, u = params["logits"], u[0]
    b = (u < jax.nn.sigmoid(phi)).astype(u.dtype)
    b_anti = (1 - u < jax.nn.sigmoid(phi)).astype(u.dtype)
    loss = down.main(b)
    diff = per_unit(sg(loss) - down.value(b_anti), event_ndim)
    coeff = 0.5 * diff * (1 - 2 * b_anti) * (b != b_anti) * jax.nn.sigmoid(jnp.abs(phi))
    return attach(loss, params, {"logits": coeff}, event_ndim), state
