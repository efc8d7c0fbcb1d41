"""ARM (Augment-REINFORCE-Merge) for Bernoulli nodes, from one uniform vector u:

    g = (f(1[u > sigmoid(-phi)]) - f(1[u < sigmoid(phi)])) * (u - 1/2)

Yin & Zhou (2019), ARM: Augment-REINFORCE-Merge gradient for stochastic binary networks.
"""

from __future__ import annotations

from estimators.ops import Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("arm", "antithetic", True, ("bernoulli",), 2, False,
            "Yin & Zhou 2019, ARM: Augment-REINFORCE-merge gradient for stochastic binary networks")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi, u = params["logits"], u[0]
    b = o.float(u < o.sigmoid(phi))
    b_swap = o.float(u > o.sigmoid(-phi))
    loss = down.main(b)
    coeff = per_unit(down.value(b_swap) - o.stop_gradient(loss), event_ndim) * (u - 0.5)
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state
