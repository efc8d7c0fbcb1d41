"""ReinMax: straight-through with a second-order (Heun) correction, as cheap as straight-through.

Categorical (the paper's Algorithm 2, tau the temperature of pi1 alone):

    D ~ onehot(softmax(logits)),  pi0 = softmax(logits),  pi1 = (D + softmax(logits / tau)) / 2,
    pi1 <- softmax(sg(ln pi1 - logits) + logits),  pi2 = 2 pi1 - pi0 / 2,  output pi2 - sg(pi2) + D

so the forward value is the sample D and the backward pass is 2 J(pi1) - J(pi0) / 2 times df/dD, with J(p) =
diag(p) - p p^T the softmax Jacobian at p (Heun's method, where straight-through is Euler's J(pi0)). Its mean is
exact for f quadratic in the sample. Biased otherwise. Bernoulli is the 2-way categorical with logits (0, logit):
d b / d logit := 2 q (1 - q) - sigmoid'(logit) / 2, q = (b + sigmoid(logit / tau)) / 2. The sample is drawn from
softmax(logits) whatever tau, as in the reference code (microsoft/ReinMax), which refuses tau < 1.
Liu, Chen, Gao & Han (2023), Bridging discrete and backpropagation: straight-through and beyond.
"""

from __future__ import annotations

import torch
from torch import Tensor

from estimators.registry import register
from estimators.torch.common import Downstream
from estimators.torch.dist import sample


def softmax_at(p: Tensor, logits: Tensor) -> Tensor:
    """Zero in value, with the gradient of softmax at p: softmax(sg(ln p - logits) + logits) - p, without ln."""
    d = logits - logits.detach()
    return p * (d - (p * d).sum(-1, keepdim=True))


@register("reinmax", "torch")
def reinmax(params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float = 1.0):
    logits = params["logits"]
    x = sample(dist, params, u[0])  # b = 1[u < sigmoid(logits)], or Gumbel-max: softmax(logits) whatever tau
    if dist == "bernoulli":
        p0 = torch.sigmoid(logits)
        q = ((x + torch.sigmoid(logits / tau)) / 2).detach()
        slope = 2 * q * (1 - q)
        return down.main(x + slope * (logits - logits.detach()) - (p0 - p0.detach()) / 2), state
    p0 = torch.softmax(logits, -1)
    p1 = ((x + torch.softmax(logits / tau, -1)) / 2).detach()
    return down.main(x + 2 * softmax_at(p1, logits) - (p0 - p0.detach()) / 2), state
