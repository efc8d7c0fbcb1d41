"""Exact gradient by enumeration: sum_x q(x) * downstream(x), differentiated by autodiff.

Nested inside a model (every node exact) this enumerates all layers jointly, so it is the ground truth
for small problems. It consumes no noise.
"""

from __future__ import annotations

from estimators.dist import configurations, log_prob
from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("exact", "exact", True, ("bernoulli", "categorical"), None, False,
            "Enumeration of every configuration (ground truth for small problems)", uniforms=0)


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    theta = next(iter(params.values()))
    event_shape = tuple(theta.shape[theta.ndim - event_ndim:])
    x = configurations(o, dist, event_shape)
    x = x.reshape((x.shape[0],) + (1,) * (theta.ndim - event_ndim) + event_shape)
    x = o.broadcast_to(x, (x.shape[0], *theta.shape))  # full shape: the downstream sees one value per example
    weights = o.exp(log_prob(o, dist, params, x, event_ndim))
    return o.sum(weights * down.main(x), 0), state
