"""Reparameterization (pathwise) gradient for Gaussian nodes: x = loc + scale * eps, eps = Phi^-1(u).

Kingma & Welling (2014), Auto-encoding variational Bayes; Rezende, Mohamed & Wierstra (2014),
Stochastic backpropagation (seed 000).
"""

from __future__ import annotations

import torch

from estimators.registry import register
from estimators.torch.common import Downstream


@register("reparam", "torch")
def reparam(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    return down.main(params["loc"] + params["scale"] * torch.special.ndtri(u[0])), state
