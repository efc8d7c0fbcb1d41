"""ReinMax: straight-through with a second-order (Heun) correction, as cheap as straight-through.

Categorical (the paper's Algorithm 2, tau the temperature of pi1 alone):

    D ~ onehot(softmax(logits)),  pi0 = softmax(logits),  pi1 = (D + softmax(logits / tau)) / 2,
    pi1 <- softmax(sg(ln pi1 - logits) + logits),  pi2 = 2 pi1 - pi0 / 2,  output pi2 - sg(pi2) + D

so the forward value is the sample D and the backward pass is 2 J(pi1) - J(pi0) / 2 times df/dD, with J(p) =
diag(p) - p p^T the softmax Jacobian at p (Heun's method, where straight-through is Euler's J(pi0)). Its mean is
exact for f quadratic in the sample. Biased otherwise. Bernoulli is the 2-way categorical with logits (0, logit):
d b / d logit := 2 q (1 - q) - sigmoid'(logit) / 2, q = (b + sigmoid(logit / tau)) / 2, which at tau = 1 is
(1 - sigmoid(logit)) / 2 at b = 1 and sigmoid(logit) / 2 at b = 0. The sample is drawn from
softmax(logits) whatever tau, as in the reference code (microsoft/ReinMax), which refuses tau < 1.
Liu, Chen, Gao & Han (2023), Bridging discrete and backpropagation: straight-through and beyond.
"""

from __future__ import annotations

from estimators.dist import sample
from estimators.ops import Array, Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("reinmax", "straight-through", False, ("bernoulli", "categorical"), 1, True,
            "Liu, Chen, Gao & Han 2023, Bridging discrete and backpropagation: straight-through and beyond "
            "(ReinMax)", options={"tau": 1.0},
            note="second-order (Heun) straight-through: the gradient of 2 pi1 - pi0/2 with pi0 = softmax(logits), "
                 "pi1 = (D + softmax(logits/tau))/2 and softmax's Jacobian at pi1; samples softmax(logits) "
                 "whatever tau (the reference code refuses tau < 1); Bernoulli as the 2-way categorical "
                 "(0, logits)")


def softmax_at(o: Ops, p: Array, logits: Array) -> Array:
    """Zero in value, with the gradient of softmax at p: softmax(sg(ln p - logits) + logits) - p, without ln."""
    d = logits - o.stop_gradient(logits)
    return p * (d - o.sum(p * d, -1, keepdims=True))


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float):
    logits, sg = params["logits"], o.stop_gradient
    if dist == "bernoulli":  # the slope computed apart from the graph, which then holds one product (eager torch
        # records every op that touches the logits)
        p0 = o.sigmoid(sg(logits))
        one = u[0] < p0  # sample()'s draw
        x = o.float(one)
        if tau == 1:  # q = (b + p0) / 2: the slope is (1 - p0) / 2 at b = 1 and p0 / 2 at b = 0
            slope = o.where(one, 1 - p0, p0) / 2
        else:
            q = (x + o.sigmoid(sg(logits) / tau)) / 2
            slope = 2 * q * (1 - q) - p0 * (1 - p0) / 2
        return down.main(x + slope * (logits - sg(logits))), state
    x = sample(o, dist, params, u[0])  # Gumbel-max: a draw from softmax(logits) whatever tau
    p0 = o.softmax(logits)
    p1 = sg((x + o.softmax(logits / tau)) / 2)
    return down.main(x + 2 * softmax_at(o, p1, logits) - (p0 - sg(p0)) / 2), state
