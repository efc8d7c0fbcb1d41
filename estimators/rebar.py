"""REBAR: REINFORCE with a reparameterised, relaxed control variate, unbiased for any eta and temperature.

With z = phi - logit(u) (so b = H(z) ~ Bernoulli(sigmoid(phi))), z~ ~ p(z | b) reparameterised by a second
uniform v, and c(z) = eta * f(sigmoid(z / temperature)):

    g = (f(b) - c(z~)) * d log q(b)/d phi + d c(z)/d phi - d c(z~)/d phi

Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), REBAR: low-variance, unbiased gradient estimates
for discrete latent variable models. State (log_temperature, eta) is trained, as in the paper, by
minimising the estimate's second moment (the mean does not depend on it); see the drivers' warm-up.
Inside a model, f(sigmoid(z / temperature)) is the downstream with later layers relaxed too, so c stays
smooth in z (a discontinuous c would bias the pathwise terms).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from estimators.dist import logit
from estimators.ops import Array, Downstream, Ops, per_unit, sum_event
from estimators.spec import TRAINED, Spec

SPEC = Spec("rebar", "control-variate", True, ("bernoulli",), 3, True,
            "Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein 2017, REBAR", uniforms=2,
            state="trained", options=TRAINED,
            note="state: log temperature and eta, trained by minimising the estimator's second moment")
_EPS = 1e-6


class State(NamedTuple):
    log_temperature: Array
    eta: Array


def init_state(o: Ops, shapes: dict[str, tuple[int, ...]], seed: int) -> State:
    return State(o.asarray(np.float32(math.log(0.5))), o.asarray(np.float32(1.0)))


def relaxed_pair(o: Ops, phi: Array, u: Array, v: Array) -> tuple[Array, Array, Array]:
    """b, z with b = H(z), and z~ drawn from p(z | b) as a differentiable function of phi."""
    p = o.sigmoid(phi)
    z = phi - logit(o, u)
    b = o.float(z > 0)
    u_cond = o.minimum(o.maximum(b * v * p + (1 - b) * (p + v * (1 - p)), _EPS), 1 - _EPS)
    return b, z, phi - logit(o, u_cond)


def control_variate_surrogate(o: Ops, params, down: Downstream, u, cv: Callable[[Array], Array],
                              event_ndim: int) -> Array:
    """The REBAR/RELAX surrogate for any smooth control variate cv(z) -> per-example values.

    Its value is the loss; its phi-gradient is the estimator above; that gradient keeps its graph to cv's
    parameters, so the estimator's variance can be minimised over them.
    """
    sg, phi = o.stop_gradient, params["logits"]
    b, z, z_cond = relaxed_pair(o, phi, u[0], u[1])
    loss = down.main(b)
    coeff = per_unit(sg(loss) - cv(sg(z_cond)), event_ndim) * sg(b - o.sigmoid(phi))
    pathwise = cv(z) - cv(z_cond)
    return loss + sum_event(o, coeff * (phi - sg(phi)), event_ndim) + pathwise - sg(pathwise)


def surrogate(o: Ops, params, down: Downstream, u, state: State, *, dist: str, event_ndim: int):
    temperature = o.exp(state.log_temperature)

    def cv(z: Array) -> Array:
        return state.eta * down.relaxed(o.sigmoid(z / temperature), temperature)

    return control_variate_surrogate(o, params, down, u, cv, event_ndim), state
