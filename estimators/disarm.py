"""DisARM for Bernoulli nodes: ARM with the antithetic noise integrated out.

With b = 1[u < sigmoid(phi)] and its antithetic partner b~ = 1[1 - u < sigmoid(phi)]:

    g = 1/2 (f(b) - f(b~)) * (-1)^b~ * 1[b != b~] * sigmoid(|phi|)

Dong, Mnih & Tucker (2020), DisARM: an antithetic gradient estimator for binary latent variables.
"""

from __future__ import annotations

from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("disarm", "antithetic", True, ("bernoulli",), 2, False,
            "Dong, Mnih & Tucker 2020, DisARM: an antithetic gradient estimator for binary latent variables")


def antithetic_pair(o: Ops, phi: Array, u: Array) -> tuple[Array, Array]:
    """b = 1[u < sigmoid(phi)] and its partner b~ = 1[1 - u < sigmoid(phi)]."""
    return o.float(u < o.sigmoid(phi)), o.float(1 - u < o.sigmoid(phi))


def coefficient(o: Ops, phi: Array, b: Array, b_anti: Array, f_b: Array, f_anti: Array, event_ndim: int) -> Array:
    """g above, per unit, given the pair's losses (UGC uses it beside bitflip-1's)."""
    return (0.5 * per_unit(f_b - f_anti, event_ndim) * (1 - 2 * b_anti) * o.float(b != b_anti)
            * o.sigmoid(o.abs(phi)))


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi = params["logits"]
    b, b_anti = antithetic_pair(o, phi, u[0])
    loss = down.main(b)
    coeff = coefficient(o, phi, b, b_anti, o.stop_gradient(loss), down.value(b_anti), event_ndim)
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state
