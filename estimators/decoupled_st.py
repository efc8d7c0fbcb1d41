"""Decoupled straight-through Gumbel-softmax: straight-through Gumbel-softmax with one temperature for the forward
pass and another for the backward pass (Shah, Yan, Mozer & Liu 2024). With g = -log(-log u) Gumbel noise:

    forward   D = onehot(argmax softmax(logits / tau_f + g)),   a draw from softmax(logits / tau_f)
    backward  d/dlogits of softmax(logits / tau_b + g),         the same g

so the backward pass is J(softmax(logits / tau_b + g)) / tau_b times df/dD. The temperature divides the logits
before the noise is added (the paper's form, which its footnote sets against Jang et al.'s (logits + g) / tau):
that way tau_f sets how random the forward sample is (the paper's "forward-pass stochasticity"; in the
(logits + g) / tau form it would not change the hard sample at all) and tau_b how the gradient spreads over the
categories. tau_f = tau_b = 1 is st-gumbel at tau = 1 row by row (same u); tau_f = tau_b = tau is st-gumbel (tau
= 1) at the logits logits / tau, scaled by 1 / tau. With tau_f != 1 the forward sample is not a draw from
softmax(logits) (as st-sigmoid's slope), part of the bias. Bernoulli is the 2-way categorical (0, logit):
b = 1[sigmoid(logit / tau_f - logit(u)) > 1/2], backward sigmoid(logit / tau_b - logit(u)). Biased.

No reference code from the authors was found; the form above is the paper's as described in its reviews (ICLR
2025 submission, version 1 "Decoupled ST-GS"); version 2 ("Decoupled Straight-Through Estimator") describes the
same two roles, tau_f for forward stochasticity and tau_b for the backward dispersion over categories.
"""

from __future__ import annotations

from estimators.gumbel_softmax import over
from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("decoupled-st", "straight-through", False, ("bernoulli", "categorical"), 1, True,
            "Shah, Yan, Mozer & Liu 2024, Improving discrete optimisation via decoupled straight-through "
            "Gumbel-softmax", options={"tau_f": 1.0, "tau_b": 1.0},
            note="straight-through Gumbel-softmax with separate temperatures: the hard sample from "
                 "logits/tau_f + g (a draw from softmax(logits/tau_f)), the gradient of softmax(logits/tau_b + g), "
                 "the same g; tau_f = tau_b = 1 is st-gumbel at tau = 1")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau_f: float,
              tau_b: float):
    logits, sg = params["logits"], o.stop_gradient
    if dist == "bernoulli":
        noise = o.log1p(-u[0]) - o.log(u[0])  # -logit(u), exactly
        hard = o.float(o.sigmoid(over(sg(logits), tau_f) + noise) > 0.5)
        soft = o.sigmoid(over(logits, tau_b) + noise)
    else:
        noise = -o.log(-o.log(u[0]))
        hard = o.one_hot(o.argmax(o.softmax(over(sg(logits), tau_f) + noise)), logits.shape[-1])
        soft = o.softmax(over(logits, tau_b) + noise)
    return down.main(hard + soft - sg(soft)), state
