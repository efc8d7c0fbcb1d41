"""REINFORCE leave-one-out (RLOO): K draws, each baselined by the mean loss of the other K - 1.

    g = 1/K sum_k (f(x_k) - 1/(K-1) sum_{j != k} f(x_j)) * d log q(x_k) / d theta

Kool, van Hoof & Welling (2019), Buy 4 REINFORCE samples, get a baseline for free! Inside a model the
K - 1 extra draws at a node each need a forward pass of the downstream, so cost grows with depth.
"""

from __future__ import annotations

from estimators.dist import sample, score
from estimators.ops import Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("rloo", "score-function", True, ("bernoulli", "categorical", "gaussian"), 1, False,
            "Kool, van Hoof & Welling 2019, Buy 4 REINFORCE samples, get a baseline for free!",
            multi_sample=True, min_samples=2, note="n_samples >= 2 draws share a leave-one-out baseline")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    k = u.shape[0]
    x = sample(o, dist, params, u)  # [K, ...]: one draw per array of uniforms
    loss = down.main(x[0])
    f = o.concat([o.expand_dims(o.stop_gradient(loss), 0), down.value(x[1:])])
    advantage = per_unit(k / (k - 1) * (f - o.mean(f, 0)), event_ndim)
    coeffs = {name: o.mean(advantage * s, 0) for name, s in score(o, dist, params, x).items()}
    return attach(o, loss, params, coeffs, event_ndim), state
