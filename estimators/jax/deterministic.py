"""The deterministic network: every stochastic node is replaced by its mean, and nothing is sampled.

x := E[x] = sigmoid(logits) (Bernoulli), softmax(logits) (categorical), loc (Gaussian), so the model's
forward and backward pass run once with no noise. It estimates no stochastic objective: its "estimate" is
the exact gradient of f(E[x]). Seed 002 trains it as the deterministic sigmoid net; the speed suite times it
as every problem's floor, the cost of the same model with the sampling taken out.
"""

from __future__ import annotations

from estimators.jax.common import Downstream
from estimators.jax.dist import mean
from estimators.registry import register


@register("deterministic", "jax")
def deterministic(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    return down.main(mean(dist, params)), state
