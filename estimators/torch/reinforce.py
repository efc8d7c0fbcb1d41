"""REINFORCE (score function), no baseline: g = f(x) * d log q(x) / d theta.

Williams (1992), Simple statistical gradient-following algorithms for connectionist reinforcement learning.
"""

from __future__ import annotations

from estimators.registry import register
from estimators.torch.common import Downstream, attach
from estimators.torch.dist import per_unit, sample, score


@register("reinforce", "torch")
def reinforce(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    x = sample(dist, params, u[0])
    loss = down.main(x)
    f = per_unit(loss.detach(), event_ndim)
    return attach(loss, params, {k: f * s for k, s in score(dist, params, x).items()}, event_ndim), state
