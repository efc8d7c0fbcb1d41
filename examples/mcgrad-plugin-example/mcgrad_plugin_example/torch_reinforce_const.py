"""REINFORCE with a constant baseline c (torch): g = (f(x) - c) * d log q(x) / d theta.

Williams (1992). E[c d log q] = 0, so any constant c keeps the estimate unbiased.
"""

from estimators.registry import register
from estimators.torch.common import Downstream, attach
from estimators.torch.dist import per_unit, sample, score


@register("reinforce-const", "torch")
def reinforce_const(params, down: Downstream, u, state, *, dist: str, event_ndim: int, c: float = 0.5):
    x = sample(dist, params, u[0])
    loss = down.main(x)
    signal = per_unit(loss.detach() - c, event_ndim)
    return attach(loss, params, {k: signal * s for k, s in score(dist, params, x).items()}, event_ndim), state
