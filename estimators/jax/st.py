"""Pass-through straight-through (seed 002): forward a hard sample b, backward d b / d logits := 1.

The identity replaces the derivative of both the sampling and the sigmoid. Biased: its mean is
E[df/db(b)] instead of sigmoid'(phi) * (f(1) - f(0)). Bengio, Leonard & Courville (2013).
"""

from __future__ import annotations

import jax
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream
from estimators.registry import register


@register("st", "jax")
def st(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi = params["logits"]
    b = (u[0] < jax.nn.sigmoid(phi)).astype(u.dtype)
    return down.main(b + phi - sg(phi)), state
