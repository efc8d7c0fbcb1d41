"""Gumbel-softmax / Concrete relaxation: f is evaluated at a continuous sample that tends to a hard
one as the temperature tau -> 0 (bias shrinks, variance grows).

Bernoulli (binary Concrete): y = sigmoid((phi - logit(u)) / tau); categorical: y = softmax((phi + g) / tau),
g = -log(-log u). Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017).
"""

from __future__ import annotations

from estimators.dist import logit
from estimators.ops import Array, Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("gumbel-softmax", "relaxation", False, ("bernoulli", "categorical"), 1, True,
            "Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017 (Concrete)", options={"tau": 1.0},
            note="f is evaluated at relaxed (continuous) samples")


def over(x: Array, tau: float) -> Array:
    """x / tau, with no operation at tau = 1 (exact either way; eager torch pays a dispatch per operation)."""
    return x if tau == 1 else x / tau


def relaxed_sample(o: Ops, dist: str, logits: Array, u: Array, tau: float) -> Array:
    if dist == "bernoulli":
        return o.sigmoid(over(logits - logit(o, u), tau))
    return o.softmax(over(logits - o.log(-o.log(u)), tau))


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float):
    return down.main(relaxed_sample(o, dist, params["logits"], u[0], tau)), state
