"""Straight-through Gumbel-softmax: forward the hard sample, backward the Gumbel-softmax gradient.

Jang, Gu & Poole (2017). The hard sample equals the one the other estimators draw from the same u.
"""

from __future__ import annotations

from estimators.gumbel_softmax import relaxed_sample
from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("st-gumbel", "straight-through", False, ("bernoulli", "categorical"), 1, True,
            "Jang, Gu & Poole 2017: straight-through Gumbel-softmax", options={"tau": 1.0})


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float):
    y = relaxed_sample(o, dist, params["logits"], u[0], tau)
    hard = o.float(y > 0.5) if dist == "bernoulli" else o.one_hot(o.argmax(y), y.shape[-1])
    return down.main(hard + y - o.stop_gradient(y)), state
