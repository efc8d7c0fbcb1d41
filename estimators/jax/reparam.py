"""Reparameterization (pathwise) gradient for Gaussian nodes: x = loc + scale * eps, eps = Phi^-1(u).

Kingma & Welling (2014), Auto-encoding variational Bayes; Rezende, Mohamed & Wierstra (2014),
Stochastic backpropagation (seed 000).
"""

from __future__ import annotations

from jax.scipy.special import ndtri

from estimators.jax.common import Downstream
from estimators.registry import register


@register("reparam", "jax")
def reparam(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    return down.main(params["loc"] + params["scale"] * ndtri(u[0])), state
