"""Gumbel-softmax / Concrete relaxation: f is evaluated at a continuous sample that tends to a hard
one as the temperature tau -> 0 (bias shrinks, variance grows).

Bernoulli (binary Concrete): y = sigmoid((phi - logit(u)) / tau); categorical: y = softmax((phi + g) / tau),
g = -log(-log u). Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from estimators.jax.common import Downstream
from estimators.jax.dist import logit
from estimators.registry import register


def relaxed_sample(dist: str, logits: Array, u: Array, tau: float) -> Array:
    if dist == "bernoulli":
        return jax.nn.sigmoid((logits - logit(u)) / tau)
    return jax.nn.softmax((logits - jnp.log(-jnp.log(u))) / tau, -1)


@register("gumbel-softmax", "jax")
def gumbel_softmax(params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float = 1.0):
    return down.main(relaxed_sample(dist, params["logits"], u[0], tau)), state
