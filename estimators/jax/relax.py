"""RELAX: REBAR's estimator with a learned control variate c(z) = eta * f(sigmoid(z / temperature)) + r(z).

    g = (f(b) - c(z~)) * d log q(b)/d phi + d c(z)/d phi - d c(z~)/d phi

r is a one-hidden-layer tanh network on z. Grathwohl, Choi, Wu, Roeder & Duvenaud (2018),
Backpropagation through the void: optimizing control variates for black-box gradient estimation.
State {log_temperature, eta, w1, b1, w2} is trained by minimising the estimate's second moment; r starts
at zero, so RELAX starts as REBAR.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from estimators.jax.common import Downstream
from estimators.jax.rebar import control_variate_surrogate
from estimators.registry import register

HIDDEN = 16


def init_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, device: str = "cpu"):
    n = int(np.prod(shapes["logits"]))
    w1 = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n), (n, HIDDEN)).astype(np.float32)
    return {
        "log_temperature": jnp.asarray(math.log(0.5), jnp.float32),
        "eta": jnp.asarray(1.0, jnp.float32),
        "w1": jnp.asarray(w1),
        "b1": jnp.zeros(HIDDEN, jnp.float32),
        "w2": jnp.zeros(HIDDEN, jnp.float32),
    }


@register("relax", "jax", init_state=init_state)
def relax(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    temperature = jnp.exp(state["log_temperature"])

    def cv(z: Array) -> Array:
        flat = z.reshape(z.shape[: z.ndim - event_ndim] + (-1,))
        r = jnp.tanh(flat @ state["w1"] + state["b1"]) @ state["w2"]
        return state["eta"] * down.relaxed(jax.nn.sigmoid(z / temperature), temperature) + r

    return control_variate_surrogate(params, down, u, cv, event_ndim), state
