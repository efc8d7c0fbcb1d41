"""REINFORCE (score function), no baseline: g = f(x) * d log q(x) / d theta.

Williams (1992), Simple statistical gradient-following algorithms for connectionist reinforcement learning.
"""

from __future__ import annotations

from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit, sample, score
from estimators.registry import register


@register("reinforce", "jax")
def reinforce(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    x = sample(dist, params, u[0])
    loss = down.main(x)
    f = per_unit(sg(loss), event_ndim)
    return attach(loss, params, {k: f * s for k, s in score(dist, params, x).items()}, event_ndim), state
