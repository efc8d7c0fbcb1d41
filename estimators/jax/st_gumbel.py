"""Straight-through Gumbel-softmax: forward the hard sample, backward the Gumbel-softmax gradient.

Jang, Gu & Poole (2017). The hard sample equals the one the other estimators draw from the same u.
"""

from __future__ import annotations

import jax
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream
from estimators.jax.gumbel_softmax import relaxed_sample
from estimators.registry import register


@register("st-gumbel", "jax")
def st_gumbel(params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float = 1.0):
    y = relaxed_sample(dist, params["logits"], u[0], tau)
    if dist == "bernoulli":
        hard = (y > 0.5).astype(y.dtype)
    else:
        hard = jax.nn.one_hot(y.argmax(-1), y.shape[-1], dtype=y.dtype)
    return down.main(hard + y - sg(y)), state
