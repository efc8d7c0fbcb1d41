"""VIMCO: leave-one-out baselines for the K-sample importance-weighted bound (IWAE).

With per-sample losses L_j = log q(z_j|x) - log p(x, z_j) (the negative log weights) and the bound's loss

    l = -log 1/K sum_j exp(-L_j),
    l_-j = -log 1/K (sum_{i != j} exp(-L_i) + exp(-mean_{i != j} L_i))   (sample j replaced by the others'
                                                                          geometric mean)
    g = sum_j (l - l_-j) * d log q(z_j|x) / d theta  +  sum_j softmax(-L)_j * d L_j / d theta |_z fixed

Mnih & Rezende (2016), Variational inference for Monte Carlo objectives. Unlike the per-node estimators,
VIMCO needs the whole model's per-sample losses at once (the signal couples the K samples), so the engine
(`bench/problems/engine.py`) calls it once per example with L and log q summed over every layer; it
applies only to a model whose objective is the IWAE bound (`requires="iwae-objective"`).
"""

from __future__ import annotations

import math

from estimators.ops import Array, Ops
from estimators.spec import Spec

SPEC = Spec("vimco", "score-function", True, ("bernoulli", "categorical"), 1, False,
            "Mnih & Rezende 2016, Variational inference for Monte Carlo objectives (VIMCO)",
            requires="iwae-objective", options={"baseline": 1.0}, level="objective",
            note="the K samples of the bound share leave-one-out baselines (each sample's log weight replaced "
                 "by the others' mean); one estimator for the whole model, not per node; baseline=0 drops them")


def bound(o: Ops, loss: Array) -> Array:
    """-log mean_j exp(-L_j) over the samples axis (-2 of [..., K, examples])."""
    return math.log(loss.shape[-2]) - o.logsumexp(-loss, -2)


def leave_one_out(o: Ops, loss: Array) -> Array:
    """l_-j for every j: [..., K, examples]."""
    k = loss.shape[-2]
    log_w = -loss
    others = (o.sum(log_w, -2, keepdims=True) - log_w) / (k - 1)  # mean of the other samples' log weights
    eye = o.eye(k)[:, :, None]  # [j, i, 1]
    replaced = o.where(eye, others[..., :, None, :], log_w[..., None, :, :])  # [..., j, i, examples]
    return math.log(k) - o.logsumexp(replaced, -2)


def surrogate(o: Ops, loss: Array, log_q: Array, *, baseline: float) -> Array:
    """Per-example surrogate [..., examples] from per-sample losses and log q, both [..., K, examples];
    baseline=0 drops the leave-one-out baselines (the bound's plain score-function gradient, for comparison)."""
    value = bound(o, loss)
    signal = o.stop_gradient(value)[..., None, :] - baseline * leave_one_out(o, o.stop_gradient(loss))
    return value + o.sum(signal * (log_q - o.stop_gradient(log_q)), -2)
