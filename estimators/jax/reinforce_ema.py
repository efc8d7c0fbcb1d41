"""REINFORCE with seed 002's "variance-adjusted" moving-average baseline, one per unit.

    L_bar_j = EMA[s_j^2 * L] / EMA[s_j^2],     g_j = (L - L_bar_j) * s_j,     s_j = d log q / d theta_j

(R2RT, Binary Stochastic Neurons; seed 002). L_bar_j estimates the variance-minimising constant baseline
E[s_j^2 L] / E[s_j^2]. Unlike the seed, the baseline used for a step comes from the state *before* that
step's update, so the estimate stays unbiased. State {param: (numerator, denominator)} per unit is
returned, never hidden; freeze it by ignoring the returned state.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit, sample, score
from estimators.registry import register


def init_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, device: str = "cpu"):
    return {k: (jnp.zeros(s, jnp.float32), jnp.ones(s, jnp.float32)) for k, s in shapes.items()}


@register("reinforce-ema", "jax", init_state=init_state)
def reinforce_ema(params, down: Downstream, u, state, *, dist: str, event_ndim: int, decay: float = 0.95):
    x = sample(dist, params, u[0])
    loss = down.main(x)
    f = per_unit(sg(loss), event_ndim)
    coeffs, new_state = {}, {}
    for k, s in score(dist, params, x).items():
        num, den = state[k]
        coeffs[k] = (f - num / (den + 1e-4)) * s
        s2 = sg(s) ** 2
        batch_axes = tuple(range(s2.ndim - event_ndim))
        new_state[k] = (
            decay * num + (1 - decay) * (s2 * f).mean(batch_axes),
            decay * den + (1 - decay) * s2.mean(batch_axes),
        )
    return attach(loss, params, coeffs, event_ndim), new_state
