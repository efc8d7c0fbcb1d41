"""DisARM for Bernoulli nodes: ARM with the antithetic noise integrated out.

With b = 1[u < sigmoid(phi)] and its antithetic partner b~ = 1[1 - u < sigmoid(phi)]:

    g = 1/2 (f(b) - f(b~)) * (-1)^b~ * 1[b != b~] * sigmoid(|phi|)

Dong, Mnih & Tucker (2020), DisARM: an antithetic gradient estimator for binary latent variables.
"""

from __future__ import annotations

from estimators.ops import Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("disarm", "antithetic", True, ("bernoulli",), 2, False,
            "Dong, Mnih & Tucker 2020, DisARM: an antithetic gradient estimator for binary latent variables")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi, u = params["logits"], u[0]
    b = o.float(u < o.sigmoid(phi))
    b_anti = o.float(1 - u < o.sigmoid(phi))
    loss = down.main(b)
    diff = per_unit(o.stop_gradient(loss) - down.value(b_anti), event_ndim)
    coeff = 0.5 * diff * (1 - 2 * b_anti) * o.float(b != b_anti) * o.sigmoid(o.abs(phi))
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state
