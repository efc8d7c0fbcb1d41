"""Sigmoid-adjusted straight-through with slope (seed 002; slope annealing of Chung et al. 2016).

p = sigmoid(slope * phi), b ~ Bernoulli(p) forward, d b / d phi := d p / d phi backward. Raising the slope
makes the neuron more deterministic, as in seed 002. Biased: mean sigmoid'(phi) * E[df/db(b)] at slope 1.
"""

from __future__ import annotations

from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("st-sigmoid", "straight-through", False, ("bernoulli",), 1, True,
            "Seed 002: sigmoid-adjusted straight-through with slope annealing (Chung et al. 2016)",
            options={"slope": 1.0},
            note="samples Bernoulli(sigmoid(slope*logits)) as seed 002 does; slope=1 is the plain estimator")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, slope: float):
    p = o.sigmoid(slope * params["logits"])
    b = o.float(u[0] < p)
    return down.main(b + p - o.stop_gradient(p)), state
