"""REBAR: REINFORCE with a reparameterised, relaxed control variate, unbiased for any eta and temperature.

With z = phi - logit(u) (so b = H(z) ~ Bernoulli(sigmoid(phi))), z~ ~ p(z | b) reparameterised by a second
uniform v, and c(z) = eta * f(sigmoid(z / temperature)):

    g = (f(b) - c(z~)) * d log q(b)/d phi + d c(z)/d phi - d c(z~)/d phi

Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), REBAR: low-variance, unbiased gradient estimates
for discrete latent variable models. State {log_temperature, eta} is trained, as in the paper, by
minimising the estimate's second moment (the mean does not depend on it); see `driver.warm_up`.
Inside a model, f(sigmoid(z / temperature)) is the downstream with later layers relaxed too, so c stays
smooth in z (a discontinuous c would bias the pathwise terms).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from estimators.registry import register
from estimators.torch.common import Downstream
from estimators.torch.dist import logit, per_unit, sum_event

_EPS = 1e-6


def relaxed_pair(phi: Tensor, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """b, z with b = H(z), and z~ drawn from p(z | b) as a differentiable function of phi."""
    p = torch.sigmoid(phi)
    z = phi - logit(u)
    b = (z > 0).to(phi.dtype)
    u_cond = (b * v * p + (1 - b) * (p + v * (1 - p))).clamp(_EPS, 1 - _EPS)
    return b, z, phi - logit(u_cond)


def control_variate_surrogate(params, down: Downstream, u, cv: Callable[[Tensor], Tensor], event_ndim: int):
    """The REBAR/RELAX surrogate for any smooth control variate cv(z) -> per-example values.

    Its value is the loss; its phi-gradient is the estimator above; that gradient keeps its graph to cv's
    parameters, so the estimator's variance can be minimised over them.
    """
    phi = params["logits"]
    b, z, z_cond = relaxed_pair(phi, u[0], u[1])
    loss = down.main(b)
    coeff = per_unit(loss.detach() - cv(z_cond.detach()), event_ndim) * (b - torch.sigmoid(phi)).detach()
    pathwise = cv(z) - cv(z_cond)
    return loss + sum_event(coeff * (phi - phi.detach()), event_ndim) + pathwise - pathwise.detach()


def init_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, device: str = "cpu"):
    return {"log_temperature": torch.tensor(math.log(0.5), device=device), "eta": torch.tensor(1.0, device=device)}


@register("rebar", "torch", init_state=init_state)
def rebar(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    temperature = state["log_temperature"].exp()

    def cv(z: Tensor) -> Tensor:
        return state["eta"] * down.relaxed(torch.sigmoid(z / temperature), temperature)

    return control_variate_surrogate(params, down, u, cv, event_ndim), state
