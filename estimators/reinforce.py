"""REINFORCE (score function), no baseline: g = f(x) * d log q(x) / d theta.

Williams (1992), Simple statistical gradient-following algorithms for connectionist reinforcement learning.
"""

from __future__ import annotations

from estimators.dist import sample, score
from estimators.ops import Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("reinforce", "score-function", True, ("bernoulli", "categorical", "gaussian"), 1, False,
            "Williams 1992, Simple statistical gradient-following algorithms (REINFORCE)")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    x = sample(o, dist, params, u[0])
    loss = down.main(x)
    f = per_unit(o.stop_gradient(loss), event_ndim)
    return attach(o, loss, params, {k: f * s for k, s in score(o, dist, params, x).items()}, event_ndim), state
