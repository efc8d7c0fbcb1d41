"""Exact gradient by enumeration: sum_x q(x) * downstream(x), differentiated by autodiff.

Nested inside a model (every node exact) this enumerates all layers jointly, so it is the ground truth
for small problems. It consumes no noise.
"""

from __future__ import annotations

from estimators.registry import register
from estimators.torch.common import Downstream
from estimators.torch.dist import configurations, log_prob


@register("exact", "torch")
def exact(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    theta = next(iter(params.values()))
    event_shape = tuple(theta.shape[theta.ndim - event_ndim :])
    x = configurations(dist, event_shape, theta.device)
    x = x.reshape((x.shape[0],) + (1,) * (theta.ndim - event_ndim) + event_shape)
    x = x.expand(x.shape[0], *theta.shape)  # full shape: the downstream sees one value per example
    weights = log_prob(dist, params, x, event_ndim).exp()
    return (weights * down.main(x)).sum(0), state
