"""Pass-through straight-through (seed 002): forward a hard sample b, backward d b / d logits := 1.

The identity replaces the derivative of both the sampling and the sigmoid. Biased: its mean is
E[df/db(b)] instead of sigmoid'(phi) * (f(1) - f(0)). Bengio, Leonard & Courville (2013).
"""

from __future__ import annotations

import torch

from estimators.registry import register
from estimators.torch.common import Downstream


@register("st", "torch")
def st(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi = params["logits"]
    b = (u[0] < torch.sigmoid(phi)).to(u.dtype)
    return down.main(b + phi - phi.detach()), state
