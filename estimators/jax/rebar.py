"""REBAR: REINFORCE with a reparameterised, relaxed control variate, unbiased for any eta and temperature.

With z = phi - logit(u) (so b = H(z) ~ Bernoulli(sigmoid(phi))), z~ ~ p(z | b) reparameterised by a second
uniform v, and c(z) = eta * f(sigmoid(z / temperature)):

    g = (f(b) - c(z~)) * d log q(b)/d phi + d c(z)/d phi - d c(z~)/d phi

Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), REBAR: low-variance, unbiased gradient estimates
for discrete latent variable models. State {log_temperature, eta} is trained, as in the paper, by
minimising the estimate's second moment (the mean does not depend on it); see `estimators.jax.driver.warm_up`.
Inside a model, f(sigmoid(z / temperature)) is the downstream with later layers relaxed too, so c stays
smooth in z (a discontinuous c would bias the pathwise terms).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream
from estimators.jax.dist import logit, per_unit, sum_event
from estimators.registry import register

_EPS = 1e-6


def relaxed_pair(phi: Array, u: Array, v: Array) -> tuple[Array, Array, Array]:
    """b, z with b = H(z), and z~ drawn from p(z | b) as a differentiable function of phi."""
    p = jax.nn.sigmoid(phi)
    z = phi - logit(u)
    b = (z > 0).astype(phi.dtype)
    u_cond = (b * v * p + (1 - b) * (p + v * (1 - p))).clip(_EPS, 1 - _EPS)
    return b, z, phi - logit(u_cond)


def control_variate_surrogate(params, down: Downstream, u, cv: Callable[[Array], Array], event_ndim: int):
    """The REBAR/RELAX surrogate for any smooth control variate cv(z) -> per-example values.

    Its value is the loss; its phi-gradient is the estimator above; that gradient keeps its graph to cv's
    parameters, so the estimator's variance can be minimised over them.
    """
    phi = params["logits"]
    b, z, z_cond = relaxed_pair(phi, u[0], u[1])
    loss = down.main(b)
    coeff = per_unit(sg(loss) - cv(sg(z_cond)), event_ndim) * sg(b - jax.nn.sigmoid(phi))
    pathwise = cv(z) - cv(z_cond)
    return loss + sum_event(coeff * (phi - sg(phi)), event_ndim) + pathwise - sg(pathwise)


def init_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, device: str = "cpu"):
    return {"log_temperature": jnp.asarray(math.log(0.5), jnp.float32), "eta": jnp.asarray(1.0, jnp.float32)}


@register("rebar", "jax", init_state=init_state)
def rebar(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    temperature = jnp.exp(state["log_temperature"])

    def cv(z: Array) -> Array:
        return state["eta"] * down.relaxed(jax.nn.sigmoid(z / temperature), temperature)

    return control_variate_surrogate(params, down, u, cv, event_ndim), state
