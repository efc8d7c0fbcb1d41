"""The deterministic network: every stochastic node is replaced by its mean, and nothing is sampled.

x := E[x] = sigmoid(logits) (Bernoulli), softmax(logits) (categorical), loc (Gaussian), so the model's
forward and backward pass run once with no noise. It estimates no stochastic objective: its "estimate" is
the exact gradient of f(E[x]). Seed 002 trains it as the deterministic sigmoid net; the speed suite times it
as every problem's floor, the cost of the same model with the sampling taken out.
"""

from __future__ import annotations

from estimators.dist import mean
from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("deterministic", "deterministic", False, ("bernoulli", "categorical", "gaussian"), 1, True,
            "Seed 002: deterministic sigmoid network (no sampling); each node replaced by its mean", uniforms=0,
            note="estimates no stochastic objective: it returns the gradient of f(E[x]) (sigmoid(logits), "
                 "softmax(logits), loc); the speed suite's floor")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    return down.main(mean(o, dist, params)), state
