"""Gumbel-softmax / Concrete relaxation: f is evaluated at a continuous sample that tends to a hard
one as the temperature tau -> 0 (bias shrinks, variance grows).

Bernoulli (binary Concrete): y = sigmoid((phi - logit(u)) / tau); categorical: y = softmax((phi + g) / tau),
g = -log(-log u). Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017).
"""

from __future__ import annotations

import torch
from torch import Tensor

from estimators.registry import register
from estimators.torch.common import Downstream
from estimators.torch.dist import logit


def relaxed_sample(dist: str, logits: Tensor, u: Tensor, tau: float) -> Tensor:
    if dist == "bernoulli":
        return torch.sigmoid((logits - logit(u)) / tau)
    return torch.softmax((logits - torch.log(-torch.log(u))) / tau, -1)


@register("gumbel-softmax", "torch")
def gumbel_softmax(params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float = 1.0):
    return down.main(relaxed_sample(dist, params["logits"], u[0], tau)), state
