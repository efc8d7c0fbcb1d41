"""REINFORCE with a constant baseline c (JAX): g = (f(x) - c) * d log q(x) / d theta.

Williams (1992). E[c d log q] = 0, so any constant c keeps the estimate unbiased.
"""

from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit, sample, score
from estimators.registry import register


@register("reinforce-const", "jax")
def reinforce_const(params, down: Downstream, u, state, *, dist: str, event_ndim: int, c: float = 0.5):
    x = sample(dist, params, u[0])
    loss = down.main(x)
    signal = per_unit(sg(loss) - c, event_ndim)
    return attach(loss, params, {k: signal * s for k, s in score(dist, params, x).items()}, event_ndim), state
