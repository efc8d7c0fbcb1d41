"""Pass-through straight-through (seed 002): forward a hard sample b, backward d b / d logits := 1.

The identity replaces the derivative of both the sampling and the sigmoid. Biased: its mean is
E[df/db(b)] instead of sigmoid'(phi) * (f(1) - f(0)). Bengio, Leonard & Courville (2013).
"""

from __future__ import annotations

from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("st", "straight-through", False, ("bernoulli",), 1, True,
            "Bengio, Leonard & Courville 2013; seed 002: pass-through (identity) straight-through")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi = params["logits"]
    b = o.float(u[0] < o.sigmoid(phi))
    return down.main(b + phi - o.stop_gradient(phi)), state
