"""Reparameterization (pathwise) gradient for Gaussian nodes: x = loc + scale * eps, eps = Phi^-1(u).

Kingma & Welling (2014), Auto-encoding variational Bayes; Rezende, Mohamed & Wierstra (2014),
Stochastic backpropagation (seed 000).
"""

from __future__ import annotations

from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("reparam", "pathwise", True, ("gaussian",), 1, True,
            "Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014 (seed 000)")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    return down.main(params["loc"] + params["scale"] * o.ndtri(u[0])), state
