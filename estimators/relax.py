"""RELAX: REBAR's estimator with a learned control variate c(z) = eta * f(sigmoid(z / temperature)) + r(z).

    g = (f(b) - c(z~)) * d log q(b)/d phi + d c(z)/d phi - d c(z~)/d phi

r is a one-hidden-layer tanh network on z. Grathwohl, Choi, Wu, Roeder & Duvenaud (2018),
Backpropagation through the void: optimizing control variates for black-box gradient estimation.
State (log_temperature, eta, w1, b1, w2) is trained by minimising the estimate's second moment; r starts
at zero, so RELAX starts as REBAR.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from estimators.ops import Array, Downstream, Ops
from estimators.rebar import control_variate_surrogate
from estimators.spec import TRAINED, Spec

SPEC = Spec("relax", "control-variate", True, ("bernoulli",), 3, True,
            "Grathwohl, Choi, Wu, Roeder & Duvenaud 2018, Backpropagation through the void (RELAX)",
            uniforms=2, state="trained", options=TRAINED,
            note="control variate eta*f(sigmoid(z/temperature)) + r(z), r a small MLP; all of it state")
HIDDEN = 16


class State(NamedTuple):
    log_temperature: Array
    eta: Array
    w1: Array
    b1: Array
    w2: Array


def init_state(o: Ops, shapes: dict[str, tuple[int, ...]], seed: int) -> State:
    n = int(np.prod(shapes["logits"]))
    w1 = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n), (n, HIDDEN)).astype(np.float32)
    return State(o.asarray(np.float32(math.log(0.5))), o.asarray(np.float32(1.0)), o.asarray(w1),
                 o.asarray(np.zeros(HIDDEN, np.float32)), o.asarray(np.zeros(HIDDEN, np.float32)))


def surrogate(o: Ops, params, down: Downstream, u, state: State, *, dist: str, event_ndim: int):
    temperature = o.exp(state.log_temperature)

    def cv(z: Array) -> Array:
        flat = z.reshape(tuple(z.shape[: z.ndim - event_ndim]) + (-1,))
        r = o.tanh(flat @ state.w1 + state.b1) @ state.w2
        return state.eta * down.relaxed(o.sigmoid(z / temperature), temperature) + r

    return control_variate_surrogate(o, params, down, u, cv, event_ndim), state
