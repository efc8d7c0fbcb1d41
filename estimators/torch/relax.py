"""RELAX: REBAR's estimator with a learned control variate c(z) = eta * f(sigmoid(z / temperature)) + r(z).

    g = (f(b) - c(z~)) * d log q(b)/d phi + d c(z)/d phi - d c(z~)/d phi

r is a one-hidden-layer tanh network on z. Grathwohl, Choi, Wu, Roeder & Duvenaud (2018),
Backpropagation through the void: optimizing control variates for black-box gradient estimation.
State {log_temperature, eta, w1, b1, w2} is trained by minimising the estimate's second moment; r starts
at zero, so RELAX starts as REBAR.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from estimators.registry import register
from estimators.torch.common import Downstream
from estimators.torch.rebar import control_variate_surrogate

HIDDEN = 16


def init_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, device: str = "cpu"):
    n = int(np.prod(shapes["logits"]))
    w1 = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n), (n, HIDDEN)).astype(np.float32)
    return {
        "log_temperature": torch.tensor(math.log(0.5), device=device),
        "eta": torch.tensor(1.0, device=device),
        "w1": torch.as_tensor(w1, device=device),
        "b1": torch.zeros(HIDDEN, device=device),
        "w2": torch.zeros(HIDDEN, device=device),
    }


@register("relax", "torch", init_state=init_state)
def relax(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    temperature = state["log_temperature"].exp()

    def cv(z: Tensor) -> Tensor:
        flat = z.reshape(z.shape[: z.ndim - event_ndim] + (-1,))
        r = torch.tanh(flat @ state["w1"] + state["b1"]) @ state["w2"]
        return state["eta"] * down.relaxed(torch.sigmoid(z / temperature), temperature) + r

    return control_variate_surrogate(params, down, u, cv, event_ndim), state
