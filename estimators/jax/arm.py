"""ARM (Augment-REINFORCE-Merge) for Bernoulli nodes, from one uniform vector u:

    g = (f(1[u > sigmoid(-phi)]) - f(1[u < sigmoid(phi)])) * (u - 1/2)

Yin & Zhou (2019), ARM: Augment-REINFORCE-Merge gradient for stochastic binary networks.
"""

from __future__ import annotations

import jax
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit
from estimators.registry import register


@register("arm", "jax")
def arm(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi, u = params["logits"], u[0]
    b = (u < jax.nn.sigmoid(phi)).astype(u.dtype)
    b_swap = (u > jax.nn.sigmoid(-phi)).astype(u.dtype)
    loss = down.main(b)
    coeff = per_unit(down.value(b_swap) - sg(loss), event_ndim) * (u - 0.5)
    return attach(loss, params, {"logits": coeff}, event_ndim), state
